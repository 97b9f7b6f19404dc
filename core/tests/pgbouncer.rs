//! The repository through PgBouncer in transaction pooling mode (seed 001 §8.2), the one
//! `scripts/services.sh` starts (`SCRX_PGBOUNCER_URL`). Each test makes its own database
//! over the direct URL (`DATABASE_URL`), migrates it there (the migrator's lock needs a
//! session) and reaches it through PgBouncer's wildcard entry. The first test shows that
//! this PgBouncer breaks sqlx's default named statements, so the others, which run the
//! repository's own statements concurrently through it, would fail if any were named or
//! ran its parse and bind in two server transactions.

mod common;
#[path = "support/pg_bouncer.rs"]
mod pg_bouncer;

use common::org;
use pg_bouncer::Scratch;
use scraperx_core::{
    domain::{Engine, JobStatus},
    pg::{Db, JobCursor, JobFilter, NewJob, PoolMode, StatusChange},
};
use sqlx::{Connection, PgConnection};

/// Whether `err` is one of the errors a named statement meets behind a transaction
/// pooler: already there from another client (42P05), or gone with its server (26000).
fn is_statement_clash(err: &sqlx::Error) -> bool {
    matches!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42P05" | "26000")
    )
}

#[tokio::test]
async fn sqlx_default_named_statements_break_through_this_pgbouncer() {
    let scratch = Scratch::new().await;
    // Two clients in turn: PgBouncer hands each the server connection the other just
    // used, where the other's `sqlx_s_1` already is.
    let mut a = PgConnection::connect_with(&scratch.bounced)
        .await
        .expect("a");
    let mut b = PgConnection::connect_with(&scratch.bounced)
        .await
        .expect("b");
    let mut clash = None;
    for round in 0..50 {
        for conn in [&mut a, &mut b] {
            let got = sqlx::query_scalar::<_, i32>("SELECT $1::int + 1")
                .bind(round)
                .fetch_one(&mut *conn)
                .await;
            if let Err(err) = got {
                clash = Some(err);
                break;
            }
        }
        if clash.is_some() {
            break;
        }
    }
    let err = clash.expect("named statements should clash through transaction pooling");
    assert!(is_statement_clash(&err), "unexpected error: {err}");
    drop((a, b));
    scratch.drop_database().await;
}

/// One organization's life through the repository: jobs submitted (credits reserved, one
/// event each), moved to running and settled, another canceled (refunded), listed.
async fn one_tenant(db: Db, n: usize) {
    let o = org(&db, &format!("tenant-{n}"), 1_000).await;
    let mut done = Vec::new();
    for i in 0..4 {
        let mut new = NewJob::get(&format!("https://example.com/{n}/{i}"));
        new.engine = Engine::Http;
        let job = db
            .submit_job(o.id, None, &new)
            .await
            .expect("submit")
            .into_job();
        db.transition_job(job.id, &StatusChange::to(JobStatus::Queued).queue("http"))
            .await
            .expect("queued");
        db.transition_job(job.id, &StatusChange::to(JobStatus::Running).worker("w"))
            .await
            .expect("running");
        let (finished, _) = db
            .finish_job(job.id, &StatusChange::to(JobStatus::Completed), 1)
            .await
            .expect("finished");
        assert_eq!(finished.status, JobStatus::Completed);
        done.push(job.id);
    }
    let spare = db
        .submit_job(o.id, None, &NewJob::get("https://example.com/spare"))
        .await
        .expect("submit spare")
        .into_job();
    let canceled = db.cancel_job(o.id, spare.id).await.expect("cancel");
    assert_eq!(canceled.status, JobStatus::Canceled);
    for id in &done {
        let events = db.list_job_events(o.id, *id).await.expect("events");
        assert!(!events.is_empty(), "job {id} has its events");
    }
    let page = db
        .list_jobs(o.id, &JobFilter::default(), None::<JobCursor>, 50)
        .await
        .expect("list");
    assert_eq!(page.jobs.len(), 5);
    let balance = db
        .get_organization(o.id)
        .await
        .expect("org")
        .credits_balance;
    assert_eq!(
        balance,
        1_000 - 4,
        "four jobs charged one credit each, the cancel refunded"
    );
}

#[tokio::test]
async fn the_repository_runs_concurrently_through_pgbouncer_in_transaction_mode() {
    let scratch = Scratch::new().await;
    let db = scratch.db(8).await;
    assert_eq!(db.mode(), PoolMode::Transaction);
    // More tenants than pooled connections, so PgBouncer moves each client's statements
    // across server connections all along.
    let tenants: Vec<_> = (0..16)
        .map(|n| tokio::spawn(one_tenant(db.clone(), n)))
        .collect();
    for t in tenants {
        t.await.expect("tenant task");
    }
    db.ping().await.expect("ping");
    assert!(db.missing_migrations().await.expect("read").is_empty());
    db.pool().close().await;
    scratch.drop_database().await;
}

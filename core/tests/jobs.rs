//! Job submission, credits, idempotency, listing and the state machine through the repository.

mod common;

use common::{balance, org, org_on_plan};
use scraperx_core::{
    Error,
    domain::{BatchId, Engine, EventType, JobOptions, JobStatus, Plan, ProxyTier, pricing},
    pg::{Db, JobCursor, JobFilter, NewJob, NewJobEvent, NewJobResult, StatusChange},
};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

fn job(url: &str) -> NewJob {
    NewJob::get(url)
}

/// A job for `engine`, submitted (and its credits reserved) for `org`.
async fn submitted(
    db: &Db,
    org: scraperx_core::domain::OrgId,
    engine: Engine,
) -> scraperx_core::pg::Job {
    let mut new = job("https://example.com/");
    new.engine = engine;
    db.submit_job(org, None, &new)
        .await
        .expect("submit")
        .into_job()
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn submitting_a_job_reserves_its_estimated_credits(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "acme", 100).await;
    let mut new = job("https://example.com/page");
    new.engine = Engine::Browser;
    new.proxy_tier = ProxyTier::Residential;
    new.options = JobOptions {
        screenshot: true,
        ..Default::default()
    };
    let submitted = db.submit_job(o.id, None, &new).await.expect("submit");
    assert!(submitted.is_created());
    let j = submitted.job();
    // browser 5 + residential 3 + screenshot 2
    assert_eq!(j.credits_estimated, 10);
    assert_eq!(
        pricing::reservation(Engine::Browser, ProxyTier::Residential, &new.options),
        10
    );
    assert_eq!(j.status, JobStatus::Pending);
    assert_eq!(j.url_hash.len(), 64, "url_hash set by trigger");
    assert_eq!(balance(&pool, o.id).await, 90);
    let events = db.list_job_events(o.id, j.id).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::Created);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_replayed_idempotency_key_returns_the_original_job_and_charges_nothing(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "idem", 10).await;
    let mut new = job("https://example.com/");
    new.idempotency_key = Some("order-42".into());
    let first = db.submit_job(o.id, None, &new).await.expect("first");
    let again = db.submit_job(o.id, None, &new).await.expect("replay");
    assert!(first.is_created());
    assert!(!again.is_created());
    assert_eq!(first.job().id, again.job().id);
    assert_eq!(balance(&pool, o.id).await, 9);
    let found = db
        .find_job_by_idempotency_key(o.id, "order-42")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.id, first.job().id);
    // The same key in another organization is a different job.
    let other = org(&db, "idem-other", 10).await;
    let theirs = db
        .submit_job(other.id, None, &new)
        .await
        .expect("other org");
    assert!(theirs.is_created());
    assert_ne!(theirs.job().id, first.job().id);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn concurrent_replays_of_one_key_create_one_job(
    _parent: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let db = common::pool_of(conn, 20).await;
    let o = org(&db, "race", 100).await;
    let mut new = job("https://example.com/");
    new.idempotency_key = Some("same".into());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (db, new) = (db.clone(), new.clone());
            tokio::spawn(async move { db.submit_job(o.id, None, &new).await.expect("submit") })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let s = t.await.expect("join");
        created += usize::from(s.is_created());
        ids.insert(s.job().id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(balance(db.pool(), o.id).await, 99);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn fifty_concurrent_submissions_against_twenty_credits_accept_exactly_twenty(
    _parent: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let db = common::pool_of(conn, 50).await;
    let o = org(&db, "fifty", 20).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.submit_job(o.id, None, &job(&format!("https://example.com/{i}")))
                    .await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(Error::InsufficientCredits { required: 1 }) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (20, 30));
    assert_eq!(balance(db.pool(), o.id).await, 0);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM scrape_jobs")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(jobs, 20, "a refused submission leaves no job behind");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn deduct_credits_never_goes_below_zero_under_fifty_concurrent_calls(
    _parent: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let db = common::pool_of(conn, 50).await;
    let o = org(&db, "deduct", 100).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.deduct_credits(o.id, 7).await.expect("deduct") })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.expect("join"));
    }
    assert_eq!(granted, 14, "100 / 7 = 14 deductions fit");
    assert_eq!(balance(db.pool(), o.id).await, 2);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_batch_is_one_insert_charged_as_a_whole_or_not_at_all(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "batch", 5).await;
    let batch = BatchId::new();
    let urls: Vec<NewJob> = (0..6)
        .map(|i| job(&format!("https://example.com/{i}")))
        .collect();
    let err = db
        .submit_jobs(o.id, None, Some(batch), &urls)
        .await
        .expect_err("6 credits > 5");
    assert!(
        matches!(err, Error::InsufficientCredits { required: 6 }),
        "{err:?}"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM scrape_jobs")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(jobs, 0);

    let mut keyed: Vec<NewJob> = urls[..5].to_vec();
    for (i, j) in keyed.iter_mut().enumerate() {
        j.idempotency_key = Some(format!("{batch}:{i}"));
    }
    let out = db
        .submit_jobs(o.id, None, Some(batch), &keyed)
        .await
        .expect("batch");
    assert_eq!(out.len(), 5);
    assert!(
        out.iter()
            .all(|s| s.is_created() && s.job().batch_id == Some(batch))
    );
    for (s, n) in out.iter().zip(&keyed) {
        assert_eq!(s.job().url, n.url, "results come back in input order");
    }
    assert_eq!(balance(&pool, o.id).await, 0);
    // Submitting the same batch again (an operator restart) creates and charges nothing.
    let again = db
        .submit_jobs(o.id, None, Some(batch), &keyed)
        .await
        .expect("replay");
    assert!(again.iter().all(|s| !s.is_created()));
    assert_eq!(balance(&pool, o.id).await, 0);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn invalid_jobs_are_refused_with_the_field_named(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "invalid", 5).await;
    let cases: Vec<(NewJob, &str)> = vec![
        (job("ftp://example.com/"), "url"),
        (job("not a url"), "url"),
        (
            job(&format!("https://example.com/{}", "a".repeat(9000))),
            "url",
        ),
        (
            NewJob {
                priority: 11,
                ..job("https://example.com/")
            },
            "priority",
        ),
        (
            NewJob {
                proxy_country: Some("USA".into()),
                ..job("https://example.com/")
            },
            "proxy_country",
        ),
        (
            NewJob {
                options: JobOptions {
                    timeout: 999_999,
                    ..Default::default()
                },
                ..job("https://example.com/")
            },
            "options.timeout",
        ),
    ];
    for (new, field) in cases {
        match db.submit_job(o.id, None, &new).await {
            Err(Error::Validation { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a validation error on {field}, got {other:?}"),
        }
    }
    let batch = vec![job("https://example.com/"), job("gopher://x/")];
    match db.submit_jobs(o.id, None, None, &batch).await {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "urls[1].url"),
        other => panic!("{other:?}"),
    }
    assert_eq!(balance(&pool, o.id).await, 5);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn listing_pages_by_keyset_and_filters(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "list", 1000).await;
    let other = org(&db, "list-other", 1000).await;
    let batch = BatchId::new();
    let mut urls: Vec<NewJob> = (0..25)
        .map(|i| job(&format!("https://example.com/{i}")))
        .collect();
    urls[3].client_reference = Some("ref-3".into());
    db.submit_jobs(o.id, None, Some(batch), &urls)
        .await
        .expect("batch");
    db.submit_jobs(other.id, None, None, &urls[..5])
        .await
        .expect("other");

    let mut seen = Vec::new();
    let mut cursor: Option<JobCursor> = None;
    loop {
        let page = db
            .list_jobs(o.id, &JobFilter::default(), cursor, 10)
            .await
            .expect("page");
        seen.extend(page.jobs.iter().map(|j| (j.created_at, j.id)));
        match page.next {
            Some(next) => {
                cursor = Some(JobCursor::decode(&next.encode()).expect("token round-trips"))
            }
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        25,
        "every job once, none of the other organization's"
    );
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");

    let by_ref = JobFilter {
        client_reference: Some("ref-3".into()),
        ..Default::default()
    };
    let page = db
        .list_jobs(o.id, &by_ref, None, 100)
        .await
        .expect("filtered");
    assert_eq!(page.jobs.len(), 1);
    assert_eq!(page.jobs[0].url, "https://example.com/3");
    let by_batch = JobFilter {
        batch_id: Some(batch),
        status: Some(JobStatus::Pending),
        ..Default::default()
    };
    assert_eq!(
        db.list_jobs(o.id, &by_batch, None, 100)
            .await
            .expect("batch")
            .jobs
            .len(),
        25
    );
    let running = JobFilter {
        status: Some(JobStatus::Running),
        ..Default::default()
    };
    assert!(
        db.list_jobs(o.id, &running, None, 100)
            .await
            .expect("running")
            .jobs
            .is_empty()
    );
    assert!(JobCursor::decode("garbage").is_err());
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn another_organizations_job_is_not_found(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let mine = org(&db, "mine", 10).await;
    let theirs = org(&db, "theirs", 10).await;
    let j = db
        .submit_job(theirs.id, None, &job("https://example.com/"))
        .await
        .expect("submit")
        .into_job();
    assert!(matches!(
        db.get_job(mine.id, j.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        db.cancel_job(mine.id, j.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        db.get_result(mine.id, j.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        db.list_job_events(mine.id, j.id)
            .await
            .expect("events")
            .is_empty()
    );
    assert_eq!(db.get_job(theirs.id, j.id).await.expect("own job").id, j.id);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_job_runs_retries_and_completes_with_one_settlement(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "life", 20).await;
    let j = submitted(&db, o.id, Engine::Auto).await;
    assert_eq!(balance(&pool, o.id).await, 19);

    let q = db
        .transition_job(j.id, &StatusChange::to(JobStatus::Queued).queue("http"))
        .await
        .expect("queue");
    assert!(q.queued_at.is_some());
    let r = db
        .transition_job(j.id, &StatusChange::to(JobStatus::Running).worker("w1"))
        .await
        .expect("run");
    assert_eq!((r.attempts, r.worker_id.as_deref()), (1, Some("w1")));
    assert!(r.timeout_at.expect("timeout set") > r.started_at.expect("started"));
    let f = db
        .transition_job(
            j.id,
            &StatusChange::to(JobStatus::Failed).error("network", "connection reset"),
        )
        .await
        .expect("fail");
    assert_eq!(f.error_code.as_deref(), Some("network"));
    db.transition_job(j.id, &StatusChange::to(JobStatus::Queued))
        .await
        .expect("retry");
    db.transition_job(j.id, &StatusChange::to(JobStatus::Running).worker("w2"))
        .await
        .expect("run again");
    let result = NewJobResult {
        status_code: Some(200),
        content_inline: Some("<html></html>".into()),
        final_url: Some("https://example.com/".into()),
        ..Default::default()
    };
    let stored = db.record_result(j.id, &result).await.expect("result");
    let done = db
        .transition_job(j.id, &StatusChange::to(JobStatus::Completed))
        .await
        .expect("complete");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.result_id, Some(stored.id.as_uuid()));
    assert!(
        stored.expires_at.is_some(),
        "expiry from the organization's retention"
    );

    // The auto job escalated to a browser: 5 credits actual against 1 reserved.
    let s = db.settle_job_credits(j.id, 5).await.expect("settle");
    assert_eq!(
        (s.charged, s.extra, s.refunded, s.already_settled),
        (5, 4, 0, false)
    );
    let again = db.settle_job_credits(j.id, 5).await.expect("settle twice");
    assert!(again.already_settled);
    assert_eq!(balance(&pool, o.id).await, 15, "charged once");

    let err = db
        .transition_job(j.id, &StatusChange::to(JobStatus::Running))
        .await
        .expect_err("terminal");
    assert!(matches!(
        err,
        Error::InvalidTransition {
            from: JobStatus::Completed,
            to: JobStatus::Running
        }
    ));
    let kinds: Vec<EventType> = db
        .list_job_events(o.id, j.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    use EventType::*;
    assert_eq!(
        kinds,
        [Created, Queued, Started, Failed, Queued, Started, Completed]
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_move_writes_the_events_held_until_it_first_each_at_the_time_it_happened(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "held", 20).await;
    let j = submitted(&db, o.id, Engine::Http).await;
    db.transition_job(j.id, &StatusChange::to(JobStatus::Queued).queue("http"))
        .await
        .expect("queue");
    let running = db
        .transition_job(j.id, &StatusChange::to(JobStatus::Running).worker("w1"))
        .await
        .expect("run");
    let held: Vec<NewJobEvent> = [EventType::EngineSelected, EventType::RequestSent]
        .into_iter()
        .map(|kind| {
            NewJobEvent::of(
                &running,
                kind,
                serde_json::json!({"engine": "http"}),
                None,
                Some("w1"),
            )
        })
        .collect();
    let times: Vec<_> = held.iter().map(|e| e.at).collect();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    db.transition_job(
        j.id,
        &StatusChange::to(JobStatus::Completed).with_events(held),
    )
    .await
    .expect("complete");
    let events = db.list_job_events(o.id, j.id).await.expect("events");
    let kinds: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    use EventType::*;
    assert_eq!(
        kinds,
        [
            Created,
            Queued,
            Started,
            EngineSelected,
            RequestSent,
            Completed
        ]
    );
    let micros = |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros();
    assert_eq!(
        [micros(events[3].created_at), micros(events[4].created_at)],
        [micros(times[0]), micros(times[1])],
        "each held event keeps its own time"
    );
    assert!(events[5].created_at > events[4].created_at);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_failed_job_is_refunded_and_the_cap_on_extra_charges_holds(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "refund", 10).await;
    let j = submitted(&db, o.id, Engine::Browser).await;
    assert_eq!(balance(&pool, o.id).await, 5);
    let s = db.settle_job_credits(j.id, 0).await.expect("refund");
    assert_eq!((s.charged, s.refunded), (0, 5));
    assert_eq!(balance(&pool, o.id).await, 10);

    let poor = org(&db, "poor", 1).await;
    let j = submitted(&db, poor.id, Engine::Http).await;
    let s = db.settle_job_credits(j.id, 10).await.expect("settle");
    assert_eq!(
        (s.charged, s.extra),
        (1, 0),
        "charge stays at the reservation when the balance cannot cover more"
    );
    assert_eq!(balance(&pool, poor.id).await, 0);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn enterprise_submissions_run_into_overage_instead_of_refusal(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org_on_plan(&db, "enterprise", 0, Plan::Enterprise).await;
    let j = db
        .submit_job(o.id, None, &job("https://example.com/"))
        .await
        .expect("submit");
    assert!(j.is_created());
    let overage: i64 =
        sqlx::query_scalar("SELECT credits_overage_used FROM organizations WHERE id = $1")
            .bind(o.id)
            .fetch_one(&pool)
            .await
            .expect("overage");
    assert_eq!((balance(&pool, o.id).await, overage), (0, 1));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn finishing_moves_and_settles_together_or_not_at_all(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "finish", 10).await;
    let j = submitted(&db, o.id, Engine::Browser).await;
    assert_eq!(balance(&pool, o.id).await, 5);

    // Not a final status: refused before anything moves.
    let err = db
        .finish_job(j.id, &StatusChange::to(JobStatus::Queued), 0)
        .await
        .expect_err("not final");
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    // A move the state machine refuses (pending cannot complete) settles nothing either.
    db.finish_job(j.id, &StatusChange::to(JobStatus::Completed), 3)
        .await
        .expect_err("pending cannot complete");
    let unsettled: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT credits_settled_at FROM scrape_jobs WHERE id = $1")
            .bind(j.id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(unsettled.is_none(), "rolled back with the refused move");
    assert_eq!(balance(&pool, o.id).await, 5);

    db.transition_job(j.id, &StatusChange::to(JobStatus::Queued))
        .await
        .expect("queue");
    db.transition_job(j.id, &StatusChange::to(JobStatus::Running))
        .await
        .expect("run");
    let (done, settlement) = db
        .finish_job(j.id, &StatusChange::to(JobStatus::Completed), 3)
        .await
        .expect("finish");
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!((settlement.charged, settlement.refunded), (3, 2));
    assert_eq!(balance(&pool, o.id).await, 7);
    let again = db.settle_job_credits(j.id, 3).await.expect("settle again");
    assert!(again.already_settled);
    assert_eq!(balance(&pool, o.id).await, 7, "charged once");
}

#[test]
fn every_submission_path_shares_one_set_of_structural_rules() {
    let field_of = |job: &NewJob| match job.validate() {
        Err(Error::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    assert!(job("https://example.com/").validate().is_ok());
    let mut j = job("https://example.com/");
    j.headers = [("x-n", "1\r\nX-Injected: 1")].into_iter().collect();
    assert_eq!(field_of(&j), "headers", "header values hold no line break");
    let mut j = job("https://example.com/");
    j.body = Some("x".repeat(NewJob::MAX_BODY_BYTES + 1));
    assert_eq!(field_of(&j), "body");
    let mut j = job("https://example.com/");
    j.proxy_session_id = Some(String::new());
    assert_eq!(field_of(&j), "proxy_session_id");
    let mut j = job("https://example.com/");
    j.webhook_secret = Some("long-enough-secret".into());
    assert_eq!(field_of(&j), "webhook_secret", "a secret needs a URL");
    let mut j = job("https://example.com/");
    j.webhook_url = Some("ftp://hooks.example/".into());
    assert_eq!(field_of(&j), "webhook_url");
    let mut j = job("https://example.com/");
    j.metadata = serde_json::json!([1, 2]);
    assert_eq!(field_of(&j), "metadata");
    let mut j = job("https://example.com/");
    j.options.timeout = 10;
    assert_eq!(field_of(&j), "options.timeout");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_customers_metadata_cannot_steer_the_platform(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "steer", 10).await;
    let mut new = job("https://example.com/");
    new.metadata = serde_json::json!({ "suspended": true, "cancel_requested": true });
    let j = db
        .submit_job(o.id, None, &new)
        .await
        .expect("submit")
        .into_job();
    db.transition_job(j.id, &StatusChange::to(JobStatus::Queued))
        .await
        .expect("queue");
    let cutoff = db
        .sweep_cutoff(std::time::Duration::ZERO)
        .await
        .expect("cutoff");
    let swept = db
        .sweep_page(scraperx_core::pg::SweepState::Queued, cutoff, None, 10)
        .await
        .expect("sweep");
    assert!(
        swept.iter().any(|s| s.id == j.id),
        "not held back as suspended"
    );
    db.transition_job(j.id, &StatusChange::to(JobStatus::Running))
        .await
        .expect("run");
    assert!(
        !db.cancel_requested(j.id).await.expect("poll"),
        "not canceled by its own metadata"
    );
}

//! Fairness between organizations with real workers: one organization's backlog does not
//! hold up another's jobs, and an organization never runs more jobs than its plan allows.

mod common;

use std::time::Duration;

use axum::{Router, routing::get};
use chrono::{DateTime, Utc};
use common::{Harness, serve};
use scraperx_core::{
    dispatch::dispatch,
    domain::{Engine, OrgId, Plan},
    pg::{Job, NewJob, NewOrganization, Organization},
};
use scraperx_worker::WorkerConfig;
use sqlx::PgPool;

const PAGE: &str = "<html><head><title>t</title></head><body><p>fast</p></body></html>";
const WORKERS: usize = 2;
const SLOTS_EACH: usize = 4;

fn site() -> Router {
    Router::new()
        .route("/fast/{n}", get(|| async { axum::response::Html(PAGE) }))
        .route(
            "/slow/{n}",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                axum::response::Html(PAGE)
            }),
        )
}

fn config(h: &Harness) -> WorkerConfig {
    WorkerConfig {
        concurrency: SLOTS_EACH,
        // The one test site is one domain: its gate must not be what limits the slots.
        per_domain_concurrency: 64,
        ..h.config()
    }
}

async fn org(h: &Harness, max_concurrent_jobs: i32) -> Organization {
    let slug = format!("o-{}", uuid::Uuid::new_v4().simple());
    let mut new = NewOrganization::new("Fairness test", &slug, "f@test.local");
    new.plan = Plan::Growth;
    new.credits_balance = 100_000;
    new.max_concurrent_jobs = max_concurrent_jobs;
    h.db.create_organization(&new).await.expect("org")
}

/// Submits and queues `n` jobs of `org` for `path`, the way the API does, 1,000 at a time.
async fn submit(h: &Harness, org: &Organization, base: &str, n: usize, priority: i32) {
    submit_on(h, org, base, n, priority, Engine::Auto).await;
}

/// [`submit`] on `engine`.
async fn submit_on(
    h: &Harness,
    org: &Organization,
    base: &str,
    n: usize,
    priority: i32,
    engine: Engine,
) {
    let mut left = n;
    while left > 0 {
        let take = left.min(1_000);
        let jobs: Vec<NewJob> = (0..take)
            .map(|i| NewJob {
                priority,
                engine,
                ..NewJob::get(&format!("{base}/{}", left - i))
            })
            .collect();
        let mut created: Vec<Job> =
            h.db.submit_jobs(org.id, None, None, &jobs)
                .await
                .expect("submit")
                .into_iter()
                .map(|s| s.into_job())
                .collect();
        let mut refs: Vec<&mut Job> = created.iter_mut().collect();
        dispatch(&h.db, &h.queues(), &mut refs)
            .await
            .expect("dispatch");
        left -= take;
    }
}

async fn count(pool: &PgPool, org: OrgId, status: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM scrape_jobs WHERE organization_id = $1 AND status = $2",
    )
    .bind(org)
    .bind(status)
    .fetch_one(pool)
    .await
    .expect("count")
}

async fn wait_all_final(pool: &PgPool, org: OrgId, n: i64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM scrape_jobs WHERE organization_id = $1 \
             AND status IN ('completed', 'failed', 'timeout', 'canceled')",
        )
        .bind(org)
        .fetch_one(pool)
        .await
        .expect("count");
        if done == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{done} of {n} final after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Samples each organization's running jobs every 10 ms until the first has `done`
/// completed (within 90 s): the peaks, and how many samples were taken.
async fn peaks_running<const N: usize>(
    pool: &PgPool,
    orgs: [OrgId; N],
    done: i64,
) -> ([i64; N], usize) {
    let (mut peaks, mut samples) = ([0; N], 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while count(pool, orgs[0], "completed").await < done {
        assert!(
            tokio::time::Instant::now() < deadline,
            "capped jobs never finished"
        );
        for (peak, org) in peaks.iter_mut().zip(orgs) {
            *peak = (*peak).max(count(pool, org, "running").await);
        }
        samples += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (peaks, samples)
}

fn millis(d: chrono::TimeDelta) -> i64 {
    d.num_milliseconds()
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_backlog_of_five_thousand_does_not_hold_up_another_organization_s_ten(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let addr = serve(site()).await;
    let (a, b) = (org(&h, 50).await, org(&h, 50).await);
    let workers: Vec<_> = (0..WORKERS).map(|_| h.start(config(&h))).collect();

    submit(&h, &a, &format!("http://{addr}/fast"), 5_000, 10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    submit(&h, &b, &format!("http://{addr}/fast"), 10, 1).await;
    wait_all_final(&pool, b.id, 10, Duration::from_secs(60)).await;

    let times: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT queued_at, completed_at FROM scrape_jobs WHERE organization_id = $1 \
         AND status = 'completed'",
    )
    .bind(b.id)
    .fetch_all(&pool)
    .await
    .expect("times");
    assert_eq!(times.len(), 10, "all of b's jobs completed");
    let b_queued = times.iter().map(|t| t.0).min().expect("queued");
    let b_done = times.iter().map(|t| t.1).max().expect("done");
    let mut delays: Vec<i64> = times.iter().map(|(q, c)| millis(*c - *q)).collect();
    delays.sort_unstable();
    let a_done_by = |at: DateTime<Utc>| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM scrape_jobs WHERE organization_id = $1 \
                 AND completed_at <= $2",
            )
            .bind(a.id)
            .bind(at)
            .fetch_one(&pool)
            .await
            .expect("count")
        }
    };
    let (a_before, a_after) = (a_done_by(b_queued).await, a_done_by(b_done).await);
    eprintln!(
        "fairness: b's 10 jobs waited p50 {} ms, max {} ms from queued to completed; \
         a had {a_before} of 5000 done when b queued, {a_after} when b's last finished \
         ({} during b's wait; {} slots)",
        delays[4],
        delays[9],
        a_after - a_before,
        WORKERS * SLOTS_EACH
    );
    for (tx, handle) in workers {
        drop(tx);
        handle.await.expect("worker");
    }
    // Taking turns, b's 10 leases alternate with a's: at most a's jobs in flight when b
    // queued, plus one of a's per b job, plus those in flight when b's last one ended.
    let slots = (WORKERS * SLOTS_EACH) as i64;
    assert!(
        a_after - a_before <= 10 + 2 * slots,
        "b waited while {} of a's jobs ran",
        a_after - a_before
    );
    assert!(a_after < 5_000, "b finished only after all of a's jobs");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_organization_never_runs_more_jobs_than_its_plan_allows(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let addr = serve(site()).await;
    const CAP: i64 = 3;
    let (capped, other) = (org(&h, CAP as i32).await, org(&h, 50).await);
    let workers: Vec<_> = (0..WORKERS).map(|_| h.start(config(&h))).collect();
    submit(&h, &capped, &format!("http://{addr}/slow"), 30, 10).await;
    submit(&h, &other, &format!("http://{addr}/slow"), 30, 1).await;

    let ([peak, other_peak], samples) = peaks_running(&pool, [capped.id, other.id], 30).await;
    wait_all_final(&pool, other.id, 30, Duration::from_secs(60)).await;
    eprintln!(
        "cap: {samples} samples, peak running {peak} (cap {CAP}); the other organization's \
         peak {other_peak} of {} slots",
        WORKERS * SLOTS_EACH
    );
    for (tx, handle) in workers {
        drop(tx);
        handle.await.expect("worker");
    }
    assert!(peak <= CAP, "{peak} running over a cap of {CAP}");
    assert_eq!(peak, CAP, "the capped organization used its whole share");
    assert!(
        other_peak > CAP,
        "the slots the capped organization may not use went to the other"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_organization_s_cap_counts_its_running_jobs_on_every_engine(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let addr = serve(site()).await;
    const CAP: i64 = 2;
    let capped = org(&h, CAP as i32).await;
    let engines = [Engine::Http, Engine::Browser];
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            h.start(WorkerConfig {
                concurrency: SLOTS_EACH,
                per_domain_concurrency: 64,
                ..h.browser_config(&engines)
            })
        })
        .collect();
    let base = format!("http://{addr}/slow");
    submit_on(&h, &capped, &base, 4, 5, Engine::Browser).await;
    submit_on(&h, &capped, &base, 12, 5, Engine::Http).await;

    let ([peak], samples) = peaks_running(&pool, [capped.id], 16).await;
    eprintln!(
        "cap over engines: {samples} samples, peak running {peak} (cap {CAP}) on {} slots \
         serving http and browser",
        WORKERS * SLOTS_EACH
    );
    for (tx, handle) in workers {
        drop(tx);
        handle.await.expect("worker");
    }
    assert!(peak <= CAP, "{peak} running over a cap of {CAP}");
    assert_eq!(peak, CAP, "the capped organization used its whole share");
}

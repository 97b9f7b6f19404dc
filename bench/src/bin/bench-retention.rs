//! Comparison: retention (seed 001 §6.1) against a plain DELETE. Two databases of the run's
//! own are filled alike: 1,000,000 finished jobs older than the 30 days jobs are kept,
//! 100,000 recent ones, and a month of job events (1,000,000 rows) older than the 90 days
//! events are kept, in that month's partition. ScraperX's side runs what the operator's
//! maintenance runs (`partitions`, then `retention`): the old month's partition detached and
//! dropped, then the old jobs moved to `scrape_jobs_archive` in one statement. The peer's
//! side deletes the same jobs and events with plain DELETEs (and keeps no archive). Both
//! sides' results are checked: the same jobs and events are gone.
//!
//!     bench-retention [--jobs 1000000] [--events 1000000]

use std::time::Instant;

use anyhow::{Context as _, ensure};
use scraperx_bench::{BenchDatabase, arg, result};
use scraperx_core::pg::{Db, NewOrganization};

const COMPARISON: &str = "retention";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs: i64 = arg("jobs", "1000000").parse()?;
    let events: i64 = arg("events", "1000000").parse()?;
    let ours = BenchDatabase::create(2).await?;
    let plain = BenchDatabase::create(2).await?;
    for database in [&ours, &plain] {
        let started = Instant::now();
        seed(&database.pool, jobs, events).await?;
        eprintln!("retention: a database seeded in {:.1?}", started.elapsed());
    }

    let db = Db::from_pool(ours.pool.clone());
    let started = Instant::now();
    let dropped = db.drop_old_partitions().await?;
    let dropping = started.elapsed();
    let started = Instant::now();
    let summary = db.apply_retention().await?;
    let archiving = started.elapsed();
    ensure!(dropped.len() == 1, "one partition dropped, not {dropped:?}");
    ensure!(
        summary.jobs_archived == jobs,
        "{} archived",
        summary.jobs_archived
    );
    let side = "ScraperX maintenance (partition dropped, jobs archived)";
    let times = (dropping.as_secs_f64(), archiving.as_secs_f64());
    report(side, &ours.pool, times, (events, jobs)).await?;

    let started = Instant::now();
    let deleted_events =
        sqlx::query("DELETE FROM job_events WHERE created_at < NOW() - INTERVAL '90 days'")
            .execute(&plain.pool)
            .await?
            .rows_affected();
    let deleting_events = started.elapsed();
    let started = Instant::now();
    let deleted = sqlx::query(
        "DELETE FROM scrape_jobs WHERE created_at < NOW() - INTERVAL '30 days' \
         AND status IN ('completed', 'failed', 'canceled', 'timeout')",
    )
    .execute(&plain.pool)
    .await?
    .rows_affected();
    let deleting_jobs = started.elapsed();
    ensure!(deleted_events as i64 == events && deleted as i64 == jobs);
    let side = "peer: plain DELETE (no archive)";
    let times = (deleting_events.as_secs_f64(), deleting_jobs.as_secs_f64());
    report(side, &plain.pool, times, (events, jobs)).await?;
    ours.remove().await;
    plain.remove().await;
    Ok(())
}

/// Prints one side's times, after checking what is left: the recent jobs, no old event.
async fn report(
    side: &str,
    pool: &sqlx::PgPool,
    (events, jobs_s): (f64, f64),
    (event_rows, jobs): (i64, i64),
) -> anyhow::Result<()> {
    let (left, old_events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM scrape_jobs), \
                (SELECT COUNT(*) FROM job_events WHERE created_at < NOW() - INTERVAL '90 days')",
    )
    .fetch_one(pool)
    .await?;
    ensure!(
        left == jobs / 10 && old_events == 0,
        "{side}: {left} jobs, {old_events} old events left"
    );
    result(
        COMPARISON,
        &format!("a month of events ({event_rows}) gone"),
        side,
        events,
        "s",
    );
    result(
        COMPARISON,
        &format!("{jobs} old jobs gone"),
        side,
        jobs_s,
        "s",
    );
    result(COMPARISON, "both", side, events + jobs_s, "s");
    Ok(())
}

/// `jobs` finished jobs 31 to 60 days old and a tenth as many from the last day, in chunks
/// of 100,000; `events` events in the partition of the month five months back; then ANALYZE.
async fn seed(pool: &sqlx::PgPool, jobs: i64, events: i64) -> anyhow::Result<()> {
    let db = Db::from_pool(pool.clone());
    let org = db
        .create_organization(&NewOrganization::new(
            "Retention",
            &format!("r-{}", uuid::Uuid::new_v4().simple()),
            "r@bench.local",
        ))
        .await?;
    let total = jobs + jobs / 10;
    let chunk = 100_000;
    let mut done = 0;
    while done < total {
        let upto = (done + chunk).min(total);
        sqlx::query(
            "INSERT INTO scrape_jobs (id, organization_id, url, url_hash, engine, status, \
                 attempts, created_at, queued_at, started_at, completed_at, credits_estimated, \
                 credits_charged, credits_settled_at) \
             SELECT gen_random_uuid(), $1, 'https://site-' || (g % 5000) || '.example/p/' || g, \
                 '', 'http', CASE WHEN g % 20 = 0 THEN 'failed' ELSE 'completed' END, 1, \
                 at, at, at, at, 1, 1, at \
             FROM generate_series($2::bigint, $3::bigint - 1) g, LATERAL (SELECT CASE \
                 WHEN g < $4 THEN NOW() - INTERVAL '31 days' - (g::float8 / $4) * INTERVAL '29 days' \
                 ELSE NOW() - INTERVAL '1 day' END AS at) t",
        )
        .bind(org.id)
        .bind(done)
        .bind(upto)
        .bind(jobs)
        .execute(pool)
        .await
        .context("seeding jobs")?;
        done = upto;
    }
    sqlx::query(
        "SELECT create_monthly_partition('job_events', \
             date_trunc('month', NOW() - INTERVAL '5 months')::date)",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO job_events (job_id, organization_id, event_type, event_data, created_at) \
         SELECT gen_random_uuid(), $1, 'job.completed', '{}'::jsonb, \
             date_trunc('month', NOW() - INTERVAL '5 months') + (g::float8 / $2) * INTERVAL '27 days' \
         FROM generate_series(0, $2::bigint - 1) g",
    )
    .bind(org.id)
    .bind(events)
    .execute(pool)
    .await
    .context("seeding events")?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

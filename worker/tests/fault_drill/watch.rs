//! What the drill reads back from Postgres: the jobs in flight when a fault hit, when each
//! was taken up again, and the final tally. Every read tolerates the database being down
//! (one of the faults is Postgres itself): it is simply tried again.

use std::time::{Duration, Instant};

use scraperx_core::{domain::JobId, pg::Organization};
use sqlx::PgPool;

/// A job in flight at the fault, with the attempt it was on.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    pub id: JobId,
    pub attempts: i32,
}

/// The jobs of `org` running now, on `worker` when given.
pub async fn in_flight(pool: &PgPool, org: &Organization, worker: Option<&str>) -> Vec<InFlight> {
    let rows: Vec<(uuid::Uuid, i32)> = sqlx::query_as(
        "SELECT id, attempts FROM scrape_jobs
          WHERE organization_id = $1 AND status = 'running'
            AND ($2::text IS NULL OR worker_id = $2)",
    )
    .bind(org.id.0)
    .bind(worker)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    rows.into_iter()
        .map(|(id, attempts)| InFlight {
            id: JobId(id),
            attempts,
        })
        .collect()
}

/// For each job, how long after `since` it was taken up again (a later attempt began) or
/// ended; None for a job that did neither within `within`.
pub async fn taken_up(
    pool: &PgPool,
    jobs: &[InFlight],
    since: Instant,
    within: Duration,
) -> Vec<Option<Duration>> {
    let ids: Vec<uuid::Uuid> = jobs.iter().map(|j| j.id.0).collect();
    let mut times: Vec<Option<Duration>> = vec![None; jobs.len()];
    while times.iter().any(Option::is_none) && since.elapsed() < within {
        let rows: Vec<(uuid::Uuid, i32, String)> =
            sqlx::query_as("SELECT id, attempts, status FROM scrape_jobs WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(pool)
                .await
                .unwrap_or_default();
        let now = since.elapsed();
        for (id, attempts, status) in rows {
            let Some(i) = ids.iter().position(|x| *x == id) else {
                continue;
            };
            let moved = attempts > jobs[i].attempts
                || matches!(
                    status.as_str(),
                    "completed" | "failed" | "timeout" | "canceled"
                );
            if moved && times[i].is_none() {
                times[i] = Some(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (job, time) in jobs.iter().zip(&times) {
        if time.is_none_or(|t| t > Duration::from_secs(5)) {
            println!(
                "slow to be taken up: job {} (attempt {}): {time:?}",
                job.id, job.attempts
            );
        }
    }
    times
}

/// Where an organization's jobs ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub submitted: usize,
    pub completed: usize,
    pub failed: usize,
    /// Neither completed nor failed when the drill stopped waiting.
    pub lost: usize,
    /// Jobs charged above their price, plus credits taken beyond what the jobs record.
    pub charged_twice: usize,
}

/// Waits until every job of `org` has ended and been settled (or `within` passes), then
/// counts them and checks the balance against the charges.
pub async fn settle(
    pool: &PgPool,
    org: &Organization,
    submitted: usize,
    within: Duration,
) -> Tally {
    let start = Instant::now();
    loop {
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT count(*) FROM scrape_jobs WHERE organization_id = $1
               AND (status NOT IN ('completed', 'failed', 'timeout', 'canceled')
                    OR credits_settled_at IS NULL)",
        )
        .bind(org.id.0)
        .fetch_one(pool)
        .await
        .ok();
        if open == Some(0) || start.elapsed() > within {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tally(pool, org, submitted).await
}

async fn tally(pool: &PgPool, org: &Organization, submitted: usize) -> Tally {
    let (completed, failed, over_priced, charged, smallest): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'completed'),
                    count(*) FILTER (WHERE status IN ('failed', 'timeout', 'canceled')),
                    count(*) FILTER (WHERE credits_charged > credits_estimated),
                    COALESCE(sum(credits_charged), 0)::bigint,
                    GREATEST(COALESCE(min(credits_estimated), 1), 1)::bigint
               FROM scrape_jobs WHERE organization_id = $1",
        )
        .bind(org.id.0)
        .fetch_one(pool)
        .await
        .expect("tally");
    let balance: i64 =
        sqlx::query_scalar("SELECT credits_balance FROM organizations WHERE id = $1")
            .bind(org.id.0)
            .fetch_one(pool)
            .await
            .expect("balance");
    let spent = org.credits_balance - balance;
    let unaccounted = usize::try_from((spent - charged).max(0) / smallest).unwrap_or(0);
    let completed = usize::try_from(completed).unwrap_or(0);
    let failed = usize::try_from(failed).unwrap_or(0);
    Tally {
        submitted,
        completed,
        failed,
        lost: submitted.saturating_sub(completed + failed),
        charged_twice: usize::try_from(over_priced).unwrap_or(0) + unaccounted,
    }
}

//! The re-enqueue sweep: Postgres is the truth, Redis a fast copy; whatever Redis lost is
//! put back, once, in keyset pages.

mod common;

use std::time::Duration;

use scraperx_core::{
    config::RedisConfig,
    dispatch::{QueueSet, dispatch},
    domain::{Engine, OrgId},
    hot,
    pg::{Db, NewJob},
    queue::JobQueue,
    sweep::{self, Pass, SweepReport},
};
use sqlx::PgPool;

async fn queues() -> QueueSet {
    let redis = hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    QueueSet::new(redis, &format!("t{}-", uuid::Uuid::new_v4().simple()))
}

/// Redis loses one entry of `queue` (taken and acknowledged without Postgres knowing).
async fn lose_one(queue: &JobQueue) {
    let lost = queue
        .dequeue(Duration::from_secs(30))
        .await
        .expect("dequeue")
        .expect("job");
    queue.ack(&lost).await.expect("ack");
}

/// Fresh queues, and `queued` jobs Postgres holds for their http queue, which lacks them all.
async fn lost_backlog(pool: &PgPool, queued: i64) -> (Db, OrgId, QueueSet) {
    let db = Db::from_pool(pool.clone());
    let org = common::org(&db, "backlog", 0).await;
    let queues = queues().await;
    let http = queues.for_engine(Engine::Http).name().to_owned();
    common::backlog(pool, org.id, "queued", &http, queued).await;
    (db, org.id, queues)
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_batch_of_several_dispatch_chunks_is_queued_whole_in_postgres_and_redis(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let n = 2_500;
    let org = common::org(&db, "big-batch", n).await;
    let queues = queues().await;
    let new: Vec<NewJob> = (0..n)
        .map(|i| NewJob::get(&format!("https://a.test/{i}")))
        .collect();
    let mut jobs: Vec<_> = db
        .submit_jobs(org.id, None, None, &new)
        .await
        .expect("submit")
        .into_iter()
        .map(|s| s.into_job())
        .collect();
    let mut refs: Vec<_> = jobs.iter_mut().collect();
    assert_eq!(
        dispatch(&db, &queues, &mut refs).await.expect("dispatch"),
        n as usize
    );
    assert!(
        jobs.iter()
            .all(|j| j.status == scraperx_core::domain::JobStatus::Queued)
    );
    let queued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM scrape_jobs WHERE status = 'queued'")
            .fetch_one(&pool)
            .await
            .expect("count");
    let http = queues.for_engine(Engine::Http);
    assert_eq!(
        (queued, http.depth().await.expect("depth").waiting),
        (n, n as u64)
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn jobs_postgres_holds_as_queued_but_redis_lost_are_put_back_once(pool: PgPool) {
    let db = Db::from_pool(pool);
    let org = common::org(&db, "sweep", 100).await;
    let queues = queues().await;
    let mut jobs: Vec<_> = db
        .submit_jobs(
            org.id,
            None,
            None,
            &[
                NewJob::get("https://a.test/1"),
                NewJob::get("https://a.test/2"),
            ],
        )
        .await
        .expect("submit")
        .into_iter()
        .map(|s| s.into_job())
        .collect();
    let mut refs: Vec<_> = jobs.iter_mut().collect();
    assert_eq!(
        dispatch(&db, &queues, &mut refs).await.expect("dispatch"),
        2
    );
    let http = queues.for_engine(Engine::Http);
    assert_eq!(http.depth().await.expect("depth").waiting, 2);

    lose_one(http).await;
    let swept = sweep::sweep(&db, &queues, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!((swept.queued, swept.restored), (2, 1));
    assert_eq!(http.depth().await.expect("depth").waiting, 2);
    let again = sweep::sweep(&db, &queues, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!(again.restored, 0, "nothing twice");
    // Within the grace period nothing is touched (a dispatch may be in progress).
    lose_one(http).await;
    let early = sweep::sweep(&db, &queues, Duration::from_secs(60))
        .await
        .expect("sweep");
    assert_eq!(early, SweepReport::default());
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_sweep_pages_through_every_queued_and_running_job_the_queues_lost(pool: PgPool) {
    // More than two pages of queued jobs, and running jobs whose leases Redis lost.
    let queued = 2 * sweep::PAGE + 500;
    let (db, org, queues) = lost_backlog(&pool, queued).await;
    let http = queues.for_engine(Engine::Http);
    common::backlog(&pool, org, "running", http.name(), 300).await;
    // One running job still holds its lease: it is left alone.
    let leased: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM scrape_jobs WHERE status = 'running' ORDER BY started_at LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("a running job");
    http.enqueue(&leased.to_string(), "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    let lease = http
        .dequeue(Duration::from_secs(30))
        .await
        .expect("dequeue")
        .expect("lease");
    let report = sweep::sweep(&db, &queues, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!(
        report,
        SweepReport {
            queued: queued as u64,
            running: 300,
            restored: queued as u64 + 299,
        }
    );
    let depth = http.depth().await.expect("depth");
    assert_eq!((depth.waiting, depth.active), (queued as u64 + 299, 1));
    // Higher priority first, as dispatch would have queued them.
    let first = http
        .dequeue(Duration::from_secs(30))
        .await
        .expect("dequeue")
        .expect("job");
    let priority: i32 = sqlx::query_scalar("SELECT priority FROM scrape_jobs WHERE id = $1::uuid")
        .bind(&first.id)
        .fetch_one(&pool)
        .await
        .expect("priority");
    assert_eq!(priority, 10);
    assert_eq!(
        sweep::sweep(&db, &queues, Duration::ZERO)
            .await
            .expect("again")
            .restored,
        0
    );
    assert!(http.ack(&lease).await.expect("the lease survived"));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn jobs_of_suspended_batches_are_left_out(pool: PgPool) {
    let (db, _, queues) = lost_backlog(&pool, 10).await;
    sqlx::query("UPDATE scrape_jobs SET suspended = TRUE WHERE priority > 5")
        .execute(&pool)
        .await
        .expect("suspend");
    let report = sweep::sweep(&db, &queues, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!((report.queued, report.restored), (5, 5));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_restore_pass_leaves_the_queues_intact_and_a_loss_is_seen(pool: PgPool) {
    let (db, _, queues) = lost_backlog(&pool, 3).await;
    let http = queues.for_engine(Engine::Http);
    assert!(!sweep::queues_intact(&queues).await.expect("fresh"));
    let report = sweep::run_pass(&db, &queues, Pass::Restore)
        .await
        .expect("restore");
    assert_eq!(report.restored, 3);
    assert!(sweep::queues_intact(&queues).await.expect("restored"));
    // Redis loses one queue: the queues are no longer intact.
    let conn = hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    let _: u64 = redis::cmd("DEL")
        .arg(http.keys())
        .query_async(&mut conn.clone())
        .await
        .expect("lose the queue");
    assert!(!sweep::queues_intact(&queues).await.expect("lost"));
}

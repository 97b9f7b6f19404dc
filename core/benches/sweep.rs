//! The re-enqueue sweep against a backlog Redis lost: `SCRX_SWEEP_JOBS` (default 100,000)
//! jobs queued in Postgres and none in Redis, put back by one restore pass
//! (`eval "$(scripts/services.sh env)"; cargo bench -p scraperx-core --bench sweep`).
//! Works in a database of its own, created, migrated and dropped, and on queues of its own,
//! deleted after. Prints the figure; asserts only that every job is back.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/database.rs"]
mod database;

use std::time::Instant;

use scraperx_core::{
    config::RedisConfig,
    dispatch::QueueSet,
    domain::Engine,
    hot,
    pg::Db,
    sweep::{self, Pass},
};

#[tokio::main]
async fn main() {
    let jobs: i64 = std::env::var("SCRX_SWEEP_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let database = database::BenchDatabase::create(4).await;
    let pool = database.pool.clone();
    let db = Db::from_pool(pool.clone());
    let org = common::org(&db, "sweep-bench", 0).await;
    let redis = hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    let queues = QueueSet::new(
        redis.clone(),
        &format!("b{}-", uuid::Uuid::new_v4().simple()),
    );
    let http = queues.for_engine(Engine::Http);
    let seeded = Instant::now();
    common::backlog(&pool, org.id, "queued", http.name(), jobs).await;
    sqlx::query("ANALYZE scrape_jobs")
        .execute(&pool)
        .await
        .expect("analyze");
    println!("seeded {jobs} queued jobs in {:?}", seeded.elapsed());

    let started = Instant::now();
    let report = sweep::run_pass(&db, &queues, Pass::Restore)
        .await
        .expect("restore");
    let took = started.elapsed();
    let waiting = http.depth().await.expect("depth").waiting;
    println!(
        "sweep: {} of {jobs} queued jobs back in Redis in {took:.2?} ({:.0} jobs/s)",
        report.restored,
        report.restored as f64 / took.as_secs_f64()
    );
    assert_eq!(waiting, jobs as u64, "every job is back");

    for queue in queues.jobs() {
        let _: u64 = redis::cmd("DEL")
            .arg(queue.keys())
            .query_async(&mut redis.clone())
            .await
            .expect("delete the bench queues");
    }
    database.remove().await;
}

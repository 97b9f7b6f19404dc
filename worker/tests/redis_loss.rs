//! Redis restarting empty loses nothing: the workers' sweep notices the queues' marker gone
//! and puts the jobs Postgres holds as queued or running back, without the operator; they
//! complete, each charged once.

mod common;
#[path = "../../core/tests/support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use axum::{Router, routing::get};
use common::{Harness, serve};
use redis_server::PrivateRedis;
use scraperx_core::{
    domain::{Engine, JobStatus},
    pg::NewJob,
};
use scraperx_worker::WorkerConfig;
use sqlx::PgPool;

async fn site() -> String {
    let addr = serve(
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "<title>slow</title>"
                }),
            )
            .route("/fast", get(|| async { "<title>fast</title>" })),
    )
    .await;
    format!("http://{addr}")
}

fn http_job(url: String) -> NewJob {
    let mut job = NewJob::get(&url);
    job.engine = Engine::Http;
    job
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn after_redis_restarts_empty_queued_and_running_jobs_are_put_back_and_complete(
    pool: PgPool,
) {
    let mut redis = PrivateRedis::start();
    let h = Harness::on_redis(pool, &redis.config()).await;
    let org = h.org(10).await;
    let base = site().await;
    // One slot, so the second job waits queued behind the first.
    let config = WorkerConfig {
        concurrency: 1,
        lease: Duration::from_millis(1_500),
        ..h.config()
    };
    let (_stop, _worker) = h.start(config);
    let running = h.submit(&org, http_job(format!("{base}/slow"))).await;
    h.running(running).await;
    let queued = h.submit(&org, http_job(format!("{base}/fast"))).await;
    let waiting = h.db.get_job_unscoped(queued).await.expect("job");
    assert_eq!(waiting.status, JobStatus::Queued);

    let lost_at = std::time::Instant::now();
    redis.restart();
    let q = h.completed(queued, Duration::from_secs(30)).await;
    let r = h.completed(running, Duration::from_secs(30)).await;
    println!(
        "both jobs completed {:?} after Redis restarted empty",
        lost_at.elapsed()
    );
    assert_eq!(q.attempts, 1);
    assert_eq!(
        r.attempts, 2,
        "the running job lost its lease with Redis and was run again"
    );
    assert_eq!(h.balance(&org).await, 8, "each charged once");
    let depth = h
        .queue(scraperx_core::queue::QueueName::Http)
        .depth()
        .await
        .expect("depth");
    assert_eq!(depth.total(), 0, "nothing left behind or queued twice");
}

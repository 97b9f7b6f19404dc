//! The worker binary as a process: SIGKILL mid-job loses nothing (another worker re-runs the
//! job within seconds, long before its lease would lapse, charged once), a slow job on a
//! live worker is never delivered again, SIGTERM hands running jobs back after the grace
//! period, and the process serves /healthz and /metrics; heartbeats show it alive.

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::{Router, routing::get};
use common::{Harness, serve};
use scraperx_core::{domain::JobStatus, pg::NewJob};
use sqlx::PgPool;

fn spawn_worker(pool: &PgPool, h: &Harness, port: u16, lease_ms: u64, grace_secs: u64) -> Child {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = pool
        .connect_options()
        .get_database()
        .expect("test database")
        .to_owned();
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{db}", &base[..i]),
        None => base,
    };
    Command::new(env!("CARGO_BIN_EXE_scraperx-worker"))
        .arg("run")
        .env("DATABASE_URL", url)
        .env("SCRX_QUEUE_NAMESPACE", &h.namespace)
        .env("SCRX_ALLOW_PRIVATE_TARGETS", "true")
        .env("SCRX_WORKER_CONCURRENCY", "1")
        .env("SCRX_WORKER_LEASE_MS", lease_ms.to_string())
        .env("SCRX_WORKER_GRACE_SECS", grace_secs.to_string())
        .env("SCRX_WORKER_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "S3_ACCESS_KEY",
            std::env::var("S3_WORKER_ACCESS_KEY").unwrap_or_default(),
        )
        .env(
            "S3_SECRET_KEY",
            std::env::var("S3_WORKER_SECRET_KEY").unwrap_or_default(),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker binary")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A page that takes `secs` to answer.
async fn slow_site_taking(secs: u64) -> String {
    let addr = serve(Router::new().route(
        "/slow",
        get(move || async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            "<title>slow</title>"
        }),
    ))
    .await;
    format!("http://{addr}/slow")
}

async fn slow_site() -> String {
    slow_site_taking(3).await
}

/// Waits until the job has been started `attempts` times; returns how long that took.
async fn started(h: &Harness, id: scraperx_core::domain::JobId, attempts: i32) -> Duration {
    let since = std::time::Instant::now();
    loop {
        let job = h.db.get_job_unscoped(id).await.expect("job");
        if job.attempts >= attempts && job.status != JobStatus::Queued {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "never started again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_worker_killed_with_sigkill_mid_job_loses_nothing_and_charges_once(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let org = h.org(10).await;
    let mut job = NewJob::get(&slow_site().await);
    job.engine = scraperx_core::domain::Engine::Http;
    let id = h.submit(&org, job).await;
    let port = free_port();
    // A 30 s lease: only the victim's lapsed liveness can free the job in seconds.
    let mut victim = spawn_worker(&pool, &h, port, 30_000, 30);
    h.running(id).await;
    // The process answers while it works.
    let health = reqwest_get(&format!("http://127.0.0.1:{port}/healthz")).await;
    assert_eq!(health, "ok");
    let metrics = reqwest_get(&format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(
        metrics.contains("scraperx_worker_jobs_in_flight 1"),
        "{metrics}"
    );
    let live = scraperx_core::hot::metrics::Metrics::new(
        h.redis.clone(),
        scraperx_core::hot::TtlConfig::default(),
    )
    .live_workers()
    .await
    .expect("heartbeats");
    assert!(
        live.iter()
            .any(|w| w.pool == "http" && w.status == "active"),
        "{live:?}"
    );
    let (_stop, _rescuer) = h.start(h.config());
    victim.kill().expect("SIGKILL");
    victim.wait().expect("reaped");
    let reclaimed = started(&h, id, 2).await;
    println!("job run again by another worker {reclaimed:?} after SIGKILL");
    assert!(
        reclaimed < Duration::from_secs(5),
        "run again only after {reclaimed:?}"
    );
    let done = h.finished(id, Duration::from_secs(20)).await;
    assert_eq!((done.status, done.attempts), (JobStatus::Completed, 2));
    assert_eq!(h.balance(&org).await, 9, "charged once");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_slow_job_on_a_live_worker_is_not_delivered_again(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let org = h.org(10).await;
    // Longer than the liveness TTL (2.5 s) and than six of its 1 s leases.
    let mut job = NewJob::get(&slow_site_taking(6).await);
    job.engine = scraperx_core::domain::Engine::Http;
    job.options.timeout = 20_000;
    let id = h.submit(&org, job).await;
    let mut slow = spawn_worker(&pool, &h, free_port(), 1_000, 30);
    h.running(id).await;
    // Another worker polls the queue all along, ready to take anything reclaimed.
    let (_stop, _other) = h.start(h.config());
    let done = h.finished(id, Duration::from_secs(20)).await;
    slow.kill().expect("SIGKILL");
    slow.wait().expect("reaped");
    assert_eq!((done.status, done.attempts), (JobStatus::Completed, 1));
    assert_eq!(h.balance(&org).await, 9, "charged once");
    let events = h.db.list_job_events(org.id, id).await.expect("events");
    assert!(
        !events.iter().any(|e| e
            .event_data
            .as_ref()
            .is_some_and(|d| d.0["reason"] == "lease_expired")),
        "the job was taken over from its live worker"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn sigterm_hands_running_jobs_back_after_the_grace_period(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let org = h.org(10).await;
    let mut job = NewJob::get(&slow_site().await);
    job.engine = scraperx_core::domain::Engine::Http;
    let id = h.submit(&org, job).await;
    let mut worker = spawn_worker(&pool, &h, free_port(), 30_000, 1);
    h.running(id).await;
    let pid = worker.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    // While it drains, its heartbeat says so.
    let counters = scraperx_core::hot::metrics::Metrics::new(
        h.redis.clone(),
        scraperx_core::hot::TtlConfig::default(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_millis(900);
    let mut draining = false;
    while !draining && tokio::time::Instant::now() < deadline {
        draining = counters
            .live_workers()
            .await
            .expect("heartbeats")
            .iter()
            .any(|w| w.status == "draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        draining,
        "the heartbeat reported draining during the grace period"
    );
    let status = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .expect("join")
        .expect("exit");
    assert!(status.success(), "a clean exit: {status:?}");
    // Handed back at once, not left to a 30 s lease.
    let job = h.db.get_job_unscoped(id).await.expect("job");
    assert_eq!(job.status, JobStatus::Queued);
    let depth = h
        .queue(scraperx_core::queue::QueueName::Http)
        .depth()
        .await
        .expect("depth");
    assert_eq!((depth.waiting, depth.active), (1, 0));
    let events = h.db.list_job_events(org.id, id).await.expect("events");
    assert!(events.iter().any(|e| {
        e.event_data
            .as_ref()
            .is_some_and(|d| d.0["reason"] == "worker_shutdown")
    }));
}

async fn reqwest_get(url: &str) -> String {
    reqwest::get(url)
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}

//! Politeness per domain: robots.txt crawl-delay, an obeyed Disallow, the in-flight cap, and
//! what domain intelligence learns (a 429 slows the domain down; an escalation is remembered).

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    http::{StatusCode, header},
    routing::get,
};
use common::{Harness, serve};
use scraperx_core::{
    domain::{Engine, JobStatus},
    pg::NewJob,
};
use sqlx::PgPool;

#[derive(Clone, Default)]
struct Seen {
    starts: Arc<Mutex<Vec<Instant>>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

fn site(seen: Seen, robots: &'static str) -> Router {
    Router::new()
        .route("/robots.txt", get(move || async move { robots }))
        .route(
            "/page",
            get(move || {
                let seen = seen.clone();
                async move {
                    seen.starts.lock().expect("lock").push(Instant::now());
                    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                    ([(header::CONTENT_TYPE, "text/html")], "<p>ok</p>")
                }
            }),
        )
        .route("/secret/page", get(|| async { "hidden" }))
        .route(
            "/busy",
            get(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }),
        )
}

/// Drops a robots.txt cached for this port by an earlier test's server (ports are reused).
async fn forget_robots(h: &Harness, addr: std::net::SocketAddr) {
    let _: i64 = redis::AsyncCommands::del(
        &mut h.redis.clone(),
        format!("scrx:domain:{{d:http://127.0.0.1:{}}}:robots", addr.port()),
    )
    .await
    .expect("clear");
}

fn job(url: String) -> NewJob {
    let mut j = NewJob::get(&url);
    j.engine = Engine::Http;
    j
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_crawl_delay_spaces_request_starts_and_is_recorded(pool: PgPool) {
    let h = Harness::new(pool).await;
    let seen = Seen::default();
    let addr = serve(site(seen.clone(), "User-agent: *\nCrawl-delay: 1\n")).await;
    forget_robots(&h, addr).await;
    let org = h.org(10).await;
    let ids = [
        h.submit(&org, job(format!("http://{addr}/page"))).await,
        h.submit(&org, job(format!("http://{addr}/page"))).await,
        h.submit(&org, job(format!("http://{addr}/page"))).await,
    ];
    let mut config = h.config();
    config.concurrency = 3;
    let (_stop, _w) = h.start(config);
    for id in ids {
        h.completed(id, Duration::from_secs(20)).await;
    }
    let mut starts = seen.starts.lock().expect("lock").clone();
    starts.sort();
    // The first job learns the delay from robots.txt; the later ones keep to it.
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[1..].iter().all(|g| *g >= Duration::from_millis(950)),
        "{gaps:?}"
    );
    let intel =
        h.db.domain_intel("127.0.0.1")
            .await
            .expect("intel")
            .expect("row");
    assert_eq!(intel.robots_txt_crawl_delay, Some(1_000));
    assert!(intel.robots_txt_cached_at.is_some());
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn disallowed_paths_are_refused_when_the_deployment_obeys_robots(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Seen::default(), "User-agent: *\nDisallow: /secret/\n")).await;
    forget_robots(&h, addr).await;
    let org = h.org(10).await;
    let id = h
        .submit(&org, job(format!("http://{addr}/secret/page")))
        .await;
    let mut config = h.config();
    config.obey_robots = true;
    let (_stop, _w) = h.start(config);
    let done = h.finished(id, Duration::from_secs(10)).await;
    assert_eq!(
        (done.status, done.error_code.as_deref()),
        (JobStatus::Failed, Some("blocked_target"))
    );
    assert!(
        done.error_message
            .as_deref()
            .is_some_and(|m| m.contains("robots.txt"))
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn requests_in_flight_per_domain_are_capped_across_workers(pool: PgPool) {
    let h = Harness::new(pool).await;
    let seen = Seen::default();
    let addr = serve(site(seen.clone(), "")).await;
    let org = h.org(10).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(h.submit(&org, job(format!("http://{addr}/page"))).await);
    }
    let mut config = h.config();
    config.concurrency = 2;
    config.per_domain_concurrency = 1;
    // Two workers with two slots each: four could run at once without the cap.
    let (_a, _wa) = h.start(config.clone());
    let (_b, _wb) = h.start(config);
    for id in ids {
        assert_eq!(
            h.finished(id, Duration::from_secs(20)).await.status,
            JobStatus::Completed
        );
    }
    assert_eq!(seen.peak.load(Ordering::SeqCst), 1);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_429_slows_the_domain_down(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Seen::default(), "")).await;
    let org = h.org(10).await;
    let mut busy = job(format!("http://{addr}/busy"));
    busy.max_attempts = 1;
    let id = h.submit(&org, busy).await;
    let (_stop, _w) = h.start(h.config());
    let done = h.finished(id, Duration::from_secs(10)).await;
    assert_eq!(done.error_code.as_deref(), Some("rate_limited_by_target"));
    let intel =
        h.db.domain_intel("127.0.0.1")
            .await
            .expect("intel")
            .expect("row");
    assert!(
        intel.recommended_delay_ms >= 1_000,
        "{}",
        intel.recommended_delay_ms
    );
    assert_eq!(intel.success_rate, Some(0.0));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_unreachable_robots_txt_means_disallowed_for_now_when_obeyed(pool: PgPool) {
    use axum::http::StatusCode;
    let h = Harness::new(pool).await;
    let addr = serve(
        Router::new()
            .route(
                "/robots.txt",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
            )
            .route("/page", get(|| async { "<title>page</title>" })),
    )
    .await;
    forget_robots(&h, addr).await;
    let org = h.org(10).await;
    let mut strict = job(format!("http://{addr}/page"));
    strict.max_attempts = 1;
    let id = h.submit(&org, strict).await;
    let mut config = h.config();
    config.obey_robots = true;
    let (stop, _w) = h.start(config);
    let done = h.finished(id, Duration::from_secs(10)).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert!(
        done.error_message
            .as_deref()
            .is_some_and(|m| m.contains("robots.txt is unreachable")),
        "{:?}",
        done.error_message
    );
    drop(stop);
    // A deployment that does not obey robots.txt fetches the page all the same.
    let id = h.submit(&org, job(format!("http://{addr}/page"))).await;
    let (_stop, _w) = h.start(h.config());
    assert_eq!(
        h.finished(id, Duration::from_secs(10)).await.status,
        JobStatus::Completed
    );
}

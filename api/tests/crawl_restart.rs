//! A crawl outlives the API that started it: the API process is killed with SIGKILL in the
//! middle of a crawl, a new one is started, and the crawl completes with every page scraped
//! exactly once, read through the new process. (The crawl's state is Postgres's and the
//! queues'; workers drive the frontier. A worker killed mid-crawl: `worker/tests/crawl.rs`.)

mod common;

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    response::Html,
    routing::get,
};
use common::{app, key, org, start_worker_with};
use serde_json::{Value, json};
use sqlx::PgPool;

const PAGES: usize = 300;

type Hits = Arc<Mutex<HashMap<usize, usize>>>;

/// Page `n` links to `n+1` and `2n+1` (modulo the site's size): every page reachable,
/// with cycles.
fn site(hits: Hits) -> Router {
    Router::new()
        .route(
            "/p/{n}",
            get(
                |State(hits): State<Hits>, Path(n): Path<usize>| async move {
                    if let Ok(mut h) = hits.lock() {
                        *h.entry(n).or_default() += 1;
                    }
                    let links = [(n + 1) % PAGES, (2 * n + 1) % PAGES]
                        .map(|m| format!("<a href=\"/p/{m}\">p{m}</a>"))
                        .join(" ");
                    Html(format!(
                        "<html><head><title>p{n}</title></head><body>{links}</body></html>"
                    ))
                },
            ),
        )
        .with_state(hits)
}

/// The API binary serving the test's database and queues on `addr`.
fn spawn_api(pool: &PgPool, namespace: &str, addr: &str) -> Child {
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
    Command::new(env!("CARGO_BIN_EXE_scraperx-api"))
        .arg("serve")
        .envs([
            ("DATABASE_URL", url.as_str()),
            ("SCRX_API_ADDR", addr),
            ("SCRX_QUEUE_NAMESPACE", namespace),
            ("SCRX_ALLOW_PRIVATE_TARGETS", "true"),
            ("RUST_LOG", "warn"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the api binary runs")
}

fn free_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .expect("port")
}

/// Waits until the API at `addr` answers its health check.
async fn healthy(http: &reqwest::Client, addr: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ok = http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API on {addr} never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn crawl_view(http: &reqwest::Client, addr: &str, key: &str, id: &str) -> Value {
    let body = http
        .get(format!("http://{addr}/v1/crawls/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("get crawl")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&body).expect("json")
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_api_killed_mid_crawl_leaves_the_crawl_to_complete_with_every_page_scraped_once(
    pool: PgPool,
) {
    let t = app(pool.clone()).await;
    let o = org(&t.db, 100_000).await;
    let k = key(&t.db, &o).await;
    let hits: Hits = Arc::default();
    let site_url = common::serve(site(hits.clone())).await;
    let _worker = start_worker_with(&t, |c| {
        c.concurrency = 4;
        c.per_domain_concurrency = 4;
    });
    let http = reqwest::Client::new();
    let namespace = t.state.config.queue_namespace.clone();

    let first_addr = free_addr();
    let mut first = spawn_api(&pool, &namespace, &first_addr);
    healthy(&http, &first_addr).await;
    let request = json!({
        "url": format!("{site_url}/p/0"),
        "options": {"limit": PAGES, "maxDepth": 50, "sitemap": "skip"}
    });
    let created = http
        .post(format!("http://{first_addr}/v1/crawls"))
        .bearer_auth(&k)
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .expect("create")
        .text()
        .await
        .expect("body");
    let created: Value = serde_json::from_str(&created).expect("json");
    let id = created["id"].as_str().expect("crawl id").to_owned();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while crawl_view(&http, &first_addr, &k, &id).await["counts"]["completed"]
        .as_i64()
        .unwrap_or(0)
        < 30
    {
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = crawl_view(&http, &first_addr, &k, &id).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let second_addr = free_addr();
    let mut second = spawn_api(&pool, &namespace, &second_addr);
    healthy(&http, &second_addr).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let view = loop {
        let view = crawl_view(&http, &second_addr, &k, &id).await;
        if view["status"] != "running" {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "crawl still running: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    second.kill().ok();
    second.wait().ok();

    assert!(
        before["status"] == "running" && before["counts"]["completed"].as_i64() < Some(270),
        "the API was killed mid-crawl: {before}"
    );
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["counts"]["completed"], PAGES, "{view}");
    let per_url: Vec<(String, i64)> = sqlx::query_as(
        "SELECT url, COUNT(*) FROM scrape_jobs WHERE batch_id = $1::uuid GROUP BY url",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .expect("jobs");
    assert_eq!(per_url.len(), PAGES, "one job per page");
    assert!(per_url.iter().all(|(_, n)| *n == 1), "a page got two jobs");
    let hits = hits.lock().map(|h| h.clone()).unwrap_or_default();
    assert_eq!(hits.len(), PAGES);
    assert!(
        hits.values().all(|&n| n == 1),
        "a page was fetched twice: {:?}",
        hits.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
}

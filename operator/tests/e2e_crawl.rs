//! A ScrapeCrawl end to end: applied to the real kube-apiserver (e2e/control-plane.sh), run
//! by the controllers over real Postgres (a fresh database per test) and Redis, its pages
//! scraped by a real worker from a small site this test serves on loopback (link cycles, an
//! external link, a page beyond the depth). The crawl is created once across an operator
//! restart, completes with the right counts, and `kubectl wait --for=condition=Complete`
//! and `kubectl get scrapecrawls` see it; its TTL then deletes it.

mod cluster;

use std::time::Duration;

use kube::{Api, api::PostParams};
use scraperx_operator::crd::{CrawlPhase, ScrapeCrawl};
use serde_json::json;
use sqlx::PgPool;

use cluster::{Cluster, cluster};

/// The site: `/` → `/a`, `/b`; `/a` → `/b`, `/c`, `/` and an external host; `/b` → `/a`
/// and `/b/` (the same page); `/c` → `/d`, one level too deep at maxDepth 2.
async fn site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let page = |links: &'static [&'static str]| {
        let body: String = links
            .iter()
            .map(|l| format!("<a href=\"{l}\">{l}</a> "))
            .collect();
        (
            [(axum::http::header::CONTENT_TYPE, "text/html")],
            format!("<html><head><title>p</title></head><body>{body}</body></html>"),
        )
    };
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || async move { page(&["/a", "/b"]) }),
        )
        .route(
            "/a",
            axum::routing::get(move || async move {
                page(&["/b", "/c", "/", "https://elsewhere.test/x"])
            }),
        )
        .route(
            "/b",
            axum::routing::get(move || async move { page(&["/a", "/b/"]) }),
        )
        .route(
            "/c",
            axum::routing::get(move || async move { page(&["/d"]) }),
        )
        .route("/d", axum::routing::get(move || async move { page(&[]) }));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

impl Cluster {
    fn crawls(&self) -> Api<ScrapeCrawl> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Polls the crawl until `ok` holds (at most `within`).
    async fn wait_crawl(
        &self,
        name: &str,
        within: Duration,
        ok: impl Fn(&ScrapeCrawl) -> bool,
    ) -> ScrapeCrawl {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let sc = self.crawls().get_opt(name).await.expect("get");
            if let Some(sc) = &sc
                && ok(sc)
            {
                return sc.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out: {:?}",
                sc.map(|s| s.status)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn phase(sc: &ScrapeCrawl) -> Option<CrawlPhase> {
    sc.status.as_ref().map(|s| s.phase)
}

fn kubectl(args: &[&str]) -> String {
    let out = std::process::Command::new("kubectl")
        .args(args)
        .output()
        .expect("kubectl");
    assert!(out.status.success(), "kubectl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_crawl_applied_to_the_cluster_runs_once_to_completion_with_its_counts_and_conditions(
    pool: PgPool,
) {
    let c = cluster(pool.clone()).await;
    let org = c.org_secret(100).await;
    let site = site().await;
    let controllers = c.start();
    let sc: ScrapeCrawl = serde_json::from_value(json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeCrawl",
        "metadata": { "name": "site" },
        "spec": { "url": format!("{site}/"), "organizationRef": { "name": "scraperx-key" },
                  "engine": "http", "crawl": { "maxDepth": 2, "sitemap": "skip" },
                  "ttlSecondsAfterFinished": 5 },
    }))
    .expect("manifest");
    c.crawls()
        .create(&PostParams::default(), &sc)
        .await
        .expect("create");
    c.wait_crawl("site", Duration::from_secs(20), |sc| {
        phase(sc) == Some(CrawlPhase::Running)
    })
    .await;

    // An operator restart reconciles again: still one crawl.
    controllers.abort();
    let controllers = c.start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let crawls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM crawls WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(crawls, 1);

    let (stop, worker) = c.worker();
    let sc = c
        .wait_crawl("site", Duration::from_secs(60), |sc| {
            phase(sc).is_some_and(CrawlPhase::is_done)
        })
        .await;
    let status = sc.status.expect("status");
    assert_eq!(status.phase, CrawlPhase::Completed, "{status:?}");
    // /, /a, /b and /c; /d is past the depth, elsewhere.test another host, /b/ is /b.
    assert_eq!(
        (
            status.discovered,
            status.completed,
            status.failed,
            status.queued
        ),
        (4, 4, 0, 0),
        "{status:?}"
    );
    assert_eq!(status.reason.as_deref(), Some("frontier_exhausted"));
    assert!(status.completion_time.is_some() && status.crawl_id.is_some());
    let pages: Vec<String> =
        sqlx::query_scalar("SELECT url FROM scrape_jobs WHERE organization_id = $1 ORDER BY url")
            .bind(org)
            .fetch_all(&pool)
            .await
            .expect("jobs");
    let expected: Vec<String> = ["/", "/a", "/b", "/c"]
        .iter()
        .map(|p| format!("{site}{p}"))
        .collect();
    assert_eq!(pages, expected, "every page scraped once");

    // What a platform operator sees.
    let waited = kubectl(&[
        "wait",
        "--for=condition=Complete",
        "--timeout=5s",
        "-n",
        &c.ns,
        "scrapecrawl/site",
    ]);
    assert!(waited.contains("condition met"), "{waited}");
    let table = kubectl(&["get", "scrapecrawls", "-n", &c.ns]);
    assert!(
        table.contains("PHASE") && table.contains("DISCOVERED") && table.contains("COMPLETED"),
        "{table}"
    );
    assert!(
        table.contains("site") && table.contains("Completed"),
        "{table}"
    );

    // Its TTL over, the resource goes; the crawl and its results stay.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while c.crawls().get_opt("site").await.expect("get").is_some() {
        assert!(tokio::time::Instant::now() < deadline, "site still there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(true);
    let _ = worker.await;
    controllers.abort();
}

//! Crawls end to end, on a site the test serves: two thousand pages with link cycles, each
//! page linked under several URL forms, a sitemap index (one sitemap gzipped) listing
//! pages no link reaches, robots.txt disallowing a directory, external links, and links to
//! private addresses. Each page is scraped exactly once, and a worker killed mid-crawl
//! (SIGKILL) loses nothing and duplicates nothing.

mod common;

use std::{
    collections::HashMap,
    io::Write,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use common::{Harness, serve};
use scraperx_core::{
    crawl,
    domain::{
        CrawlId,
        crawl::{CrawlOptions, CrawlReason, CrawlStatus},
    },
    pg::{NewCrawl, PageTemplate},
};
use scraperx_worker::webhooks::{SIGNATURE_HEADER, sign};
use sqlx::PgPool;

/// Pages that only the sitemaps list.
const ORPHANS: usize = 20;

#[derive(Default)]
struct Site {
    pages: usize,
    /// Hits per path (a trailing slash trimmed: `/p/5/` is `/p/5`).
    hits: Mutex<HashMap<String, usize>>,
}

impl Site {
    fn hit(&self, path: &str) {
        let path = path.trim_end_matches('/').to_owned();
        if let Ok(mut h) = self.hits.lock() {
            *h.entry(path).or_default() += 1;
        }
    }

    fn hits(&self) -> HashMap<String, usize> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

fn html(links: &[String]) -> axum::response::Response {
    let body: String = links
        .iter()
        .map(|l| format!("<a href=\"{l}\">x</a>\n"))
        .collect();
    (
        [(header::CONTENT_TYPE, "text/html")],
        format!("<html><head><title>page</title></head><body>{body}</body></html>"),
    )
        .into_response()
}

/// Page `n` links forward (`n+1`, `2n+1` with a trailing slash), back (`n/2` with a
/// fragment: cycles), to itself in capitals with its host spelled out, to a disallowed
/// directory, to another host, and to a private address.
async fn page(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    Path(n): Path<String>,
) -> impl IntoResponse {
    let Ok(n) = n.trim_end_matches('/').parse::<usize>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    site.hit(&format!("/p/{n}"));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let total = site.pages;
    html(&[
        format!("/p/{}", (n + 1) % total),
        format!("/p/{}/", (2 * n + 1) % total),
        format!("/p/{}#top", n / 2),
        format!("HTTP://{}/p/{n}", host.to_ascii_uppercase()),
        format!("/private/{n}"),
        format!("http://external.test/p/{n}"),
        "mailto:someone@example.com".into(),
        "http://10.1.2.3/admin".into(),
    ])
}

fn site(pages: usize) -> (Router, Arc<Site>) {
    let state = Arc::new(Site {
        pages,
        ..Site::default()
    });
    let urlset = |range: std::ops::Range<usize>| {
        let urls: String = range
            .map(|k| format!("<url><loc>/orphan/{k}</loc></url>"))
            .collect();
        format!(
            "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">{urls}</urlset>"
        )
    };
    let plain = urlset(0..ORPHANS / 2);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(urlset(ORPHANS / 2..ORPHANS).as_bytes())
        .expect("gzip");
    let gzipped = gz.finish().expect("gzip");
    let router = Router::new()
        .route(
            "/robots.txt",
            get(|| async { "User-agent: *\nDisallow: /private/\nSitemap: /sitemap_index.xml\n" }),
        )
        .route(
            "/sitemap_index.xml",
            get(|| async {
                "<sitemapindex><sitemap><loc>/sitemap1.xml</loc></sitemap>\
                 <sitemap><loc>/sitemap2.xml.gz</loc></sitemap></sitemapindex>"
            }),
        )
        .route("/sitemap1.xml", get(move || async move { plain }))
        .route(
            "/sitemap2.xml.gz",
            get(move || async move { ([(header::CONTENT_TYPE, "application/gzip")], gzipped) }),
        )
        .route("/p/{n}", get(page))
        .route("/p/{n}/", get(page))
        .route(
            "/orphan/{k}",
            get(
                |State(site): State<Arc<Site>>, Path(k): Path<usize>| async move {
                    site.hit(&format!("/orphan/{k}"));
                    html(&["/p/0".into()])
                },
            ),
        )
        .route(
            "/private/{n}",
            get(
                |State(site): State<Arc<Site>>, Path(n): Path<usize>| async move {
                    site.hit(&format!("/private/{n}"));
                    "secret"
                },
            ),
        )
        .with_state(state.clone());
    (router, state)
}

async fn start_crawl(h: &Harness, url: String, options: CrawlOptions) -> CrawlId {
    let org = h.org(100_000).await;
    let new = NewCrawl {
        url,
        options,
        page: PageTemplate::default(),
        webhook_url: None,
        webhook_secret: None,
    };
    let c = h.db.create_crawl(org.id, None, &new).await.expect("crawl");
    crawl::top_up(&h.db, &h.queues(), c.id)
        .await
        .expect("start page");
    c.id
}

async fn ended(h: &Harness, id: CrawlId, within: Duration) -> scraperx_core::pg::Crawl {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let c = h.db.get_crawl_unscoped(id).await.expect("crawl");
        if c.status.is_terminal() {
            return c;
        }
        let counts = h.db.frontier_counts(id).await.expect("counts");
        assert!(
            tokio::time::Instant::now() < deadline,
            "crawl still {} after {within:?}: {counts:?}",
            c.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (url, job count, completed count) of every job of the crawl, by URL.
async fn jobs_per_url(h: &Harness, id: CrawlId) -> Vec<(String, i64, i64)> {
    sqlx::query_as(
        "SELECT url, COUNT(*), COUNT(*) FILTER (WHERE status = 'completed') FROM scrape_jobs \
         WHERE batch_id = $1 GROUP BY url",
    )
    .bind(id.as_uuid())
    .fetch_all(h.db.pool())
    .await
    .expect("jobs")
}

fn options(pages: usize) -> CrawlOptions {
    CrawlOptions {
        max_depth: 100,
        limit: u32::try_from(pages * 2).unwrap_or(u32::MAX),
        max_concurrency: 16,
        ..CrawlOptions::default()
    }
}

/// Every page and orphan was fetched at least once, the disallowed directory never; the
/// number of pages fetched more than once is returned.
fn check_hits(site: &Site, pages: usize) -> usize {
    let hits = site.hits();
    let mut repeated = 0;
    for path in (0..pages)
        .map(|n| format!("/p/{n}"))
        .chain((0..ORPHANS).map(|k| format!("/orphan/{k}")))
    {
        let n = hits.get(&path).copied().unwrap_or(0);
        assert!(n >= 1, "{path} never fetched");
        repeated += usize::from(n > 1);
    }
    assert!(
        !hits.keys().any(|p| p.starts_with("/private")),
        "robots.txt disallows /private/"
    );
    repeated
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_two_thousand_page_site_with_cycles_and_url_forms_is_crawled_each_page_once(
    pool: PgPool,
) {
    const PAGES: usize = 2_000;
    let h = Harness::new(pool).await;
    let (router, site) = site(PAGES);
    let addr = serve(router).await;
    let mut config = h.config();
    config.concurrency = 16;
    config.per_domain_concurrency = 16;
    let (_stop, _worker) = h.start(config);
    let id = start_crawl(&h, format!("http://{addr}/p/0"), options(PAGES)).await;

    let c = ended(&h, id, Duration::from_secs(240)).await;
    assert_eq!(
        (c.status, c.status_reason),
        (CrawlStatus::Completed, Some(CrawlReason::Exhausted))
    );
    assert_eq!(check_hits(&site, PAGES), 0, "no page fetched twice");
    let jobs = jobs_per_url(&h, id).await;
    assert_eq!(jobs.len(), PAGES + ORPHANS, "one job per page and orphan");
    assert!(
        jobs.iter().all(|(_, n, done)| *n == 1 && *done == 1),
        "each URL one completed job"
    );
    assert!(
        jobs.iter().all(|(u, ..)| !u.contains("external.test")),
        "external links not followed"
    );
    let skipped: Vec<(String, String)> = sqlx::query_as(
        "SELECT url, skip_reason FROM crawl_pages WHERE crawl_id = $1 AND state = 'skipped' AND skip_reason <> 'duplicate'",
    )
    .bind(id)
    .fetch_all(h.db.pool())
    .await
    .expect("skipped");
    assert_eq!(
        skipped.len(),
        PAGES,
        "each /private/ link skipped once: {:?}",
        &skipped[..3.min(skipped.len())]
    );
    assert!(
        skipped
            .iter()
            .all(|(u, r)| u.contains("/private/") && r == "robots_txt")
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn links_to_private_addresses_are_refused_even_with_external_links_allowed(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(Router::new().route(
        "/",
        get(|| async {
            html(&[
                "http://10.1.2.3/admin".into(),
                "http://169.254.169.254/latest/meta-data/".into(),
                "http://localhost:9/another-name-for-this-machine".into(),
                "http://[::1]/v6".into(),
            ])
        }),
    ))
    .await;
    let (_stop, _worker) = h.start(h.config());
    let options = CrawlOptions {
        allow_external_links: true,
        sitemap: scraperx_core::domain::crawl::SitemapMode::Skip,
        ..CrawlOptions::default()
    };
    let id = start_crawl(&h, format!("http://{addr}/"), options).await;
    let c = ended(&h, id, Duration::from_secs(30)).await;
    assert_eq!(c.status, CrawlStatus::Completed);
    let skipped: Vec<String> = sqlx::query_scalar(
        "SELECT skip_reason FROM crawl_pages WHERE crawl_id = $1 AND source = 'link' ORDER BY id",
    )
    .bind(id)
    .fetch_all(h.db.pool())
    .await
    .expect("pages");
    assert_eq!(skipped, ["private_address"; 4]);
    assert_eq!(
        jobs_per_url(&h, id).await.len(),
        1,
        "only the start page was scraped"
    );
}

fn spawn_worker(pool: &PgPool, h: &Harness, port: u16) -> Child {
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
    let s3 = |k: &str| std::env::var(k).unwrap_or_default();
    Command::new(env!("CARGO_BIN_EXE_scraperx-worker"))
        .arg("run")
        .envs([
            ("DATABASE_URL", url),
            ("SCRX_QUEUE_NAMESPACE", h.namespace.clone()),
            ("SCRX_ALLOW_PRIVATE_TARGETS", "true".into()),
            ("SCRX_WORKER_CONCURRENCY", "8".into()),
            ("SCRX_DOMAIN_CONCURRENCY", "8".into()),
            ("SCRX_WORKER_ADDR", format!("127.0.0.1:{port}")),
            ("S3_ACCESS_KEY", s3("S3_WORKER_ACCESS_KEY")),
            ("S3_SECRET_KEY", s3("S3_WORKER_SECRET_KEY")),
            ("RUST_LOG", "warn".into()),
        ])
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

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_worker_killed_mid_crawl_leaves_every_page_scraped_exactly_once(pool: PgPool) {
    const PAGES: usize = 600;
    let h = Harness::new(pool.clone()).await;
    let (router, site) = site(PAGES);
    let addr = serve(router).await;
    let mut first = spawn_worker(&pool, &h, free_port());
    let id = start_crawl(&h, format!("http://{addr}/p/0"), options(PAGES)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while h.db.frontier_counts(id).await.expect("counts").done < 150 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first worker made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let mut second = spawn_worker(&pool, &h, free_port());
    let c = ended(&h, id, Duration::from_secs(180)).await;
    second.kill().ok();
    second.wait().ok();
    assert_eq!(
        (c.status, c.status_reason),
        (CrawlStatus::Completed, Some(CrawlReason::Exhausted))
    );
    let jobs = jobs_per_url(&h, id).await;
    assert_eq!(jobs.len(), PAGES + ORPHANS, "one job per page and orphan");
    assert!(
        jobs.iter().all(|(_, n, done)| *n == 1 && *done == 1),
        "each URL one completed job"
    );
    // Only fetches the kill cut short are made again: at most the killed worker's slots.
    assert!(check_hits(&site, PAGES) <= 8, "pages fetched twice");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_discovery_scrapes_only_its_start_page_and_records_its_links_and_sitemap_pages(
    pool: PgPool,
) {
    let h = Harness::new(pool).await;
    let (router, site) = site(50);
    let addr = serve(router).await;
    let (_stop, _worker) = h.start(h.config());
    let options = CrawlOptions {
        discover_only: true,
        max_depth: 1,
        ..CrawlOptions::default()
    };
    let id = start_crawl(&h, format!("http://{addr}/p/0"), options).await;
    let c = ended(&h, id, Duration::from_secs(30)).await;
    assert_eq!(c.status, CrawlStatus::Completed);
    let hits = site.hits();
    assert_eq!(
        hits.keys().collect::<Vec<_>>(),
        ["/p/0"],
        "only the start page is fetched"
    );
    assert_eq!(jobs_per_url(&h, id).await.len(), 1, "one job, one charge");
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT url FROM crawl_pages WHERE crawl_id = $1 AND state = 'waiting' ORDER BY id",
    )
    .bind(id)
    .fetch_all(h.db.pool())
    .await
    .expect("pages");
    assert_eq!(found.len(), 1 + ORPHANS, "{found:?}");
    assert!(found.iter().any(|u| u.ends_with("/p/1")));
    assert_eq!(
        found.iter().filter(|u| u.contains("/orphan/")).count(),
        ORPHANS
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_shallow_discovery_scrapes_its_budget_of_linked_pages_breadth_first_and_no_more(
    pool: PgPool,
) {
    let h = Harness::new(pool).await;
    let (router, site) = site(50);
    let addr = serve(router).await;
    let (_stop, _worker) = h.start(h.config());
    let options = CrawlOptions {
        discover_only: true,
        discover_pages: 3,
        max_depth: 3,
        sitemap: scraperx_core::domain::crawl::SitemapMode::Skip,
        ..CrawlOptions::default()
    };
    let id = start_crawl(&h, format!("http://{addr}/p/0"), options).await;
    let c = ended(&h, id, Duration::from_secs(30)).await;
    assert_eq!(c.status, CrawlStatus::Completed);
    // /p/0 links to /p/1 (depth 1), which links to /p/2 and /p/3 (depth 2): four pages.
    let mut hits: Vec<String> = site.hits().into_keys().collect();
    hits.sort();
    assert_eq!(
        hits,
        ["/p/0", "/p/1", "/p/2", "/p/3"],
        "the budget, breadth first"
    );
    assert_eq!(
        jobs_per_url(&h, id).await.len(),
        4,
        "one charge per page fetched"
    );
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT url FROM crawl_pages WHERE crawl_id = $1 AND state = 'waiting' ORDER BY id",
    )
    .bind(id)
    .fetch_all(h.db.pool())
    .await
    .expect("pages");
    for n in [4, 5, 7] {
        assert!(
            found
                .iter()
                .any(|u| u.trim_end_matches('/').ends_with(&format!("/p/{n}"))),
            "/p/{n}, linked from the pages read, is discovered without a fetch: {found:?}"
        );
    }
}

/// A webhook call as received: its signature header and its raw body.
type SignedCall = (Option<String>, axum::body::Bytes);

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_crawl_that_ends_calls_its_webhook_once_with_its_outcome_signed_with_its_secret(
    pool: PgPool,
) {
    const SECRET: &str = "crawl-secret-0123456789";
    let h = Harness::new(pool).await;
    let (router, _site) = site(5);
    let addr = serve(router).await;
    let received: Arc<Mutex<Vec<SignedCall>>> = Arc::default();
    let sink = received.clone();
    let hook = serve(Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                let signature = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if let Ok(mut r) = sink.lock() {
                    r.push((signature, body));
                }
                StatusCode::NO_CONTENT
            },
        ),
    ))
    .await;
    let (_stop, _worker) = h.start(h.config());
    let org = h.org(1_000).await;
    let new = NewCrawl {
        url: format!("http://{addr}/p/0"),
        options: CrawlOptions {
            sitemap: scraperx_core::domain::crawl::SitemapMode::Skip,
            ..CrawlOptions::default()
        },
        page: PageTemplate::default(),
        webhook_url: Some(format!("http://{hook}/hook")),
        webhook_secret: Some(SECRET.into()),
    };
    let c = h.db.create_crawl(org.id, None, &new).await.expect("crawl");
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT webhook_secret_sealed FROM crawls WHERE id = $1")
            .bind(c.id)
            .fetch_one(h.db.pool())
            .await
            .expect("crawl row");
    assert!(
        !stored
            .expect("sealed")
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes()),
        "never in the clear"
    );
    crawl::top_up(&h.db, &h.queues(), c.id)
        .await
        .expect("start page");
    ended(&h, c.id, Duration::from_secs(30)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while received.lock().map(|r| r.is_empty()).unwrap_or(true) {
        assert!(tokio::time::Instant::now() < deadline, "no crawl webhook");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let got = received.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(got.len(), 1, "called once: {got:?}");
    let (signature, body) = &got[0];
    let signature = signature.as_deref().expect("signed");
    let t: i64 = signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    assert_eq!(
        sign(SECRET, t, body),
        signature,
        "signed with the crawl's secret"
    );
    let event: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    assert_eq!(event["type"], "crawl.completed");
    assert_eq!(event["data"]["crawl"]["id"], c.id.to_string());
    assert_eq!(event["data"]["crawl"]["done"], 5);
}

//! The worker's speed and memory against the real services and pages served here:
//!
//!     eval "$(scripts/services.sh env)"
//!     cargo bench -p scraperx-worker --bench pipeline
//!
//! 1. the http engine alone (fetch of a 60 KB page, pooled connections);
//! 2. extraction of that page (title, text, links, images, rules, markdown);
//! 3. extraction of each hostile page of `tests/common/hostile.rs` (deep nesting, huge
//!    tags, 300,000 links, 20 MB on one line): how long, and what was cut;
//! 4. whole http jobs end to end: Postgres, Redis, MinIO, extraction, settlement;
//! 5. the browser engine (rendering in isolated contexts), with Chromium's memory.
//!
//! Name sections to run only those (`-- extraction hostile`; also `http`, `jobs`,
//! `browser`). Prints figures; asserts nothing about speed.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../core/benches/support/database.rs"]
mod database;
#[path = "../../core/benches/support/measure.rs"]
mod measure;
#[path = "../../core/benches/support/procfs.rs"]
mod procfs;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use axum::{Router, extract::Path, http::header, routing::get};
use common::{Harness, serve};
use futures::future::join_all;
use measure::measure;
use procfs::{own_rss_mib, tree_rss_mib};
use scraperx_core::domain::{ExtractRule, HttpMethod, JobOptions};
use scraperx_worker::{
    browser::{BrowserPool, BrowserSettings, RenderRequest},
    extract::extract,
    fetch::{FetchRequest, http::HttpFetcher},
};

/// A realistic article page of about 60 KB.
fn article(n: u32) -> String {
    let mut html = format!(
        "<html><head><title>Article {n}</title></head><body><nav><a href='/'>home</a></nav><main><h1>Article {n}</h1>"
    );
    for p in 0..120 {
        html.push_str(&format!(
            "<h2>Section {p}</h2><p>Paragraph {p} of article {n}: the quick brown fox jumps over \
             the lazy dog, and <a href='/page/{}'>a link onwards</a> with \
             <img src='/img/{p}.png' alt='figure {p}'> a figure and some <b>bold</b> text \
             that goes on for a while to look like prose.</p>",
            p + n
        ));
    }
    html.push_str("</main><footer>footer</footer></body></html>");
    html
}

fn site() -> Router {
    Router::new().route(
        "/page/{n}",
        get(|Path(n): Path<u32>| async move {
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                article(n),
            )
        }),
    )
}

async fn http_engine(addr: std::net::SocketAddr) {
    let fetcher = HttpFetcher::new("bench", true, 1 << 24, &[]).expect("fetcher");
    let request = move |i: usize| FetchRequest {
        url: format!("http://{addr}/page/{}", i % 500)
            .parse()
            .expect("url"),
        method: HttpMethod::Get,
        headers: BTreeMap::new(),
        body: None,
        timeout: Duration::from_secs(10),
    };
    measure("http engine: fetch 60 KB page", 4000, 32, move |i| {
        let (fetcher, req) = (fetcher.clone(), request(i));
        async move {
            let page = fetcher.fetch(&req).await.expect("fetch");
            assert_eq!(page.status, 200);
        }
    })
    .await;
}

async fn extraction() {
    let html = article(7);
    let base: url::Url = "http://example.com/page/7".parse().expect("base");
    let rules: BTreeMap<String, ExtractRule> = [(
        "headings".to_owned(),
        ExtractRule {
            selector: "h2".into(),
            attribute: None,
            all: true,
        },
    )]
    .into();
    let (html, base, rules) = (
        std::sync::Arc::new(html),
        std::sync::Arc::new(base),
        std::sync::Arc::new(rules),
    );
    for (name, markdown) in [
        ("extraction (60 KB: text, links, images, rules)", false),
        ("extraction + markdown", true),
    ] {
        let (html, base, rules) = (html.clone(), base.clone(), rules.clone());
        measure(name, 300, 1, move |_| {
            let content = scraperx_worker::extract::Content::markdown(markdown);
            let out = extract(&html, &base, Some(&rules), &content).expect("extract");
            async move { assert!(out.links.len() >= 120) }
        })
        .await;
    }
    // As the worker runs it: a thread of its own per page.
    measure("extraction + markdown, on its thread", 300, 1, move |_| {
        let (html, base, rules) = ((*html).clone(), (*base).clone(), (*rules).clone());
        async move {
            let out = scraperx_worker::extract::extract_isolated(
                html,
                base,
                Some(rules),
                scraperx_worker::extract::Content::markdown(true),
            )
            .await
            .expect("extract");
            assert!(out.links.len() >= 120);
        }
    })
    .await;
}

async fn end_to_end(addr: std::net::SocketAddr) {
    let database = database::BenchDatabase::create(40).await;
    let pool = database.pool.clone();
    let h = Harness::new(pool.clone()).await;
    let jobs = 1000;
    let org = h.org(10 * jobs as i64).await;
    let concurrency = 32;
    let mut config = h.config();
    config.concurrency = concurrency;
    config.per_domain_concurrency = concurrency as u32;
    config.idle_poll = Duration::from_millis(5);
    let rss_before = own_rss_mib();
    let (stop, worker) = h.start(config);
    let started = Instant::now();
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(100) {
        let submitted = chunk.iter().map(|i| {
            let mut job = scraperx_core::pg::NewJob::get(&format!("http://{addr}/page/{i}"));
            job.engine = scraperx_core::domain::Engine::Http;
            job.options = JobOptions {
                markdown: true,
                ..JobOptions::default()
            };
            h.submit(&org, job)
        });
        join_all(submitted).await;
    }
    let submitted_in = started.elapsed();
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM scrape_jobs WHERE status = 'completed' AND credits_settled_at IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        if done as usize >= jobs {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "jobs stuck");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    println!(
        "{:<46} {:>8.0} jobs/s  ({jobs} jobs in {took:.2?}, submitted in {submitted_in:.2?}, {concurrency} slots)",
        "http jobs end to end (fetch, extract, store)",
        jobs as f64 / took.as_secs_f64(),
    );
    println!(
        "{:<46} {:>8.1} MiB before, {:.1} MiB after {jobs} jobs",
        "bench process resident memory",
        rss_before,
        own_rss_mib()
    );
    drop(stop);
    let _ = worker.await;
    database.remove().await;
}

async fn browser(addr: std::net::SocketAddr) {
    let Some(chromium) = std::env::var("SCRX_CHROMIUM")
        .ok()
        .or_else(|| Some("/usr/bin/chromium".into()))
        .filter(|p| std::path::Path::new(p).exists())
    else {
        println!("browser engine: no Chromium, skipped");
        return;
    };
    let contexts = 4;
    let pool = std::sync::Arc::new(BrowserPool::new(BrowserSettings {
        executable: chromium.into(),
        contexts,
        pages_per_browser: 1000,
        allow_private: true,
        max_bytes: 20 << 20,
    }));
    let request = move |i: usize| RenderRequest {
        url: format!("http://{addr}/page/{}", i % 500)
            .parse()
            .expect("url"),
        timeout: Duration::from_secs(30),
        wait_for: None,
        wait_time: Duration::ZERO,
        wait_until: Default::default(),
        screenshot: false,
        screenshot_mode: Default::default(),
        pdf: false,
        block: vec![scraperx_core::domain::ResourceType::Image],
        fingerprint: None,
        solver: None,
        proxy_server: None,
        actions: Vec::new(),
        emulation: Default::default(),
    };
    let launched = Instant::now();
    pool.render(&request(0)).await.expect("first render");
    println!(
        "{:<46} {:>8.2?}",
        "browser: launch + first page",
        launched.elapsed()
    );
    let p = pool.clone();
    measure(
        "browser engine: render 60 KB page",
        200,
        contexts,
        move |i| {
            let (pool, req) = (p.clone(), request(i));
            async move {
                let out = pool.render(&req).await.expect("render");
                assert_eq!(out.page.status, 200);
            }
        },
    )
    .await;
    println!(
        "{:<46} {:>8.1} MiB ({contexts} contexts, after 200 pages)",
        "Chromium resident memory (all its processes)",
        tree_rss_mib("scrx-chromium-")
    );
}

/// Each hostile page extracted once, with markdown and a rule, on an extraction thread.
async fn hostile_extraction() {
    let rules: BTreeMap<String, ExtractRule> = [(
        "cells".to_owned(),
        ExtractRule {
            selector: "td b, div > a".into(),
            attribute: None,
            all: true,
        },
    )]
    .into();
    for (name, page) in common::hostile::pages() {
        let html = String::from_utf8_lossy(&page).into_owned();
        let base: url::Url = "http://example.com/".parse().expect("base");
        let started = Instant::now();
        let out = scraperx_worker::extract::extract_isolated(
            html,
            base,
            Some(rules.clone()),
            scraperx_worker::extract::Content::markdown(true),
        )
        .await;
        let took = started.elapsed();
        let outcome = match out {
            Ok(e) => format!("cut {:?}", e.cut.as_slice()),
            Err(e) => e.code().to_owned(),
        };
        println!(
            "{:<46} {:>8.2?}  ({:.1} MB; {outcome})",
            format!("hostile page: {name}"),
            took,
            page.len() as f64 / 1e6
        );
    }
}

#[tokio::main]
async fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |section: &str| only.is_empty() || only.iter().any(|o| o == section);
    let addr = serve(site()).await;
    if run("http") {
        http_engine(addr).await;
    }
    if run("extraction") {
        extraction().await;
    }
    if run("hostile") {
        hostile_extraction().await;
    }
    if run("jobs") {
        end_to_end(addr).await;
    }
    if run("browser") {
        browser(addr).await;
    }
}

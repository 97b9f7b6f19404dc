//! Page content never crashes or stalls a worker: hostile pages, served here from memory,
//! each end with a result (cut where it had to be, and saying so) or a stable error code,
//! and the same worker, and the same browser, then serve a normal page.

mod common;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use bytes::Bytes;
use common::{
    Harness, chromium,
    hostile::{NORMAL, pages},
    serve,
};
use scraperx_core::{
    domain::{Engine, EventType, ExtractRule, JobStatus},
    pg::{Job, NewJob, Organization},
};
use scraperx_worker::browser::{BrowserPool, BrowserSettings, RenderRequest};
use sqlx::PgPool;

async fn page(
    State(pages): State<Arc<BTreeMap<&'static str, Bytes>>>,
    Path(name): Path<String>,
) -> impl IntoResponse {
    match pages.get(name.as_str()) {
        Some(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn site() -> String {
    let router = Router::new()
        .route("/{name}", get(page))
        .with_state(Arc::new(pages()));
    format!("http://{}", serve(router).await)
}

/// The cuts the `content_extracted` event reports.
async fn cuts(h: &Harness, org: &Organization, job: &Job) -> Vec<String> {
    let events = h.db.list_job_events(org.id, job.id).await.expect("events");
    events
        .into_iter()
        .find(|e| e.event_type == EventType::ContentExtracted)
        .and_then(|e| e.event_data)
        .and_then(|d| serde_json::from_value(d.0["cut"].clone()).ok())
        .unwrap_or_default()
}

fn seconds(job: &Job) -> f64 {
    match (job.started_at, job.completed_at) {
        (Some(start), Some(end)) => (end - start).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn hostile_pages_end_with_a_result_and_the_worker_carries_on(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(1_000).await;
    let rules = BTreeMap::from([
        (
            "cells".to_owned(),
            ExtractRule {
                selector: "td b, div > a".into(),
                attribute: None,
                all: true,
            },
        ),
        (
            "first".to_owned(),
            ExtractRule {
                selector: "a:nth-child(2)".into(),
                attribute: Some("href".into()),
                all: false,
            },
        ),
    ]);
    let expected: [(&str, &[&str]); 8] = [
        ("divs", &["depth"]),
        ("bold", &["depth"]),
        ("lists", &["depth"]),
        ("tables", &["depth"]),
        ("unclosed", &["depth"]),
        ("attributes", &["attributes"]),
        // Its markdown writes every link with its absolute URL: past the markdown cap too.
        ("links", &["input", "text", "links", "markdown"]),
        ("line", &["input", "text", "markdown"]),
    ];
    let mut ids = Vec::new();
    for (name, _) in expected {
        let mut job = NewJob::get(&format!("{base}/{name}"));
        job.engine = Engine::Http;
        job.max_attempts = 1;
        job.options.markdown = true;
        job.options.extract = Some(rules.clone());
        ids.push(h.submit(&org, job).await);
    }
    let mut config = h.config();
    config.concurrency = 4;
    let (stop, worker) = h.start(config);
    let mut links = 0;
    for ((name, cut), id) in expected.into_iter().zip(ids) {
        let done = h.finished(id, Duration::from_secs(240)).await;
        eprintln!("{name}: {} in {:.2} s", done.status, seconds(&done));
        assert_eq!(
            done.status,
            JobStatus::Completed,
            "{name}: {:?} {:?}",
            done.error_code,
            done.error_message
        );
        assert_eq!(cuts(&h, &org, &done).await, cut, "{name}");
        let result = h.db.get_result(org.id, id).await.expect("result");
        let text = result.extracted_text.unwrap_or_default();
        let markdown = result.extracted_markdown.unwrap_or_default();
        if name == "links" {
            links = result
                .extracted_links
                .and_then(|l| l.0.as_array().map(Vec::len))
                .unwrap_or(0);
        }
        if cut == ["depth"] || cut == ["attributes"] {
            assert_eq!(text, "deepest", "{name}");
            assert!(markdown.contains("deepest"), "{name}: {markdown:.200}");
        }
    }
    assert_eq!(links, scraperx_worker::extract::MAX_LINKS);
    // The same worker serves a normal page.
    let id = h.submit(&org, NewJob::get(&format!("{base}/normal"))).await;
    let done = h.completed(id, Duration::from_secs(20)).await;
    let result = h.db.get_result(org.id, done.id).await.expect("result");
    assert_eq!(result.extracted_title.as_deref(), Some("Fine"));
    assert!(!worker.is_finished(), "the worker stopped");
    drop(stop);
    let _ = worker.await;
}

const LOOP: &str = "<html><body><p>before</p><script>for (;;) {}</script></body></html>";
/// Half a million doubles per array, kept: the JavaScript heap fills in seconds.
const HOG: &str = "<html><body><script>const hog = []; \
    for (;;) hog.push(new Array(1 << 19).fill(Math.random()));</script></body></html>";
const DIALOGS: &str =
    "<html><body><script>for (;;) { alert('again'); confirm('sure?'); }</script></body></html>";
/// One dialog is dismissed and the page goes on.
const ONE_DIALOG: &str = "<html><body><script>alert('hello'); \
    document.body.insertAdjacentHTML('beforeend', '<p id=after>after the dialog</p>');</script></body></html>";

async fn scripts_site() -> String {
    let html = |body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, "text/html")], body) })
    };
    let router = Router::new()
        .route("/loop", html(LOOP))
        .route("/hog", html(HOG))
        .route("/dialogs", html(DIALOGS))
        .route("/one-dialog", html(ONE_DIALOG))
        .route("/normal", html(NORMAL))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
    format!("http://{}", serve(router).await)
}

/// Enough for Chromium to notice and report that a renderer ran out of memory.
const CRASH_TIME: Duration = Duration::from_secs(30);

/// Enough for a first page, Chromium's launch included, on a busy machine.
const LAUNCH_TIME: Duration = Duration::from_secs(60);

fn render_request(url: String) -> RenderRequest {
    common::render_request(url, Duration::from_secs(4))
}

#[tokio::test]
async fn hostile_scripts_fail_their_page_with_a_stable_code_and_the_browser_carries_on() {
    let base = scripts_site().await;
    let pool = BrowserPool::new(BrowserSettings {
        executable: chromium(),
        contexts: 5,
        pages_per_browser: 100,
        allow_private: true,
        max_bytes: 2 << 20,
    });
    // The first render launches Chromium, which takes seconds on a busy machine; the cases
    // below are timed against a browser already up.
    let first = pool
        .render(&common::render_request(
            format!("{base}/normal"),
            LAUNCH_TIME,
        ))
        .await
        .expect("a normal page");
    assert_eq!(first.page.status, 200);
    let pid = pool.browser_pid().await;
    let cases = [
        ("loop", "page_unresponsive"),
        ("hog", "page_crashed"),
        ("dialogs", "too_many_dialogs"),
        ("slow", "timeout"),
    ];
    let started = tokio::time::Instant::now();
    let outcomes = futures::future::join_all(cases.iter().map(|(path, _)| {
        let pool = &pool;
        let mut req = render_request(format!("{base}/{path}"));
        match *path {
            // Chromium takes seconds to report a renderer that ran out of memory; a dialog
            // storm ends at its count, which takes a while on a busy machine.
            "hog" | "dialogs" => req.timeout = CRASH_TIME,
            // Time enough to load (and start looping) on a busy machine.
            "loop" => req.timeout = Duration::from_secs(8),
            _ => {}
        }
        async move {
            let began = tokio::time::Instant::now();
            (pool.render(&req).await, began.elapsed())
        }
    }))
    .await;
    for ((path, code), (outcome, took)) in cases.iter().zip(outcomes) {
        eprintln!("{path}: {:?} in {took:.2?}", outcome.as_ref().err());
        let err = outcome.expect_err(path);
        assert_eq!(err.code(), *code, "{path}: {err}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // The same browser goes on serving: a dismissed dialog does not stop a page.
    let after = pool
        .render(&render_request(format!("{base}/one-dialog")))
        .await
        .expect("a page with one dialog");
    assert!(String::from_utf8_lossy(&after.page.body).contains("after the dialog"));
    pool.render(&render_request(format!("{base}/normal")))
        .await
        .expect("a normal page after the hostile ones");
    assert_eq!(pool.browser_pid().await, pid, "the browser was replaced");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn hostile_scripts_end_their_jobs_and_the_worker_carries_on(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = scripts_site().await;
    let org = h.org(1_000).await;
    let cases = [
        ("loop", "page_unresponsive"),
        ("hog", "page_crashed"),
        ("dialogs", "too_many_dialogs"),
    ];
    let mut config = h.browser_config(&[Engine::Browser]);
    config.concurrency = 3;
    config.browser_contexts = 3;
    let (stop, worker) = h.start(config);
    // A first page launches Chromium, which takes seconds on a busy machine; the hostile
    // pages' times below then run against a browser already up.
    let mut warm = NewJob::get(&format!("{base}/normal"));
    warm.engine = Engine::Browser;
    warm.options.timeout = LAUNCH_TIME.as_millis() as u32;
    let warm = h.submit(&org, warm).await;
    h.completed(warm, LAUNCH_TIME).await;
    let mut ids = Vec::new();
    for (path, _) in cases {
        let mut job = NewJob::get(&format!("{base}/{path}"));
        job.engine = Engine::Browser;
        job.max_attempts = 1;
        // Time enough for the page to load (and start looping) on a busy machine.
        job.options.timeout = if matches!(path, "hog" | "dialogs") {
            CRASH_TIME.as_millis() as u32
        } else {
            8_000
        };
        ids.push(h.submit(&org, job).await);
    }
    for ((path, code), id) in cases.into_iter().zip(ids) {
        let done = h.finished(id, Duration::from_secs(60)).await;
        eprintln!(
            "{path}: {} {:?} in {:.2} s",
            done.status,
            done.error_code,
            seconds(&done)
        );
        assert_eq!(done.status, JobStatus::Failed, "{path}");
        assert_eq!(
            done.error_code.as_deref(),
            Some(code),
            "{path}: {:?}",
            done.error_message
        );
    }
    let mut job = NewJob::get(&format!("{base}/normal"));
    job.engine = Engine::Browser;
    let id = h.submit(&org, job).await;
    h.completed(id, Duration::from_secs(30)).await;
    assert!(!worker.is_finished(), "the worker stopped");
    drop(stop);
    let _ = worker.await;
}

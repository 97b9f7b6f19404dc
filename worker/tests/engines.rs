//! The engines inside the job lifecycle: browser captures, and auto escalating from http to
//! browser to stealth when a page is an empty JavaScript shell or a challenge.

mod common;

use std::time::Duration;

use axum::{Router, http::header, routing::get};
use common::{Harness, serve};
use scraperx_core::{
    config::S3Config,
    content::{Bucket, ContentStore},
    domain::{Engine, JobStatus},
    pg::NewJob,
};
use sqlx::PgPool;

const SHELL: &str = r#"<html><head><title>App</title></head><body><div id="root"></div>
<script>document.getElementById('root').innerHTML = '<h1>Rendered catalog</h1><p>' + 'item '.repeat(60) + '</p>';</script>
</body></html>"#;

/// A challenge that only a browser without navigator.webdriver gets past.
const GUARDED: &str = r#"<html><head><title>Shop</title></head><body>
<div id="cf-browser-verification">Checking your browser</div>
<script>if (!navigator.webdriver) { document.getElementById('cf-browser-verification').remove();
  document.body.insertAdjacentHTML('beforeend', '<main><h1>Welcome, human</h1></main>'); }</script>
</body></html>"#;

/// A page plain HTTP gets in full.
const STATIC: &str = "<html><head><title>Price list</title></head><body><main><h1>Prices</h1>\
<p>Everything on this page is in the HTML the server sends, no script needed at all.</p></main></body></html>";

async fn site() -> String {
    let addr = serve(
        Router::new()
            .route(
                "/shell",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], SHELL) }),
            )
            .route(
                "/guarded",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], GUARDED) }),
            )
            .route(
                "/static",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], STATIC) }),
            ),
    )
    .await;
    format!("http://{addr}")
}

fn browser_config(h: &Harness) -> scraperx_worker::WorkerConfig {
    let mut c = h.browser_config(&[Engine::Http, Engine::Browser, Engine::Stealth]);
    c.browser_contexts = 2;
    c
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_browser_job_renders_and_stores_screenshot_thumbnail_and_pdf(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(50).await;
    let mut job = NewJob::get(&format!("{base}/shell"));
    job.engine = Engine::Browser;
    job.options.screenshot = true;
    job.options.pdf = true;
    let id = h.submit(&org, job).await;
    let (_stop, _w) = h.start(browser_config(&h));
    let done = h.completed(id, Duration::from_secs(30)).await;
    let r = h.db.get_result(org.id, id).await.expect("result");
    assert!(
        r.content_inline
            .as_deref()
            .is_some_and(|c| c.contains("Rendered catalog"))
    );
    let store = ContentStore::new(&S3Config::from_env_for_role("API").expect("s3"));
    let shot = store
        .get(
            Bucket::Screenshots,
            &r.screenshot_minio_key.expect("screenshot"),
        )
        .await
        .expect("png");
    assert!(shot.bytes.starts_with(b"\x89PNG"));
    let pdf = store
        .get(Bucket::Pdfs, &r.pdf_minio_key.expect("pdf"))
        .await
        .expect("pdf");
    assert!(pdf.bytes.starts_with(b"%PDF"));
    let (width, height, pages, thumbnail): (Option<i32>, Option<i32>, Option<i32>, Option<String>) =
        sqlx::query_as(
            "SELECT screenshot_width, screenshot_height, pdf_page_count, screenshot_thumbnail_key \
             FROM job_results WHERE job_id = $1",
        )
        .bind(id)
        .fetch_one(h.db.pool())
        .await
        .expect("capture columns");
    assert!(width.is_some_and(|w| w > 100) && height.is_some_and(|h| h > 100));
    assert_eq!(pages, Some(1), "one short page");
    let thumb = store
        .get(Bucket::Screenshots, &thumbnail.expect("thumbnail key"))
        .await
        .expect("thumbnail");
    assert!(thumb.bytes.starts_with(b"\x89PNG"));
    let events = h.event_types(&org, id).await;
    assert!(
        events.iter().any(|e| e == "job.screenshot_taken"),
        "{events:?}"
    );
    // browser 5 + screenshot 2 + pdf 3
    assert_eq!(done.credits_charged, 10);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn auto_escalates_a_javascript_shell_to_the_browser(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(50).await;
    let id = h.submit(&org, NewJob::get(&format!("{base}/shell"))).await;
    let (_stop, _w) = h.start(browser_config(&h));
    let done = h.completed(id, Duration::from_secs(30)).await;
    let content = h.content(&org, id).await;
    assert!(content.contains("Rendered catalog"), "{content}");
    let events = h.db.list_job_events(org.id, id).await.expect("events");
    let escalations: Vec<_> = events
        .iter()
        .filter(|e| e.event_type.to_string() == "job.escalated")
        .collect();
    assert_eq!(escalations.len(), 1);
    let data = escalations[0].event_data.as_ref().expect("data");
    assert_eq!(
        (
            data.0["from"].as_str(),
            data.0["to"].as_str(),
            data.0["reason"].as_str()
        ),
        (Some("http"), Some("browser"), Some("javascript_shell"))
    );
    assert_eq!(
        done.credits_charged, 5,
        "charged as the browser that did the work"
    );
    let (js,): (bool,) =
        sqlx::query_as("SELECT requires_js_rendering FROM domain_intelligence LIMIT 1")
            .fetch_one(h.db.pool())
            .await
            .expect("domain intelligence");
    assert!(js, "the fleet knows the domain needs JavaScript");
    let host = url::Url::parse(&base).expect("url");
    let learned =
        h.db.learned_engine(org.id, host.host_str().expect("host"))
            .await
            .expect("learned");
    assert_eq!(
        learned,
        Some(Engine::Browser),
        "the organization learned it"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn another_organizations_escalations_neither_steer_nor_bill_an_auto_job(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let (a, b) = (h.org(50).await, h.org(50).await);
    let (_stop, _w) = h.start(browser_config(&h));
    // B's auto job on the host needs the browser, which B now starts with there.
    let shell = h.submit(&b, NewJob::get(&format!("{base}/shell"))).await;
    assert_eq!(
        h.completed(shell, Duration::from_secs(30))
            .await
            .credits_charged,
        5
    );
    // A's plain auto job on a static page of the same host stays on http.
    let page = h.submit(&a, NewJob::get(&format!("{base}/static"))).await;
    let done = h.completed(page, Duration::from_secs(30)).await;
    assert_eq!(done.credits_charged, 1, "charged what it reserved");
    let events = h.db.list_job_events(a.id, page).await.expect("events");
    let engines: Vec<_> = events
        .iter()
        .filter(|e| e.event_type.to_string() == "job.engine_selected")
        .filter_map(|e| {
            e.event_data
                .as_ref()
                .and_then(|d| d.0["engine"].as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(engines, ["http"], "{events:?}");
    // B's own next auto job on a page of the host starts in the browser.
    let again = h.submit(&b, NewJob::get(&format!("{base}/static"))).await;
    assert_eq!(
        h.completed(again, Duration::from_secs(30))
            .await
            .credits_charged,
        5
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn auto_escalates_a_challenge_through_browser_to_stealth(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let base = site().await;
    let org = h.org(50).await;
    let id = h
        .submit(&org, NewJob::get(&format!("{base}/guarded")))
        .await;
    let (_stop, _w) = h.start(browser_config(&h));
    let done = h.completed(id, Duration::from_secs(40)).await;
    let content = h.content(&org, id).await;
    assert!(content.contains("Welcome, human"), "{content}");
    let events = h.db.list_job_events(org.id, id).await.expect("events");
    let hops: Vec<String> = events
        .iter()
        .filter(|e| e.event_type.to_string() == "job.escalated")
        .filter_map(|e| {
            e.event_data
                .as_ref()
                .and_then(|d| d.0["to"].as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(hops, ["browser", "stealth"]);
    let (protection,): (Option<String>,) =
        sqlx::query_as("SELECT protection_detected FROM job_results WHERE job_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("result");
    assert_eq!(
        protection.as_deref(),
        Some("cloudflare"),
        "the protection got past is still recorded"
    );
    assert!(
        events
            .iter()
            .any(|e| e.event_type.to_string() == "job.fingerprint_applied")
    );
    let used: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(usage_count), 0)::bigint FROM fingerprints")
            .fetch_one(&pool)
            .await
            .expect("usage");
    assert_eq!(used, 1, "the fingerprint's use is counted");
    assert_eq!(done.credits_charged, 10, "charged as stealth");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_auto_job_that_starts_in_the_browser_still_escalates_to_stealth(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    let org = h.org(50).await;
    let mut job = NewJob::get(&format!("{base}/guarded"));
    // Rendering asked for: auto starts in the browser, skipping plain HTTP.
    job.options.render_js = true;
    let id = h.submit(&org, job).await;
    let (_stop, _w) = h.start(browser_config(&h));
    let content = h.completed_content(&org, id, Duration::from_secs(40)).await;
    assert!(content.contains("Welcome, human"), "{content}");
    let events = h.db.list_job_events(org.id, id).await.expect("events");
    let hops: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.event_type.to_string() == "job.escalated")
        .filter_map(|e| {
            let d = &e.event_data.as_ref()?.0;
            Some((d["from"].as_str()?.to_owned(), d["to"].as_str()?.to_owned()))
        })
        .collect();
    assert_eq!(hops, [("browser".to_owned(), "stealth".to_owned())]);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_auto_job_does_not_escalate_past_what_its_organization_can_pay(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site().await;
    // The http price only: the JavaScript shell would need the browser (5).
    let org = h.org(1).await;
    let id = h.submit(&org, NewJob::get(&format!("{base}/shell"))).await;
    let (_stop, _w) = h.start(browser_config(&h));
    let done = h.finished(id, Duration::from_secs(30)).await;
    assert_eq!(
        (done.status, done.error_code.as_deref()),
        (JobStatus::Failed, Some("insufficient_credits"))
    );
    assert_eq!(
        (done.credits_charged, h.balance(&org).await),
        (0, 1),
        "refunded"
    );
    let engines: Vec<String> =
        h.db.list_job_events(org.id, id)
            .await
            .expect("events")
            .iter()
            .filter(|e| e.event_type.to_string() == "job.engine_selected")
            .filter_map(|e| {
                e.event_data
                    .as_ref()
                    .and_then(|d| d.0["engine"].as_str().map(str::to_owned))
            })
            .collect();
    assert_eq!(engines, ["http"], "the browser never ran");
}

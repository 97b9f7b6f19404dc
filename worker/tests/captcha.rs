//! CAPTCHAs: detected and left when no solver is configured; solved through the pluggable
//! interface when one is (here a local endpoint speaking the solver protocol), the token
//! handed to the page's callback.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    http::header,
    routing::{get, post},
};
use common::{Harness, serve};
use scraperx_core::{
    domain::{Engine, JobStatus},
    pg::NewJob,
};
use scraperx_worker::captcha::{HttpSolver, SolverHandle};
use sqlx::PgPool;

const GATED: &str = r#"<html><head><title>gated</title></head><body>
<div class="g-recaptcha" data-sitekey="site-key-123" data-callback="onSolved"></div>
<script>function onSolved(token) { document.body.insertAdjacentHTML('beforeend', '<h1>passed ' + token + '</h1>'); }</script>
</body></html>"#;

async fn site(asked: Arc<Mutex<Vec<serde_json::Value>>>) -> String {
    let addr = serve(
        Router::new()
            .route(
                "/gated",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], GATED) }),
            )
            .route(
                "/solve",
                post(move |body: String| {
                    let asked = asked.clone();
                    async move {
                        asked
                            .lock()
                            .expect("lock")
                            .push(serde_json::from_str(&body).unwrap_or_default());
                        (
                            [(header::CONTENT_TYPE, "application/json")],
                            r#"{"token":"tok-123"}"#,
                        )
                    }
                }),
            ),
    )
    .await;
    format!("http://{addr}")
}

fn config(h: &Harness) -> scraperx_worker::WorkerConfig {
    h.browser_config(&[Engine::Http, Engine::Browser])
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_captcha_is_solved_through_the_configured_solver_and_recorded(pool: PgPool) {
    let h = Harness::new(pool).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let base = site(asked.clone()).await;
    let org = h.org(50).await;
    let mut job = NewJob::get(&format!("{base}/gated"));
    job.engine = Engine::Browser;
    let id = h.submit(&org, job).await;
    let mut c = config(&h);
    let solver = HttpSolver::new(
        format!("{base}/solve").parse().expect("url"),
        "key".into(),
        Duration::from_secs(10),
    )
    .expect("solver");
    c.captcha_solver = Some(SolverHandle(Arc::new(solver)));
    let (_stop, _w) = h.start(c);
    let done = h.completed(id, Duration::from_secs(30)).await;
    let solve = scraperx_core::domain::pricing::CAPTCHA_SOLVE_CREDITS;
    assert_eq!(
        (done.credits_charged, h.balance(&org).await),
        (5 + solve, 50 - 5 - solve),
        "the browser and the solve, reserved before the solver was asked"
    );
    let content = h.content(&org, id).await;
    assert!(content.contains("passed tok-123"), "{content}");
    let asked = asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0]["type"].as_str(), asked[0]["site_key"].as_str()),
        (Some("recaptcha"), Some("site-key-123"))
    );
    let events = h.event_types(&org, id).await;
    assert!(
        events.iter().any(|e| e == "job.captcha_solving")
            && events.iter().any(|e| e == "job.captcha_solved"),
        "{events:?}"
    );
    let solved: (bool, bool, Option<String>) = sqlx::query_as(
        "SELECT captcha_encountered, captcha_solved, captcha_type FROM job_results WHERE job_id = $1",
    )
    .bind(id)
    .fetch_one(h.db.pool())
    .await
    .expect("row");
    assert_eq!(solved, (true, true, Some("recaptcha".into())));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_captcha_is_not_sent_to_the_solver_without_the_credits_for_it(pool: PgPool) {
    let h = Harness::new(pool).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let base = site(asked.clone()).await;
    // The browser price, and nothing for a solve.
    let org = h.org(5).await;
    let mut job = NewJob::get(&format!("{base}/gated"));
    job.engine = Engine::Browser;
    let id = h.submit(&org, job).await;
    let mut c = config(&h);
    let solver = HttpSolver::new(
        format!("{base}/solve").parse().expect("url"),
        "key".into(),
        Duration::from_secs(10),
    )
    .expect("solver");
    c.captcha_solver = Some(SolverHandle(Arc::new(solver)));
    let (_stop, _w) = h.start(c);
    let done = h.finished(id, Duration::from_secs(30)).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert!(
        asked.lock().expect("lock").is_empty(),
        "the solver was not asked"
    );
    assert_eq!((done.credits_charged, h.balance(&org).await), (5, 0));
    let events = h.event_types(&org, id).await;
    assert!(
        events.iter().any(|e| e == "job.captcha_failed"),
        "{events:?}"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn without_a_solver_a_captcha_is_detected_and_left_and_the_result_says_so(pool: PgPool) {
    let h = Harness::new(pool).await;
    let base = site(Arc::default()).await;
    let org = h.org(50).await;
    let mut job = NewJob::get(&format!("{base}/gated"));
    job.engine = Engine::Browser;
    let id = h.submit(&org, job).await;
    let (_stop, _w) = h.start(config(&h));
    let done = h.finished(id, Duration::from_secs(30)).await;
    assert_eq!(done.status, JobStatus::Completed);
    let events = h.db.list_job_events(org.id, id).await.expect("events");
    let detected = events
        .iter()
        .find(|e| e.event_type.to_string() == "job.captcha_detected")
        .and_then(|e| e.event_data.as_ref().map(|d| d.0.clone()))
        .expect("detected");
    assert_eq!(detected["solver"], "none configured");
    let solved: (bool, bool) = sqlx::query_as(
        "SELECT captcha_encountered, captcha_solved FROM job_results WHERE job_id = $1",
    )
    .bind(id)
    .fetch_one(h.db.pool())
    .await
    .expect("row");
    assert_eq!(solved, (true, false));
}

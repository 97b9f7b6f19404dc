//! The API and a worker with their database behind PgBouncer in transaction pooling mode
//! (seed 001 §8.2), as `scraperx-api serve` and `scraperx-worker run` build it when
//! `SCRX_DATABASE_DIRECT_URL` is set: every statement unnamed and in a transaction of its
//! own through the pooler, migrations over the direct URL. A scrape waits for its result, a
//! batch completes, and the job listing and a result are read back, all through PgBouncer. (The repository alone under concurrency: `core/tests/pgbouncer.rs`.)

mod common;
#[path = "../../core/tests/support/pg_bouncer.rs"]
mod pg_bouncer;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{app_on, key, org, serve, start_worker};
use pg_bouncer::Scratch;
use scraperx_core::config::RedisConfig;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_and_a_batch_complete_with_the_api_and_the_worker_behind_pgbouncer() {
    let scratch = Scratch::new().await;
    let db = scratch.db(8).await;
    let t = app_on(
        db.clone(),
        RedisConfig::from_env().expect("redis config"),
        |c| c.allow_private_targets = true,
    )
    .await;
    assert!(t.state.watcher.ready(Duration::from_secs(5)).await);
    let o = org(&db, 100).await;
    let k = key(&db, &o).await;
    let worker = start_worker(&t);
    let site = serve(axum::Router::new().route(
        "/p/{n}",
        axum::routing::get(
            |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                axum::response::Html(format!("<html><body><h1>Page {n}</h1></body></html>"))
            },
        ),
    ))
    .await;
    let page = |n: u32| format!("{site}/p/{n}");

    let r = t
        .post(
            &k,
            "/v1/scrape",
            json!({ "url": page(1), "engine": "http" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "completed", "{:?}", r.body);
    let id = r.body["job_id"].as_str().expect("job id").to_owned();
    let result = t.get(&k, &format!("/v1/jobs/{id}/result")).await;
    assert_eq!(result.status, StatusCode::OK, "{:?}", result.body);
    assert_eq!(result.body["status_code"], 200);

    let r = t
        .post(
            &k,
            "/v1/batches",
            json!({
                "urls": (2..7).map(page).collect::<Vec<_>>(),
                "defaults": { "engine": "http" }
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let batch = r.body["batch_id"].as_str().expect("batch").to_owned();
    let started = Instant::now();
    loop {
        let b = t.get(&k, &format!("/v1/batches/{batch}")).await;
        assert_eq!(b.status, StatusCode::OK, "{:?}", b.body);
        if b.body["counts"]["completed"] == 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "batch not done: {:?}",
            b.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let jobs = t.get(&k, "/v1/jobs").await;
    assert_eq!(jobs.status, StatusCode::OK, "{:?}", jobs.body);
    assert_eq!(jobs.body["data"].as_array().map(Vec::len), Some(6));
    // Six pages at one credit each, charged once.
    assert_eq!(db.credit_balance(o.id).await.expect("balance"), 94);
    drop(worker);
    drop((t, db));
    scratch.drop_database().await;
}

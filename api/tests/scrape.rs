//! Scrape-now and live streams: waiting on Redis pub/sub, the response cache, concurrency
//! slots, and Server-Sent Events.

mod common;

use std::time::Duration;

use axum::{body::Body, http::Request, http::StatusCode};
use common::{app, app_with, key, org, org_with, page, serve, start_worker};
use http_body_util::BodyExt;
use serde_json::json;
use sqlx::PgPool;
use tower::ServiceExt;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn scrape_waits_for_the_result_then_serves_repeats_from_the_cache(pool: PgPool) {
    let t = app_with(pool, |c| {
        c.allow_private_targets = true;
        c.scrape_wait_margin = Duration::ZERO;
    })
    .await;
    assert!(t.state.watcher.ready(Duration::from_secs(5)).await);
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let site = serve(axum::Router::new().route(
        "/hello",
        axum::routing::get(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                "<html><head><title>Test page</title></head><body><h1>hello</h1></body></html>",
            )
        }),
    ))
    .await;
    let url = format!("{site}/hello");
    let _worker = start_worker(&t);
    let r = t
        .post(&k, "/v1/scrape", json!({ "url": url, "engine": "http" }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let id = r.body["job_id"].as_str().expect("job id").to_owned();
    assert_eq!(
        t.get(&k, &format!("/v1/jobs/{id}")).await.body["status"],
        "completed"
    );
    let result = t.get(&k, &format!("/v1/jobs/{id}/result")).await;
    assert_eq!(result.status, StatusCode::OK, "{:?}", result.body);
    assert_eq!(result.body["status_code"], 200);
    assert_eq!(result.body["extracted"]["title"], "Test page");
    assert!(
        result.body["content"]
            .as_str()
            .is_some_and(|c| c.contains("<h1>hello</h1>"))
    );
    assert!(result.body["total_time_ms"].is_number());
    assert_eq!(r.body["status"], "completed");
    assert!(
        r.body["content"]
            .as_str()
            .is_some_and(|c| c.contains("<h1>hello</h1>"))
    );
    assert_eq!(r.body["status_code"], 200);
    assert_eq!(r.body["credits_charged"], 1);
    assert_eq!(r.body["cached"], false);
    assert_eq!(r.body["extracted"]["title"], "Test page");

    let cached = t
        .post(
            &k,
            "/v1/scrape",
            json!({ "url": url, "engine": "http", "max_age": 60 }),
        )
        .await;
    assert_eq!(cached.status, StatusCode::OK, "{:?}", cached.body);
    assert_eq!(
        (
            cached.body["cached"].as_bool(),
            cached.body["credits_charged"].as_i64()
        ),
        (Some(true), Some(0))
    );
    assert_eq!(cached.body["content"], r.body["content"]);
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        99,
        "the cache hit is free"
    );

    // With Redis's copy gone, Postgres (and MinIO) still answer, and Redis is warmed again.
    assert!(
        t.state
            .cache
            .invalidate_url(&url)
            .await
            .expect("invalidate")
            >= 1
    );
    let from_pg = t
        .post(
            &k,
            "/v1/scrape",
            json!({ "url": url, "engine": "http", "max_age": 60 }),
        )
        .await;
    assert_eq!(
        (
            from_pg.body["cached"].as_bool(),
            from_pg.body["credits_charged"].as_i64()
        ),
        (Some(true), Some(0)),
        "{:?}",
        from_pg.body
    );
    assert_eq!(from_pg.body["content"], r.body["content"]);
    assert!(
        t.state
            .cache
            .invalidate_url(&url)
            .await
            .expect("invalidate")
            >= 1,
        "warmed"
    );
    assert_eq!(t.db.credit_balance(o.id).await.expect("balance"), 99);

    // Another organization never sees this organization's cache.
    let other = org(&t.db, 100).await;
    let other_key = key(&t.db, &other).await;
    let strict = t
        .post(
            &other_key,
            "/v1/scrape",
            json!({ "url": url, "engine": "http", "max_age": 60, "timeout": 1000 }),
        )
        .await;
    assert_eq!(strict.body["cached"], false);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_scrape_still_running_after_its_timeout_is_answered_202(pool: PgPool) {
    let t = app_with(pool, |c| {
        c.allow_private_targets = true;
        c.scrape_wait_margin = Duration::ZERO;
    })
    .await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let started = std::time::Instant::now();
    let r = t
        .post(&k, "/v1/scrape", json!({ "url": page(1), "timeout": 1000 }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(r.body["status"], "queued");
    let status_url = r.body["status_url"].as_str().expect("status url");
    assert_eq!(t.get(&k, status_url).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_scrape_over_its_organization_s_running_cap_waits_in_the_queue_not_refused(pool: PgPool) {
    let t = app_with(pool, |c| {
        c.allow_private_targets = true;
        c.scrape_wait_margin = Duration::ZERO;
    })
    .await;
    let o = org_with(&t.db, 100, |n| n.max_concurrent_jobs = 1).await;
    let k = key(&t.db, &o).await;
    let holding = {
        let (router, k) = (t.router.clone(), k.clone());
        tokio::spawn(async move {
            router
                .oneshot(
                    Request::post("/v1/scrape")
                        .header("authorization", format!("Bearer {k}"))
                        .header("content-type", "application/json")
                        .body(Body::from(
                            json!({ "url": page(1), "timeout": 2000 }).to_string(),
                        ))
                        .expect("request"),
                )
                .await
                .expect("infallible")
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The cap is on running jobs, in the queue: the second scrape waits there for its turn
    // (no worker runs here, so its wait ends with its status URL), as a job submitted
    // through /v1/jobs would.
    let r = t
        .post(&k, "/v1/scrape", json!({ "url": page(2), "timeout": 1000 }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(holding.await.expect("task"), StatusCode::ACCEPTED);
}

async fn read_events(response: axum::response::Response) -> Vec<(String, serde_json::Value)> {
    let bytes = tokio::time::timeout(Duration::from_secs(15), response.into_body().collect())
        .await
        .expect("the stream ends")
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    text.split("\n\n")
        .filter_map(|block| {
            let event = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((event.to_owned(), serde_json::from_str(data).ok()?))
        })
        .collect()
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn job_and_batch_streams_follow_changes_until_done(pool: PgPool) {
    let t = app(pool).await;
    assert!(t.state.watcher.ready(Duration::from_secs(5)).await);
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let site = serve(axum::Router::new().route(
        "/slowish",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "<p>done</p>"
        }),
    ))
    .await;
    let r = t
        .post(
            &k,
            "/v1/jobs",
            json!({ "url": format!("{site}/slowish"), "engine": "http" }),
        )
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    let stream = t.open(&k, &format!("/v1/jobs/{id}/stream")).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let worker = start_worker(&t);
    let events = read_events(stream).await;
    // The batch below stays queued: no worker takes it.
    drop(worker);
    let statuses: Vec<&str> = events
        .iter()
        .filter_map(|(_, v)| v["status"].as_str())
        .collect();
    assert_eq!(statuses.first(), Some(&"queued"));
    assert_eq!(statuses.last(), Some(&"completed"), "{events:?}");
    assert!(events.iter().all(|(name, _)| name == "status"));

    let b = t
        .post(&k, "/v1/batches", json!({ "urls": [page(1), page(2)] }))
        .await;
    let batch = b.body["batch_id"].as_str().expect("batch").to_owned();
    let stream = t.open(&k, &format!("/v1/batches/{batch}/stream")).await;
    let (router, k2, b2) = (t.router.clone(), k.clone(), batch.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        router
            .oneshot(
                Request::post(format!("/v1/batches/{b2}/cancel"))
                    .header("authorization", format!("Bearer {k2}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
    });
    let events = read_events(stream).await;
    let progress: Vec<&str> = events
        .iter()
        .filter_map(|(_, v)| v["progress"].as_str())
        .collect();
    assert_eq!(progress.first(), Some(&"0/2"));
    assert_eq!(progress.last(), Some(&"2/2"));
    assert_eq!(
        events.last().map(|(_, v)| v["done"].clone()),
        Some(json!(true))
    );
}

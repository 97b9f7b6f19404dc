//! The REST API end to end: enforcement in order, jobs, batches, OpenAPI and health.

mod common;

use axum::{body::Body, http::Request, http::StatusCode};
use common::{
    app, app_with, error_code, key, key_with, org, org_with, page, refuses_naming_fields,
};
use futures::future::join_all;
use scraperx_core::queue::JobQueue;
use serde_json::json;
use sqlx::PgPool;

// ---------------------------------------------------------------- authentication

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn requests_without_a_valid_key_get_401_in_the_envelope(pool: PgPool) {
    let t = app(pool).await;
    let no_key = t.get_anon("/v1/jobs").await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&no_key), "unauthorized");
    assert!(no_key.body["error"]["message"].is_string());
    assert!(no_key.body["error"]["details"].is_object());

    let wrong = t
        .get(
            "sk_0000000000000000000000000000000000000000000000000000000000000000",
            "/v1/jobs",
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let o = org(&t.db, 10).await;
    let k = key(&t.db, &o).await;
    let x_api_key = t
        .call(
            Request::get("/v1/jobs")
                .header("x-api-key", &k)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(x_api_key.status, StatusCode::OK);
    let id: scraperx_core::domain::ApiKeyId = t.db.list_api_keys(o.id).await.expect("keys")[0].id;
    t.db.revoke_api_key(o.id, id, None, Some("test"))
        .await
        .expect("revoke");
    assert_eq!(t.get(&k, "/v1/jobs").await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn scopes_ips_and_domains_are_enforced_with_403(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let read_only = key_with(&t.db, &o, |k| k.scopes = vec!["scrape:read".into()]).await;
    let r = t
        .post(&read_only, "/v1/jobs", json!({ "url": page(1) }))
        .await;
    assert_eq!(
        (r.status, error_code(&r)),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    assert_eq!(r.body["error"]["details"]["required_scope"], "scrape:write");

    let elsewhere = key_with(&t.db, &o, |k| {
        k.allowed_ips = Some(vec!["10.0.0.0/8".into()])
    })
    .await;
    let r = t.get(&elsewhere, "/v1/jobs").await;
    assert_eq!(
        (r.status, error_code(&r)),
        (StatusCode::FORBIDDEN, "ip_not_allowed")
    );
    let here = key_with(&t.db, &o, |k| {
        k.allowed_ips = Some(vec!["127.0.0.0/8".into()])
    })
    .await;
    let r = t.get(&here, "/v1/jobs").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let domains = key_with(&t.db, &o, |k| {
        k.allowed_domains = Some(vec!["example.org".into()])
    })
    .await;
    let r = t
        .post(&domains, "/v1/jobs", json!({ "url": page(1) }))
        .await;
    assert_eq!(
        (r.status, error_code(&r)),
        (StatusCode::FORBIDDEN, "domain_not_allowed")
    );
}

// ---------------------------------------------------------------- rate limits

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_rate_limit_answers_429_with_retry_after_and_headers_everywhere(pool: PgPool) {
    let t = app(pool).await;
    let o = org_with(&t.db, 10, |n| n.rate_limit_per_second = 3).await;
    let k = key(&t.db, &o).await;
    let replies = join_all((0..8).map(|_| t.get(&k, "/v1/jobs"))).await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 3, "exactly the limit gets through");
    for r in &replies {
        assert_eq!(r.headers["x-ratelimit-limit"], "3");
        assert!(
            r.headers.contains_key("x-ratelimit-remaining")
                && r.headers.contains_key("x-ratelimit-reset")
        );
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(error_code(r), "rate_limited");
            assert_eq!(r.headers["retry-after"], "1");
            assert_eq!(r.headers["x-ratelimit-remaining"], "0");
        }
    }
}

// ---------------------------------------------------------------- jobs

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_job_is_accepted_queued_readable_and_isolated_per_organization(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let r = t
        .post(
            &k,
            "/v1/jobs",
            json!({ "url": page(1), "engine": "http", "client_reference": "ref-1", "priority": 9 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(r.headers["location"], format!("/v1/jobs/{id}"));
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["credits_estimated"], 1);
    assert_eq!(t.db.credit_balance(o.id).await.expect("balance"), 99);

    // The job is on the http queue, and Postgres agrees.
    let queue: &JobQueue = t
        .state
        .queues
        .for_engine(scraperx_core::domain::Engine::Http);
    let lease = queue
        .dequeue(std::time::Duration::from_secs(30))
        .await
        .expect("dequeue")
        .expect("queued");
    assert_eq!(lease.id, id);
    assert!(lease.payload.contains(&id));
    queue.ack(&lease).await.expect("ack");

    let got = t.get(&k, &format!("/v1/jobs/{id}")).await;
    assert_eq!(
        (got.status, got.body["client_reference"].as_str()),
        (StatusCode::OK, Some("ref-1"))
    );
    let events = t.get(&k, &format!("/v1/jobs/{id}/events")).await;
    let types: Vec<&str> = events
        .body
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(types, ["job.created", "job.queued"]);

    let other = org(&t.db, 100).await;
    let other_key = key(&t.db, &other).await;
    for path in ["", "/events", "/result"] {
        let r = t.get(&other_key, &format!("/v1/jobs/{id}{path}")).await;
        assert_eq!(
            (r.status, error_code(&r)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let r = t
        .post(&other_key, &format!("/v1/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_idempotency_key_replay_returns_the_original_and_charges_once(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let body = json!({ "url": page(1), "engine": "browser" });
    let first = t
        .post_with(
            &k,
            "/v1/jobs",
            body.clone(),
            &[("idempotency-key", "order-42")],
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let replays = join_all((0..5).map(|_| {
        t.post_with(
            &k,
            "/v1/jobs",
            body.clone(),
            &[("idempotency-key", "order-42")],
        )
    }))
    .await;
    for r in &replays {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["id"], first.body["id"]);
    }
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        95,
        "5 credits, once"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn fifty_concurrent_submissions_against_credits_for_twenty_accept_exactly_twenty(
    pool: PgPool,
) {
    let t = app(pool).await;
    let o = org(&t.db, 20).await;
    let k = key(&t.db, &o).await;
    let replies = join_all(
        (0..50).map(|i| t.post(&k, "/v1/jobs", json!({ "url": page(i), "engine": "http" }))),
    )
    .await;
    let accepted = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .count();
    let refused: Vec<_> = replies
        .iter()
        .filter(|r| r.status != StatusCode::ACCEPTED)
        .collect();
    assert_eq!(accepted, 20);
    assert!(refused.iter().all(
        |r| r.status == StatusCode::PAYMENT_REQUIRED && error_code(r) == "insufficient_credits"
    ));
    assert_eq!(t.db.credit_balance(o.id).await.expect("balance"), 0);
    let listed = t.get(&k, "/v1/jobs?limit=100").await;
    assert_eq!(listed.body["data"].as_array().expect("data").len(), 20);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn bad_input_gets_422_naming_the_field(pool: PgPool) {
    let t = app(pool.clone()).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let cases = [
        (json!({ "url": "ftp://example.com/" }), "url"),
        (
            json!({ "url": format!("http://127.0.0.1/{}", "a".repeat(9_000)) }),
            "url",
        ),
        (json!({}), "url"),
        (json!({ "url": page(1), "bogus": true }), "bogus"),
        (
            json!({ "url": page(1), "extract": { "title": { "selector": "h1", "nope": 1 } } }),
            "extract.title.nope",
        ),
        (json!({ "url": page(1), "timeout": 10 }), "timeout"),
        (json!({ "url": page(1), "wait_time": 90_000 }), "wait_time"),
        (json!({ "url": page(1), "priority": 11 }), "priority"),
        (json!({ "url": page(1), "country": "Germany" }), "country"),
        (json!({ "url": page(1), "engine": "quantum" }), "engine"),
        (
            json!({ "url": page(1), "wait_until": "soon" }),
            "wait_until",
        ),
        (
            json!({ "url": page(1), "webhook_url": "javascript:alert(1)" }),
            "webhook_url",
        ),
    ];
    refuses_naming_fields(&t, &k, &cases).await;
    let malformed = t
        .call(
            Request::post("/v1/jobs")
                .header("authorization", format!("Bearer {k}"))
                .header("content-type", "application/json")
                .body(Body::from("{\"url\":"))
                .expect("request"),
        )
        .await;
    assert_eq!(
        (malformed.status, error_code(&malformed)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        100,
        "nothing charged"
    );

    // Private targets are refused unless the deployment allows them.
    let strict = app_with(pool, |_| {}).await;
    for url in [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://[2002:7f00:1::]/",
        "http://[fec0::1]/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "http://[::a9fe:a9fe]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b:1::a9fe:a9fe]/",
    ] {
        let r = strict.post(&k, "/v1/jobs", json!({ "url": url })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert_eq!(r.body["error"]["details"]["field"], "url");
    }
    // The refusal names the host, never what it resolved to.
    let r = strict
        .post(&k, "/v1/jobs", json!({ "url": "http://localhost:8080/" }))
        .await;
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("localhost is not allowed"), "{message}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("::1"),
        "{message}"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn listing_filters_and_pages_with_a_cursor(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    for i in 0..7 {
        let reference = if i % 2 == 0 { "even" } else { "odd" };
        let r = t
            .post(
                &k,
                "/v1/jobs",
                json!({ "url": page(i), "client_reference": reference }),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/jobs?limit=3".to_owned();
    loop {
        let r = t.get(&k, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        seen.extend(
            r.body["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|j| j["id"].clone()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/jobs?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    seen.dedup();
    assert_eq!(seen.len(), 7);
    let even = t
        .get(&k, "/v1/jobs?client_reference=even&status=queued")
        .await;
    assert_eq!(even.body["data"].as_array().expect("data").len(), 4);
    let bad = t.get(&k, "/v1/jobs?status=sleeping").await;
    assert_eq!(
        (bad.status, bad.body["error"]["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
    );
    let bad = t.get(&k, "/v1/jobs?cursor=nonsense").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn canceling_a_queued_job_refunds_it_and_takes_it_off_the_queue(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let r = t
        .post(
            &k,
            "/v1/jobs",
            json!({ "url": page(1), "engine": "stealth", "screenshot": true }),
        )
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(t.db.credit_balance(o.id).await.expect("balance"), 88);
    let queue = t
        .state
        .queues
        .for_engine(scraperx_core::domain::Engine::Stealth);
    let before = queue.depth().await.expect("depth").waiting;
    let c = t
        .post(&k, &format!("/v1/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (c.status, c.body["status"].as_str()),
        (StatusCode::OK, Some("canceled")),
        "{:?}",
        c.body
    );
    assert_eq!(t.db.credit_balance(o.id).await.expect("balance"), 100);
    assert_eq!(queue.depth().await.expect("depth").waiting, before - 1);
    let again = t
        .post(&k, &format!("/v1/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (again.status, error_code(&again)),
        (StatusCode::CONFLICT, "conflict")
    );
    let result = t.get(&k, &format!("/v1/jobs/{id}/result")).await;
    assert_eq!(result.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- batches

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_batch_shares_defaults_overrides_per_url_and_reports_progress(pool: PgPool) {
    let t = app(pool).await;
    let o = org_with(&t.db, 100, |n| n.max_batch_size = 5).await;
    let k = key(&t.db, &o).await;
    let body = json!({
        "defaults": { "engine": "browser", "priority": 7 },
        "urls": [page(1), page(2), { "url": page(3), "engine": "http" }]
    });
    let r = t
        .post_with(
            &k,
            "/v1/batches",
            body.clone(),
            &[("idempotency-key", "batch-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let batch = r.body["batch_id"].as_str().expect("batch").to_owned();
    assert_eq!(r.body["counts"]["total"], 3);
    assert_eq!(r.body["counts"]["queued"], 3);
    assert_eq!(r.body["progress"], "0/3");
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        100 - 5 - 5 - 1
    );

    let replay = t
        .post_with(&k, "/v1/batches", body, &[("idempotency-key", "batch-1")])
        .await;
    assert_eq!(
        replay.body["batch_id"],
        batch.as_str(),
        "a replay is the same batch"
    );
    assert_eq!(t.db.credit_balance(o.id).await.expect("balance"), 89);

    let jobs = t.get(&k, &format!("/v1/jobs?batch_id={batch}")).await;
    let engines: Vec<&str> = jobs.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|j| j["engine"].as_str())
        .collect();
    assert_eq!(engines.iter().filter(|e| **e == "browser").count(), 2);

    let canceled = t
        .post(&k, &format!("/v1/batches/{batch}/cancel"), json!({}))
        .await;
    assert_eq!(canceled.status, StatusCode::OK);
    assert_eq!(canceled.body["counts"]["canceled"], 3);
    assert_eq!(
        (
            canceled.body["progress"].as_str(),
            canceled.body["done"].as_bool()
        ),
        (Some("3/3"), Some(true))
    );
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        100,
        "refunded"
    );

    let too_big = t
        .post(
            &k,
            "/v1/batches",
            json!({ "urls": (0..6).map(page).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(
        (
            too_big.status,
            too_big.body["error"]["details"]["field"].as_str()
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("urls"))
    );
    let bad_item = t
        .post(
            &k,
            "/v1/batches",
            json!({ "urls": [page(1), { "url": page(2), "timeout": 5 }] }),
        )
        .await;
    assert_eq!(
        bad_item.body["error"]["details"]["field"],
        "urls[1].timeout"
    );

    let other = key(&t.db, &org(&t.db, 10).await).await;
    assert_eq!(
        t.get(&other, &format!("/v1/batches/{batch}")).await.status,
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------- document and health

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_openapi_document_lists_every_route_and_health_answers(pool: PgPool) {
    let t = app(pool).await;
    let doc = t.get_anon("/v1/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    // The document is a valid OpenAPI 3.1 document (it parses as one, strictly typed).
    let parsed = oas3::from_json(doc.body.to_string()).expect("a valid OpenAPI 3.1 document");
    assert!(
        parsed
            .components
            .is_some_and(|c| c.security_schemes.contains_key("api_key"))
    );
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let paths = doc.body["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/v1/jobs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/jobs/{id}/cancel", "post"),
        ("/v1/jobs/{id}/events", "get"),
        ("/v1/jobs/{id}/result", "get"),
        ("/v1/batches", "post"),
        ("/v1/batches/{id}", "get"),
        ("/v1/batches/{id}/cancel", "post"),
        ("/v1/batches/{id}/stream", "get"),
        ("/v1/jobs/{id}/stream", "get"),
        ("/v1/scrape", "post"),
        ("/v1/webhooks", "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks/{id}", "patch"),
        ("/v1/webhooks/{id}", "delete"),
        ("/v1/webhooks/{id}/rotate-secret", "post"),
        ("/v1/usage", "get"),
        ("/v1/usage/daily", "get"),
        ("/v1/invoices", "get"),
        ("/v1/credits", "get"),
        ("/v1/api-keys", "post"),
        ("/v1/api-keys", "get"),
        ("/v1/api-keys/{id}/revoke", "post"),
        ("/v1/organizations", "post"),
        ("/v1/organization", "get"),
        ("/v1/users", "post"),
        ("/v1/users", "get"),
        ("/v1/crawls", "post"),
        ("/v1/crawls", "get"),
        ("/v1/crawls/{id}", "get"),
        ("/v1/crawls/{id}/cancel", "post"),
        ("/v1/crawls/{id}/pause", "post"),
        ("/v1/crawls/{id}/resume", "post"),
        ("/v1/crawls/{id}/pages", "get"),
        ("/v1/crawls/{id}/errors", "get"),
        ("/v1/crawls/{id}/stream", "get"),
        ("/v1/map", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert_eq!(
        paths.len(),
        34,
        "every route is documented, and nothing else: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    let health = t.get_anon("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = t.get_anon("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
    assert_eq!(ready.body["minio"], true);
}

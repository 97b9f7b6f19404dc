//! Hostile request bodies and paths: each is refused with a 4xx in the JSON error envelope
//! and a stable code, never a 5xx, a plain-text answer or a stored row.

mod common;

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{Reply, TestApp, app, error_code, key_with, org};
use serde_json::{Value, json};
use sqlx::PgPool;

fn raw(key: &str, method: &str, uri: &str, content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request")
}

/// The reply is the envelope with `code`, and `status`.
fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(error_code(reply), code, "{:?}", reply.body);
    assert!(
        reply.body["error"]["message"].is_string() && reply.body["error"]["details"].is_object(),
        "{:?}",
        reply.body
    );
}

async fn post_raw(t: &TestApp, k: &str, uri: &str, content_type: &str, body: Vec<u8>) -> Reply {
    t.call(raw(k, "POST", uri, content_type, body)).await
}

/// A key of a fresh organization with every scope.
async fn key(t: &TestApp) -> String {
    let o = org(&t.db, 100).await;
    key_with(&t.db, &o, |k| k.scopes = vec!["*".into()]).await
}

async fn jobs_stored(t: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM scrape_jobs")
        .fetch_one(t.db.pool())
        .await
        .expect("count")
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_body_over_the_limit_is_a_413_in_the_envelope(pool: PgPool) {
    let t = app(pool).await;
    let k = key(&t).await;
    let limit = scraperx_api::extract::MAX_BODY_BYTES;
    let mut body = br#"{"url":"http://127.0.0.1:9/","metadata":{"pad":""#.to_vec();
    body.resize(limit + 1, b'a');
    let reply = post_raw(&t, &k, "/v1/jobs", "application/json", body).await;
    assert_refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(reply.body["error"]["details"]["limit_bytes"], json!(limit));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn malformed_json_invalid_utf8_and_deep_nesting_are_400_bad_request(pool: PgPool) {
    let t = app(pool).await;
    let k = key(&t).await;
    let deep = format!(
        r#"{{"url":"http://127.0.0.1:9/","metadata":{}1{}}}"#,
        r#"{"a":"#.repeat(10_000),
        "}".repeat(10_000)
    );
    let bodies: [Vec<u8>; 4] = [
        br#"{"url": "http://127.0.0.1:9/""#.to_vec(),
        b"\xff\xfe{}".to_vec(),
        b"{\"url\": \"http://127.0.0.1:9/\xc3\x28\"}".to_vec(),
        br#"{"url": "http://127.0.0.1:9/\ud800"}"#.to_vec(),
    ];
    for body in bodies {
        // Routes whose body has a `url` (a batch would first refuse it as an unknown field).
        for uri in ["/v1/jobs", "/v1/scrape", "/v1/webhooks"] {
            let reply = post_raw(&t, &k, uri, "application/json", body.clone()).await;
            assert_refused(&reply, StatusCode::BAD_REQUEST, "bad_request");
        }
    }
    // Nesting only a free-form field (metadata) can hold, past serde_json's depth limit.
    for uri in ["/v1/jobs", "/v1/scrape"] {
        let reply = post_raw(&t, &k, uri, "application/json", deep.clone().into_bytes()).await;
        assert_refused(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(jobs_stored(&t).await, 0);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_body_in_another_content_type_is_a_415(pool: PgPool) {
    let t = app(pool).await;
    let k = key(&t).await;
    let body = json!({ "url": "http://127.0.0.1:9/" })
        .to_string()
        .into_bytes();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let reply = post_raw(&t, &k, "/v1/jobs", content_type, body.clone()).await;
        assert_refused(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn huge_numbers_are_422_naming_their_field(pool: PgPool) {
    let t = app(pool).await;
    let k = key(&t).await;
    for (field, number) in [
        ("priority", "1e400"),
        ("priority", "99999999999999999999999999"),
        ("timeout", "-1"),
        ("max_attempts", "18446744073709551616"),
        ("wait_time", "1.5e308"),
    ] {
        let body = format!(r#"{{"url":"http://127.0.0.1:9/","{field}":{number}}}"#);
        let reply = post_raw(&t, &k, "/v1/jobs", "application/json", body.into_bytes()).await;
        // serde_json refuses a number past f64 as malformed; others do not fit their field.
        assert!(
            matches!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST
            ),
            "{field}={number}: {:?}",
            reply.body
        );
        if reply.status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(reply.body["error"]["details"]["field"], json!(field));
        }
    }
    assert_eq!(jobs_stored(&t).await, 0);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn text_holding_nul_is_a_422_not_a_database_error(pool: PgPool) {
    let t = app(pool).await;
    let k = key(&t).await;
    for body in [
        json!({ "url": "http://127.0.0.1:9/", "client_reference": "a\u{0}b" }),
        json!({ "url": "http://127.0.0.1:9/", "metadata": { "k": "v\u{0}" } }),
        json!({ "url": "http://127.0.0.1:9/", "headers": { "X-A": "\u{0}" } }),
    ] {
        let reply = t.post(&k, "/v1/jobs", body).await;
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let hook =
        json!({ "name": "n\u{0}", "url": "http://127.0.0.1:9/", "events": ["job.completed"] });
    let reply = t.post(&k, "/v1/webhooks", hook).await;
    assert_refused(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let listed = t.get(&k, "/v1/jobs?client_reference=a%00b").await;
    assert_refused(
        &listed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        listed.body["error"]["details"]["field"],
        json!("client_reference")
    );
    assert_eq!(jobs_stored(&t).await, 0);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_line_break_in_a_forwarded_header_or_a_webhook_url_is_refused(pool: PgPool) {
    let t = app(pool).await;
    let k = key(&t).await;
    let url = "http://127.0.0.1:9/";
    let injections: [(Value, &str); 6] = [
        (
            json!({ "url": url, "headers": { "X-A": "1\r\nX-Injected: 1" } }),
            "headers",
        ),
        (
            json!({ "url": url, "headers": { "X-A\r\nX-Injected": "1" } }),
            "headers",
        ),
        (json!({ "url": url, "headers": { "X A": "1" } }), "headers"),
        (
            json!({ "url": "http://127.0.0.1:9/\r\nX-Injected: 1" }),
            "url",
        ),
        (
            json!({ "url": url, "webhook_url": "http://127.0.0.1:9/h\r\nX: 1" }),
            "webhook_url",
        ),
        (
            json!({ "url": url, "webhook_url": "http://127.0.0.1:9/h x" }),
            "webhook_url",
        ),
    ];
    for (body, field) in injections {
        for uri in ["/v1/jobs", "/v1/scrape"] {
            let reply = t.post(&k, uri, body.clone()).await;
            assert_refused(
                &reply,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
            assert_eq!(reply.body["error"]["details"]["field"], json!(field));
        }
    }
    let batch = json!({ "urls": [{ "url": url, "headers": { "X-A": "1\nX-B: 2" } }] });
    let reply = t.post(&k, "/v1/batches", batch).await;
    assert_refused(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let hook = json!({ "url": "http://127.0.0.1:9/h\r\nX: 1", "events": ["job.completed"] });
    let reply = t.post(&k, "/v1/webhooks", hook).await;
    assert_refused(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(jobs_stored(&t).await, 0);
    // A tab is allowed in a value, and the job is accepted.
    let fine = json!({ "url": url, "headers": { "X-A": "a\tb" } });
    let reply = t.post(&k, "/v1/jobs", fine).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_unknown_route_a_wrong_method_and_an_unparsable_id_answer_in_the_envelope(pool: PgPool) {
    let t = app(pool).await;
    let k = key(&t).await;
    let unknown = t.get(&k, "/v1/no-such-thing").await;
    assert_refused(&unknown, StatusCode::NOT_FOUND, "not_found");
    let anonymous = t.get_anon("/nothing-here").await;
    assert_refused(&anonymous, StatusCode::NOT_FOUND, "not_found");
    let wrong = t
        .call(raw(
            &k,
            "DELETE",
            "/v1/jobs",
            "application/json",
            Vec::new(),
        ))
        .await;
    assert_refused(&wrong, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(wrong.headers.get("allow").is_some(), "{:?}", wrong.headers);
    for uri in [
        "/v1/jobs/not-a-uuid",
        "/v1/batches/123/stream",
        "/v1/jobs/%00/result",
    ] {
        let reply = t.get(&k, uri).await;
        assert_refused(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
}

//! `/v1/crawls` through the real router: a crawl is created with its start page submitted
//! (credits reserved as for any job), read, listed, paused, resumed and canceled, with every
//! refusal in the error envelope; its pages and errors come in cursor pages.

mod common;

use axum::http::StatusCode;
use common::{app, key, org};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_crawl_is_created_with_its_start_page_queued_and_can_be_paused_resumed_and_canceled(
    pool: PgPool,
) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let body = json!({
        "url": "http://127.0.0.1:9/start",
        "options": {"limit": 50, "maxDepth": 2, "exclude_paths": ["^/cart"]},
        "scrape_options": {"markdown": true}
    });
    let r = t.post(&k, "/v1/crawls", body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(r.body["status"], "running");
    assert_eq!(r.body["counts"]["discovered"], 1);
    assert_eq!(r.body["counts"]["queued"], 1);
    assert_eq!(r.body["options"]["max_depth"], 2);
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        99,
        "the start page reserved"
    );

    let got = t.get(&k, &format!("/v1/crawls/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["id"], id.as_str());
    let listed = t.get(&k, "/v1/crawls?limit=10").await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());

    let paused = t
        .post(&k, &format!("/v1/crawls/{id}/pause"), json!({}))
        .await;
    assert_eq!(paused.body["status"], "paused", "{:?}", paused.body);
    let again = t
        .post(&k, &format!("/v1/crawls/{id}/pause"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["error"]["code"], "conflict");
    let resumed = t
        .post(&k, &format!("/v1/crawls/{id}/resume"), json!({}))
        .await;
    assert_eq!(resumed.body["status"], "running");

    let pages = t.get(&k, &format!("/v1/crawls/{id}/pages?limit=1")).await;
    assert_eq!(pages.status, StatusCode::OK);
    assert_eq!(pages.body["data"][0]["url"], "http://127.0.0.1:9/start");
    assert_eq!(pages.body["data"][0]["state"], "submitted");
    let cursor = pages.body["next_cursor"]
        .as_str()
        .expect("a full page has a cursor");
    let rest = t
        .get(&k, &format!("/v1/crawls/{id}/pages?cursor={cursor}"))
        .await;
    assert_eq!(rest.body["data"].as_array().map(Vec::len), Some(0));
    let errors = t.get(&k, &format!("/v1/crawls/{id}/errors")).await;
    assert_eq!(errors.body["data"].as_array().map(Vec::len), Some(0));

    let canceled = t
        .post(&k, &format!("/v1/crawls/{id}/cancel"), json!({}))
        .await;
    assert_eq!(canceled.body["status"], "canceled", "{:?}", canceled.body);
    assert_eq!(canceled.body["status_reason"], "canceled");
    assert_eq!(canceled.body["counts"]["canceled"], 1);
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        100,
        "refunded"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn bad_crawl_requests_are_refused_with_the_field_named(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    let cases = [
        (json!({"url": "ftp://x.test/"}), "url"),
        (
            json!({"url": "http://x.test/", "options": {"limit": 0}}),
            "options.limit",
        ),
        (
            json!({"url": "http://x.test/", "options": {"include_paths": ["("]}}),
            "options.include_paths[0]",
        ),
        (
            json!({"url": "http://x.test/", "scrape_options": {"body": "x"}}),
            "scrape_options.body",
        ),
        (
            json!({"url": "http://x.test/", "scrape_options": {"timeout": 5}}),
            "scrape_options.timeout",
        ),
        (
            json!({"url": "http://x.test/", "webhook_secret": "long-enough-secret"}),
            "webhook_secret",
        ),
        (
            json!({"url": "http://x.test/", "webhook_url": "https://hooks.test/x",
                   "webhook_secret": "short"}),
            "webhook_secret",
        ),
        (
            json!({"url": "http://x.test/", "scrape_options": {"webhook_secret": "long-enough-secret"}}),
            "scrape_options.webhook_secret",
        ),
    ];
    for (body, field) in cases {
        let r = t.post(&k, "/v1/crawls", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(
            r.body["error"]["details"]["field"], field,
            "{body}: {:?}",
            r.body
        );
    }
    let unknown = t
        .post(
            &k,
            "/v1/crawls",
            json!({"url": "http://x.test/", "options": {"depth": 1}}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        unknown.body
    );
    let missing = t
        .get(&k, &format!("/v1/crawls/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"]["code"], "not_found");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_crawl_the_balance_cannot_start_is_refused_with_402(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 0).await;
    let k = key(&t.db, &o).await;
    let r = t
        .post(&k, "/v1/crawls", json!({"url": "http://127.0.0.1:9/"}))
        .await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "insufficient_credits");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_openapi_document_describes_every_crawl_route(pool: PgPool) {
    let t = app(pool).await;
    let doc = t.get_anon("/v1/openapi.json").await;
    for path in [
        "/v1/crawls",
        "/v1/crawls/{id}",
        "/v1/crawls/{id}/cancel",
        "/v1/crawls/{id}/pause",
        "/v1/crawls/{id}/resume",
        "/v1/crawls/{id}/pages",
        "/v1/crawls/{id}/errors",
        "/v1/crawls/{id}/stream",
    ] {
        assert!(doc.body["paths"][path].is_object(), "{path} missing");
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_key_held_to_its_domains_may_not_crawl_off_them(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 100).await;
    let k = common::key_with(&t.db, &o, |k| {
        k.allowed_domains = Some(vec!["127.0.0.1".into()])
    })
    .await;
    let body = json!({"url": "http://127.0.0.1:9/", "options": {"allow_external_links": true}});
    let r = t.post(&k, "/v1/crawls", body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(
        r.body["error"]["details"]["field"],
        "options.allow_external_links"
    );
    let within = t
        .post(&k, "/v1/crawls", json!({"url": "http://127.0.0.1:9/"}))
        .await;
    assert_eq!(within.status, StatusCode::ACCEPTED, "{:?}", within.body);
}

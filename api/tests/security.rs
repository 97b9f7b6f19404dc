//! Hostile callers: a spoofed X-Forwarded-For, a restricted key minting a freer one,
//! guessing keys, and anonymous floods of the readiness check.

mod common;

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use chrono::{Duration, Utc};
use common::{TestApp, app_with, error_code, key_with, org};
use scraperx_core::{domain::hash_api_key, pg::NewApiKey};
use serde_json::json;
use sqlx::PgPool;

fn keys_scope(k: &mut NewApiKey) {
    k.scopes = ["scrape:read", "scrape:write", "keys:manage"]
        .map(str::to_owned)
        .to_vec();
}

async fn get_from(t: &TestApp, key: &str, forwarded_for: &str) -> common::Reply {
    t.call(
        Request::get("/v1/jobs")
            .header("authorization", format!("Bearer {key}"))
            .header("x-forwarded-for", forwarded_for)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

/// A documentation-range address of this test run's own, so counts kept in the shared
/// Redis by earlier runs do not interfere.
fn fresh_source() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("198.18.{}.{}", b[0], b[1])
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn x_forwarded_for_is_believed_only_as_far_as_the_trusted_hops(pool: PgPool) {
    let behind_one = app_with(pool.clone(), |c| c.trusted_proxy_hops = 1).await;
    let o = org(&behind_one.db, 10).await;
    let k = key_with(&behind_one.db, &o, |n| {
        n.allowed_ips = Some(vec!["198.51.100.7".into()]);
    })
    .await;
    // The client wrote the allowed address on the left; the proxy appended the real one.
    let spoofed = get_from(&behind_one, &k, "198.51.100.7, 203.0.113.5").await;
    assert_eq!(spoofed.status, StatusCode::FORBIDDEN, "{:?}", spoofed.body);
    let real = get_from(&behind_one, &k, "10.0.0.1, 198.51.100.7").await;
    assert_eq!(real.status, StatusCode::OK, "{:?}", real.body);
    // No trusted hops: the header is ignored and the peer (127.0.0.1) counts.
    let direct = app_with(pool, |_| {}).await;
    let ignored = get_from(&direct, &k, "198.51.100.7").await;
    assert_eq!(ignored.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_key_minted_by_a_restricted_key_inherits_its_restrictions(pool: PgPool) {
    let t = app_with(pool, |_| {}).await;
    let o = org(&t.db, 10).await;
    let expiry = Utc::now() + Duration::days(7);
    let parent = key_with(&t.db, &o, |n| {
        keys_scope(n);
        n.allowed_ips = Some(vec!["127.0.0.0/8".into()]);
        n.allowed_domains = Some(vec!["example.com".into()]);
        n.expires_at = Some(expiry);
        n.rate_limit_override = Some(5);
    })
    .await;
    let created = t
        .post(&parent, "/v1/api-keys", json!({ "name": "child" }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let secret = created.body["secret"].as_str().expect("secret");
    let child =
        t.db.lookup_api_key(&hash_api_key(secret))
            .await
            .expect("lookup")
            .expect("child");
    assert_eq!(
        child.allowed_ips.as_deref(),
        Some(&["127.0.0.0/8".to_owned()][..])
    );
    assert_eq!(
        child.allowed_domains.as_deref(),
        Some(&["example.com".to_owned()][..])
    );
    assert_eq!(child.rate_limit_override, Some(5));
    let child_expiry = child.expires_at.expect("expires");
    assert!(
        (child_expiry - expiry).num_seconds().abs() <= 1,
        "{child_expiry} vs {expiry}"
    );

    for (body, field) in [
        (
            json!({ "name": "x", "allowed_ips": ["0.0.0.0/0"] }),
            "allowed_ips",
        ),
        (
            json!({ "name": "x", "allowed_domains": ["evil.com"] }),
            "allowed_domains",
        ),
        (json!({ "name": "x", "rate_limit": 50 }), "rate_limit"),
        (
            json!({ "name": "x", "expires_at": (Utc::now() + Duration::days(30)).to_rfc3339() }),
            "expires_at",
        ),
    ] {
        let refused = t.post(&parent, "/v1/api-keys", body).await;
        assert_eq!(
            (
                refused.status,
                refused.body["error"]["details"]["field"].as_str()
            ),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field))
        );
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn failed_authentications_are_limited_per_source_address(pool: PgPool) {
    let t = app_with(pool, |c| {
        c.trusted_proxy_hops = 1;
        c.auth_failures_per_minute = 3;
    })
    .await;
    let o = org(&t.db, 10).await;
    let good = key_with(&t.db, &o, |_| {}).await;
    let guesser = fresh_source();
    for _ in 0..3 {
        let r = get_from(&t, "sk_guessed_wrong", &guesser).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let refused = get_from(&t, "sk_guessed_wrong", &guesser).await;
    assert_eq!(
        (refused.status, error_code(&refused)),
        (StatusCode::TOO_MANY_REQUESTS, "auth_failures_exceeded")
    );
    let wait = refused.body["error"]["details"]["retry_after_seconds"]
        .as_u64()
        .expect("retry_after_seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some(wait.to_string().as_str())
    );
    // Even a good key from that address waits; another address is unaffected.
    let same = get_from(&t, &good, &guesser).await;
    assert_eq!(same.status, StatusCode::TOO_MANY_REQUESTS);
    let other = get_from(&t, &good, &fresh_source()).await;
    assert_eq!(other.status, StatusCode::OK);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_flood_of_readiness_checks_asks_the_dependencies_once(pool: PgPool) {
    let t = app_with(pool, |_| {}).await;
    let replies = futures::future::join_all((0..40).map(|_| t.get_anon("/readyz"))).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(replies[0].body["status"], "ready");
    assert_eq!(t.state.readiness.checks(), 1);
    tokio::time::sleep(scraperx_api::routes::health::READINESS_TTL).await;
    assert_eq!(t.get_anon("/readyz").await.status, StatusCode::OK);
    assert_eq!(t.state.readiness.checks(), 2, "asked again once stale");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn metrics_behind_a_token_refuse_anonymous_callers(pool: PgPool) {
    let t = app_with(pool, |c| c.metrics_token = Some("scrape-me".into())).await;
    let anonymous = t.get_anon("/metrics").await;
    assert_eq!(
        (anonymous.status, error_code(&anonymous)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let scraper = t
        .call(
            Request::get("/metrics")
                .header("authorization", "Bearer scrape-me")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(scraper.status, StatusCode::OK);
}

//! Webhooks, account, keys, administration and metrics.

mod common;

use axum::http::StatusCode;
use common::{app, app_with, error_code, key, key_with, org};
use serde_json::json;
use sqlx::PgPool;

fn all_scopes(k: &mut scraperx_core::pg::NewApiKey) {
    k.scopes = [
        "scrape:read",
        "scrape:write",
        "webhooks:manage",
        "account:read",
        "keys:manage",
    ]
    .map(str::to_owned)
    .to_vec();
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn webhooks_are_managed_and_their_secret_is_shown_once(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 10).await;
    let k = key_with(&t.db, &o, all_scopes).await;
    let scrape_only = key(&t.db, &o).await;
    let r = t
        .post(
            &scrape_only,
            "/v1/webhooks",
            json!({ "name": "n", "url": "https://hooks.test/x" }),
        )
        .await;
    assert_eq!(
        (r.status, error_code(&r)),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );

    let created = t
        .post(
            &k,
            "/v1/webhooks",
            json!({ "name": "ci", "url": "https://hooks.test/x", "events": ["job.completed"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert!(
        created.body["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_") && s.len() == 70)
    );
    let id = created.body["id"].as_str().expect("id").to_owned();
    let listed = t.get(&k, "/v1/webhooks").await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert!(listed.body[0].get("secret").is_none(), "never listed again");

    let bad = t
        .post(
            &k,
            "/v1/webhooks",
            json!({ "name": "x", "url": "https://h.test", "events": ["job.exploded"] }),
        )
        .await;
    assert_eq!(bad.body["error"]["details"]["field"], "events");

    let patched = t
        .call(
            axum::http::Request::patch(format!("/v1/webhooks/{id}"))
                .header("authorization", format!("Bearer {k}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({ "is_active": false }).to_string(),
                ))
                .expect("request"),
        )
        .await;
    assert_eq!(
        (patched.status, patched.body["is_active"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(patched.body["url"], "https://hooks.test/x");

    let other = key_with(&t.db, &org(&t.db, 1).await, all_scopes).await;
    let delete = |key: String| {
        t.call(
            axum::http::Request::delete(format!("/v1/webhooks/{id}"))
                .header("authorization", format!("Bearer {key}"))
                .body(axum::body::Body::empty())
                .expect("request"),
        )
    };
    assert_eq!(delete(other).await.status, StatusCode::NOT_FOUND);
    assert_eq!(delete(k.clone()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&k, "/v1/webhooks")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_webhook_secret_is_rotated_with_an_overlap_and_the_bounds_are_clear_errors(pool: PgPool) {
    let t = app(pool.clone()).await;
    let o = org(&t.db, 10).await;
    let k = key_with(&t.db, &o, all_scopes).await;
    let created = t
        .post(
            &k,
            "/v1/webhooks",
            json!({ "name": "ci", "url": "https://hooks.test/x" }),
        )
        .await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let first = created.body["secret"].as_str().expect("secret").to_owned();
    let stored: (Option<String>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT secret, secret_sealed FROM webhooks WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(stored.0.is_none(), "no plaintext at rest");
    let sealed = stored.1.expect("sealed");
    assert!(!sealed.windows(first.len()).any(|w| w == first.as_bytes()));

    let rotated = t
        .post(
            &k,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            json!({ "overlap_seconds": 600 }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let second = rotated.body["secret"].as_str().expect("secret");
    assert!(second.starts_with("whsec_") && second != first);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    let too_long = t
        .post(
            &k,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            json!({ "overlap_seconds": 999_999 }),
        )
        .await;
    assert_eq!(
        (too_long.status, error_code(&too_long)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let other = key_with(&t.db, &org(&t.db, 1).await, all_scopes).await;
    let theirs = t
        .post(
            &other,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            json!({}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    for i in 1..scraperx_core::pg::MAX_WEBHOOKS_PER_ORG {
        let r = t
            .post(
                &k,
                "/v1/webhooks",
                json!({ "name": format!("h{i}"), "url": "https://hooks.test/x" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let over = t
        .post(
            &k,
            "/v1/webhooks",
            json!({ "name": "one too many", "url": "https://hooks.test/x" }),
        )
        .await;
    assert_eq!(
        (over.status, error_code(&over)),
        (StatusCode::CONFLICT, "limit_reached"),
        "{:?}",
        over.body
    );
    assert_eq!(
        over.body["error"]["details"]["limit"],
        scraperx_core::pg::MAX_WEBHOOKS_PER_ORG
    );

    let keyless = app_with(pool, |c| {
        c.allow_private_targets = true;
        c.secrets = None;
    })
    .await;
    let k2 = key_with(&keyless.db, &org(&keyless.db, 1).await, all_scopes).await;
    let refused = keyless
        .post(
            &k2,
            "/v1/webhooks",
            json!({ "name": "n", "url": "https://hooks.test/x" }),
        )
        .await;
    assert_eq!(
        (refused.status, error_code(&refused)),
        (StatusCode::SERVICE_UNAVAILABLE, "secrets_unavailable")
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn keys_are_created_once_listed_by_prefix_and_revoked(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 10).await;
    let k = key_with(&t.db, &o, all_scopes).await;
    let created = t
        .post(
            &k,
            "/v1/api-keys",
            json!({ "name": "ci", "scopes": ["scrape:read"], "allowed_ips": ["127.0.0.1"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    assert_eq!(t.get(&secret, "/v1/jobs").await.status, StatusCode::OK);
    let listed = t.get(&k, "/v1/api-keys").await;
    let text = listed.body.to_string();
    assert!(
        !text.contains(&secret) && text.contains(&secret[..11]),
        "prefix only"
    );

    let escalate = t
        .post(
            &k,
            "/v1/api-keys",
            json!({ "name": "x", "scopes": ["admin"] }),
        )
        .await;
    assert_eq!(
        (
            escalate.status,
            escalate.body["error"]["details"]["field"].as_str()
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("scopes"))
    );
    let bad_ip = t
        .post(
            &k,
            "/v1/api-keys",
            json!({ "name": "x", "allowed_ips": ["nowhere"] }),
        )
        .await;
    assert_eq!(bad_ip.body["error"]["details"]["field"], "allowed_ips");

    let id = created.body["id"].as_str().expect("id");
    let revoked = t
        .post(&k, &format!("/v1/api-keys/{id}/revoke"), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        t.get(&secret, "/v1/jobs").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn account_reads_usage_invoices_and_credits(pool: PgPool) {
    let t = app(pool.clone()).await;
    let o = org(&t.db, 42).await;
    let k = key_with(&t.db, &o, all_scopes).await;
    let credits = t.get(&k, "/v1/credits").await;
    assert_eq!(
        (credits.status, credits.body["balance"].as_i64()),
        (StatusCode::OK, Some(42))
    );
    assert_eq!(credits.body["plan"], "growth");

    sqlx::query(
        "INSERT INTO usage_records (organization_id, period_start, period_end, granularity, total_requests, \
           successful_requests, failed_requests, credits_used) \
         VALUES ($1, date_trunc('day', NOW()) - interval '1 day', date_trunc('day', NOW()), 'daily', 10, 9, 1, 12)",
    )
    .bind(o.id)
    .execute(&pool)
    .await
    .expect("usage record");
    let daily = t.get(&k, "/v1/usage/daily").await;
    assert_eq!(daily.status, StatusCode::OK, "{:?}", daily.body);
    assert_eq!(daily.body[0]["credits_used"], 12);
    let usage = t.get(&k, "/v1/usage").await;
    assert_eq!(usage.status, StatusCode::OK, "{:?}", usage.body);
    assert!(usage.body["total_requests"].is_number());
    let bad = t
        .get(
            &k,
            "/v1/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(bad.body["error"]["details"]["field"], "from");

    let invoices = t.get(&k, "/v1/invoices").await;
    assert_eq!(
        (invoices.status, invoices.body.as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let me = t.get(&k, "/v1/organization").await;
    assert_eq!(me.body["id"], o.id.to_string());
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn administrators_create_organizations_and_users(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 10).await;
    let admin = key_with(&t.db, &o, |k| k.scopes = vec!["admin".into()]).await;
    let customer = key_with(&t.db, &o, all_scopes).await;
    let body = json!({ "name": "Acme", "slug": "acme-co", "billing_email": "ap@acme.test", "credits": 500 });
    let refused = t.post(&customer, "/v1/organizations", body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let created = t.post(&admin, "/v1/organizations", body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let acme_key = created.body["api_key"].as_str().expect("key").to_owned();
    let credits = t.get(&acme_key, "/v1/credits").await;
    assert_eq!(credits.body["balance"], 500);
    let again = t.post(&admin, "/v1/organizations", body).await;
    assert_eq!(
        (again.status, error_code(&again)),
        (StatusCode::CONFLICT, "conflict")
    );
    assert!(
        !again.body.to_string().contains("organizations_slug"),
        "no schema names leak"
    );

    let user = t
        .post(
            &admin,
            "/v1/users",
            json!({ "email": "dev@acme.test", "role": "admin" }),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{:?}", user.body);
    let users = t.get(&admin, "/v1/users").await;
    assert_eq!(users.body.as_array().map(Vec::len), Some(1));
    let bad = t
        .post(&admin, "/v1/users", json!({ "email": "nobody" }))
        .await;
    assert_eq!(bad.body["error"]["details"]["field"], "email");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn metrics_count_requests_by_route_and_refusals_by_code(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 10).await;
    let k = key(&t.db, &o).await;
    t.get(&k, "/v1/jobs").await;
    t.get(&k, &format!("/v1/jobs/{}", uuid::Uuid::new_v4()))
        .await;
    t.get_anon("/v1/jobs").await;
    let m = t.get_anon("/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    let text = m.body.as_str().expect("text").to_owned();
    assert!(
        text.contains(
            r#"scraperx_api_http_requests_total{method="GET",route="/v1/jobs",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/jobs/{id}",status="404""#),
        "templates, not ids: {text}"
    );
    assert!(
        text.contains(r#"scraperx_api_refusals_total{code="unauthorized"} 1"#),
        "{text}"
    );
    assert!(text.contains("scraperx_api_http_request_duration_seconds_bucket"));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn key_usage_is_written_in_batches_not_per_request(pool: PgPool) {
    let t = app(pool).await;
    let o = org(&t.db, 10).await;
    let k = key(&t.db, &o).await;
    for _ in 0..5 {
        assert_eq!(t.get(&k, "/v1/jobs").await.status, StatusCode::OK);
    }
    let before = t.db.list_api_keys(o.id).await.expect("keys").remove(0);
    assert!(before.last_used_at.is_none(), "no write per request");
    assert_eq!(
        t.state.usage.flush(&t.db).await.expect("flush"),
        1,
        "one key, one row"
    );
    let after = t.db.list_api_keys(o.id).await.expect("keys").remove(0);
    assert!(after.last_used_at.is_some());
    let count: i64 = sqlx::query_scalar("SELECT usage_count FROM api_keys WHERE id = $1")
        .bind(after.id)
        .fetch_one(t.db.pool())
        .await
        .expect("count");
    assert_eq!(count, 5);
}

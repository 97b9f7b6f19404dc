//! The API while a dependency is down: 503 in the error envelope (`service_unavailable`)
//! with `Retry-After`, never a 500; and the first request after Redis returns succeeds.

mod common;
#[path = "../../core/tests/support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use axum::http::StatusCode;
use common::{Reply, app_on, error_code, key, org, page};
use redis_server::PrivateRedis;
use scraperx_core::{config::RedisConfig, pg::Db};
use serde_json::json;
use sqlx::{PgPool, postgres::PgPoolOptions};

fn assert_unavailable(reply: &Reply) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reply.body
    );
    assert_eq!(error_code(reply), "service_unavailable");
    assert_eq!(reply.headers["retry-after"], "2");
    assert_eq!(reply.body["error"]["details"]["retry_after_seconds"], 2);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn while_redis_is_down_the_api_answers_503_and_the_first_request_after_succeeds(
    pool: PgPool,
) {
    let mut redis = PrivateRedis::start();
    let t = app_on(Db::from_pool(pool), redis.config(), |c| {
        c.allow_private_targets = true;
    })
    .await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    assert_eq!(t.get(&k, "/v1/jobs").await.status, StatusCode::OK);

    redis.stop();
    assert_unavailable(&t.get(&k, "/v1/jobs").await);
    assert_unavailable(&t.post(&k, "/v1/jobs", json!({ "url": page(1) })).await);
    assert_eq!(
        t.db.credit_balance(o.id).await.expect("balance"),
        100,
        "nothing charged for a refused request"
    );

    redis.restart();
    let back = t.get(&k, "/v1/jobs").await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    let submitted = t.post(&k, "/v1/jobs", json!({ "url": page(2) })).await;
    assert_eq!(
        submitted.status,
        StatusCode::ACCEPTED,
        "{:?}",
        submitted.body
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_first_request_after_an_idle_redis_restart_succeeds(pool: PgPool) {
    let mut redis = PrivateRedis::start();
    let t = app_on(Db::from_pool(pool), redis.config(), |_| {}).await;
    let o = org(&t.db, 100).await;
    let k = key(&t.db, &o).await;
    assert_eq!(t.get(&k, "/v1/jobs").await.status, StatusCode::OK);
    // No request while it was down: the app's connection is stale, not known broken.
    redis.restart();
    let back = t.get(&k, "/v1/jobs").await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
}

#[tokio::test]
async fn while_postgres_is_down_the_api_answers_503_with_retry_after() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{closed}/scraperx"))
        .expect("lazy pool");
    let t = app_on(
        Db::from_pool(pool),
        RedisConfig::from_env().expect("redis config"),
        |_| {},
    )
    .await;
    let some_key = format!("sk_{}", "0".repeat(64));
    assert_unavailable(&t.get(&some_key, "/v1/jobs").await);
    assert_unavailable(
        &t.post(&some_key, "/v1/jobs", json!({ "url": page(1) }))
            .await,
    );
}

//! Drives the real router against real Postgres (a fresh database per test), Redis and MinIO.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::{
    Router,
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{Request, StatusCode},
};
use http_body_util::BodyExt;
use scraperx_api::{AppState, Services, config::ApiConfig};
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::{self, ContentStore},
    domain::Plan,
    hot::{self, TtlConfig},
    pg::{Db, NewApiKey, NewOrganization, Organization},
};
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub db: Db,
}

/// The key webhook secrets are sealed with in tests.
pub fn test_secrets() -> scraperx_core::secrets::SecretBox {
    scraperx_core::secrets::SecretBox::new(&[42u8; 32])
}

pub async fn app(pool: PgPool) -> TestApp {
    app_with(pool, |c| c.allow_private_targets = true).await
}

pub async fn app_with(pool: PgPool, tweak: impl FnOnce(&mut ApiConfig)) -> TestApp {
    app_on(
        Db::from_pool(pool),
        RedisConfig::from_env().expect("redis config"),
        tweak,
    )
    .await
}

/// The app over `db` and the Redis of `redis_config` (a private server, for outage tests).
pub async fn app_on(
    db: Db,
    redis_config: RedisConfig,
    tweak: impl FnOnce(&mut ApiConfig),
) -> TestApp {
    let redis = hot::connect(&redis_config).await.expect("redis");
    let admin = ContentStore::new(&S3Config::from_env_for_role("ADMIN").expect("s3 admin"));
    content::ensure_buckets(admin.client())
        .await
        .expect("buckets");
    let mut config = ApiConfig {
        // Queues of their own: tests share one Redis.
        queue_namespace: format!("t{}-", uuid::Uuid::new_v4().simple()),
        secrets: Some(test_secrets()),
        ..ApiConfig::default()
    };
    tweak(&mut config);
    let state = AppState::new(
        config,
        Services {
            db: db.clone(),
            redis,
            redis_config,
            content: ContentStore::new(&S3Config::from_env_for_role("API").expect("s3 api")),
            ttl: TtlConfig::default(),
        },
    );
    let router = scraperx_api::app(state.clone())
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    TestApp { router, state, db }
}

/// An organization with `credits` and a rate limit high enough not to interfere.
pub async fn org(db: &Db, credits: i64) -> Organization {
    org_with(db, credits, |_| {}).await
}

pub async fn org_with(
    db: &Db,
    credits: i64,
    tweak: impl FnOnce(&mut NewOrganization),
) -> Organization {
    let slug = format!("o-{}", uuid::Uuid::new_v4().simple());
    let mut new = NewOrganization::new("Test org", &slug, "billing@test.local");
    new.credits_balance = credits;
    new.rate_limit_per_second = 1_000;
    new.plan = Plan::Growth;
    tweak(&mut new);
    db.create_organization(&new).await.expect("organization")
}

pub async fn key(db: &Db, org: &Organization) -> String {
    key_with(db, org, |_| {}).await
}

pub async fn key_with(db: &Db, org: &Organization, tweak: impl FnOnce(&mut NewApiKey)) -> String {
    let mut new = NewApiKey::named("test");
    tweak(&mut new);
    db.create_api_key(org.id, &new)
        .await
        .expect("key")
        .1
        .expose()
        .to_owned()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn call(&self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A GET without credentials.
    pub async fn get_anon(&self, uri: &str) -> Reply {
        self.call(Request::get(uri).body(Body::empty()).expect("request"))
            .await
    }

    pub async fn get(&self, key: &str, uri: &str) -> Reply {
        self.call(
            Request::get(uri)
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    /// The raw response of an authenticated GET, for streams.
    pub async fn open(&self, key: &str, uri: &str) -> axum::response::Response {
        self.router
            .clone()
            .oneshot(
                Request::get(uri)
                    .header("authorization", format!("Bearer {key}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible")
    }

    pub async fn post(&self, key: &str, uri: &str, body: Value) -> Reply {
        self.post_with(key, uri, body, &[]).await
    }

    pub async fn post_with(
        &self,
        key: &str,
        uri: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::post(uri)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.call(req.body(Body::from(body.to_string())).expect("request"))
            .await
    }
}

/// A loopback URL nothing listens on: the API only records it.
pub fn page(n: usize) -> String {
    format!("http://127.0.0.1:9/page/{n}")
}

pub fn error_code(reply: &Reply) -> &str {
    reply.body["error"]["code"].as_str().unwrap_or_default()
}

/// Runs the real worker (the worker crate) in this process, on this app's queues; it
/// stops when the returned sender is dropped or set.
pub fn start_worker(t: &TestApp) -> tokio::sync::watch::Sender<bool> {
    start_worker_with(t, |_| {})
}

/// [`start_worker`] with its configuration changed by `tweak` (engines, Chromium).
pub fn start_worker_with(
    t: &TestApp,
    tweak: impl FnOnce(&mut scraperx_worker::WorkerConfig),
) -> tokio::sync::watch::Sender<bool> {
    use scraperx_worker::{Services, Worker, WorkerConfig};
    let mut config = WorkerConfig {
        allow_private_targets: true,
        queue_namespace: t.state.config.queue_namespace.clone(),
        idle_poll: std::time::Duration::from_millis(20),
        cancel_poll: std::time::Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    tweak(&mut config);
    let worker = Worker::new(
        config,
        Services {
            db: t.db.clone(),
            redis: t.state.redis.clone(),
            content: ContentStore::new(&S3Config::from_env_for_role("WORKER").expect("s3 worker")),
        },
    )
    .expect("worker");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { worker.run(rx).await });
    tx
}

/// Serves `router` on a loopback port; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

/// Asserts that `POST /v1/jobs` answers each body with 422 `validation_failed` naming its field.
pub async fn refuses_naming_fields(t: &TestApp, key: &str, cases: &[(Value, &str)]) {
    for (body, field) in cases {
        let r = t.post(key, "/v1/jobs", body.clone()).await;
        assert_eq!(
            r.status,
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(error_code(&r), "validation_failed");
        assert_eq!(
            r.body["error"]["details"]["field"], *field,
            "{body}: {:?}",
            r.body
        );
    }
}

//! `/healthz` (the process answers) and `/readyz` (Postgres, Redis and MinIO answer).

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use scraperx_core::content::Bucket;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn within(check: impl Future<Output = bool>) -> bool {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or(false)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness: the process is serving.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub postgres: bool,
    pub redis: bool,
    pub minio: bool,
}

/// Readiness: every dependency answers within 2 s.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let pg = async { state.db.ping().await.is_ok() };
    let redis = async {
        redis::cmd("PING")
            .query_async::<String>(&mut state.redis.clone())
            .await
            .is_ok()
    };
    let minio = async {
        state
            .content
            .client()
            .head_bucket()
            .bucket(Bucket::Content.name())
            .send()
            .await
            .is_ok()
    };
    let (postgres, redis, minio) = tokio::join!(within(pg), within(redis), within(minio));
    let ready = postgres && redis && minio;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "unavailable" },
            postgres,
            redis,
            minio,
        }),
    )
}

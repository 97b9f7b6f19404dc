//! `/healthz` (the process answers) and `/readyz` (Postgres, Redis and MinIO answer).
//! Invariant: anonymous callers cannot make the API load its dependencies: the dependencies
//! are asked at most once per [`READINESS_TTL`], one caller at a time, and everyone else in
//! that time gets the same answer.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use axum::{Json, extract::State, http::StatusCode};
use scraperx_core::content::Bucket;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one readiness answer is served before the dependencies are asked again.
pub const READINESS_TTL: Duration = Duration::from_secs(1);

/// The last readiness answer, and how many times the dependencies were asked.
#[derive(Default)]
pub struct ReadinessCache {
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
    checks: AtomicU64,
}

impl ReadinessCache {
    /// Times the dependencies were actually asked.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}

/// Whether an answer given at `at` may still be served at `now`.
fn fresh(at: Instant, now: Instant) -> bool {
    now.saturating_duration_since(at) < READINESS_TTL
}

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

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub postgres: bool,
    pub redis: bool,
    pub minio: bool,
}

/// Readiness: every dependency answers within 2 s (asked at most once a second).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    // Held while asking: a flood waits for the one check in flight instead of starting more.
    let mut last = state.readiness.last.lock().await;
    let readiness = match *last {
        Some((at, r)) if fresh(at, Instant::now()) => r,
        _ => {
            state.readiness.checks.fetch_add(1, Ordering::Relaxed);
            let r = check(&state).await;
            *last = Some((Instant::now(), r));
            r
        }
    };
    drop(last);
    let status = if readiness.status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

async fn check(state: &AppState) -> Readiness {
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
    Readiness {
        status: if ready { "ready" } else { "unavailable" },
        postgres,
        redis,
        minio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_for_its_ttl_and_then_asked_again() {
        let at = Instant::now();
        assert!(fresh(at, at));
        assert!(fresh(at, at + READINESS_TTL - Duration::from_millis(1)));
        assert!(!fresh(at, at + READINESS_TTL));
    }
}

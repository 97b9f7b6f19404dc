//! The operator's own HTTP endpoints: `/healthz`, `/readyz` (Postgres and Redis answer) and
//! Prometheus `/metrics`.

use std::sync::Arc;

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::context::Context;

pub fn router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(|State(ctx): State<Arc<Context>>| async move { ctx.metrics.render() }),
        )
        .with_state(ctx)
}

async fn ready(State(ctx): State<Arc<Context>>) -> (StatusCode, &'static str) {
    let pg = ctx.db.ping().await.is_ok();
    let redis = ctx
        .queues
        .for_engine(scraperx_core::domain::Engine::Http)
        .depth()
        .await
        .is_ok();
    if pg && redis {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    }
}

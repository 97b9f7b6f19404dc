//! One span per request, `request{method path org job batch}`: every log line written while
//! the request is served carries it, the organization once the key is authenticated
//! and the job or batch once one is accepted (both through [`record`]); the request's end
//! is logged with its status and duration.

use axum::{extract::Request, middleware::Next, response::Response};
use tracing::{Instrument, field::Empty};

pub async fn trace(req: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        org = Empty,
        job = Empty,
        batch = Empty,
    );
    let started = std::time::Instant::now();
    async move {
        let response = next.run(req).await;
        let status = response.status().as_u16();
        let ms = started.elapsed().as_secs_f64() * 1_000.0;
        if response.status().is_server_error() {
            tracing::warn!(status, ms, "served");
        } else {
            tracing::info!(status, ms, "served");
        }
        response
    }
    .instrument(span)
    .await
}

/// Records `value` as the current request span's `field` (`org`, `job` or `batch`).
pub fn record(field: &str, value: impl std::fmt::Display) {
    tracing::Span::current().record(field, tracing::field::display(value));
}

//! Prometheus metrics of the API, served at `/metrics` (text exposition format): requests by
//! route template and status, their latency, submitted jobs by engine, refusals by code and
//! cache hits. One registry per process state, no global recorder.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EngineLabel {
    pub engine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

pub struct ApiMetrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<RouteOnly, Histogram>,
    pub jobs_submitted: Family<EngineLabel, Counter>,
    pub refusals: Family<CodeLabel, Counter>,
    pub cache_hits: Counter,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("scraperx_api");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let jobs_submitted = Family::<EngineLabel, Counter>::default();
        let refusals = Family::<CodeLabel, Counter>::default();
        let cache_hits = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        registry.register(
            "jobs_submitted",
            "Jobs accepted, by starting engine",
            jobs_submitted.clone(),
        );
        registry.register(
            "refusals",
            "Requests refused, by error code",
            refusals.clone(),
        );
        registry.register(
            "scrape_cache_hits",
            "Scrapes answered from the response cache",
            cache_hits.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            jobs_submitted,
            refusals,
            cache_hits,
        }
    }
}

impl ApiMetrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Counts and times every request by its route template (never the raw path, whose ids
/// would explode the label space).
pub async fn track(State(metrics): State<Arc<ApiMetrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    if let Some(code) = response.extensions().get::<crate::error::ErrorCode>() {
        metrics
            .refusals
            .get_or_create(&CodeLabel {
                code: code.0.to_owned(),
            })
            .inc();
    }
    metrics
        .requests
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteOnly { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Whether `headers` carry the metrics token (always, when none is configured). The
/// comparison takes the same time wherever the first difference is.
fn metrics_allowed(expected: Option<&str>, headers: &axum::http::HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `GET /metrics`: rendered from this process's own counters, never from a database, and
/// behind `SCRX_METRICS_TOKEN` when one is set.
pub async fn serve(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if !metrics_allowed(state.config.metrics_token.as_deref(), &headers) {
        return crate::error::ApiError::Unauthorized("the metrics token is required")
            .into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).expect("value"),
        );
        h
    }

    #[test]
    fn metrics_need_the_token_only_when_one_is_configured() {
        assert!(metrics_allowed(None, &HeaderMap::new()));
        assert!(metrics_allowed(Some("s3cret"), &bearer("s3cret")));
        assert!(!metrics_allowed(Some("s3cret"), &bearer("s3cres")));
        assert!(!metrics_allowed(Some("s3cret"), &bearer("s3cret-longer")));
        assert!(!metrics_allowed(Some("s3cret"), &HeaderMap::new()));
    }
}

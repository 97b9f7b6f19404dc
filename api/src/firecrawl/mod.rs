//! Firecrawl's API (v2, and v1 where it does not clash with ScraperX's own `/v1`) on
//! ScraperX's jobs, batches, crawls, credits and keys, so Firecrawl's SDKs work unchanged.
//! Its requests are translated onto the same submit path, batches and crawls as the native
//! routes (no policy of its own); its answers are Firecrawl's shapes: `{success: true, ...}`,
//! and every refusal `{success: false, error, code}` (the native envelope reshaped in one
//! middleware, 422 answered as Firecrawl's 400). The routes are outside the OpenAPI document
//! (`docs/firecrawl.md` describes them and every option).

pub mod batch;
pub mod cache;
pub mod crawl;
pub mod document;
pub mod formats;
pub mod llm;
pub mod map;
pub mod options;
pub mod scrape;
pub mod status;

use axum::{
    Json, Router,
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{
    auth,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// The Firecrawl routes, authenticated with ScraperX's API keys (Bearer).
pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .route("/v2/scrape", post(scrape::scrape))
        .route("/v2/batch/scrape", post(batch::start))
        .route(
            "/v2/batch/scrape/{id}",
            get(batch::status).delete(batch::cancel),
        )
        .route("/v2/batch/scrape/{id}/errors", get(batch::errors))
        .route("/v2/crawl", post(crawl::start))
        .route("/v2/crawl/{id}", get(crawl::status).delete(crawl::cancel))
        .route("/v2/crawl/{id}/errors", get(crawl::errors))
        .route("/v2/map", post(map::map));
    // Firecrawl's v1 paths that ScraperX's own /v1 does not use.
    let v1 = Router::new()
        .route("/v1/batch/scrape", post(batch::start))
        .route(
            "/v1/batch/scrape/{id}",
            get(batch::status).delete(batch::cancel),
        )
        .route("/v1/crawl", post(crawl::start))
        .route("/v1/crawl/{id}", get(crawl::status).delete(crawl::cancel))
        .route("/v1/crawl/{id}/errors", get(crawl::errors));
    // Route layers: they apply to these routes only, never to the merged app's fallback
    // (an unknown path stays the API's 404 in its own envelope).
    v2.merge(v1)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .route_layer(middleware::from_fn(reshape_errors))
        .with_state(state)
}

/// The API version a request came in under: `/v1` or `/v2`.
pub fn version_of(uri: &axum::http::Uri) -> &'static str {
    if uri.path().starts_with("/v1/") {
        "/v1"
    } else {
        "/v2"
    }
}

/// Firecrawl's success envelope around `body`'s fields.
pub fn ok(status: StatusCode, mut body: Value) -> Response {
    if let Some(o) = body.as_object_mut() {
        o.insert("success".into(), json!(true));
    }
    (status, Json(body)).into_response()
}

/// A Firecrawl refusal made by a handler itself: `{success: false, error, code}`.
pub fn refusal(status: StatusCode, code: &str, error: &str) -> Response {
    let body = json!({"success": false, "error": error, "code": code});
    (status, Json(body)).into_response()
}

/// Parses a Firecrawl body; a field that does not fit is a 400 naming its path.
pub fn parse<T: DeserializeOwned>(body: Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        ApiError::BadRequest(if path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        })
    })
}

/// The base of the links this API returns: the configured public URL, else the request's
/// own, through `X-Forwarded-Proto`/`-Host` only when proxies are trusted.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.config.public_base_url {
        return base.clone();
    }
    base_from_headers(headers, state.config.trusted_proxy_hops)
}

/// The part of [`public_base`] that reads headers: pure.
pub fn base_from_headers(headers: &HeaderMap, trusted_hops: usize) -> String {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            // A proxy chain appends: the value set by the nearest trusted proxy is the last.
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| is_host_like(v))
            .map(str::to_owned)
    };
    let forwarded = |name| (trusted_hops > 0).then(|| read(name)).flatten();
    let host = forwarded("x-forwarded-host")
        .or_else(|| read(header::HOST.as_str()))
        .unwrap_or_else(|| "localhost".to_owned());
    let proto = forwarded("x-forwarded-proto")
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| "http".to_owned());
    format!("{proto}://{host}")
}

/// A host[:port] with nothing that could change the link's meaning.
fn is_host_like(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

const MAX_ERROR_BODY: usize = 64 * 1024;

/// Rewrites the native error envelope `{error: {code, message}}` into Firecrawl's
/// `{success: false, error, code}`; 422 becomes Firecrawl's 400.
async fn reshape_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status().as_u16() < 400 {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let Some(envelope) = parsed.get("error").filter(|e| e.is_object()) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let body = json!({
        "success": false,
        "error": envelope["message"],
        "code": envelope["code"],
        "details": envelope["details"],
    });
    if parts.status == StatusCode::UNPROCESSABLE_ENTITY {
        parts.status = StatusCode::BAD_REQUEST;
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn links_use_the_host_header_when_no_proxy_is_trusted() {
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "evil.test"),
        ]);
        assert_eq!(base_from_headers(&h, 0), "http://127.0.0.1:8080");
    }

    #[test]
    fn links_carry_the_public_host_behind_a_trusted_proxy() {
        let h = headers(&[
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(base_from_headers(&h, 1), "https://api.example.com");
    }

    #[test]
    fn a_forwarded_host_that_is_not_a_host_is_ignored() {
        let h = headers(&[("host", "a.test"), ("x-forwarded-host", "x.test/evil?")]);
        assert_eq!(base_from_headers(&h, 1), "http://a.test");
    }
}

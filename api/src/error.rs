//! The API's one error type. Each variant has a stable `code` and an HTTP status; the body is
//! always `{"error": {"code", "message", "details"}}`. Internal failures are logged with
//! their cause and answered with a generic message: no SQL, no stack traces. Refusals a
//! client should retry (429, and 503 while Postgres or Redis is unreachable) carry
//! `Retry-After`.

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this API key lacks the scope {0}")]
    MissingScope(&'static str),
    #[error("requests from this address are not allowed for this API key")]
    IpNotAllowed,
    #[error("this API key may not scrape {0}")]
    DomainNotAllowed(String),
    #[error("rate limit exceeded")]
    RateLimited { retry_after: Duration },
    #[error("too many failed authentications from this address; retry later")]
    AuthThrottled { retry_after: Duration },
    #[error("insufficient credits")]
    InsufficientCredits { required: i64 },
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// A refusal made below the handlers (an unknown route, a wrong method, a path that
    /// does not parse), put into the envelope by [`envelope`].
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("a dependency is unavailable")]
    Unavailable,
    #[error("at most {limit} {what} per organization")]
    LimitReached { what: &'static str, limit: i64 },
    #[error(
        "this deployment has no secrets key (SCRX_SECRETS_KEY); webhook secrets cannot be sealed"
    )]
    SecretsUnavailable,
    #[error("internal error")]
    Internal,
}

/// The error envelope, for the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::MissingScope(_) | Self::IpNotAllowed | Self::DomainNotAllowed(_) => {
                StatusCode::FORBIDDEN
            }
            Self::RateLimited { .. } | Self::AuthThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InsufficientCredits { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Rejected { status, .. } => *status,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::LimitReached { .. } => StatusCode::CONFLICT,
            Self::Unavailable | Self::SecretsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::MissingScope(_) => "insufficient_scope",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::DomainNotAllowed(_) => "domain_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::AuthThrottled { .. } => "auth_failures_exceeded",
            Self::InsufficientCredits { .. } => "insufficient_credits",
            Self::Validation { .. } => "validation_failed",
            Self::BadRequest(_) => "bad_request",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Rejected { status, .. } => rejected_code(*status),
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unavailable => "service_unavailable",
            Self::LimitReached { .. } => "limit_reached",
            Self::SecretsUnavailable => "secrets_unavailable",
            Self::Internal => "internal_error",
        }
    }

    /// How long the client should wait before retrying, for refusals that pass.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::AuthThrottled { retry_after } => {
                Some(*retry_after)
            }
            Self::Unavailable => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }

    fn details(&self) -> Value {
        match self {
            Self::Validation { field, .. } => json!({ "field": field }),
            Self::MissingScope(scope) => json!({ "required_scope": scope }),
            Self::RateLimited { retry_after } | Self::AuthThrottled { retry_after } => {
                json!({ "retry_after_seconds": retry_after_secs(*retry_after) })
            }
            Self::Unavailable => {
                json!({ "retry_after_seconds": retry_after_secs(UNAVAILABLE_RETRY_AFTER) })
            }
            Self::InsufficientCredits { required } => json!({ "required": required }),
            Self::LimitReached { what, limit } => json!({ "what": what, "limit": limit }),
            Self::PayloadTooLarge { limit } => json!({ "limit_bytes": limit }),
            _ => json!({}),
        }
    }
}

/// How long a client should wait after a 503: the Redis and Postgres clients reconnect
/// within this.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(2);

/// The code of an error response, left in its extensions.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// Whole seconds to wait, rounded up (never 0 for a refusal).
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                details: self.details(),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        // For the metrics middleware, which counts refusals by code.
        response.extensions_mut().insert(ErrorCode(self.code()));
        if let Some(wait) = self.retry_after()
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs(wait).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<scraperx_core::Error> for ApiError {
    fn from(err: scraperx_core::Error) -> Self {
        use scraperx_core::Error as E;
        match err {
            E::NotFound { entity } => Self::NotFound(entity),
            E::Validation { field, message } => Self::Validation { field, message },
            E::BatchSize { count, max } => Self::validation("urls", E::batch_rule(count, max)),
            E::InsufficientCredits { required } => Self::InsufficientCredits { required },
            E::LimitReached { what, limit } => Self::LimitReached { what, limit },
            E::SecretsUnavailable(_) => Self::SecretsUnavailable,
            E::InvalidTransition { from, to } => {
                Self::Conflict(format!("the job is {from} and cannot become {to}"))
            }
            E::Conflict { constraint } => {
                tracing::info!(%constraint, "conflict");
                Self::Conflict("the request conflicts with an existing resource".into())
            }
            err if err.is_retryable() => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "dependency unavailable");
                Self::Unavailable
            }
            err => {
                tracing::error!(error = %err, source = ?std::error::Error::source(&err), "internal error");
                Self::Internal
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The stable code of a refusal made below the handlers, by its status.
fn rejected_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "service_unavailable",
        500..=599 => "internal_error",
        _ => "bad_request",
    }
}

/// The most of a lower layer's refusal text kept as the envelope's message (axum's texts
/// are one line).
const REJECTION_TEXT_BYTES: usize = 1024;

/// Middleware: every error answered outside the envelope (the router's own 404 and 405, a
/// path segment that does not parse, anything a lower layer refuses in plain text) is put
/// into it, so no client ever parses two shapes. Answers in JSON already (the envelope,
/// the readiness report) pass untouched.
pub async fn envelope(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if status.as_u16() < 400 || is_json || response.extensions().get::<ErrorCode>().is_some() {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let message = if status.is_server_error() {
        // Whatever a lower layer said about its failure stays in the logs.
        tracing::error!(%status, "a lower layer failed outside the handlers");
        "internal error".to_owned()
    } else {
        let mut text = axum::body::to_bytes(response.into_body(), 64 * REJECTION_TEXT_BYTES)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        if text.len() > REJECTION_TEXT_BYTES {
            let cut = text.floor_char_boundary(REJECTION_TEXT_BYTES);
            text.truncate(cut);
        }
        match text.is_empty() {
            true => status.canonical_reason().unwrap_or("refused").to_owned(),
            false => text,
        }
    };
    let mut out = ApiError::Rejected { status, message }.into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal_of(err: scraperx_core::Error) -> Response {
        ApiError::from(err).into_response()
    }

    #[test]
    fn an_unreachable_redis_or_postgres_is_a_503_with_retry_after() {
        let redis_down = scraperx_core::Error::from(redis::RedisError::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let postgres_down = scraperx_core::Error::from(sqlx::Error::PoolTimedOut);
        for response in [refusal_of(redis_down), refusal_of(postgres_down)] {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers().get(header::RETRY_AFTER),
                Some(&HeaderValue::from_static("2"))
            );
            let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
            assert_eq!(code, Some("service_unavailable"));
        }
    }

    #[test]
    fn an_internal_error_says_nothing_about_retrying() {
        let response = ApiError::Internal.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}

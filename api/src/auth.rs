//! Authentication and the per-request limits, applied once as middleware in the order the
//! API promises: the key (401), its allowed IPs (403), then the rate limits of the key and
//! the organization (429 with `Retry-After`). Every authenticated response carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`. Scopes are checked
//! by each handler with [`Auth::require`] (403).

use std::net::IpAddr;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use scraperx_core::{
    domain::{ApiKeyId, KeyRestrictions, OrgId, Scopes, hash_api_key},
    hot::rate_limit::{Decision, Limit, Scope, Window},
    pg::ApiKeyAuth,
};

use crate::{
    client_ip::client_ip,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// The scopes a key can hold (core's).
pub use scraperx_core::domain::scopes;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth {
    pub key_id: ApiKeyId,
    pub org_id: OrgId,
    pub max_concurrent: u32,
    pub max_batch_size: u32,
    pub scopes: Scopes,
    /// The key's own restrictions, which every key it mints inherits.
    pub restrictions: KeyRestrictions,
}

impl Auth {
    fn from_key(key: ApiKeyAuth) -> Self {
        let positive = |v: i32| u32::try_from(v.max(1)).unwrap_or(1);
        Self {
            key_id: key.key_id,
            org_id: key.organization_id,
            max_concurrent: positive(
                key.max_concurrent_override
                    .unwrap_or(key.max_concurrent_jobs),
            ),
            max_batch_size: positive(key.max_batch_size),
            scopes: key.scopes.0,
            restrictions: KeyRestrictions {
                allowed_ips: key.allowed_ips,
                allowed_domains: key.allowed_domains,
                expires_at: key.expires_at,
                rate_limit: key.rate_limit_override,
                max_concurrent: key.max_concurrent_override,
            },
        }
    }

    /// 403 unless the key holds `scope` (or `*`).
    pub fn require(&self, scope: &'static str) -> ApiResult<()> {
        if self.scopes.grants(scope) {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scope))
        }
    }

    /// 403 unless the key may scrape `host` (its allowed_domains, subdomains included).
    pub fn check_domain(&self, host: &str) -> ApiResult<()> {
        let Some(allowed) = &self.restrictions.allowed_domains else {
            return Ok(());
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ok = allowed.iter().any(|d| {
            let d = d.trim_start_matches("*.").to_ascii_lowercase();
            host == d || host.ends_with(&format!(".{d}"))
        });
        if ok {
            Ok(())
        } else {
            Err(ApiError::DomainNotAllowed(host))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or(ApiError::Unauthorized("authentication required"))
    }
}

/// The presented key: `Authorization: Bearer sk_...` or `X-API-Key: sk_...`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn ip_allowed(allowed: &[String], ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip else { return false };
    allowed.iter().any(|entry| {
        entry
            .parse::<ipnet::IpNet>()
            .map(|net| net.contains(&ip))
            .or_else(|_| entry.parse::<IpAddr>().map(|a| a == ip))
            .unwrap_or(false)
    })
}

/// The windows a request counts against: the organization per second and per minute, and
/// the key per second when it has its own limit.
fn limits_for(key: &ApiKeyAuth) -> Vec<Limit> {
    let per_second = u32::try_from(key.rate_limit_per_second.max(1)).unwrap_or(1);
    let mut limits = vec![
        Limit {
            scope: Scope::Organization,
            window: Window::Second,
            max: per_second,
        },
        Limit {
            scope: Scope::Organization,
            window: Window::Minute,
            max: per_second.saturating_mul(60),
        },
    ];
    if let Some(own) = key.rate_limit_override {
        limits.push(Limit {
            scope: Scope::ApiKey(key.key_id),
            window: Window::Second,
            max: u32::try_from(own.max(0)).unwrap_or(0),
        });
    }
    limits
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> ApiResult<(Auth, Decision)> {
    let raw = presented_key(headers).ok_or(ApiError::Unauthorized(
        "missing API key (Authorization: Bearer sk_...)",
    ))?;
    if !raw.starts_with("sk_") || raw.len() > 128 {
        return Err(ApiError::Unauthorized("invalid API key"));
    }
    let key = state
        .db
        .lookup_api_key(&hash_api_key(raw))
        .await?
        .ok_or(ApiError::Unauthorized(
            "invalid, revoked or expired API key",
        ))?;
    if let Some(allowed) = key.allowed_ips.as_deref().filter(|a| !a.is_empty())
        && !ip_allowed(allowed, client)
    {
        return Err(ApiError::IpNotAllowed);
    }
    let decision = state
        .limiter
        .check(key.organization_id, &limits_for(&key))
        .await?;
    state.usage.record(key.key_id);
    Ok((Auth::from_key(key), decision))
}

/// How long `client` must wait after too many failed authentications. Redis being down
/// is left to the request's own rate limit check, which answers 503.
async fn throttled(state: &AppState, client: Option<IpAddr>) -> Option<std::time::Duration> {
    let ip = client?;
    state.auth_failures.blocked(ip).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "failed authentications not checked");
        None
    })
}

fn set_rate_headers(headers: &mut HeaderMap, d: &Decision) {
    let mut set = |name: &'static str, value: u64| {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            headers.insert(name, v);
        }
    };
    set("x-ratelimit-limit", u64::from(d.limit));
    set("x-ratelimit-remaining", u64::from(d.remaining));
    set(
        "x-ratelimit-reset",
        d.reset_after.as_millis().div_ceil(1000) as u64,
    );
}

/// The middleware in front of every `/v1` route except the OpenAPI document.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let client = client_ip(&req, state.config.trusted_proxy_hops);
    if let Some(wait) = throttled(&state, client).await {
        return ApiError::AuthThrottled { retry_after: wait }.into_response();
    }
    match authorize(&state, req.headers(), client).await {
        Err(err @ ApiError::Unauthorized(_)) => {
            if let Some(ip) = client
                && let Err(e) = state.auth_failures.record(ip).await
            {
                tracing::warn!(error = %e, "failed authentication not counted");
            }
            err.into_response()
        }
        Err(err) => err.into_response(),
        Ok((_, decision)) if !decision.allowed => {
            let mut response = ApiError::RateLimited {
                retry_after: decision.retry_after,
            }
            .into_response();
            set_rate_headers(response.headers_mut(), &decision);
            response
        }
        Ok((auth, decision)) => {
            crate::trace::record("org", auth.org_id);
            req.extensions_mut().insert(auth);
            let mut response = next.run(req).await;
            set_rate_headers(response.headers_mut(), &decision);
            response
        }
    }
}

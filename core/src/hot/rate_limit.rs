//! Rate limiting (seed 001 §4.4), per organization and per API key, per second, minute or
//! hour. [`RateLimiter::check`] is the exact sliding-window log: one atomic script checks
//! every window that applies to a request and records it in all of them or in none, so N
//! parallel callers against a limit of L get exactly L through. [`RateLimiter::fixed_window`]
//! is the cheaper counter, which can let up to twice the limit through across a boundary.

use std::time::Duration;

use super::RedisConn;

use super::{TtlConfig, keys, lua_script, millis};
use crate::{
    Error, Result,
    domain::{ApiKeyId, OrgId},
};

/// Window lengths, with their key names and the TTLs of §6.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Second,
    Minute,
    Hour,
}

impl Window {
    pub fn length(self) -> Duration {
        match self {
            Window::Second => Duration::from_secs(1),
            Window::Minute => Duration::from_secs(60),
            Window::Hour => Duration::from_secs(3_600),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Window::Second => "sec",
            Window::Minute => "min",
            Window::Hour => "hour",
        }
    }

    fn ttl(self, ttl: &TtlConfig) -> Duration {
        let configured = match self {
            Window::Second => ttl.rate_limit_per_second,
            Window::Minute => ttl.rate_limit_per_minute,
            Window::Hour => ttl.rate_limit_per_hour,
        };
        // Never shorter than the window, or counted entries would vanish early.
        configured.max(self.length())
    }
}

/// Whose quota a limit counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Organization,
    ApiKey(ApiKeyId),
}

impl Scope {
    fn key_part(self) -> String {
        match self {
            Scope::Organization => "org".to_owned(),
            Scope::ApiKey(id) => format!("key:{id}"),
        }
    }
}

/// At most `max` requests per `window` for `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub scope: Scope,
    pub window: Window,
    pub max: u32,
}

/// The outcome, with what the `X-RateLimit-*` and `Retry-After` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The limit of the window with the least room left.
    pub limit: u32,
    pub remaining: u32,
    /// Zero when allowed; otherwise when a retry can succeed.
    pub retry_after: Duration,
    /// When the reported window next frees a request.
    pub reset_after: Duration,
}

#[derive(Clone)]
pub struct RateLimiter {
    conn: RedisConn,
    ttl: TtlConfig,
}

impl RateLimiter {
    pub fn new(conn: RedisConn, ttl: TtlConfig) -> Self {
        Self { conn, ttl }
    }

    /// Checks and, when every limit has room, records one request of `org`. All of an
    /// organization's windows share one hash tag, so this is one script on one slot.
    pub async fn check(&self, org: OrgId, limits: &[Limit]) -> Result<Decision> {
        if limits.is_empty() {
            return Err(Error::validation(
                "limits",
                "at least one limit is required",
            ));
        }
        let script = lua_script!("sliding_window.lua");
        let mut inv = script.prepare_invoke();
        inv.key(keys::rate_seq(org));
        for l in limits {
            inv.key(keys::rate_window(org, &l.scope.key_part(), l.window.name()));
            inv.arg(l.max)
                .arg(millis(l.window.length()))
                .arg(millis(l.window.ttl(&self.ttl)));
        }
        let (allowed, limit, remaining, retry_ms, reset_ms): (i64, u32, i64, i64, i64) =
            inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(Decision {
            allowed: allowed == 1,
            limit,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after: ms(retry_ms),
            reset_after: ms(reset_ms),
        })
    }

    /// The fixed-window counter: one INCR, for limits where a burst at a window boundary
    /// does not matter.
    pub async fn fixed_window(&self, org: OrgId, limit: Limit) -> Result<Decision> {
        let key = keys::rate_fixed(org, &limit.scope.key_part(), limit.window.name());
        let (allowed, remaining, reset_ms): (i64, i64, i64) = lua_script!("fixed_window.lua")
            .key(key)
            .arg(limit.max)
            .arg(millis(limit.window.length()))
            .invoke_async(&mut self.conn.clone())
            .await?;
        let allowed = allowed == 1;
        Ok(Decision {
            allowed,
            limit: limit.max,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after: if allowed {
                Duration::ZERO
            } else {
                ms(reset_ms)
            },
            reset_after: ms(reset_ms),
        })
    }
}

fn ms(value: i64) -> Duration {
    Duration::from_millis(u64::try_from(value.max(0)).unwrap_or(0))
}

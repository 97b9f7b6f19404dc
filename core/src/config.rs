//! Typed configuration from the environment. Every variable's name and default stand side by
//! side here, and every problem is reported at once rather than one per start attempt.

use std::time::Duration;

use crate::{Error, Result};

pub const ENV_DATABASE_URL: &str = "DATABASE_URL";
pub const ENV_DATABASE_MAX_CONNECTIONS: &str = "SCRX_DATABASE_MAX_CONNECTIONS";
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 20;
pub const ENV_DATABASE_ACQUIRE_TIMEOUT_MS: &str = "SCRX_DATABASE_ACQUIRE_TIMEOUT_MS";
pub const DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS: u64 = 5_000;

pub const ENV_REDIS_URL: &str = "REDIS_URL";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Redis connection settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
}

impl RedisConfig {
    pub fn from_env() -> Self {
        Self {
            url: std::env::var(ENV_REDIS_URL).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned()),
        }
    }
}

/// PostgreSQL connection settings.
#[derive(Debug, Clone)]
pub struct PgConfig {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl PgConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut errors = Vec::new();
        let url = lookup(ENV_DATABASE_URL).unwrap_or_else(|| {
            errors.push(format!("{ENV_DATABASE_URL} is not set"));
            String::new()
        });
        let max_connections = parse(
            &lookup,
            ENV_DATABASE_MAX_CONNECTIONS,
            DEFAULT_DATABASE_MAX_CONNECTIONS,
            &mut errors,
        );
        let acquire_ms = parse(
            &lookup,
            ENV_DATABASE_ACQUIRE_TIMEOUT_MS,
            DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS,
            &mut errors,
        );
        if max_connections == 0 {
            errors.push(format!("{ENV_DATABASE_MAX_CONNECTIONS} must be at least 1"));
        }
        if !errors.is_empty() {
            return Err(Error::Config(errors.join("; ")));
        }
        Ok(Self {
            url,
            max_connections,
            acquire_timeout: Duration::from_millis(acquire_ms),
        })
    }
}

/// Parses `name` when set, falling back to `default`; a malformed value is recorded.
pub fn parse<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    errors: &mut Vec<String>,
) -> T {
    match lookup(name) {
        None => default,
        Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
            errors.push(format!("{name}={raw:?} is not valid"));
            default
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_only_the_url_is_set() {
        let cfg = PgConfig::from_lookup(|n| (n == ENV_DATABASE_URL).then(|| "postgres://x".into()))
            .expect("valid");
        assert_eq!(cfg.max_connections, DEFAULT_DATABASE_MAX_CONNECTIONS);
        assert_eq!(
            cfg.acquire_timeout,
            Duration::from_millis(DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS)
        );
    }

    #[test]
    fn every_problem_is_reported_together() {
        let err = PgConfig::from_lookup(|n| match n {
            ENV_DATABASE_MAX_CONNECTIONS => Some("many".into()),
            ENV_DATABASE_ACQUIRE_TIMEOUT_MS => Some("-1".into()),
            _ => None,
        })
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains(ENV_DATABASE_URL), "{text}");
        assert!(text.contains(ENV_DATABASE_MAX_CONNECTIONS), "{text}");
        assert!(text.contains(ENV_DATABASE_ACQUIRE_TIMEOUT_MS), "{text}");
    }
}

//! Every Redis expiry of seed 001 §6.3, in one typed config. Defaults are the seed's; each can
//! be overridden from the environment (`SCRX_TTL_<NAME>_SECS`), and every problem is reported
//! at once.

use std::time::Duration;

use crate::{Error, Result, config::parse};

/// Expiry of each family of Redis keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlConfig {
    /// A login session (`scrx:session:*`).
    pub session: Duration,
    /// Rate-limit windows live for their length plus this buffer, so a window's entries are
    /// never dropped while still counted (seed: 1 s window kept 2 s, 1 min kept 2 min).
    pub rate_limit_per_second: Duration,
    pub rate_limit_per_minute: Duration,
    pub rate_limit_per_hour: Duration,
    /// A concurrency slot whose worker stops refreshing it is freed after this (failsafe).
    pub concurrent: Duration,
    /// Response cache classes.
    pub cache_default: Duration,
    pub cache_static: Duration,
    pub cache_dynamic: Duration,
    /// A lock nobody extends is released after this.
    pub lock: Duration,
    /// Metric series by resolution.
    pub metrics_minute: Duration,
    pub metrics_hour: Duration,
    pub metrics_day: Duration,
    /// A worker whose heartbeat is older than this is gone.
    pub worker: Duration,
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Default for TtlConfig {
    fn default() -> Self {
        Self {
            session: secs(86_400),
            rate_limit_per_second: secs(2),
            rate_limit_per_minute: secs(120),
            rate_limit_per_hour: secs(3_660),
            concurrent: secs(3_600),
            cache_default: secs(3_600),
            cache_static: secs(86_400),
            cache_dynamic: secs(300),
            lock: secs(30),
            metrics_minute: secs(86_400),
            metrics_hour: secs(604_800),
            metrics_day: secs(2_592_000),
            worker: secs(60),
        }
    }
}

impl TtlConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Every `SCRX_TTL_<NAME>_SECS`, for a command line.
    pub fn settings() -> Vec<crate::cli::Setting> {
        let mut defaults = Self::default();
        defaults
            .fields_mut()
            .into_iter()
            .map(|(name, value)| {
                crate::cli::Setting::new(
                    format!("SCRX_TTL_{name}_SECS"),
                    format!(
                        "Redis expiry of {}, in seconds",
                        name.to_ascii_lowercase().replace('_', " ")
                    ),
                )
                .default_value(value.as_secs())
            })
            .collect()
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut cfg = Self::default();
        let mut errors = Vec::new();
        for (name, field) in cfg.fields_mut() {
            let var = format!("SCRX_TTL_{name}_SECS");
            let value: u64 = parse(&lookup, &var, field.as_secs(), &mut errors);
            if value == 0 {
                errors.push(format!("{var} must be at least 1"));
            }
            *field = secs(value);
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(Error::Config(errors.join("\n")))
        }
    }

    fn fields_mut(&mut self) -> [(&'static str, &mut Duration); 13] {
        [
            ("SESSION", &mut self.session),
            ("RATE_LIMIT_PER_SECOND", &mut self.rate_limit_per_second),
            ("RATE_LIMIT_PER_MINUTE", &mut self.rate_limit_per_minute),
            ("RATE_LIMIT_PER_HOUR", &mut self.rate_limit_per_hour),
            ("CONCURRENT", &mut self.concurrent),
            ("CACHE_DEFAULT", &mut self.cache_default),
            ("CACHE_STATIC", &mut self.cache_static),
            ("CACHE_DYNAMIC", &mut self.cache_dynamic),
            ("LOCK", &mut self.lock),
            ("METRICS_MINUTE", &mut self.metrics_minute),
            ("METRICS_HOUR", &mut self.metrics_hour),
            ("METRICS_DAY", &mut self.metrics_day),
            ("WORKER", &mut self.worker),
        ]
    }

    /// The largest cache TTL: how long a URL's index of cache entries must live.
    pub fn cache_max(&self) -> Duration {
        self.cache_default
            .max(self.cache_static)
            .max(self.cache_dynamic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let t = TtlConfig::default();
        assert_eq!(t.session, secs(86_400));
        assert_eq!(t.cache_dynamic, secs(300));
        assert_eq!(t.worker, secs(60));
        assert_eq!(t.cache_max(), secs(86_400));
    }

    #[test]
    fn overrides_and_errors_come_from_the_environment() {
        let t = TtlConfig::from_lookup(|n| (n == "SCRX_TTL_LOCK_SECS").then(|| "5".into()))
            .expect("valid");
        assert_eq!(t.lock, secs(5));
        let err = TtlConfig::from_lookup(|n| match n {
            "SCRX_TTL_LOCK_SECS" => Some("0".into()),
            "SCRX_TTL_WORKER_SECS" => Some("soon".into()),
            _ => None,
        })
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("SCRX_TTL_LOCK_SECS") && text.contains("SCRX_TTL_WORKER_SECS"));
    }
}

//! The API's settings from the environment; names and defaults side by side.

use std::{net::SocketAddr, time::Duration};

use scraperx_core::{
    Error, Result,
    cli::Setting,
    config::{parse, parse_flag},
};

pub const ENV_ADDR: &str = "SCRX_API_ADDR";
pub const DEFAULT_ADDR: &str = "0.0.0.0:8080";
pub const ENV_ALLOW_PRIVATE_TARGETS: &str = "SCRX_ALLOW_PRIVATE_TARGETS";
pub const ENV_PRESIGN_EXPIRY_SECS: &str = "SCRX_PRESIGN_EXPIRY_SECS";
pub const DEFAULT_PRESIGN_EXPIRY_SECS: u64 = 3_600;
pub const ENV_USAGE_FLUSH_MS: &str = "SCRX_KEY_USAGE_FLUSH_MS";
pub const DEFAULT_USAGE_FLUSH_MS: u64 = 5_000;
/// Kept for existing deployments: `true` means one trusted hop.
pub const ENV_TRUST_FORWARDED_FOR: &str = "SCRX_TRUST_X_FORWARDED_FOR";
pub const ENV_TRUSTED_PROXY_HOPS: &str = "SCRX_TRUSTED_PROXY_HOPS";
pub const DEFAULT_TRUSTED_PROXY_HOPS: usize = 0;
pub const ENV_METRICS_TOKEN: &str = "SCRX_METRICS_TOKEN";
pub const ENV_AUTH_FAILURES_PER_MINUTE: &str = "SCRX_AUTH_FAILURES_PER_MINUTE";
pub use scraperx_core::hot::auth_failures::DEFAULT_MAX_FAILURES_PER_MINUTE as DEFAULT_AUTH_FAILURES_PER_MINUTE;
pub const ENV_SCRAPE_WAIT_MARGIN_MS: &str = "SCRX_SCRAPE_WAIT_MARGIN_MS";
pub const DEFAULT_SCRAPE_WAIT_MARGIN_MS: u64 = 10_000;
pub use scraperx_core::config::ENV_QUEUE_NAMESPACE;
pub const ENV_PUBLIC_BASE_URL: &str = "SCRX_PUBLIC_BASE_URL";
pub const ENV_LLM_BASE_URL: &str = "SCRX_LLM_BASE_URL";
pub const ENV_LLM_MODEL: &str = "SCRX_LLM_MODEL";
pub const DEFAULT_LLM_MODEL: &str = "gpt-4o-mini";
pub const ENV_LLM_API_KEY: &str = "SCRX_LLM_API_KEY";
pub const DEFAULT_FIRECRAWL_PAGE_SIZE: u32 = 50;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub addr: SocketAddr,
    /// Let jobs target private, loopback and link-local addresses (tests, on-prem crawls).
    pub allow_private_targets: bool,
    /// Lifetime of presigned links to stored content.
    pub presign_expiry: Duration,
    /// How often API-key usage counters are written to Postgres.
    pub usage_flush: Duration,
    /// Proxies in front of the API whose `X-Forwarded-For` entries are believed, counted
    /// from the right; 0 ignores the header.
    pub trusted_proxy_hops: usize,
    /// Failed authentications a source address may make per minute before it gets 429.
    pub auth_failures_per_minute: u32,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// How long `POST /v1/scrape` waits past the job's own timeout before answering 202.
    pub scrape_wait_margin: Duration,
    /// Prefix of the queue names, for deployments (or tests) sharing one Redis; the workers
    /// must use the same.
    pub queue_namespace: String,
    /// Seals webhook signing secrets (`SCRX_SECRETS_KEY`, the workers' key); without it
    /// webhooks cannot be created or rotated (503 `secrets_unavailable`).
    pub secrets: Option<scraperx_core::secrets::SecretBox>,
    /// The API's public address (`https://api.example.com`), for the links it returns (the
    /// Firecrawl routes' `next`); without it they are built from the request's Host, or from
    /// `X-Forwarded-Host`/`-Proto` when `trusted_proxy_hops` is above 0.
    pub public_base_url: Option<String>,
    /// An OpenAI-compatible endpoint for Firecrawl's `json` format with a schema or prompt;
    /// off (None) by default.
    pub llm: Option<LlmConfig>,
    /// Documents per page of a Firecrawl batch or crawl status (the rest follow `next`).
    pub firecrawl_page_size: u32,
}

/// Where the language model is: `{base_url}/chat/completions`, the model, the bearer key.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            allow_private_targets: false,
            presign_expiry: Duration::from_secs(DEFAULT_PRESIGN_EXPIRY_SECS),
            usage_flush: Duration::from_millis(DEFAULT_USAGE_FLUSH_MS),
            trusted_proxy_hops: DEFAULT_TRUSTED_PROXY_HOPS,
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            metrics_token: None,
            scrape_wait_margin: Duration::from_millis(DEFAULT_SCRAPE_WAIT_MARGIN_MS),
            queue_namespace: String::new(),
            secrets: None,
            public_base_url: None,
            llm: None,
            firecrawl_page_size: DEFAULT_FIRECRAWL_PAGE_SIZE,
        }
    }
}

impl ApiConfig {
    /// Every setting [`Self::from_lookup`] reads, for the command line.
    pub fn settings() -> Vec<Setting> {
        vec![
            Setting::new(ENV_ADDR, "address the API listens on").default_value(DEFAULT_ADDR),
            Setting::new(
                ENV_ALLOW_PRIVATE_TARGETS,
                "let jobs target private, loopback and link-local addresses (true/false)",
            )
            .default_value(false),
            Setting::new(
                ENV_PRESIGN_EXPIRY_SECS,
                "lifetime of presigned content links, in seconds",
            )
            .default_value(DEFAULT_PRESIGN_EXPIRY_SECS),
            Setting::new(
                ENV_USAGE_FLUSH_MS,
                "how often API-key usage is written to PostgreSQL, in ms",
            )
            .default_value(DEFAULT_USAGE_FLUSH_MS),
            Setting::new(
                ENV_TRUSTED_PROXY_HOPS,
                "proxies in front of the API whose X-Forwarded-For entries are believed, counted from the right (0: ignore the header)",
            )
            .default_value(DEFAULT_TRUSTED_PROXY_HOPS),
            Setting::new(
                ENV_TRUST_FORWARDED_FOR,
                "deprecated: true is the same as one trusted proxy hop",
            )
            .default_value(false),
            Setting::new(
                ENV_AUTH_FAILURES_PER_MINUTE,
                "failed authentications a source address may make per minute before it gets 429",
            )
            .default_value(DEFAULT_AUTH_FAILURES_PER_MINUTE),
            Setting::new(
                ENV_METRICS_TOKEN,
                "when set, /metrics answers only Authorization: Bearer <this token>",
            )
            .secret(),
            Setting::new(
                ENV_SCRAPE_WAIT_MARGIN_MS,
                "how long POST /v1/scrape waits past the job's timeout before answering 202, in ms",
            )
            .default_value(DEFAULT_SCRAPE_WAIT_MARGIN_MS),
            Setting::new(
                ENV_QUEUE_NAMESPACE,
                "prefix of the Redis queue names (the workers and operator must use the same)",
            )
            .default_value(""),
            scraperx_core::secrets::SecretBox::setting(),
            Setting::new(
                ENV_PUBLIC_BASE_URL,
                "the API's public base URL, for the links it returns (default: from the request)",
            ),
            Setting::new(
                ENV_LLM_BASE_URL,
                "an OpenAI-compatible API (ending in /v1) for Firecrawl's json format with a schema or prompt (off when unset)",
            ),
            Setting::new(ENV_LLM_MODEL, "the model asked at SCRX_LLM_BASE_URL")
                .default_value(DEFAULT_LLM_MODEL),
            Setting::new(ENV_LLM_API_KEY, "the bearer key for SCRX_LLM_BASE_URL").secret(),
        ]
    }

    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut errors = Vec::new();
        let addr = parse(
            &lookup,
            ENV_ADDR,
            DEFAULT_ADDR.parse().unwrap_or(Self::default().addr),
            &mut errors,
        );
        let allow_private_targets =
            parse_flag(&lookup, ENV_ALLOW_PRIVATE_TARGETS, false, &mut errors);
        let presign = parse(
            &lookup,
            ENV_PRESIGN_EXPIRY_SECS,
            DEFAULT_PRESIGN_EXPIRY_SECS,
            &mut errors,
        );
        let flush = parse(
            &lookup,
            ENV_USAGE_FLUSH_MS,
            DEFAULT_USAGE_FLUSH_MS,
            &mut errors,
        );
        let trust_forwarded_for = parse_flag(&lookup, ENV_TRUST_FORWARDED_FOR, false, &mut errors);
        let hops = parse(
            &lookup,
            ENV_TRUSTED_PROXY_HOPS,
            DEFAULT_TRUSTED_PROXY_HOPS,
            &mut errors,
        );
        let auth_failures = parse(
            &lookup,
            ENV_AUTH_FAILURES_PER_MINUTE,
            DEFAULT_AUTH_FAILURES_PER_MINUTE,
            &mut errors,
        );
        let margin = parse(
            &lookup,
            ENV_SCRAPE_WAIT_MARGIN_MS,
            DEFAULT_SCRAPE_WAIT_MARGIN_MS,
            &mut errors,
        );
        let secrets = scraperx_core::secrets::SecretBox::from_lookup(&lookup).unwrap_or_else(|e| {
            errors.push(e.to_string());
            None
        });
        let public_base_url = base_url(&lookup, ENV_PUBLIC_BASE_URL, &mut errors);
        let llm = base_url(&lookup, ENV_LLM_BASE_URL, &mut errors).map(|base_url| LlmConfig {
            base_url,
            model: lookup(ENV_LLM_MODEL).unwrap_or_else(|| DEFAULT_LLM_MODEL.to_owned()),
            api_key: lookup(ENV_LLM_API_KEY).filter(|k| !k.trim().is_empty()),
        });
        if !errors.is_empty() {
            return Err(Error::Config(errors.join("\n")));
        }
        Ok(Self {
            addr,
            allow_private_targets,
            presign_expiry: Duration::from_secs(presign),
            usage_flush: Duration::from_millis(flush.max(100)),
            trusted_proxy_hops: if trust_forwarded_for {
                hops.max(1)
            } else {
                hops
            },
            auth_failures_per_minute: auth_failures.max(1),
            metrics_token: lookup(ENV_METRICS_TOKEN).filter(|t| !t.trim().is_empty()),
            scrape_wait_margin: Duration::from_millis(margin),
            queue_namespace: lookup(ENV_QUEUE_NAMESPACE).unwrap_or_default(),
            secrets,
            public_base_url,
            llm,
            firecrawl_page_size: DEFAULT_FIRECRAWL_PAGE_SIZE,
        })
    }
}

/// An http(s) URL setting without its trailing slash; a problem is added to `errors`.
fn base_url(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    let raw = lookup(name).filter(|v| !v.trim().is_empty())?;
    match url::Url::parse(raw.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Some(raw.trim().trim_end_matches('/').to_owned())
        }
        _ => {
            errors.push(format!("{name}: not an http(s) URL: {raw:?}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hops(vars: &[(&str, &str)]) -> usize {
        ApiConfig::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid")
        .trusted_proxy_hops
    }

    #[test]
    fn base_urls_lose_their_trailing_slash_and_a_bad_one_is_reported() {
        let c = ApiConfig::from_lookup(|n| {
            (n == ENV_PUBLIC_BASE_URL).then(|| "https://api.example.com/".to_owned())
        })
        .expect("valid");
        assert_eq!(
            c.public_base_url.as_deref(),
            Some("https://api.example.com")
        );
        assert!(c.llm.is_none(), "the language model is off by default");
        let bad = ApiConfig::from_lookup(|n| (n == ENV_LLM_BASE_URL).then(|| "ftp://x".into()));
        assert!(bad.is_err());
    }

    #[test]
    fn forwarded_for_is_ignored_by_default_and_the_old_flag_means_one_hop() {
        assert_eq!(hops(&[]), 0);
        assert_eq!(hops(&[(ENV_TRUST_FORWARDED_FOR, "true")]), 1);
        assert_eq!(hops(&[(ENV_TRUSTED_PROXY_HOPS, "2")]), 2);
        assert_eq!(
            hops(&[
                (ENV_TRUST_FORWARDED_FOR, "true"),
                (ENV_TRUSTED_PROXY_HOPS, "3")
            ]),
            3
        );
    }
}

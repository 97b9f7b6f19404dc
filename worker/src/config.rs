//! The worker's settings from the environment; names and defaults side by side.

use std::time::Duration;

use scraperx_core::{
    Error, Result,
    cli::Setting,
    config::{parse, parse_flag},
    domain::Engine,
};

pub use scraperx_core::config::{
    ENV_BROWSER_CONTEXTS, ENV_QUEUE_NAMESPACE, ENV_WORKER_ADDR as ENV_ADDR,
    ENV_WORKER_ENGINES as ENV_ENGINES, ENV_WORKER_GRACE_SECS as ENV_GRACE_SECS,
};
pub const ENV_CONCURRENCY: &str = "SCRX_WORKER_CONCURRENCY";
pub const DEFAULT_CONCURRENCY: usize = 8;
pub const ENV_WORKER_ID: &str = "SCRX_WORKER_ID";
pub const ENV_ALLOW_PRIVATE_TARGETS: &str = "SCRX_ALLOW_PRIVATE_TARGETS";
pub const ENV_MAX_RESPONSE_BYTES: &str = "SCRX_MAX_RESPONSE_BYTES";
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 20 * 1024 * 1024;
pub const ENV_INLINE_LIMIT: &str = "SCRX_INLINE_CONTENT_BYTES";
pub const DEFAULT_INLINE_LIMIT: usize = 1024 * 1024;
pub const ENV_CHROMIUM: &str = "SCRX_CHROMIUM";
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
pub const ENV_DOMAIN_CONCURRENCY: &str = "SCRX_DOMAIN_CONCURRENCY";
pub const ENV_LEASE_MS: &str = "SCRX_WORKER_LEASE_MS";
pub const DEFAULT_ADDR: &str = "0.0.0.0:8082";
pub const ENV_REGION: &str = "SCRX_REGION";
pub const ENV_OBEY_ROBOTS: &str = "SCRX_OBEY_ROBOTS";
pub const DEFAULT_GRACE_SECS: u64 = 30;
/// A PEM file of CA certificates the http engine trusts besides Mozilla's roots.
pub const ENV_EXTRA_CA_FILE: &str = "SCRX_EXTRA_CA_FILE";
pub use crate::captcha::{ENV_CAPTCHA_SOLVER_KEY, ENV_CAPTCHA_SOLVER_URL};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    /// The queues this worker takes jobs from.
    pub engines: Vec<Engine>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// A job's lease; extended while it runs, so it only lapses when the worker dies.
    pub lease: Duration,
    /// Let jobs reach private, loopback and link-local addresses (tests, on-prem crawls).
    pub allow_private_targets: bool,
    /// Bodies above this are cut off and the job fails as `response_too_large`.
    pub max_response_bytes: usize,
    /// Content up to this size is stored inline in Postgres; larger goes to MinIO.
    pub inline_limit: usize,
    pub queue_namespace: String,
    /// Pause when no job is waiting.
    pub idle_poll: Duration,
    /// How often a running job checks whether it was canceled.
    pub cancel_poll: Duration,
    /// On SIGTERM: how long in-flight jobs may take before they are handed back.
    pub grace: Duration,
    pub user_agent: String,
    /// Trusted by the http engine besides Mozilla's roots (`SCRX_EXTRA_CA_FILE`).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Chromium for the browser and stealth engines and for auto escalation; None: this
    /// worker runs plain HTTP only.
    pub chromium: Option<std::path::PathBuf>,
    /// Browser contexts (jobs) at once, and pages before the browser is replaced.
    pub browser_contexts: usize,
    pub pages_per_browser: usize,
    /// Requests in flight per target domain, across all workers.
    pub per_domain_concurrency: u32,
    /// Refuse paths that robots.txt disallows (its crawl-delay is always honoured).
    pub obey_robots: bool,
    /// Where `/healthz` and `/metrics` are served.
    pub addr: std::net::SocketAddr,
    /// Reported in heartbeats.
    pub region: String,
    pub heartbeat: Duration,
    /// Solves CAPTCHAs in the browser engines; None (the default): they are only detected.
    pub captcha_solver: Option<crate::captcha::SolverHandle>,
    /// Opens sealed proxy credentials (`SCRX_SECRETS_KEY`).
    pub secrets: Option<scraperx_core::secrets::SecretBox>,
    /// Also deliver webhooks (from the webhooks queue).
    pub deliver_webhooks: bool,
    /// Retry backoff: exponential from `retry_base`, capped at `retry_max`, full jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            engines: vec![Engine::Http],
            concurrency: DEFAULT_CONCURRENCY,
            lease: Duration::from_secs(30),
            allow_private_targets: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            inline_limit: DEFAULT_INLINE_LIMIT,
            queue_namespace: String::new(),
            idle_poll: Duration::from_millis(100),
            cancel_poll: Duration::from_millis(500),
            grace: Duration::from_secs(DEFAULT_GRACE_SECS),
            user_agent: concat!("ScraperX/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_roots: Vec::new(),
            chromium: None,
            browser_contexts: 4,
            pages_per_browser: 100,
            per_domain_concurrency: 8,
            obey_robots: false,
            addr: DEFAULT_ADDR
                .parse()
                .unwrap_or(std::net::SocketAddr::from(([0, 0, 0, 0], 8082))),
            region: "local".into(),
            heartbeat: Duration::from_secs(10),
            captcha_solver: None,
            secrets: None,
            deliver_webhooks: true,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }
}

impl WorkerConfig {
    /// Every setting [`Self::from_lookup`] reads, for the command line.
    pub fn settings() -> Vec<Setting> {
        let d = Self::default();
        vec![
            Setting::new(ENV_ENGINES, "the queues this worker takes jobs from: http, browser, stealth (comma-separated)")
                .default_value("http"),
            Setting::new(ENV_CONCURRENCY, "jobs run at once").default_value(d.concurrency),
            Setting::new(ENV_WORKER_ID, "this worker's id in heartbeats and leases (default: worker-<random>)"),
            Setting::new(ENV_ALLOW_PRIVATE_TARGETS, "let jobs reach private, loopback and link-local addresses (true/false)")
                .default_value(false),
            Setting::new(ENV_MAX_RESPONSE_BYTES, "bodies above this fail as response_too_large")
                .default_value(d.max_response_bytes),
            Setting::new(ENV_INLINE_LIMIT, "content up to this size is stored in PostgreSQL, larger in MinIO")
                .default_value(d.inline_limit),
            Setting::new(ENV_CHROMIUM, "Chromium for the browser and stealth engines (default: /usr/bin/chromium when present)"),
            Setting::new(ENV_BROWSER_CONTEXTS, "browser contexts (jobs) at once").default_value(d.browser_contexts),
            Setting::new(ENV_DOMAIN_CONCURRENCY, "requests in flight per target domain, across all workers")
                .default_value(d.per_domain_concurrency),
            Setting::new(ENV_LEASE_MS, "a job's lease, extended while it runs, in ms")
                .default_value(d.lease.as_millis()),
            Setting::new(ENV_GRACE_SECS, "on SIGTERM, how long in-flight jobs may take before they are handed back, in seconds")
                .default_value(DEFAULT_GRACE_SECS),
            Setting::new(ENV_ADDR, "where /healthz and /metrics are served").default_value(DEFAULT_ADDR),
            Setting::new(ENV_REGION, "region reported in heartbeats").default_value(&d.region),
            Setting::new(ENV_OBEY_ROBOTS, "refuse paths robots.txt disallows (true/false)").default_value(false),
            Setting::new(ENV_EXTRA_CA_FILE, "PEM file of CA certificates trusted besides Mozilla's roots"),
            Setting::new(ENV_QUEUE_NAMESPACE, "prefix of the Redis queue names (the API and operator must use the same)")
                .default_value(""),
            Setting::new(ENV_CAPTCHA_SOLVER_URL, "CAPTCHA solver endpoint (unset: CAPTCHAs are only detected)"),
            Setting::new(ENV_CAPTCHA_SOLVER_KEY, "bearer key for the CAPTCHA solver").secret(),
            scraperx_core::secrets::SecretBox::setting(),
        ]
    }

    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let d = Self::default();
        let mut errors = Vec::new();
        let engines = match lookup(ENV_ENGINES) {
            None => d.engines.clone(),
            Some(raw) => raw
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .filter_map(|s| match s.trim().parse::<Engine>() {
                    Ok(Engine::Auto) | Err(_) => {
                        errors.push(format!(
                            "{ENV_ENGINES}: {s:?} is not http, browser or stealth"
                        ));
                        None
                    }
                    Ok(e) => Some(e),
                })
                .collect(),
        };
        let concurrency = parse(&lookup, ENV_CONCURRENCY, d.concurrency, &mut errors);
        let allow_private_targets =
            parse_flag(&lookup, ENV_ALLOW_PRIVATE_TARGETS, false, &mut errors);
        let max_response_bytes = parse(
            &lookup,
            ENV_MAX_RESPONSE_BYTES,
            d.max_response_bytes,
            &mut errors,
        );
        let inline_limit = parse(&lookup, ENV_INLINE_LIMIT, d.inline_limit, &mut errors);
        let grace = parse(&lookup, ENV_GRACE_SECS, DEFAULT_GRACE_SECS, &mut errors);
        let browser_contexts = parse(
            &lookup,
            ENV_BROWSER_CONTEXTS,
            d.browser_contexts,
            &mut errors,
        );
        let per_domain_concurrency = parse(
            &lookup,
            ENV_DOMAIN_CONCURRENCY,
            d.per_domain_concurrency,
            &mut errors,
        );
        let obey_robots = parse_flag(&lookup, ENV_OBEY_ROBOTS, d.obey_robots, &mut errors);
        let lease_ms = parse(
            &lookup,
            ENV_LEASE_MS,
            d.lease.as_millis() as u64,
            &mut errors,
        );
        let addr = parse(&lookup, ENV_ADDR, d.addr, &mut errors);
        let secrets = scraperx_core::secrets::SecretBox::from_lookup(&lookup).unwrap_or_else(|e| {
            errors.push(e.to_string());
            None
        });
        let captcha_solver = crate::captcha::HttpSolver::from_lookup(&lookup)
            .unwrap_or_else(|e| {
                errors.push(match e {
                    crate::error::FetchError::Invalid(problem) => problem,
                    other => other.to_string(),
                });
                None
            })
            .map(|s| crate::captcha::SolverHandle(std::sync::Arc::new(s)));
        let chromium = lookup(ENV_CHROMIUM)
            .map(std::path::PathBuf::from)
            .or_else(|| {
                let default = std::path::PathBuf::from(DEFAULT_CHROMIUM);
                default.exists().then_some(default)
            });
        let extra_roots = match lookup(ENV_EXTRA_CA_FILE) {
            None => Vec::new(),
            Some(path) => crate::fetch::tls::read_roots(std::path::Path::new(&path))
                .unwrap_or_else(|e| {
                    errors.push(format!("{ENV_EXTRA_CA_FILE}: {e}"));
                    Vec::new()
                }),
        };
        if concurrency == 0 {
            errors.push(format!("{ENV_CONCURRENCY} must be at least 1"));
        }
        if !errors.is_empty() {
            return Err(Error::Config(errors.join("\n")));
        }
        Ok(Self {
            worker_id: lookup(ENV_WORKER_ID).unwrap_or(d.worker_id),
            engines,
            concurrency,
            allow_private_targets,
            max_response_bytes,
            inline_limit,
            queue_namespace: lookup(ENV_QUEUE_NAMESPACE).unwrap_or_default(),
            grace: Duration::from_secs(grace),
            chromium,
            extra_roots,
            browser_contexts,
            per_domain_concurrency,
            obey_robots,
            secrets,
            captcha_solver,
            lease: Duration::from_millis(lease_ms.max(300)),
            addr,
            region: lookup(ENV_REGION).unwrap_or(d.region.clone()),
            ..d
        })
    }
}

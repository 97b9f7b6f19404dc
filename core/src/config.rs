//! Typed configuration from the environment. Every variable's name and default stand side by
//! side here, and every problem is reported at once rather than one per start attempt.

use std::time::Duration;

use crate::{Error, Result, cli::Setting};

pub const ENV_DATABASE_URL: &str = "DATABASE_URL";
/// A session-capable PostgreSQL URL, set when `DATABASE_URL` goes through a transaction
/// pooler (PgBouncer, `pool_mode = transaction`): migrations take their session lock there.
pub const ENV_DATABASE_DIRECT_URL: &str = "SCRX_DATABASE_DIRECT_URL";
/// The prefix of every Redis queue key: the API, the operator and the workers must agree.
pub const ENV_QUEUE_NAMESPACE: &str = "SCRX_QUEUE_NAMESPACE";
/// Worker settings the operator writes into a WorkerPool's Deployment (the worker reads them).
pub const ENV_WORKER_ENGINES: &str = "SCRX_WORKER_ENGINES";
pub const ENV_WORKER_GRACE_SECS: &str = "SCRX_WORKER_GRACE_SECS";
/// Where a worker serves `/healthz` and `/metrics` (the operator probes it there).
pub const ENV_WORKER_ADDR: &str = "SCRX_WORKER_ADDR";
pub const ENV_BROWSER_CONTEXTS: &str = "SCRX_BROWSER_CONTEXTS";
pub const ENV_DATABASE_MAX_CONNECTIONS: &str = "SCRX_DATABASE_MAX_CONNECTIONS";
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 20;
pub const ENV_DATABASE_ACQUIRE_TIMEOUT_MS: &str = "SCRX_DATABASE_ACQUIRE_TIMEOUT_MS";
pub const DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS: u64 = 5_000;

pub const ENV_REDIS_URL: &str = "REDIS_URL";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// True when `REDIS_URL` names a Redis Cluster (one or more of its nodes, comma-separated).
pub const ENV_REDIS_CLUSTER: &str = "SCRX_REDIS_CLUSTER";

pub const ENV_S3_ENDPOINT: &str = "S3_ENDPOINT";
pub const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:9000";
pub const ENV_S3_REGION: &str = "S3_REGION";
pub const DEFAULT_S3_REGION: &str = "us-east-1";
pub const ENV_S3_ACCESS_KEY: &str = "S3_ACCESS_KEY";
pub const ENV_S3_SECRET_KEY: &str = "S3_SECRET_KEY";
pub const ENV_S3_MULTIPART_THRESHOLD: &str = "SCRX_S3_MULTIPART_THRESHOLD_BYTES";
pub const DEFAULT_S3_MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
pub const ENV_S3_PART_SIZE: &str = "SCRX_S3_PART_SIZE_BYTES";
pub const DEFAULT_S3_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's smallest part size (every part but the last).
pub const MIN_S3_PART_SIZE: usize = 5 * 1024 * 1024;

/// Object storage (MinIO or any S3) settings. Each component runs with credentials of its
/// own: the API's may read, list, delete and presign; the workers' may only write and read.
#[derive(Clone)]
pub struct S3Config {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Bodies larger than this go up as a multipart upload.
    pub multipart_threshold: usize,
    pub part_size: usize,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings with the keys of one role (`S3_<ROLE>_ACCESS_KEY`: `API`, `WORKER`, or
    /// `ADMIN` for bucket set-up), falling back to `S3_ACCESS_KEY` when the role has none.
    pub fn from_env_for_role(role: &str) -> Result<Self> {
        Self::from_lookup_for_role(|name| std::env::var(name).ok(), role)
    }

    /// [`Self::from_env_for_role`] through `lookup`.
    pub fn from_lookup_for_role(
        lookup: impl Fn(&str) -> Option<String>,
        role: &str,
    ) -> Result<Self> {
        let [access, secret] = s3_role_keys(role);
        let key = |own: &str, name: &str| {
            let value = lookup(own).or_else(|| lookup(name));
            (value, format!("{own} (or {name})"))
        };
        Self::build(
            &lookup,
            key(&access, ENV_S3_ACCESS_KEY),
            key(&secret, ENV_S3_SECRET_KEY),
        )
    }

    /// Every setting a component with `role`'s keys reads, for its command line.
    pub fn settings(role: &str) -> Vec<Setting> {
        let [access, secret] = s3_role_keys(role);
        vec![
            Setting::new(ENV_S3_ENDPOINT, "S3 (MinIO) endpoint").default_value(DEFAULT_S3_ENDPOINT),
            Setting::new(ENV_S3_REGION, "S3 region").default_value(DEFAULT_S3_REGION),
            Setting::new(
                access,
                format!("S3 access key of the {role} role (falls back to {ENV_S3_ACCESS_KEY})"),
            ),
            Setting::new(
                secret,
                format!("S3 secret key of the {role} role (falls back to {ENV_S3_SECRET_KEY})"),
            )
            .secret(),
            Setting::new(
                ENV_S3_MULTIPART_THRESHOLD,
                "bodies larger than this are uploaded in parts",
            )
            .default_value(DEFAULT_S3_MULTIPART_THRESHOLD),
            Setting::new(ENV_S3_PART_SIZE, "multipart part size (at least 5 MiB)")
                .default_value(DEFAULT_S3_PART_SIZE),
        ]
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let key = |name: &str| (lookup(name), name.to_owned());
        Self::build(&lookup, key(ENV_S3_ACCESS_KEY), key(ENV_S3_SECRET_KEY))
    }

    /// The settings from `lookup`, with the keys already read (each with its name for errors).
    fn build(
        lookup: &impl Fn(&str) -> Option<String>,
        access_key: (Option<String>, String),
        secret_key: (Option<String>, String),
    ) -> Result<Self> {
        let mut errors = Vec::new();
        let mut required = |(value, name): (Option<String>, String)| {
            value.unwrap_or_else(|| {
                errors.push(format!("{name} is not set"));
                String::new()
            })
        };
        let access_key = required(access_key);
        let secret_key = required(secret_key);
        let multipart_threshold = parse(
            lookup,
            ENV_S3_MULTIPART_THRESHOLD,
            DEFAULT_S3_MULTIPART_THRESHOLD,
            &mut errors,
        );
        let part_size = parse(lookup, ENV_S3_PART_SIZE, DEFAULT_S3_PART_SIZE, &mut errors);
        if part_size < MIN_S3_PART_SIZE {
            errors.push(format!(
                "{ENV_S3_PART_SIZE} must be at least {MIN_S3_PART_SIZE}"
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Config(errors.join("\n")));
        }
        Ok(Self {
            endpoint: lookup(ENV_S3_ENDPOINT).unwrap_or_else(|| DEFAULT_S3_ENDPOINT.to_owned()),
            region: lookup(ENV_S3_REGION).unwrap_or_else(|| DEFAULT_S3_REGION.to_owned()),
            access_key,
            secret_key,
            multipart_threshold,
            part_size,
        })
    }
}

/// The names of one role's MinIO keys, `S3_<ROLE>_ACCESS_KEY` and `S3_<ROLE>_SECRET_KEY`
/// (role `API`, `WORKER` or `ADMIN`): what [`S3Config::from_env_for_role`] reads first, and
/// the keys of the connection Secret a component of that role is given.
pub fn s3_role_keys(role: &str) -> [String; 2] {
    [ENV_S3_ACCESS_KEY, ENV_S3_SECRET_KEY].map(|name| {
        let rest = name.strip_prefix("S3_").unwrap_or(name);
        format!("S3_{role}_{rest}")
    })
}

/// One Redis server, or a Redis Cluster (seed 001 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisTopology {
    #[default]
    Single,
    Cluster,
}

/// Redis connection settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// One server's URL; for a cluster, one or more of its nodes' URLs, comma-separated (the
    /// client finds the others).
    pub url: String,
    pub topology: RedisTopology,
}

impl RedisConfig {
    /// One server at `url`.
    pub fn single(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            topology: RedisTopology::Single,
        }
    }

    pub fn from_env() -> crate::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> crate::Result<Self> {
        let mut errors = Vec::new();
        let cluster = parse_flag(&lookup, ENV_REDIS_CLUSTER, false, &mut errors);
        if !errors.is_empty() {
            return Err(crate::Error::Config(errors.join("; ")));
        }
        Ok(Self {
            url: lookup(ENV_REDIS_URL).unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned()),
            topology: if cluster {
                RedisTopology::Cluster
            } else {
                RedisTopology::Single
            },
        })
    }

    /// The URLs in `url`: one for a single server, each listed node for a cluster.
    pub fn nodes(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    pub fn settings() -> Vec<Setting> {
        vec![
            Setting::new(
                ENV_REDIS_URL,
                "Redis URL; with SCRX_REDIS_CLUSTER, one or more cluster nodes, comma-separated",
            )
            .default_value(DEFAULT_REDIS_URL),
            Setting::new(
                ENV_REDIS_CLUSTER,
                "true when REDIS_URL names a Redis Cluster (3 masters and their replicas)",
            )
            .default_value(false),
        ]
    }
}

/// PostgreSQL connection settings.
#[derive(Debug, Clone)]
pub struct PgConfig {
    pub url: String,
    /// Set when `url` is a transaction pooler: the direct URL for what needs a session.
    pub direct_url: Option<String>,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl PgConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn settings() -> Vec<Setting> {
        vec![
            Setting::new(ENV_DATABASE_URL, "PostgreSQL URL (required)").secret(),
            Setting::new(
                ENV_DATABASE_DIRECT_URL,
                "direct PostgreSQL URL, set when DATABASE_URL is PgBouncer in transaction mode",
            )
            .secret(),
            Setting::new(ENV_DATABASE_MAX_CONNECTIONS, "PostgreSQL pool size")
                .default_value(DEFAULT_DATABASE_MAX_CONNECTIONS),
            Setting::new(
                ENV_DATABASE_ACQUIRE_TIMEOUT_MS,
                "how long a query waits for a pooled connection, in ms",
            )
            .default_value(DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS),
        ]
    }

    /// The URL of a connection that is a session: the direct URL behind a transaction
    /// pooler, else the one URL. Dumps, restores and migrations connect here.
    pub fn session_url(&self) -> &str {
        self.direct_url.as_deref().unwrap_or(&self.url)
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
            return Err(Error::Config(errors.join("\n")));
        }
        Ok(Self {
            url,
            direct_url: lookup(ENV_DATABASE_DIRECT_URL).filter(|u| !u.is_empty()),
            max_connections,
            acquire_timeout: Duration::from_millis(acquire_ms),
        })
    }
}

/// Parses `name` when set, falling back to `default`; a malformed value is recorded with
/// what was wrong with it.
pub fn parse<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    errors: &mut Vec<String>,
) -> T
where
    T::Err: std::fmt::Display,
{
    match lookup(name) {
        None => default,
        Some(raw) => raw.trim().parse().unwrap_or_else(|e: T::Err| {
            errors.push(format!("{name}={raw:?} is not valid: {e}"));
            default
        }),
    }
}

/// A yes-or-no setting: `true`/`false`, `1`/`0`, `yes`/`no` and `on`/`off`, in any case.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Reads a yes-or-no setting when set (see [`parse_bool`]); a malformed value is recorded.
pub fn parse_flag(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: bool,
    errors: &mut Vec<String>,
) -> bool {
    match lookup(name) {
        None => default,
        Some(raw) => parse_bool(&raw).unwrap_or_else(|| {
            errors.push(format!(
                "{name}={raw:?} is not valid: expected true/false, 1/0 or yes/no"
            ));
            default
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_is_one_server_unless_the_cluster_flag_is_set() {
        let single = RedisConfig::from_lookup(|_| None).expect("valid");
        assert_eq!(single.topology, RedisTopology::Single);
        assert_eq!(single.nodes(), [DEFAULT_REDIS_URL]);
        let cluster = RedisConfig::from_lookup(|n| match n {
            ENV_REDIS_URL => Some("redis://a:1, redis://b:2,".into()),
            ENV_REDIS_CLUSTER => Some("yes".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(cluster.topology, RedisTopology::Cluster);
        assert_eq!(cluster.nodes(), ["redis://a:1", "redis://b:2"]);
        let bad = RedisConfig::from_lookup(|n| (n == ENV_REDIS_CLUSTER).then(|| "maybe".into()));
        assert!(matches!(bad, Err(crate::Error::Config(m)) if m.contains(ENV_REDIS_CLUSTER)));
    }

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
    fn sessions_use_the_direct_url_when_the_database_url_is_a_pooler() {
        let pooled = PgConfig::from_lookup(|n| match n {
            ENV_DATABASE_URL => Some("postgres://pgbouncer:6432/x".into()),
            ENV_DATABASE_DIRECT_URL => Some("postgres://db:5432/x".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(pooled.session_url(), "postgres://db:5432/x");
        let direct = PgConfig::from_lookup(|n| match n {
            ENV_DATABASE_URL => Some("postgres://db:5432/x".into()),
            ENV_DATABASE_DIRECT_URL => Some(String::new()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(
            direct.direct_url, None,
            "an empty direct URL is no direct URL"
        );
        assert_eq!(direct.session_url(), "postgres://db:5432/x");
    }

    #[test]
    fn booleans_accept_true_false_one_zero_and_yes_no() {
        for (raw, want) in [
            ("true", true),
            ("1", true),
            ("YES", true),
            ("no", false),
            ("0", false),
            ("False", false),
        ] {
            let mut errors = Vec::new();
            let got = parse_flag(&|_: &str| Some(raw.to_owned()), "X", !want, &mut errors);
            assert_eq!((got, errors.len()), (want, 0), "{raw}");
        }
        let mut errors = Vec::new();
        parse_flag(&|_: &str| Some("maybe".to_owned()), "X", false, &mut errors);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn each_role_reads_its_own_keys_and_falls_back_to_the_shared_ones() {
        let env = |n: &str| match n {
            "S3_API_ACCESS_KEY" => Some("api".to_owned()),
            "S3_API_SECRET_KEY" => Some("api-secret".to_owned()),
            "S3_ACCESS_KEY" => Some("shared".to_owned()),
            "S3_SECRET_KEY" => Some("shared-secret".to_owned()),
            _ => None,
        };
        let api = S3Config::from_lookup_for_role(env, "API").expect("api");
        assert_eq!(
            (api.access_key.as_str(), api.secret_key.as_str()),
            ("api", "api-secret")
        );
        let worker = S3Config::from_lookup_for_role(env, "WORKER").expect("worker");
        assert_eq!(worker.access_key, "shared");
        let err = S3Config::from_lookup_for_role(|_| None, "WORKER").expect_err("no keys");
        assert!(err.to_string().contains(ENV_S3_ACCESS_KEY), "{err}");
    }

    #[test]
    fn a_roles_keys_are_named_after_it() {
        assert_eq!(
            s3_role_keys("WORKER"),
            ["S3_WORKER_ACCESS_KEY", "S3_WORKER_SECRET_KEY"]
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

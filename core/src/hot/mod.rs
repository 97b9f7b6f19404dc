//! The Redis hot tier of seed 001 §4 and §6.3, apart from the job queues ([`crate::queue`]):
//!
//! - [`sessions`]: login sessions with per-user and per-organization indexes (§4.3);
//! - [`rate_limit`]: the sliding-window limiter and the fixed-window counter (§4.4);
//! - [`slots`]: webhook delivery slots per organization, with stale-slot expiry (§4.5);
//! - [`cache`]: the response cache with TTL classes, compression and hit counts (§4.6);
//! - [`locks`]: owner-token locks (§4.8);
//! - [`metrics`]: unique URLs, request counters, latency percentiles, heartbeats (§4.9);
//! - [`pubsub`]: typed JSON messages on the §4.10 channels;
//! - [`conn`]: the shared connection, to one server or a cluster, whose first command after
//!   an outage succeeds; [`nodes`]: keyspace-wide commands on every master;
//! - [`orphans`]: gives an expiry to any key found without one (§6.3);
//! - [`ttl`]: every expiry in one typed config; [`keys`]: the keyspace.
//!
//! Every multi-key script touches keys of one hash tag, so it runs unchanged on a Redis
//! Cluster. Times inside scripts come from the server's clock (`TIME`), so API replicas with
//! skewed clocks still agree on windows and deadlines.

pub mod auth_failures;
pub mod cache;
pub mod conn;
pub mod keys;
pub mod locks;
pub mod metrics;
pub mod nodes;
pub mod orphans;
pub mod pubsub;
pub mod rate_limit;
pub mod sessions;
pub mod slots;
pub mod ttl;

use std::time::Duration;

use rand::RngCore;
use redis::aio::ConnectionManager;

pub use conn::RedisConn;
pub use ttl::TtlConfig;

use crate::{
    Error, Result,
    config::{RedisConfig, RedisTopology},
};

/// A Lua script from `lua/`, hashed once per process.
macro_rules! lua_script {
    ($file:literal) => {{
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        SCRIPT.get_or_init(|| redis::Script::new(include_str!(concat!("lua/", $file))))
    }};
}
pub(crate) use lua_script;

/// How long to wait for Redis to accept a connection or answer a command before the caller
/// gets [`Error::RedisUnavailable`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the Redis client for one server at `url` (no I/O yet).
pub fn client(url: &str) -> Result<redis::Client> {
    redis::Client::open(url).map_err(|e| Error::Config(format!("REDIS_URL: {e}")))
}

/// How many times the cluster client retries a command (a moved slot, a failed node), and
/// the waits between: about a second, after which the caller gets a retryable error (the
/// workers' loops and the API's 503 retry later), so a failover never holds a request long.
const CLUSTER_RETRIES: u32 = 3;
const CLUSTER_MIN_RETRY_WAIT_MS: u64 = 100;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 500;

/// The cluster client for `config`'s nodes (no I/O yet); with `push`, in RESP3 with pushed
/// messages (pub/sub) sent there.
pub(crate) fn cluster_client(
    config: &RedisConfig,
    push: Option<tokio::sync::mpsc::UnboundedSender<redis::PushInfo>>,
) -> Result<redis::cluster::ClusterClient> {
    let mut builder = redis::cluster::ClusterClientBuilder::new(config.nodes())
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(CLUSTER_MIN_RETRY_WAIT_MS)
        .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS);
    if let Some(push) = push {
        builder = builder
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(push);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("REDIS_URL (cluster): {e}")))
}

/// Connects to Redis with automatic reconnection (and one retry of a command that found the
/// connection broken, [`conn`]); to a cluster when `config` says so. The first connection is
/// bounded by [`CONNECT_TIMEOUT`], so an unreachable server is a prompt, typed error.
pub async fn connect(config: &RedisConfig) -> Result<RedisConn> {
    match config.topology {
        RedisTopology::Single => connect_single(&config.url).await,
        RedisTopology::Cluster => {
            let client = cluster_client(config, None)?;
            let connecting = client.get_async_connection();
            match tokio::time::timeout(CONNECT_TIMEOUT * 2, connecting).await {
                Ok(conn) => Ok(RedisConn::Cluster(conn?)),
                Err(_) => Err(connect_timed_out()),
            }
        }
    }
}

fn connect_timed_out() -> Error {
    Error::RedisUnavailable(redis::RedisError::from((
        redis::ErrorKind::IoError,
        "connect timed out",
    )))
}

async fn connect_single(url: &str) -> Result<RedisConn> {
    let client = client(url)?;
    // One connection attempt per reconnect, no backoff: its first retry would wait 1 to 2 s
    // (backon's minimum delay, which max_delay does not cap), and every command during an
    // outage would wait for it. A command retries once itself ([`conn`]), and the next
    // command reconnects again.
    let manager_config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT);
    let connecting = ConnectionManager::new_with_config(client, manager_config);
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, connecting).await {
        Ok(conn) => Ok(RedisConn::new(conn?)),
        Err(_) => Err(connect_timed_out()),
    }
}

/// Milliseconds, saturating, as scripts take them.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// 128 random bits, hex: lock and lease owner tokens.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

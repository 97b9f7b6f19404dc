//! The Redis keyspace, in one place. Keys follow `scrx:{entity}:{id}:{attribute}` (seed 001
//! §4.2). Keys that one Lua script touches together share a hash tag (`{org:<id>}`,
//! `{u:<url hash>}`), so each script runs on one slot of a Redis Cluster (§4.1).

use std::fmt::Display;

pub const PREFIX: &str = "scrx";

pub fn session(session_id: &str) -> String {
    format!("{PREFIX}:session:{session_id}")
}

/// The sessions of one user: a sorted set of session ids scored by expiry.
pub fn user_sessions(user_id: impl Display) -> String {
    format!("{PREFIX}:user:{user_id}:sessions")
}

/// The sessions of one organization: a sorted set of session ids scored by expiry.
pub fn org_sessions(org_id: impl Display) -> String {
    format!("{PREFIX}:org:{org_id}:sessions")
}

/// A sliding-window log: `scope` is `org` or `key:<api key id>`, `window` its length name.
/// Every window of an organization shares the tag `{org:<id>}`: one script checks them all.
pub fn rate_window(org_id: impl Display, scope: &str, window: &str) -> String {
    format!("{PREFIX}:ratelimit:{{org:{org_id}}}:{scope}:{window}")
}

/// Unique members for the organization's sliding-window entries.
pub fn rate_seq(org_id: impl Display) -> String {
    format!("{PREFIX}:ratelimit:{{org:{org_id}}}:seq")
}

/// A fixed-window counter.
pub fn rate_fixed(org_id: impl Display, scope: &str, window: &str) -> String {
    format!("{PREFIX}:ratelimit:{{org:{org_id}}}:fixed:{scope}:{window}")
}

/// An organization's webhook deliveries in flight: a sorted set of delivery ids scored by
/// slot deadline.
pub fn concurrent_deliveries(org_id: impl Display) -> String {
    format!("{PREFIX}:concurrent:deliveries:{org_id}")
}

/// One cached response: the URL's hash is the tag, so its index moves with it.
pub fn cache_entry(url_hash: &str, variant_hash: &str) -> String {
    format!("{PREFIX}:cache:{{u:{url_hash}}}:{variant_hash}")
}

/// Every cached variant of one URL, for invalidation by URL without a scan.
pub fn cache_index(url_hash: &str) -> String {
    format!("{PREFIX}:cache:{{u:{url_hash}}}:index")
}

pub fn lock(resource: &str, id: &str) -> String {
    format!("{PREFIX}:lock:{resource}:{id}")
}

/// Unique URLs scraped on a UTC day (`YYYYMMDD`), a HyperLogLog.
pub fn metrics_urls(day: &str) -> String {
    format!("{PREFIX}:metrics:urls:{day}")
}

/// Requests ending in `outcome` (`success` or `failed`) in one epoch minute.
pub fn metrics_requests(outcome: &str, minute: i64) -> String {
    format!("{PREFIX}:metrics:requests:{outcome}:{minute}")
}

/// Latencies in one epoch minute, a sorted set scored by milliseconds.
pub fn metrics_latency(minute: i64) -> String {
    format!("{PREFIX}:metrics:latency:{minute}")
}

pub fn worker(worker_id: &str) -> String {
    format!("{PREFIX}:workers:{worker_id}")
}

/// Live workers scored by last heartbeat, so listing them needs no scan.
pub fn worker_index() -> String {
    format!("{PREFIX}:workers:index")
}

/// Pub/sub channels (§4.10). Channels are not keys: they never expire.
pub mod channel {
    use std::fmt::Display;

    use super::PREFIX;

    pub fn job_status(org_id: impl Display) -> String {
        format!("{PREFIX}:jobs:{org_id}")
    }

    pub fn batch_progress(batch_id: impl Display) -> String {
        format!("{PREFIX}:batch:{batch_id}")
    }

    pub const WORKER_STATUS: &str = "scrx:workers:status";
    pub const SYSTEM_ALERTS: &str = "scrx:system:alerts";
}

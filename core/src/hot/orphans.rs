//! Orphan cleanup (seed 001 §6.3): every ScraperX key that should expire but has no TTL gets
//! the TTL of its family. The seed gave every orphan one hour, locks included (a stuck lock
//! then blocked its resource for an hour instead of 30 s), and looked at two patterns only.
//! Queue keys are deliberately left alone: a queue must never expire.
//!
//! `EXPIRE .. NX` sets a TTL only where none exists, so a key that gained one between the
//! scan and the fix keeps it. On a Redis Cluster every master is scanned in turn, each with
//! its own cursor, and its orphans are fixed on that master ([`super::nodes`]).

use std::time::Duration;

use super::RedisConn;

use super::{TtlConfig, keys::PREFIX, nodes::Node};
use crate::Result;

/// The TTL a key of this name should carry; None for keys that must persist (queues) and
/// for names ScraperX does not own.
pub fn ttl_for_key(key: &str, ttl: &TtlConfig) -> Option<Duration> {
    let rest = key.strip_prefix(PREFIX)?.strip_prefix(':')?;
    let family = rest.split(':').next()?;
    Some(match family {
        "session" | "user" | "org" => ttl.session,
        "ratelimit" => ttl.rate_limit_per_hour,
        "concurrent" => ttl.concurrent,
        "cache" => ttl.cache_max(),
        "lock" => ttl.lock,
        "metrics" if rest.starts_with("metrics:urls:") => ttl.metrics_day,
        "metrics" if rest.starts_with("metrics:requests:h:") => ttl.metrics_hour,
        "metrics" => ttl.metrics_minute,
        "workers" => ttl.worker,
        _ => return None,
    })
}

/// What a cleanup pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrphanReport {
    pub scanned: u64,
    pub repaired: u64,
}

/// Scans `scrx:*` in pages of `page` keys, on every master, and gives every orphan its
/// family's TTL.
pub async fn repair_orphans(conn: &RedisConn, ttl: &TtlConfig, page: u32) -> Result<OrphanReport> {
    let mut report = OrphanReport::default();
    for node in conn.masters().await? {
        let on_node = repair_on(conn, &node, ttl, page).await?;
        report.scanned += on_node.scanned;
        report.repaired += on_node.repaired;
    }
    Ok(report)
}

async fn repair_on(
    conn: &RedisConn,
    node: &Node,
    ttl: &TtlConfig,
    page: u32,
) -> Result<OrphanReport> {
    let mut report = OrphanReport::default();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = conn
            .query_on(
                node,
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{PREFIX}:*"))
                    .arg("COUNT")
                    .arg(page),
            )
            .await?;
        report.scanned += batch.len() as u64;
        let mut pipe = redis::pipe();
        let mut any = false;
        for key in &batch {
            if let Some(t) = ttl_for_key(key, ttl) {
                pipe.cmd("EXPIRE")
                    .arg(key)
                    .arg(t.as_secs().max(1))
                    .arg("NX");
                any = true;
            }
        }
        if any {
            let set: Vec<i64> = conn.pipe_on(node, &pipe).await?;
            report.repaired += set.iter().filter(|&&s| s == 1).count() as u64;
        }
        if next == 0 {
            return Ok(report);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_get_their_own_ttl_and_queues_none() {
        let t = TtlConfig::default();
        assert_eq!(ttl_for_key("scrx:lock:batch:1", &t), Some(t.lock));
        assert_eq!(ttl_for_key("scrx:concurrent:o", &t), Some(t.concurrent));
        assert_eq!(
            ttl_for_key("scrx:metrics:urls:20261124", &t),
            Some(t.metrics_day)
        );
        assert_eq!(
            ttl_for_key("scrx:metrics:latency:1", &t),
            Some(t.metrics_minute)
        );
        assert_eq!(ttl_for_key("scrx:{queue:http}:wait", &t), None);
        assert_eq!(ttl_for_key("other:lock:x", &t), None);
    }
}

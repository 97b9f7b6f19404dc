//! Failed authentication, counted per source address in a sliding window. Invariant: a
//! source with `max` failures inside the window is refused before its key is looked up,
//! until its oldest failure leaves the window; successful requests never count. IPv6
//! sources count per /64, the block one subscriber is given, so rotating addresses inside
//! it does not reset the count.

use std::{net::IpAddr, time::Duration};

use super::RedisConn;

use super::{TtlConfig, keys::PREFIX, lua_script, millis};
use crate::Result;

/// Failures a source may make per minute before it is refused.
pub const DEFAULT_MAX_FAILURES_PER_MINUTE: u32 = 20;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct AuthFailures {
    conn: RedisConn,
    ttl: TtlConfig,
    max: u32,
}

/// The counted source of `ip`: the address itself for IPv4, its /64 for IPv6.
pub fn source_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn window_key(source: &str) -> String {
    format!("{PREFIX}:ratelimit:{{src:{source}}}:authfail:min")
}

fn seq_key(source: &str) -> String {
    format!("{PREFIX}:ratelimit:{{src:{source}}}:seq")
}

impl AuthFailures {
    pub fn new(conn: RedisConn, ttl: TtlConfig, max_per_minute: u32) -> Self {
        Self {
            conn,
            ttl,
            max: max_per_minute,
        }
    }

    /// How long `ip` must wait when it has used up its failures; None when it may try.
    pub async fn blocked(&self, ip: IpAddr) -> Result<Option<Duration>> {
        let (allowed, retry_ms): (i64, i64) = lua_script!("window_peek.lua")
            .key(window_key(&source_of(ip)))
            .arg(self.max)
            .arg(millis(WINDOW))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((allowed == 0).then(|| retry_after(retry_ms)))
    }

    /// Counts one failure of `ip` (a source already refused is not counted again).
    pub async fn record(&self, ip: IpAddr) -> Result<()> {
        let source = source_of(ip);
        let ttl = self.ttl.rate_limit_per_minute.max(WINDOW);
        let _: (i64, u32, i64, i64, i64) = lua_script!("sliding_window.lua")
            .key(seq_key(&source))
            .key(window_key(&source))
            .arg(self.max)
            .arg(millis(WINDOW))
            .arg(millis(ttl))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

fn retry_after(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms.max(1)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_count_per_64_and_ipv4_per_address() {
        let of = |raw: &str| source_of(raw.parse().expect("ip"));
        assert_eq!(of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff::9"));
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        assert_ne!(of("192.0.2.1"), of("192.0.2.2"));
        assert_eq!(of("::ffff:192.0.2.1"), of("192.0.2.1"));
    }
}

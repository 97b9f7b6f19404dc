//! Which addresses a scrape may reach. Used by the API on submission and by the workers on
//! every connection and redirect hop, so DNS rebinding and redirect tricks meet the same
//! rule as the submitted URL.

mod address;

use std::net::{IpAddr, SocketAddr};

pub use address::is_public_ip;

/// Why a host may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    #[error("{host} does not resolve{reason}")]
    NoAddress { host: String, reason: String },
    /// `addr` is for logs only: a job's error must not tell its owner what an internal
    /// name resolves to, so the message names the host alone.
    #[error("{host} is not allowed: it resolves to a non-public address")]
    NotPublic { host: String, addr: IpAddr },
}

/// A host as URLs and `CONNECT` lines write it, without the brackets of an IPv6 literal
/// (`[::1]` → `::1`); any other host unchanged. The one place brackets are taken off.
pub fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The address of an IP-literal host (`url::Host`), None for a name.
pub fn literal_ip(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some((*ip).into()),
        url::Host::Ipv6(ip) => Some((*ip).into()),
        url::Host::Domain(_) => None,
    }
}

/// Resolves `host` (a name or an IP literal, IPv6 with or without brackets) and returns its
/// addresses, provided there is at least one and, unless `allow_private`, every one is public.
/// The one resolving check of the address rule: the API's submission check, the worker's
/// resolver, its proxied-hop check, and the browser relay all go through it.
pub async fn resolve_public(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Unreachable> {
    let bare = bare_host(host);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| Unreachable::NoAddress {
            host: bare.to_owned(),
            reason: format!(": {e}"),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Unreachable::NoAddress {
            host: bare.to_owned(),
            reason: String::new(),
        });
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
        return Err(Unreachable::NotPublic {
            host: bare.to_owned(),
            addr: bad.ip(),
        });
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_brackets_of_an_ipv6_literal_are_taken_off() {
        assert_eq!(bare_host("[::1]"), "::1");
        assert_eq!(bare_host("[2001:db8::1]"), "2001:db8::1");
        assert_eq!(bare_host("example.com"), "example.com");
        assert_eq!(bare_host("[unbalanced"), "[unbalanced");
        assert_eq!(bare_host("::1]"), "::1]");
    }

    #[tokio::test]
    async fn resolving_refuses_private_addresses_unless_allowed() {
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            assert!(
                matches!(
                    resolve_public(host, 80, false).await,
                    Err(Unreachable::NotPublic { .. })
                ),
                "{host}"
            );
            let allowed = resolve_public(host, 80, true).await.expect("allowed");
            assert!(
                allowed
                    .iter()
                    .all(|a| a.port() == 80 && a.ip().is_loopback())
            );
        }
        let Err(refused) = resolve_public("localhost", 80, false).await else {
            panic!("localhost is refused");
        };
        let message = refused.to_string();
        assert!(message.contains("localhost is not allowed"), "{message}");
        assert!(
            !message.contains("127.0.0.1") && !message.contains("::1"),
            "{message}"
        );
        assert!(matches!(
            resolve_public("no-such-host.invalid", 80, true).await,
            Err(Unreachable::NoAddress { .. })
        ));
    }
}

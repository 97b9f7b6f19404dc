//! Which addresses a scrape may reach. Used by the API on submission and by the workers on
//! every connection and redirect hop, so DNS rebinding and redirect tricks meet the same
//! rule as the submitted URL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a host may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    #[error("{host} does not resolve{reason}")]
    NoAddress { host: String, reason: String },
    #[error("{host} resolves to a non-public address {addr}")]
    NotPublic { host: String, addr: IpAddr },
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
    let bare = host.trim_start_matches('[').trim_end_matches(']');
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

/// True for addresses on the public internet: not loopback, private, link-local (cloud
/// metadata lives at 169.254.169.254), shared (CGNAT), unspecified, broadcast, multicast,
/// documentation or reserved ranges; IPv4-mapped and NAT64 IPv6 addresses are judged by
/// their IPv4 part.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 well-known prefix 64:ff9b::/96 embeds an IPv4 address.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6].iter().all(|&s| s == 0) {
        let [a, b] = seg[6].to_be_bytes();
        let [c, d] = seg[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local
        || (seg[0] & 0xffc0) == 0xfe80 // link-local
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for raw in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public_ip(raw.parse().expect("ip")), "{raw}");
        }
        for raw in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_ip(raw.parse().expect("ip")), "{raw}");
        }
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
        assert!(matches!(
            resolve_public("no-such-host.invalid", 80, true).await,
            Err(Unreachable::NoAddress { .. })
        ));
    }
}

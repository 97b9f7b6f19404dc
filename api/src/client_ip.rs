//! The client's address. Invariant: `X-Forwarded-For` is believed only as far as the
//! configured number of trusted proxy hops, counted from the right (each proxy appends the
//! peer it received from, so the entries a client writes are always to the left); with no
//! trusted hops, only the connection's peer counts.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, connect_info::MockConnectInfo},
    http::HeaderMap,
};

/// The address `hops` trusted proxies vouch for: the `hops`-th `X-Forwarded-For` entry from
/// the right across every such header, in order; the leftmost when there are fewer entries
/// (each was appended by one of our proxies). None when `hops` is 0, the header is absent,
/// or the vouched-for entry is not an address.
pub fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let at = entries.len().saturating_sub(hops);
    entries.get(at).and_then(|e| e.parse().ok())
}

/// The client of `req`: as [`forwarded_client`] says, else the connection's peer (or the
/// address MockConnectInfo stands in with, in tests).
pub fn client_ip(req: &Request, hops: usize) -> Option<IpAddr> {
    forwarded_client(req.headers(), hops).or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .or_else(|| {
                req.extensions()
                    .get::<MockConnectInfo<SocketAddr>>()
                    .map(|m| m.0.ip())
            })
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn ip(raw: &str) -> Option<IpAddr> {
        Some(raw.parse().expect("ip"))
    }

    #[test]
    fn without_trusted_hops_the_header_is_ignored() {
        assert_eq!(forwarded_client(&headers(&["203.0.113.9"]), 0), None);
    }

    #[test]
    fn the_entry_a_client_writes_on_the_left_is_never_taken() {
        let spoofed = headers(&["10.0.0.1, 198.51.100.7"]);
        assert_eq!(forwarded_client(&spoofed, 1), ip("198.51.100.7"));
        let two = headers(&["10.0.0.1, 198.51.100.7, 192.0.2.1"]);
        assert_eq!(forwarded_client(&two, 2), ip("198.51.100.7"));
    }

    #[test]
    fn entries_are_counted_across_repeated_headers() {
        let split = headers(&["10.0.0.1", "198.51.100.7, 192.0.2.1"]);
        assert_eq!(forwarded_client(&split, 2), ip("198.51.100.7"));
    }

    #[test]
    fn fewer_entries_than_hops_take_the_leftmost_and_garbage_nothing() {
        assert_eq!(
            forwarded_client(&headers(&["198.51.100.7"]), 3),
            ip("198.51.100.7")
        );
        assert_eq!(forwarded_client(&headers(&["10.0.0.1, nonsense"]), 1), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), 1), None);
    }
}

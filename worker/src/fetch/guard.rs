//! The address rule on the connection actually made: the resolver hands reqwest only
//! addresses it checked, so a name that resolves (or re-resolves, DNS rebinding) to a
//! private, loopback, link-local or metadata address is refused at connect time, on the
//! first request and on every redirect hop alike. IP literals never reach a resolver and
//! are checked by [`check_url`].

use std::{net::SocketAddr, sync::Arc, time::Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use scraperx_core::net::is_public_ip;
use url::{Host, Url};

use super::timing::{TIMINGS, elapsed_ms};
use crate::error::FetchError;

/// Refused by the address rule; found in reqwest's error chain to tell it apart.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to a non-public address {addr}")]
pub struct BlockedAddress {
    pub host: String,
    pub addr: std::net::IpAddr,
}

#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let timings = TIMINGS.try_with(Arc::clone).ok();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let started = Instant::now();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(t) = timings
                && let Ok(mut t) = t.lock()
            {
                t.dns_ms = Some(t.dns_ms.unwrap_or(0) + elapsed_ms(started));
            }
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
                return Err(Box::new(BlockedAddress {
                    host,
                    addr: bad.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Checks a URL before each hop: http(s) only, and an IP literal must be public.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Blocked(format!("scheme {}", url.scheme())));
    }
    if allow_private {
        return Ok(());
    }
    let literal = match url.host() {
        Some(Host::Ipv4(ip)) => Some(ip.into()),
        Some(Host::Ipv6(ip)) => Some(ip.into()),
        Some(Host::Domain(_)) => None,
        None => return Err(FetchError::Invalid("the URL has no host".into())),
    };
    match literal {
        Some(ip) if !is_public_ip(ip) => Err(FetchError::Blocked(format!("address {ip}"))),
        _ => Ok(()),
    }
}

/// Resolves `url`'s host and refuses it unless every address is public (for proxied
/// requests, whose connection goes to the proxy rather than the target).
pub async fn check_resolved(url: &Url) -> Result<(), FetchError> {
    let Some(host) = url.host_str() else {
        return Err(FetchError::Invalid("the URL has no host".into()));
    };
    if matches!(url.host(), Some(Host::Ipv4(_) | Host::Ipv6(_))) {
        return check_url(url, false);
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| FetchError::Network(format!("resolving {host}: {e}")))?
        .collect();
    match addrs.iter().find(|a| !is_public_ip(a.ip())) {
        Some(bad) => Err(FetchError::Blocked(format!(
            "{host} resolves to {}",
            bad.ip()
        ))),
        None if addrs.is_empty() => Err(FetchError::Network(format!("{host} does not resolve"))),
        None => Ok(()),
    }
}

/// Whether a reqwest error was caused by the address rule.
pub fn blocked_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(b) = e.downcast_ref::<BlockedAddress>() {
            return Some(b.to_string());
        }
        current = e.source();
    }
    None
}

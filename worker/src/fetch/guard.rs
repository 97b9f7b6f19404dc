//! The address rule on the connection actually made: the resolver hands reqwest only
//! addresses it checked, so a name that resolves (or re-resolves, DNS rebinding) to a
//! private, loopback, link-local or metadata address is refused at connect time, on the
//! first request and on every redirect hop alike. IP literals never reach a resolver and
//! are checked by [`check_url`].

use std::{sync::Arc, time::Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use scraperx_core::net::{Unreachable, is_public_ip, literal_ip, resolve_public};
use url::{Host, Url};

use super::timing::{TIMINGS, elapsed_ms};
use crate::error::FetchError;

/// Refused by the address rule; found in reqwest's error chain to tell it apart. Its
/// message names the host only: the address is logged, never shown in the job's error.
#[derive(Debug, thiserror::Error)]
#[error("{host} is not allowed: it resolves to a non-public address")]
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
            let started = Instant::now();
            let resolved = resolve_public(name.as_str(), 0, allow_private).await;
            if let Some(t) = timings
                && let Ok(mut t) = t.lock()
            {
                t.dns_ms = Some(t.dns_ms.unwrap_or(0) + elapsed_ms(started));
            }
            match resolved {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(Unreachable::NotPublic { host, addr }) => {
                    tracing::info!(%host, %addr, "refused by the address rule");
                    Err(Box::new(BlockedAddress { host, addr })
                        as Box<dyn std::error::Error + Send + Sync>)
                }
                Err(other) => Err(Box::new(other) as Box<dyn std::error::Error + Send + Sync>),
            }
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
    let host = url
        .host()
        .ok_or_else(|| FetchError::Invalid("the URL has no host".into()))?;
    match literal_ip(&host) {
        Some(ip) if !is_public_ip(ip) => Err(FetchError::Blocked(format!("address {ip}"))),
        _ => Ok(()),
    }
}

/// Resolves `url`'s host name and refuses it unless every address is public (for proxied
/// requests, whose connection goes to the proxy rather than the target). IP literals are
/// left to [`check_url`], which runs first on every hop.
pub async fn check_resolved(url: &Url) -> Result<(), FetchError> {
    let Some(Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(80);
    match resolve_public(host, port, false).await {
        Ok(_) => Ok(()),
        Err(e @ Unreachable::NotPublic { .. }) => {
            tracing::info!(error = ?e, "refused by the address rule");
            Err(FetchError::Blocked(e.to_string()))
        }
        Err(e) => Err(FetchError::Network(e.to_string())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_blocked_without_the_address() {
        let url = Url::parse("http://localhost:8080/").expect("url");
        let Err(FetchError::Blocked(message)) = check_resolved(&url).await else {
            panic!("localhost is blocked");
        };
        assert!(message.contains("localhost is not allowed"), "{message}");
        assert!(
            !message.contains("127.0.0.1") && !message.contains("::1"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn the_resolver_refusal_found_in_an_error_chain_names_the_host_only() {
        let resolver = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().expect("name");
        let Err(err) = resolver.resolve(name).await else {
            panic!("localhost is refused");
        };
        let message = blocked_in_chain(err.as_ref()).expect("found in the chain");
        assert!(message.contains("localhost is not allowed"), "{message}");
        assert!(
            !message.contains("127.0.0.1") && !message.contains("::1"),
            "{message}"
        );
    }
}

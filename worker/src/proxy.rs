//! Proxies for every engine (the browser reaches its provider through
//! [`crate::relay`]): a provider from `proxy_providers` by the job's tier and
//! country (healthy, active, by priority), its credentials opened from their sealed form only
//! here, the job's `proxy_session_id` carried in the username for sticky sessions, and each
//! use logged with its bandwidth. With no healthy provider, a datacenter job connects
//! directly (the worker's own address is a datacenter one); residential, mobile and ISP jobs
//! fail as `proxy_unavailable` (retried, then refunded), never served from the wrong network.

use scraperx_core::{
    domain::ProxyTier,
    pg::{Db, Job, ProxyProvider},
    secrets::{Binding, SecretBox},
};
use uuid::Uuid;

use crate::error::FetchError;

/// Where a job's requests go.
#[derive(Clone)]
pub struct ProxyRoute {
    pub provider: Uuid,
    /// The provider's name, recorded with the result.
    pub name: String,
    /// The endpoint's address, when it resolves.
    pub ip: Option<std::net::IpAddr>,
    /// `http://host:port` of the provider's endpoint for the tier.
    pub endpoint: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRoute")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The username a provider expects for this job: its template filled in, or the plain
/// username with `-country-<cc>` and `-session-<id>` appended.
pub fn username_for(
    base: &str,
    template: Option<&str>,
    country: Option<&str>,
    session: Option<&str>,
    sessions: bool,
) -> String {
    let session = session.filter(|_| sessions);
    match template {
        Some(t) => t
            .replace("{username}", base)
            .replace(
                "{country}",
                &country.unwrap_or_default().to_ascii_lowercase(),
            )
            .replace("{session}", session.unwrap_or_default()),
        None => {
            let mut name = base.to_owned();
            if let Some(c) = country {
                name.push_str(&format!("-country-{}", c.to_ascii_lowercase()));
            }
            if let Some(s) = session {
                name.push_str(&format!("-session-{s}"));
            }
            name
        }
    }
}

fn route_of(
    p: ProxyProvider,
    job: &Job,
    secrets: Option<&SecretBox>,
) -> Result<ProxyRoute, FetchError> {
    let (username, password) = match &p.auth_credentials_encrypted {
        None => (None, None),
        Some(sealed) => {
            let secrets = secrets.ok_or_else(|| {
                FetchError::Invalid(format!(
                    "provider {} has sealed credentials and no SCRX_SECRETS_KEY is set",
                    p.name
                ))
            })?;
            let opened = secrets
                .open(sealed, &Binding::proxy_provider(p.id))
                .map_err(|e| FetchError::Invalid(format!("provider {}: {e}", p.name)))?;
            let creds: serde_json::Value = serde_json::from_slice(&opened).map_err(|_| {
                FetchError::Invalid(format!("provider {}: credentials unreadable", p.name))
            })?;
            let field = |k: &str| creds.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            (field("username"), field("password"))
        }
    };
    let template = p
        .credentials
        .0
        .get("username_template")
        .and_then(|t| t.as_str());
    let username = username.map(|u| {
        username_for(
            &u,
            template,
            exit_country(job),
            job.proxy_session_id.as_deref(),
            p.supports_sessions,
        )
    });
    let endpoint = if p.endpoint.contains("://") {
        p.endpoint.clone()
    } else {
        format!("http://{}", p.endpoint)
    };
    Ok(ProxyRoute {
        provider: p.id,
        name: p.name,
        ip: None,
        endpoint,
        username,
        password,
    })
}

/// The route for `job`, or None to connect directly.
pub async fn route_for(
    db: &Db,
    secrets: Option<&SecretBox>,
    job: &Job,
) -> Result<Option<ProxyRoute>, FetchError> {
    let provider = db
        .pick_proxy(job.proxy_tier, exit_country(job))
        .await
        .map_err(|e| FetchError::Network(format!("proxy providers unavailable: {e}")))?;
    let Some(mut route) = provider.map(|p| route_of(p, job, secrets)).transpose()? else {
        // The worker's own egress is a datacenter address; the other tiers are what the
        // customer asked (and pays) for, so they are never quietly served without one.
        return match job.proxy_tier {
            ProxyTier::Datacenter => Ok(None),
            tier => Err(FetchError::ProxyUnavailable(format!(
                "no healthy {tier} provider{}",
                exit_country(job)
                    .map(|c| format!(" for {c}"))
                    .unwrap_or_default()
            ))),
        };
    };
    route.ip = endpoint_ip(&route.endpoint).await;
    Ok(Some(route))
}

/// The address a proxy endpoint resolves to (the first one).
async fn endpoint_ip(endpoint: &str) -> Option<std::net::IpAddr> {
    let url = url::Url::parse(endpoint).ok()?;
    let port = url.port_or_known_default()?;
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(host) => tokio::net::lookup_host((host, port))
            .await
            .ok()?
            .next()
            .map(|a| a.ip()),
    }
}

/// What the result records of the proxy a page came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUsed {
    pub provider: String,
    pub ip: Option<std::net::IpAddr>,
    /// The exit country asked for.
    pub country: Option<String>,
}

impl ProxyRoute {
    pub fn used(&self, job: &Job) -> ProxyUsed {
        ProxyUsed {
            provider: self.name.clone(),
            ip: self.ip,
            country: exit_country(job).map(str::to_owned),
        }
    }
}

/// The job's exit country: the one it asked for, else its location's (core's rule).
pub fn exit_country(job: &Job) -> Option<&str> {
    job.options.0.proxy_country(job.proxy_country.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_carry_country_and_sticky_session() {
        assert_eq!(
            username_for("u", None, Some("DE"), Some("s1"), true),
            "u-country-de-session-s1"
        );
        assert_eq!(
            username_for("u", None, None, Some("s1"), false),
            "u",
            "no sessions: no suffix"
        );
        assert_eq!(
            username_for(
                "u",
                Some("{username}_cc-{country}_sid-{session}"),
                Some("US"),
                Some("x"),
                true
            ),
            "u_cc-us_sid-x"
        );
    }
}

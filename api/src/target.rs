//! Where a job may point: the key's allowed domains, and (unless the deployment allows
//! private targets) a host that resolves only to public addresses. The workers check again
//! on every connection and redirect; this check refuses obvious cases at submission.

use std::{collections::BTreeMap, time::Duration};

use futures::{StreamExt, TryStreamExt};
use scraperx_core::net::{Unreachable, is_public_ip, literal_ip, resolve_public};
use url::{Host, Url};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult},
    state::AppState,
};

const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
const RESOLVING_AT_ONCE: usize = 16;

/// Checks every URL of a submission; `field` names each one's path in errors.
pub async fn check_targets(
    state: &AppState,
    auth: &Auth,
    urls: &[(String, &str)],
) -> ApiResult<()> {
    // One lookup per host and port, whatever the number of URLs on it; the first URL's
    // field names an error.
    let mut hosts: BTreeMap<(String, u16), String> = BTreeMap::new();
    for (field, raw) in urls {
        let url = Url::parse(raw)
            .map_err(|e| ApiError::validation(field.as_str(), format!("not a valid URL: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| ApiError::validation(field.as_str(), "the URL has no host"))?;
        auth.check_domain(scraperx_core::net::bare_host(host))?;
        if state.config.allow_private_targets {
            continue;
        }
        match url.host() {
            Some(Host::Domain(d)) => {
                let port = url.port_or_known_default().unwrap_or(80);
                hosts
                    .entry((d.to_owned(), port))
                    .or_insert_with(|| field.clone());
            }
            Some(literal) if literal_ip(&literal).is_some_and(|ip| !is_public_ip(ip)) => {
                return Err(private(field, host));
            }
            _ => {}
        }
    }
    futures::stream::iter(hosts)
        .map(|((host, port), field)| async move {
            let resolved =
                tokio::time::timeout(RESOLVE_TIMEOUT, resolve_public(&host, port, false)).await;
            match resolved {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(Unreachable::NotPublic { .. })) => Err(private(&field, &host)),
                _ => Err(ApiError::validation(
                    field,
                    format!("the host {host} does not resolve"),
                )),
            }
        })
        .buffer_unordered(RESOLVING_AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Names the host as written, never what it resolved to.
fn private(field: &str, host: &str) -> ApiError {
    ApiError::validation(
        field,
        format!(
            "the host {host} is not allowed: it points to a private, loopback, link-local \
             or reserved address"
        ),
    )
}

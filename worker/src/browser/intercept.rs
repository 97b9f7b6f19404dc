//! Every request of a page is paused and judged before it leaves: refused when its class is
//! blocked (images, fonts, media, stylesheets, ads), or, when addresses are checked here,
//! when its target is not a public address. Addresses are checked here only for pages
//! behind a proxy provider (which resolves names on its side); without one, the job's
//! direct relay checks the address of every connection it makes.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        fetch::{ContinueRequestParams, EnableParams, EventRequestPaused, FailRequestParams},
        network::{ErrorReason, ResourceType as CdpResource},
    },
};
use futures::StreamExt;
use scraperx_core::{
    domain::ResourceType,
    net::{is_public_ip, literal_ip, resolve_public},
};

use crate::error::FetchError;

/// Hosts of ad and tracking networks, refused when `ads` are blocked (suffix match).
const AD_HOSTS: [&str; 12] = [
    "doubleclick.net",
    "googlesyndication.com",
    "googleadservices.com",
    "google-analytics.com",
    "googletagmanager.com",
    "adnxs.com",
    "adsrvr.org",
    "amazon-adsystem.com",
    "criteo.com",
    "taboola.com",
    "outbrain.com",
    "scorecardresearch.com",
];

fn is_ad_host(host: &str) -> bool {
    AD_HOSTS.iter().any(|d| {
        host.strip_suffix(d)
            .is_some_and(|p| p.is_empty() || p.ends_with('.'))
    })
}

fn class_blocked(block: &[ResourceType], kind: &CdpResource) -> bool {
    block.iter().any(|b| {
        matches!(
            (b, kind),
            (ResourceType::Image, CdpResource::Image)
                | (ResourceType::Font, CdpResource::Font)
                | (ResourceType::Media, CdpResource::Media)
                | (ResourceType::Stylesheet, CdpResource::Stylesheet)
        )
    })
}

/// Whether `url` may be fetched under the address rule; answers are cached per host.
async fn target_allowed(url: &url::Url, cache: &mut HashMap<String, bool>) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if let Some(known) = cache.get(host) {
        return *known;
    }
    let allowed = match url.host().as_ref().and_then(literal_ip) {
        Some(ip) => is_public_ip(ip),
        None => {
            let port = url.port_or_known_default().unwrap_or(80);
            resolve_public(host, port, false).await.is_ok()
        }
    };
    cache.insert(host.to_owned(), allowed);
    allowed
}

/// Pauses every request of `page` and judges it; returns the count of refused requests.
pub async fn install(
    page: &Page,
    check_addresses: bool,
    block: &[ResourceType],
) -> Result<Arc<AtomicUsize>, FetchError> {
    let mut paused = page
        .event_listener::<EventRequestPaused>()
        .await
        .map_err(|e| FetchError::Browser(format!("interception: {e}")))?;
    page.execute(EnableParams::default())
        .await
        .map_err(|e| FetchError::Browser(format!("interception: {e}")))?;
    let refused = Arc::new(AtomicUsize::new(0));
    let (page, block, counter) = (page.clone(), block.to_vec(), refused.clone());
    let block_ads = block.contains(&ResourceType::Ads);
    tokio::spawn(async move {
        let mut cache = HashMap::new();
        while let Some(event) = paused.next().await {
            let url = url::Url::parse(&event.request.url).ok();
            let allowed = match &url {
                Some(u) if matches!(u.scheme(), "http" | "https" | "ws" | "wss") => {
                    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
                    let refused_class = class_blocked(&block, &event.resource_type)
                        || (block_ads && is_ad_host(&host));
                    !refused_class && (!check_addresses || target_allowed(u, &mut cache).await)
                }
                Some(u) => matches!(u.scheme(), "data" | "blob" | "about"),
                None => false,
            };
            let id = event.request_id.clone();
            if !allowed {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            // Answered concurrently: a page's requests do not wait on each other's round
            // trips (120 images answered one by one cost a quarter of a second). Errors
            // mean the page is gone, and then so is this stream.
            let page = page.clone();
            tokio::spawn(async move {
                let _ = if allowed {
                    page.execute(ContinueRequestParams::new(id))
                        .await
                        .map(|_| ())
                } else {
                    page.execute(FailRequestParams::new(id, ErrorReason::BlockedByClient))
                        .await
                        .map(|_| ())
                };
            });
        }
    });
    Ok(refused)
}

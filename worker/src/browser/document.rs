//! The main document's response (status and headers) as the Network domain reports it: what
//! the page's own scripts cannot see (response headers, the content coding it came in).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::network::{EventResponseReceived, ResourceType},
};
use futures::StreamExt;

use crate::error::FetchError;

type Seen = Arc<Mutex<Option<(u16, BTreeMap<String, String>)>>>;

/// Watches the page's main-frame document responses; the last one (after redirects) wins.
pub struct DocumentWatch {
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DocumentWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DocumentWatch {
    /// Starts watching; call before navigating.
    pub async fn start(page: &Page) -> Result<Self, FetchError> {
        let mut responses = page
            .event_listener::<EventResponseReceived>()
            .await
            .map_err(|e| FetchError::Browser(format!("response events: {e}")))?;
        let main_frame = page.mainframe().await.ok().flatten();
        let seen = Seen::default();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = responses.next().await {
                let main = main_frame.is_none() || event.frame_id == main_frame;
                if event.r#type != ResourceType::Document || !main {
                    continue;
                }
                // Lower-case names; repeated headers arrive joined by newlines.
                let headers = event
                    .response
                    .headers
                    .inner()
                    .as_object()
                    .map(|all| {
                        all.iter()
                            .map(|(k, v)| {
                                let value = v.as_str().unwrap_or_default().replace('\n', ", ");
                                (k.to_ascii_lowercase(), value)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let status = u16::try_from(event.response.status).unwrap_or(0);
                if let Ok(mut s) = record.lock() {
                    *s = Some((status, headers));
                }
            }
        });
        Ok(Self { seen, task })
    }

    /// The status (when a response was seen) and headers of the main document.
    pub fn response(&self) -> (Option<u16>, BTreeMap<String, String>) {
        match self.seen.lock().ok().and_then(|s| s.clone()) {
            Some((status, headers)) => (Some(status).filter(|s| *s > 0), headers),
            None => (None, BTreeMap::new()),
        }
    }
}

/// A cookie of the browser's jar as recorded in the result.
pub(super) fn cookie_of(
    c: chromiumoxide::cdp::browser_protocol::network::Cookie,
) -> crate::fetch::Cookie {
    crate::fetch::Cookie {
        name: c.name,
        value: c.value,
        domain: Some(c.domain.trim_start_matches('.').to_owned()),
        path: Some(c.path),
        // Session cookies carry -1.
        expires: (!c.session && c.expires > 0.0).then(|| format!("{}", c.expires as i64)),
        max_age: None,
        secure: c.secure,
        http_only: c.http_only,
        same_site: c.same_site.map(|s| s.as_ref().to_owned()),
    }
}

//! Network idle: the page's requests in flight, counted from the Network domain's events
//! (a request starts at `requestWillBeSent` and ends at `loadingFinished` or
//! `loadingFailed`; a redirect keeps its id). The page counts as idle once at most
//! `allowance` requests have been in flight for [`QUIET`], as Puppeteer's `networkidle0`
//! and `networkidle2`.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::network::{
        EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent,
    },
};
use futures::StreamExt;

use crate::error::FetchError;

/// How long the network must stay quiet.
pub const QUIET: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct InFlight {
    requests: HashSet<String>,
    /// Since when at most `allowance` requests have been in flight; None: more are.
    quiet_since: Option<Instant>,
}

/// Counts a page's requests in flight; stops when dropped.
pub struct NetworkWatch {
    state: Arc<Mutex<InFlight>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for NetworkWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Change {
    Started(String),
    Ended(String),
}

impl NetworkWatch {
    /// Starts counting against `allowance`; call before navigating so the document's own
    /// request is seen.
    pub async fn start(page: &Page, allowance: usize) -> Result<Self, FetchError> {
        let listen =
            |e: chromiumoxide::error::CdpError| FetchError::Browser(format!("network events: {e}"));
        let started = page
            .event_listener::<EventRequestWillBeSent>()
            .await
            .map_err(listen)?
            .map(|e| Change::Started(e.request_id.inner().clone()));
        let finished = page
            .event_listener::<EventLoadingFinished>()
            .await
            .map_err(listen)?
            .map(|e| Change::Ended(e.request_id.inner().clone()));
        let failed = page
            .event_listener::<EventLoadingFailed>()
            .await
            .map_err(listen)?
            .map(|e| Change::Ended(e.request_id.inner().clone()));
        let state = Arc::new(Mutex::new(InFlight {
            requests: HashSet::new(),
            quiet_since: Some(Instant::now()),
        }));
        let counted = state.clone();
        let mut changes =
            futures::stream::select(started, futures::stream::select(finished, failed));
        let task = tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                let Ok(mut s) = counted.lock() else { return };
                match change {
                    Change::Started(id) => s.requests.insert(id),
                    Change::Ended(id) => s.requests.remove(&id),
                };
                let quiet = s.requests.len() <= allowance;
                match (quiet, s.quiet_since) {
                    (true, None) => s.quiet_since = Some(Instant::now()),
                    (false, Some(_)) => s.quiet_since = None,
                    _ => {}
                }
            }
        });
        Ok(Self { state, task })
    }

    /// Waits until at most the allowance of requests has been in flight for [`QUIET`];
    /// the caller bounds the wait (the job's timeout).
    pub async fn idle(&self) {
        loop {
            let quiet_for = self
                .state
                .lock()
                .map_or(Some(QUIET), |s| s.quiet_since.map(|t| t.elapsed()));
            match quiet_for {
                Some(quiet) if quiet >= QUIET => return,
                Some(quiet) => tokio::time::sleep((QUIET - quiet).max(POLL)).await,
                None => tokio::time::sleep(POLL).await,
            }
        }
    }
}

//! What a hostile page does to its renderer, watched while the page is rendered: JavaScript
//! dialogs (`alert`, `confirm`, `prompt`, `beforeunload`) are dismissed as they open, so
//! none blocks the page; a page that keeps opening them past [`MAX_DIALOGS`] fails with
//! `too_many_dialogs`; a renderer that crashes (out of memory, killed) fails the job at once
//! with `page_crashed` (retried) instead of leaving it to time out. It also notes when the
//! page's document has arrived (its response, as the browser's network side saw it, or
//! its commit): a page past its time whose document never arrived was slow to come, one
//! whose document did and that no longer answers is stuck in its scripts.
//!
//! Invariant: the watch ends with its page (its event streams end) or when dropped; it
//! reports at most one failure, through [`PageWatch::failure`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        inspector::{EnableParams, EventTargetCrashed},
        network::{EventResponseReceived, ResourceType},
        page::{
            DialogType, EventFrameNavigated, EventJavascriptDialogOpening,
            HandleJavaScriptDialogParams,
        },
    },
};
use futures::StreamExt;
use tokio::sync::oneshot;

use crate::error::FetchError;

/// Dialogs dismissed for one page before it counts as hostile (a page shows one or two).
pub const MAX_DIALOGS: usize = 10;
/// A bound on dismissing one dialog.
const DISMISS: Duration = Duration::from_secs(5);

/// Watches one page; see the module's description.
pub struct PageWatch {
    /// Resolves with the page's failure, if it fails.
    pub failure: oneshot::Receiver<FetchError>,
    arrived: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PageWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PageWatch {
    /// Starts watching `page`; call before navigating.
    pub async fn start(page: &Page) -> Result<Self, FetchError> {
        let listen =
            |e: chromiumoxide::error::CdpError| FetchError::Browser(format!("page watch: {e}"));
        let mut dialogs = page
            .event_listener::<EventJavascriptDialogOpening>()
            .await
            .map_err(listen)?;
        let mut crashes = page
            .event_listener::<EventTargetCrashed>()
            .await
            .map_err(listen)?;
        let mut navigations = page
            .event_listener::<EventFrameNavigated>()
            .await
            .map_err(listen)?;
        let mut responses = page
            .event_listener::<EventResponseReceived>()
            .await
            .map_err(listen)?;
        let main_frame = page.mainframe().await.ok().flatten();
        let arrived = Arc::new(AtomicBool::new(false));
        let arrivals = arrived.clone();
        // The Inspector domain reports the renderer's crash.
        page.execute(EnableParams::default())
            .await
            .map_err(listen)?;
        let (tx, failure) = oneshot::channel();
        let page = page.clone();
        let task = tokio::spawn(async move {
            let mut opened = 0usize;
            let failed = loop {
                tokio::select! {
                    Some(dialog) = dialogs.next() => {
                        opened += 1;
                        if opened > MAX_DIALOGS {
                            break FetchError::TooManyDialogs(MAX_DIALOGS);
                        }
                        // Leaving is allowed; everything else is answered "no".
                        let accept = dialog.r#type == DialogType::Beforeunload;
                        let dismiss = page.execute(HandleJavaScriptDialogParams::new(accept));
                        let _ = tokio::time::timeout(DISMISS, dismiss).await;
                    }
                    Some(_) = crashes.next() => {
                        break FetchError::PageCrashed("the page's renderer crashed".into());
                    }
                    Some(navigated) = navigations.next() => {
                        let main = navigated.frame.parent_id.is_none();
                        if main && navigated.frame.url != "about:blank" {
                            arrivals.store(true, Ordering::Relaxed);
                        }
                    }
                    Some(response) = responses.next() => {
                        let main = main_frame.is_none() || response.frame_id == main_frame;
                        if main && response.r#type == ResourceType::Document {
                            arrivals.store(true, Ordering::Relaxed);
                        }
                    }
                    else => return,
                }
            };
            let _ = tx.send(failed);
        });
        Ok(Self {
            failure,
            arrived,
            task,
        })
    }

    /// Whether the page's own document has arrived (the blank page it opened on aside).
    pub fn arrived(&self) -> bool {
        self.arrived.load(Ordering::Relaxed)
    }
}

/// Why a page ran past its time: its document arrived and its renderer no longer answers
/// (a script that never yields), or it was only slow.
pub(super) async fn past_time(
    page: &chromiumoxide::Page,
    arrived: bool,
    timeout: std::time::Duration,
) -> crate::error::FetchError {
    use crate::error::FetchError;
    if !arrived {
        // Still on its way (and the page's commands wait for it meanwhile).
        return FetchError::Timeout(timeout);
    }
    // Sent as is: chromiumoxide's own evaluate waits for execution contexts.
    let probe = page.execute(chromiumoxide::cdp::js_protocol::runtime::EvaluateParams::new("1"));
    match tokio::time::timeout(super::PROBE, probe).await {
        Ok(Ok(_)) => FetchError::Timeout(timeout),
        _ => FetchError::PageUnresponsive(format!(
            "its renderer did not answer after {timeout:?} (a script that never yields?)"
        )),
    }
}

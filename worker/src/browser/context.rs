//! A job's browser context and its one page, from opening to disposal.
//!
//! Invariant: a context opened here is always disposed. A page that ended well is closed
//! through itself, then its context disposed; a page that did not (it crashed, stopped
//! answering, ran out of time, kept opening dialogs) is closed from the browser side
//! (`Target.closeTarget`, then `Target.disposeBrowserContext`, which ends its pages without
//! asking their scripts), since its renderer may never answer. A context dropped without
//! being closed (the job's deadline dropped the render midway) is disposed the same way in
//! the background, so no renderer, and no runaway script in it, outlives its job. A browser
//! that does not answer these calls within [`BROWSER_CALL`] is marked for replacement.

use std::sync::{Arc, atomic::Ordering};

use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        browser::BrowserContextId,
        target::{CloseTargetParams, CreateBrowserContextParams, CreateTargetParams},
    },
};

use super::{BROWSER_CALL, Running, watch::PageWatch};
use crate::error::FetchError;

/// A job's context, with its page once opened.
pub(super) struct JobContext {
    running: Arc<Running>,
    id: Option<BrowserContextId>,
    page: Option<Page>,
}

impl JobContext {
    /// Opens a context with `params`, a blank page in it, and the page's watch.
    pub(super) async fn open(
        running: &Arc<Running>,
        params: CreateBrowserContextParams,
    ) -> Result<(Self, Page, PageWatch), FetchError> {
        let opening = async {
            let id = running
                .browser
                .create_browser_context(params)
                .await
                .map_err(|e| FetchError::Browser(format!("context: {e}")))?;
            let mut context = Self {
                running: running.clone(),
                id: Some(id.clone()),
                page: None,
            };
            let target = CreateTargetParams::builder()
                .url("about:blank")
                .browser_context_id(id)
                .build()
                .map_err(FetchError::Browser)?;
            let page = running
                .browser
                .new_page(target)
                .await
                .map_err(|e| FetchError::Browser(format!("page: {e}")))?;
            context.page = Some(page.clone());
            let watch = PageWatch::start(&page).await?;
            Ok::<_, FetchError>((context, page, watch))
        };
        match tokio::time::timeout(BROWSER_CALL, opening).await {
            Ok(opened) => opened,
            Err(_) => {
                running.broken.store(true, Ordering::Relaxed);
                Err(FetchError::Browser(
                    "Chromium stopped answering; it is replaced".into(),
                ))
            }
        }
    }

    /// Closes the page and disposes the context: through the page when it `ended_well`,
    /// else from the browser side, in the background.
    pub(super) async fn close(mut self, ended_well: bool) {
        let (Some(id), Some(page)) = (self.id.take(), self.page.take()) else {
            return;
        };
        if !ended_well {
            tokio::spawn(discard(self.running.clone(), Some(page), id));
            return;
        }
        let running = self.running.clone();
        let closing = async {
            let _ = page.close().await;
            let _ = running.browser.dispose_browser_context(id).await;
        };
        if tokio::time::timeout(BROWSER_CALL, closing).await.is_err() {
            running.broken.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for JobContext {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(discard(self.running.clone(), self.page.take(), id));
        }
    }
}

/// Closes the page's target and disposes its context from the browser side.
async fn discard(running: Arc<Running>, page: Option<Page>, id: BrowserContextId) {
    let closing = async {
        if let Some(page) = &page {
            let close = CloseTargetParams::new(page.target_id().clone());
            let _ = running.browser.execute(close).await;
        }
        let _ = running.browser.dispose_browser_context(id).await;
    };
    if tokio::time::timeout(BROWSER_CALL, closing).await.is_err() {
        running.broken.store(true, Ordering::Relaxed);
    }
}

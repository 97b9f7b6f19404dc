//! Completing a fetched job: its events (CAPTCHA work, the response), its artifacts (its
//! actions' outputs among them) and body stored, its page extracted on a thread of its own, the result row recorded, and then
//! `running → completed` with its credits settled to the engine that produced the page and
//! the job's held events written, in one transaction. The row itself is built by [`super::result`].

use scraperx_core::{
    Error,
    content::JobRef,
    domain::{ActionOutputs, ActionScreenshot, ContentStorage, JobStatus},
    pg::{Job, NewJobResult},
};

use super::{
    Fetched, Runner,
    events::{
        CaptchaDetected, CaptchaFailed, CaptchaSolved, CaptchaSolving, ResponseReceived,
        ScreenshotTaken,
    },
    result,
};
use crate::{
    browser::actions::RawOutputs, captcha::CaptchaOutcome, detect::Detection, error::FetchError,
    fetch::FetchedPage,
};

/// Why a fetched job could not be completed.
pub(super) enum CompleteError {
    /// The page itself is the problem (e.g. a bad extraction rule): the job fails.
    Fetch(FetchError),
    /// Storage is: the job is delivered again later.
    Store(Error),
    /// The lease lapsed meanwhile: the job is another worker's now.
    LeaseLost,
}

impl From<Error> for CompleteError {
    fn from(e: Error) -> Self {
        Self::Store(e)
    }
}

impl Runner {
    pub(super) async fn complete(&self, job: &Job, fetched: Fetched) -> Result<(), CompleteError> {
        let Fetched {
            page,
            screenshot,
            pdf,
            engine,
            detection,
            captcha,
            protection_seen,
            actions,
            ..
        } = fetched;
        self.captcha_events(job, &detection, captcha.as_ref()).await;
        let t = page.timings;
        let received = ResponseReceived {
            status: page.status,
            final_url: page.final_url.as_str(),
            redirects: page.redirect_count,
            bytes: page.body.len(),
            timings: t,
        };
        self.event(job, &received, Some(t.total_ms)).await;
        let mut row = result::of_page(&page, &detection, protection_seen, captcha.as_ref());
        let job_ref = JobRef {
            org: job.organization_id,
            job: job.id,
            created_at: job.created_at,
        };
        if let Some(png) = screenshot {
            let shot = self.content.store_screenshot(job_ref, png).await?;
            let taken = ScreenshotTaken {
                width: shot.width,
                height: shot.height,
                bytes: shot.full.size,
            };
            self.event(job, &taken, None).await;
            result::with_screenshot(&mut row, shot);
        }
        if !job.options.0.actions.is_empty() {
            row.action_outputs = Some(self.store_action_outputs(job_ref, actions).await?);
        }
        if let Some(bytes) = pdf {
            let pages = result::pdf_pages(&bytes);
            let stored = self.content.store_pdf(job_ref, bytes).await?;
            result::with_pdf(&mut row, pages, stored);
        }
        self.store_body(job_ref, &page, &mut row).await?;
        if page.is_html() {
            self.extract(job, &page, &mut row).await?;
        }
        // The job's events go with the completion, in its transaction.
        let change = self
            .change(JobStatus::Completed)
            .with_events(self.held.take(job.id));
        let (done, _) = self.db.complete_job(job.id, &change, &row, engine).await?;
        self.publish(&done).await;
        Ok(())
    }

    /// The actions' screenshots stored under their own keys; their scrapes and script
    /// values kept inline (each capped when it was taken).
    async fn store_action_outputs(
        &self,
        job_ref: JobRef,
        raw: RawOutputs,
    ) -> Result<ActionOutputs, CompleteError> {
        let mut screenshots = Vec::with_capacity(raw.screenshots.len());
        for (step, png) in raw.screenshots {
            let stored = self
                .content
                .store_action_screenshot(job_ref, step, png)
                .await?;
            screenshots.push(ActionScreenshot {
                step,
                key: stored.full.key,
                bytes: stored.full.size,
                thumbnail_key: Some(stored.thumbnail.key),
            });
        }
        Ok(ActionOutputs {
            screenshots,
            scrapes: raw.scrapes,
            javascript_returns: raw.javascript_returns,
        })
    }

    /// The body, inline or in object storage as [`result::storage_for`] decides.
    async fn store_body(
        &self,
        job_ref: JobRef,
        page: &FetchedPage,
        row: &mut NewJobResult,
    ) -> Result<(), CompleteError> {
        match result::storage_for(page, self.config.inline_limit) {
            ContentStorage::Inline => result::with_inline(row, &page.body),
            ContentStorage::Minio => {
                let content_type = page
                    .content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream");
                let stored = self
                    .content
                    .store_content(job_ref, page.body.clone(), content_type)
                    .await?;
                result::with_stored_content(row, stored);
            }
            ContentStorage::None => row.content_storage = Some(ContentStorage::None),
        }
        Ok(())
    }

    /// Extracts the page on an extraction thread of its own, bounded in stack and time.
    async fn extract(
        &self,
        job: &Job,
        page: &FetchedPage,
        row: &mut NewJobResult,
    ) -> Result<(), CompleteError> {
        let options = &job.options.0;
        let html = String::from_utf8_lossy(&page.body).into_owned();
        let extraction = crate::extract::extract_isolated(
            html,
            page.final_url.clone(),
            options.extract.clone(),
            crate::extract::Content::from(options),
        )
        .await
        .map_err(CompleteError::Fetch)?;
        self.event(job, &extraction.summary(), None).await;
        result::with_extraction(row, extraction);
        Ok(())
    }

    /// Records what happened to a CAPTCHA: detected (and with no solver, left), or solving
    /// and then solved or failed.
    async fn captcha_events(
        &self,
        job: &Job,
        detection: &Detection,
        outcome: Option<&CaptchaOutcome>,
    ) {
        match (outcome, detection.captcha) {
            (Some(c), _) => {
                self.event(job, &CaptchaSolving { kind: &c.kind }, None)
                    .await;
                let ms = Some(c.solve_ms);
                if c.solved {
                    self.event(job, &CaptchaSolved { kind: &c.kind }, ms).await;
                } else {
                    let failed = CaptchaFailed {
                        kind: &c.kind,
                        error: c.error.as_deref(),
                    };
                    self.event(job, &failed, ms).await;
                }
            }
            (None, Some(kind)) => {
                let solver = if self.config.captcha_solver.is_some() {
                    "not on a browser page"
                } else {
                    "none configured"
                };
                self.event(job, &CaptchaDetected { kind, solver }, None)
                    .await;
            }
            (None, None) => {}
        }
    }
}

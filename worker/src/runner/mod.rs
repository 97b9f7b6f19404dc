//! Runs one leased job to a terminal state (or back to the queue), with a `job_events` row
//! at each step (held in [`held`] and written with the completion, or together at the end). The runner is three parts: a pure planner ([`plan`]) that makes every
//! decision from its inputs, a result builder ([`result`], with the typed event payloads of
//! [`events`]), and this thin driver over the services (Postgres, the Redis lease, object
//! storage, the engines) that asks the planner and applies its decisions:
//!
//! 1. load the job from Postgres (the truth); what its status calls for is
//!    [`plan::admit`]'s: run it, take it over from a dead worker (`running → queued`
//!    first), fail it `worker_lost`, or drop the entry of a job already finished;
//! 2. `queued → running`, then fetch over the engines ([`engines`]), store, extract, record
//!    the result, `completed` with its credits settled, publish, acknowledge ([`complete`]);
//! 3. a failed attempt is retried after the planner's delay (`job.retry_scheduled`) or ends
//!    the job `failed` or `timeout`, refunded ([`plan::after_failure`]);
//! 4. a cancel seen mid-flight stops the fetch and ends the job `canceled`.
//!
//! Throughout, the lease is extended, so only a dead worker's job is ever redelivered.

mod complete;
mod engines;
pub mod events;
mod held;
pub mod plan;
pub mod result;

use std::time::Duration;

use scraperx_core::{
    Error,
    content::ContentStore,
    domain::{Engine, JobStatus},
    hot::pubsub::{JobStatusMessage, Publisher},
    pg::{Db, Job, NewJobEvent, StatusChange},
    queue::{JobQueue, Lease, QueuedJob},
};

use self::{
    complete::CompleteError,
    events::{Payload, Requeued, RetryScheduled},
    plan::{Admission, Backoff, Cancel, Next},
};
use crate::{
    browser::BrowserPool, config::WorkerConfig, detect::Detection, error::FetchError,
    fetch::FetchedPage, fetch::http::HttpFetcher, politeness::Politeness,
};

/// How a lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
    TimedOut,
    Canceled,
    Retried,
    /// Nothing to do (a finished or vanished job).
    Dropped,
    /// Handed back unfinished (shutdown, or the lease was lost).
    Released,
}

pub struct Runner {
    pub config: WorkerConfig,
    /// Where finished jobs' webhook deliveries are queued.
    pub webhooks: JobQueue,
    pub db: Db,
    pub content: ContentStore,
    pub publisher: Publisher,
    pub http: HttpFetcher,
    /// The browser engines; None on an http-only worker.
    pub browser: Option<std::sync::Arc<BrowserPool>>,
    pub politeness: Politeness,
    /// Expands a crawl page once its job is final.
    pub crawler: crate::crawl::Crawler,
    /// The platform's request counters in Redis (outcomes, latency, unique URLs).
    pub counters: scraperx_core::hot::metrics::Metrics,
    /// Events of running jobs, until they are written.
    pub(crate) held: held::HeldEvents,
}

/// What the engines brought back.
pub struct Fetched {
    pub page: FetchedPage,
    pub screenshot: Option<bytes::Bytes>,
    pub pdf: Option<bytes::Bytes>,
    /// The engine that produced the page (what is charged).
    pub engine: Engine,
    pub detection: Detection,
    pub captcha: Option<crate::captcha::CaptchaOutcome>,
    /// What the job's actions gave back (browser engines; empty otherwise).
    pub actions: crate::browser::actions::RawOutputs,
    /// What the stages escalated from taught: the plain-HTTP page was an empty
    /// JavaScript shell, and the protection seen on the way (the last page may show none).
    pub http_was_shell: bool,
    pub protection_seen: Option<&'static str>,
}

enum Attempt {
    Done(Box<Fetched>),
    Failed(FetchError),
    Canceled,
    LeaseLost,
}

impl Runner {
    /// Announces a status: pub/sub for live waiters, and webhook deliveries for final ones.
    async fn publish(&self, job: &Job) {
        if job.is_final() {
            crate::webhooks::announce(&self.db, &self.webhooks, job).await;
            self.count(job).await;
            self.crawler.page_finished(job).await;
        }
        self.publish_status(job).await;
    }

    async fn publish_status(&self, job: &Job) {
        if let Err(err) = self.publisher.publish(&JobStatusMessage::from(job)).await {
            tracing::warn!(job = %job.id, error = %err, "status not published");
        }
    }

    /// Counts a finished job in the request counters.
    async fn count(&self, job: &Job) {
        let latency = match (job.started_at, job.completed_at) {
            (Some(start), Some(end)) => (end - start).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let sample = scraperx_core::hot::metrics::RequestSample {
            url: &job.url,
            success: job.status == JobStatus::Completed,
            latency,
            sample_id: &format!("{}-{}", job.id, job.attempts),
            at: chrono::Utc::now(),
        };
        if let Err(err) = self.counters.record(&sample).await {
            tracing::warn!(job = %job.id, error = %err, "request counters not updated");
        }
    }

    /// Records `payload` as its event of `job` (taking `ms`, when timed): held until the
    /// job's completion or the end of its run ([`held`]).
    async fn event<P: Payload>(&self, job: &Job, payload: &P, ms: Option<u32>) {
        let data = match serde_json::to_value(payload) {
            Ok(data) => data,
            Err(err) => {
                tracing::warn!(job = %job.id, error = %err, "event not serializable");
                return;
            }
        };
        let event = NewJobEvent::of(job, P::KIND, data, ms, Some(&self.config.worker_id));
        self.held.hold(event);
    }

    /// Writes the job's events still held, in one statement.
    async fn write_held(&self, job: &Job) {
        let events = self.held.take(job.id);
        if let Err(err) = self.db.record_events(&events).await {
            tracing::warn!(job = %job.id, error = %err, events = events.len(), "events not recorded");
        }
    }

    fn change(&self, to: JobStatus) -> StatusChange {
        StatusChange::to(to).worker(&self.config.worker_id)
    }

    fn requeue(&self, why: &Requeued) -> StatusChange {
        let mut change = self.change(JobStatus::Queued);
        change.event_data = why.data();
        change
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            base: self.config.retry_base,
            max: self.config.retry_max,
        }
    }

    /// Runs the leased job. Errors are infrastructure failures (Postgres, Redis, MinIO
    /// down): the lease is left to expire and the job is delivered again.
    pub async fn run(&self, queue: &JobQueue, lease: Lease) -> scraperx_core::Result<Outcome> {
        let job = match self.admit(queue, &lease).await? {
            Ok(job) => job,
            Err(outcome) => return Ok(outcome),
        };
        let job = self
            .db
            .transition_job(job.id, &self.change(JobStatus::Running).queue(queue.name()))
            .await?;
        self.publish(&job).await;
        let finished = self.attempt(queue, &lease, &job).await;
        let outcome = match finished {
            // Canceled while it was being finished: it stays canceled.
            Err(Error::InvalidTransition {
                from: JobStatus::Canceled,
                ..
            }) => self.canceled(queue, &lease, &job).await,
            other => other,
        };
        self.write_held(&job).await;
        outcome
    }

    /// Reads the leased job and applies what [`plan::admit`] says of its status: the job,
    /// queued and ready to run, or how the lease ended without running it.
    async fn admit(
        &self,
        queue: &JobQueue,
        lease: &Lease,
    ) -> scraperx_core::Result<Result<Job, Outcome>> {
        let Ok(entry) = serde_json::from_str::<QueuedJob>(&lease.payload) else {
            tracing::error!(payload = %lease.payload, "unreadable queue entry dropped");
            queue.ack(lease).await?;
            return Ok(Err(Outcome::Dropped));
        };
        let job = match self.db.get_job_unscoped(entry.job_id).await {
            Ok(job) => job,
            Err(Error::NotFound { .. }) => {
                queue.ack(lease).await?;
                return Ok(Err(Outcome::Dropped));
            }
            Err(e) => return Err(e),
        };
        tracing::Span::current().record("org", tracing::field::display(job.organization_id));
        let job = match plan::admit(job.status, job.attempts, job.max_attempts) {
            Admission::Run => job,
            Admission::Enqueue => {
                let change = self.change(JobStatus::Queued).queue(queue.name());
                self.db.transition_job(job.id, &change).await?
            }
            Admission::TakeOver => {
                let why = Requeued::LeaseExpired {
                    deliveries: lease.deliveries,
                };
                self.db.transition_job(job.id, &self.requeue(&why)).await?
            }
            Admission::WorkerLost => return self.worker_lost(queue, lease, &job).await.map(Err),
            Admission::Finished => return self.finished(queue, lease, &job).await.map(Err),
        };
        Ok(Ok(job))
    }

    /// Fails a job whose every attempt ended with its worker gone.
    async fn worker_lost(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        job: &Job,
    ) -> scraperx_core::Result<Outcome> {
        let message = format!(
            "the worker running this job stopped during all {} attempts",
            job.max_attempts
        );
        let change = self
            .change(JobStatus::Failed)
            .error("worker_lost", &message);
        let (done, _) = self.db.finish_job(job.id, &change, 0).await?;
        self.publish(&done).await;
        queue.ack(lease).await?;
        Ok(Outcome::Failed)
    }

    /// Drops the entry of a job already final, settling and announcing it if that was
    /// missed.
    async fn finished(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        job: &Job,
    ) -> scraperx_core::Result<Outcome> {
        // Only a cancel made elsewhere leaves a final job unsettled (`finish_job` settles
        // with the move): nothing was delivered, nothing is charged.
        if job.credits_settled_at.is_none() {
            self.db.settle_job_credits(job.id, 0).await?;
        }
        // Its worker may have died before announcing it: announce it unless its deliveries
        // were queued (their ids are stable, so a repeat is dropped by the queue while it
        // waits, and by the receiver after).
        let announced = self
            .db
            .has_event(job.id, scraperx_core::domain::EventType::WebhookQueued)
            .await
            .unwrap_or(true);
        if !announced {
            crate::webhooks::announce(&self.db, &self.webhooks, job).await;
        }
        self.publish_status(job).await;
        queue.ack(lease).await?;
        Ok(Outcome::Dropped)
    }

    /// One attempt of a running job: the fetch raced against a cancel and a lost lease,
    /// then completion (the lease kept meanwhile), a failure, or a cancel applied.
    async fn attempt(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        job: &Job,
    ) -> scraperx_core::Result<Outcome> {
        let timeout = Duration::from_millis(u64::from(job.options.0.timeout));
        let attempt = tokio::select! {
            biased;
            () = self.watch_cancel(job) => Attempt::Canceled,
            () = self.keep_lease(queue, lease) => Attempt::LeaseLost,
            fetched = self.fetch(job, timeout) => match fetched {
                Ok(fetched) => Attempt::Done(Box::new(fetched)),
                Err(e) => Attempt::Failed(e),
            },
        };
        let fetched = match attempt {
            Attempt::Done(fetched) => fetched,
            Attempt::Failed(e) => return self.fail(queue, lease, job, e).await,
            Attempt::Canceled => return self.canceled(queue, lease, job).await,
            Attempt::LeaseLost => {
                tracing::warn!(job = %job.id, "lease lost; another worker has the job");
                return Ok(Outcome::Released);
            }
        };
        // Storing and extracting can take a while: the lease is kept meanwhile.
        let completed = tokio::select! {
            biased;
            () = self.keep_lease(queue, lease) => Err(CompleteError::LeaseLost),
            completed = self.complete(job, *fetched) => completed,
        };
        match completed {
            Ok(()) => {
                queue.ack(lease).await?;
                Ok(Outcome::Completed)
            }
            Err(CompleteError::Fetch(e)) => self.fail(queue, lease, job, e).await,
            Err(CompleteError::Store(e)) => Err(e),
            Err(CompleteError::LeaseLost) => {
                tracing::warn!(job = %job.id, "lease lost while completing; another worker has the job");
                Ok(Outcome::Released)
            }
        }
    }

    /// Ends a job whose cancel was seen: canceled now if it still runs, settled without
    /// charge, announced, acknowledged.
    async fn canceled(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        job: &Job,
    ) -> scraperx_core::Result<Outcome> {
        let current = self.db.get_job_unscoped(job.id).await?;
        // What happened so far is on record before the job is seen final.
        self.write_held(job).await;
        let done = match plan::on_cancel(current.status) {
            Cancel::Finish => {
                let change = self
                    .change(JobStatus::Canceled)
                    .error("canceled", "canceled while running");
                self.db.finish_job(job.id, &change, 0).await?.0
            }
            Cancel::Settle => {
                self.db.settle_job_credits(job.id, 0).await?;
                current
            }
        };
        self.publish(&done).await;
        queue.ack(lease).await?;
        Ok(Outcome::Canceled)
    }

    /// Applies [`plan::after_failure`]: back to the queue after its delay, or the job ends
    /// failed (or timed out), not charged.
    async fn fail(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        job: &Job,
        err: FetchError,
    ) -> scraperx_core::Result<Outcome> {
        let message = err.to_string();
        let code = err.code();
        // What happened so far is on record before the job is seen queued again or final.
        self.write_held(job).await;
        match plan::after_failure(&err, job.attempts, job.max_attempts, self.backoff()) {
            Next::Retry { after } => {
                let change = self
                    .requeue(&Requeued::Retry { error: code })
                    .error(code, &message);
                let back = self.db.transition_job(job.id, &change).await?;
                let scheduled = RetryScheduled {
                    attempt: job.attempts,
                    delay_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                    error_code: code,
                    error: &message,
                };
                self.event(job, &scheduled, None).await;
                if !queue.retry(lease, after).await? {
                    tracing::warn!(job = %job.id, "lease lost before the retry was scheduled");
                }
                self.publish(&back).await;
                Ok(Outcome::Retried)
            }
            Next::Fail { status } => {
                let change = self.change(status).error(code, &message);
                let (done, _) = self.db.finish_job(job.id, &change, 0).await?;
                self.publish(&done).await;
                queue.ack(lease).await?;
                Ok(match status {
                    JobStatus::Timeout => Outcome::TimedOut,
                    _ => Outcome::Failed,
                })
            }
        }
    }

    /// Gives an unfinished job back at shutdown: `running → queued` (a `worker_shutdown`
    /// event) and onto its queue at once, instead of waiting for the lease to lapse.
    pub async fn hand_back(&self, queue: &JobQueue, lease: &Lease) {
        if let Ok(entry) = serde_json::from_str::<QueuedJob>(&lease.payload)
            && let Ok(job) = self.db.get_job_unscoped(entry.job_id).await
            && job.status == JobStatus::Running
        {
            let change = self.requeue(&Requeued::WorkerShutdown);
            match self.db.transition_job(job.id, &change).await {
                Ok(back) => self.publish(&back).await,
                Err(err) => tracing::warn!(job = %job.id, error = %err, "hand-back not recorded"),
            }
        }
        if let Err(err) = queue.retry(lease, Duration::ZERO).await {
            tracing::warn!(job = %lease.id, error = %err, "hand-back failed; the lease will lapse");
        }
    }

    /// Resolves when the job is canceled (directly, or through its batch).
    async fn watch_cancel(&self, job: &Job) {
        let mut tick = tokio::time::interval(self.config.cancel_poll);
        tick.tick().await;
        loop {
            tick.tick().await;
            if self.db.cancel_requested(job.id).await.unwrap_or(false) {
                return;
            }
        }
    }

    /// Extends the lease every third of its length; resolves only if it is lost.
    async fn keep_lease(&self, queue: &JobQueue, lease: &Lease) {
        let mut tick = tokio::time::interval(self.config.lease / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            match queue.extend(lease, self.config.lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => tracing::warn!(error = %err, "lease extension failed; retrying"),
            }
        }
    }
}

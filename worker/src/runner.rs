//! Runs one leased job to a terminal state (or back to the queue), with a `job_events` row
//! at each step:
//!
//! 1. load the job from Postgres (the truth); drop entries of jobs already finished;
//! 2. a redelivered job (its previous worker died mid-lease) goes `running → queued` first;
//! 3. `queued → running`, then fetch, store, extract, record the result, `completed`,
//!    settle credits once, publish the status, acknowledge the lease;
//! 4. a retryable failure with attempts left goes back to the queue after an exponential,
//!    jittered delay (`job.retry_scheduled`); otherwise the job ends `failed` or `timeout`,
//!    refunded;
//! 5. a cancel seen mid-flight stops the fetch and ends the job `canceled`.
//!
//! Throughout, the lease is extended, so only a dead worker's job is ever redelivered.

use std::{collections::BTreeMap, time::Duration};

use scraperx_core::{
    Error,
    content::{ContentStore, JobRef},
    domain::{ContentStorage, Engine, EventType, JobStatus},
    hot::pubsub::{JobStatusMessage, Publisher},
    pg::{Db, Job, NewJobEvent, NewJobResult, StatusChange},
    queue::{JobQueue, Lease, QueuedJob, retry_delay},
};
use sha2::{Digest, Sha256};

use crate::{
    browser::{BrowserPool, Fingerprint, RenderRequest},
    config::WorkerConfig,
    detect::{Detection, detect},
    error::FetchError,
    fetch::{FetchRequest, FetchedPage, http::HttpFetcher},
    politeness::Politeness,
    proxy::ProxyRoute,
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
    /// The platform's request counters in Redis (outcomes, latency, unique URLs).
    pub counters: scraperx_core::hot::metrics::Metrics,
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
        }
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

    async fn event(&self, job: &Job, kind: EventType, data: serde_json::Value, ms: Option<u32>) {
        let event = NewJobEvent::of(job, kind, data, ms, Some(&self.config.worker_id));
        if let Err(err) = self.db.record_event(&event).await {
            tracing::warn!(job = %job.id, error = %err, "event not recorded");
        }
    }

    fn change(&self, to: JobStatus) -> StatusChange {
        StatusChange::to(to).worker(&self.config.worker_id)
    }

    /// Runs the leased job. Errors are infrastructure failures (Postgres, Redis, MinIO
    /// down): the lease is left to expire and the job is delivered again.
    pub async fn run(&self, queue: &JobQueue, lease: Lease) -> scraperx_core::Result<Outcome> {
        let Ok(entry) = serde_json::from_str::<QueuedJob>(&lease.payload) else {
            tracing::error!(payload = %lease.payload, "unreadable queue entry dropped");
            queue.ack(&lease).await?;
            return Ok(Outcome::Dropped);
        };
        let job = match self.db.get_job_unscoped(entry.job_id).await {
            Ok(job) => job,
            Err(Error::NotFound { .. }) => {
                queue.ack(&lease).await?;
                return Ok(Outcome::Dropped);
            }
            Err(e) => return Err(e),
        };
        tracing::Span::current().record("org", tracing::field::display(job.organization_id));
        let job = match job.status {
            JobStatus::Queued => job,
            JobStatus::Running if job.attempts >= job.max_attempts => {
                // Its last attempt took its worker down (or the worker died on it): a page
                // that kills workers is not run forever.
                let change = self.change(JobStatus::Failed).error(
                    "worker_lost",
                    &format!(
                        "the worker running this job stopped during all {} attempts",
                        job.max_attempts
                    ),
                );
                let (done, _) = self.db.finish_job(job.id, &change, 0).await?;
                self.publish(&done).await;
                queue.ack(&lease).await?;
                return Ok(Outcome::Failed);
            }
            JobStatus::Running => {
                // Redelivered: the previous holder died. Take it over.
                let mut change = self.change(JobStatus::Queued);
                change.event_data = serde_json::json!({ "reason": "lease_expired", "deliveries": lease.deliveries });
                self.db.transition_job(job.id, &change).await?
            }
            JobStatus::Pending => {
                self.db
                    .transition_job(job.id, &self.change(JobStatus::Queued).queue(queue.name()))
                    .await?
            }
            // Final (completed, failed, timed out, canceled): workers retry by moving a job
            // from running straight back to queued, so nothing final is run again.
            _ => {
                // Only a cancel made elsewhere leaves a final job unsettled (`finish_job`
                // settles with the move): nothing was delivered, nothing is charged.
                if job.credits_settled_at.is_none() {
                    self.db.settle_job_credits(job.id, 0).await?;
                }
                // Its worker may have died before announcing it: announce it unless its
                // deliveries were queued (their ids are stable, so a repeat is dropped by
                // the queue while it waits, and by the receiver after).
                let announced = self
                    .db
                    .has_event(job.id, EventType::WebhookQueued)
                    .await
                    .unwrap_or(true);
                if !announced {
                    crate::webhooks::announce(&self.db, &self.webhooks, &job).await;
                }
                if let Err(err) = self.publisher.publish(&JobStatusMessage::from(&job)).await {
                    tracing::warn!(job = %job.id, error = %err, "status not published");
                }
                queue.ack(&lease).await?;
                return Ok(Outcome::Dropped);
            }
        };
        let job = self
            .db
            .transition_job(job.id, &self.change(JobStatus::Running).queue(queue.name()))
            .await?;
        self.publish(&job).await;

        let timeout = Duration::from_millis(u64::from(job.options.0.timeout));
        let attempt = tokio::select! {
            biased;
            () = self.watch_cancel(&job) => Attempt::Canceled,
            () = self.keep_lease(queue, &lease) => Attempt::LeaseLost,
            fetched = self.fetch(&job, timeout) => match fetched {
                Ok(fetched) => Attempt::Done(Box::new(fetched)),
                Err(e) => Attempt::Failed(e),
            },
        };
        let finished = match attempt {
            // Storing and extracting can take a while: the lease is kept meanwhile.
            Attempt::Done(fetched) => match tokio::select! {
                biased;
                () = self.keep_lease(queue, &lease) => Err(CompleteError::LeaseLost),
                completed = self.complete(&job, *fetched) => completed,
            } {
                Ok(()) => {
                    queue.ack(&lease).await?;
                    Ok(Outcome::Completed)
                }
                Err(CompleteError::Fetch(e)) => self.fail(queue, &lease, &job, e).await,
                Err(CompleteError::Store(e)) => Err(e),
                Err(CompleteError::LeaseLost) => {
                    tracing::warn!(job = %job.id, "lease lost while completing; another worker has the job");
                    Ok(Outcome::Released)
                }
            },
            Attempt::Failed(e) => self.fail(queue, &lease, &job, e).await,
            Attempt::Canceled => self.canceled(queue, &lease, &job).await,
            Attempt::LeaseLost => {
                tracing::warn!(job = %job.id, "lease lost; another worker has the job");
                Ok(Outcome::Released)
            }
        };
        match finished {
            // Canceled while it was being finished: it stays canceled.
            Err(Error::InvalidTransition {
                from: JobStatus::Canceled,
                ..
            }) => self.canceled(queue, &lease, &job).await,
            other => other,
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
        let done = if current.status == JobStatus::Running {
            let change = self
                .change(JobStatus::Canceled)
                .error("canceled", "canceled while running");
            self.db.finish_job(job.id, &change, 0).await?.0
        } else {
            self.db.settle_job_credits(job.id, 0).await?;
            current
        };
        self.publish(&done).await;
        queue.ack(lease).await?;
        Ok(Outcome::Canceled)
    }

    /// Fetches with the job's engine, politely, and records what the domain taught us.
    /// Records what happened to a CAPTCHA: detected (and with no solver, left), or solving
    /// and then solved or failed.
    async fn captcha_events(
        &self,
        job: &Job,
        detection: &Detection,
        outcome: Option<&crate::captcha::CaptchaOutcome>,
    ) {
        match outcome {
            Some(c) => {
                self.event(
                    job,
                    EventType::CaptchaSolving,
                    serde_json::json!({ "type": c.kind }),
                    None,
                )
                .await;
                let (kind, data) = if c.solved {
                    (
                        EventType::CaptchaSolved,
                        serde_json::json!({ "type": c.kind }),
                    )
                } else {
                    (
                        EventType::CaptchaFailed,
                        serde_json::json!({ "type": c.kind, "error": c.error }),
                    )
                };
                self.event(job, kind, data, Some(c.solve_ms)).await;
            }
            None if detection.captcha.is_some() => {
                let solver = if self.config.captcha_solver.is_some() {
                    "not on a browser page"
                } else {
                    "none configured"
                };
                self.event(
                    job,
                    EventType::CaptchaDetected,
                    serde_json::json!({ "type": detection.captcha, "solver": solver }),
                    None,
                )
                .await;
            }
            None => {}
        }
    }

    /// Gives an unfinished job back at shutdown: `running → queued` (a `worker_shutdown`
    /// event) and onto its queue at once, instead of waiting for the lease to lapse.
    pub async fn hand_back(&self, queue: &JobQueue, lease: &Lease) {
        if let Ok(entry) = serde_json::from_str::<QueuedJob>(&lease.payload)
            && let Ok(job) = self.db.get_job_unscoped(entry.job_id).await
            && job.status == JobStatus::Running
        {
            let mut change = self.change(JobStatus::Queued);
            change.event_data = serde_json::json!({ "reason": "worker_shutdown" });
            match self.db.transition_job(job.id, &change).await {
                Ok(back) => self.publish(&back).await,
                Err(err) => tracing::warn!(job = %job.id, error = %err, "hand-back not recorded"),
            }
        }
        if let Err(err) = queue.retry(lease, Duration::ZERO).await {
            tracing::warn!(job = %lease.id, error = %err, "hand-back failed; the lease will lapse");
        }
    }

    async fn fetch(&self, job: &Job, timeout: Duration) -> Result<Fetched, FetchError> {
        let url = url::Url::parse(&job.url).map_err(|e| FetchError::Invalid(e.to_string()))?;
        let started = tokio::time::Instant::now();
        let pass = self.politeness.admit(&url, &self.http, timeout).await?;
        // Only the job's own organization's history steers an auto job (and its bill).
        let learned = match (&self.browser, url.host_str()) {
            (Some(_), Some(host)) if job.engine == Engine::Auto => self
                .db
                .learned_engine(job.organization_id, host)
                .await
                .unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "learned engine not read; starting on http");
                    None
                }),
            _ => None,
        };
        let remaining = timeout.saturating_sub(started.elapsed());
        // The engines end at `remaining` themselves, and say why (a page that stopped
        // answering); this bound is their backstop.
        let fetched = tokio::time::timeout(
            remaining + crate::browser::PROBE * 2,
            self.fetch_engines(job, url.clone(), remaining, learned),
        )
        .await
        .unwrap_or(Err(FetchError::Timeout(timeout)));
        self.politeness.release(pass).await;
        if let Some(domain) = url.host_str() {
            let outcome = match &fetched {
                Ok(f) => scraperx_core::pg::DomainOutcome {
                    organization_id: job.organization_id,
                    domain,
                    success: !f.detection.challenged() && f.page.status < 400,
                    response_ms: i32::try_from(f.page.timings.total_ms).ok(),
                    protection: f.detection.protection.or(f.protection_seen),
                    escalated_to: job.engine.teaches(&job.options.0, f.engine),
                    needed_javascript: f.http_was_shell && f.engine != Engine::Http,
                    rate_limited: f.page.status == 429,
                },
                Err(e) => scraperx_core::pg::DomainOutcome {
                    organization_id: job.organization_id,
                    domain,
                    success: false,
                    response_ms: None,
                    protection: None,
                    escalated_to: None,
                    needed_javascript: false,
                    rate_limited: matches!(e, FetchError::RetryableStatus(429)),
                },
            };
            if let Err(err) = self.db.record_domain_outcome(&outcome).await {
                tracing::warn!(%domain, error = %err, "domain intelligence not recorded");
            }
        }
        fetched
    }

    async fn fetch_engines(
        &self,
        job: &Job,
        url: url::Url,
        timeout: Duration,
        learned: Option<Engine>,
    ) -> Result<Fetched, FetchError> {
        // What the organization's earlier jobs taught: start where HTTP alone did not do.
        let start = job.engine.starting_learned(&job.options.0, learned);
        // One route for the whole job, whichever engines it takes: the provider is picked
        // (and a resting one's probe claimed) once.
        let route = crate::proxy::route_for(&self.db, self.config.secrets.as_ref(), job).await?;
        let route = route.as_ref();
        match start {
            Engine::Http | Engine::Auto => {
                self.event(
                    job,
                    EventType::EngineSelected,
                    serde_json::json!({ "engine": "http" }),
                    None,
                )
                .await;
                let page = self.fetch_http(job, url.clone(), timeout, route).await?;
                let detection = detect(
                    page.status,
                    &page.headers,
                    &String::from_utf8_lossy(&page.body),
                );
                // A refusal (429, 5xx) is retried, unless it is a challenge page: that one
                // is the browser's to get past, or the result's to show.
                if (page.status == 429 || page.status >= 500) && !detection.challenged() {
                    return Err(FetchError::RetryableStatus(page.status));
                }
                let http = Fetched {
                    page,
                    screenshot: None,
                    pdf: None,
                    engine: Engine::Http,
                    detection,
                    captcha: None,
                    http_was_shell: false,
                    protection_seen: None,
                };
                if start == Engine::Http || self.browser.is_none() {
                    return Ok(http);
                }
                if !(http.detection.challenged() || http.detection.js_shell) {
                    return Ok(http);
                }
                let reason = if http.detection.challenged() {
                    "challenge"
                } else {
                    "javascript_shell"
                };
                self.escalated(job, "http", "browser", reason, &http.detection)
                    .await;
                let mut rendered = self.browser_then_stealth(job, url, timeout, route).await?;
                rendered.http_was_shell = http.detection.js_shell;
                rendered.protection_seen = rendered.protection_seen.or(http.detection.protection);
                Ok(rendered)
            }
            // An auto job that starts in the browser (its options or its domain say so)
            // still escalates to stealth past a challenge; a job that chose the browser
            // gets the browser.
            Engine::Browser if job.engine == Engine::Auto => {
                self.browser_then_stealth(job, url, timeout, route).await
            }
            Engine::Browser => self.render(job, url, timeout, false, route).await,
            Engine::Stealth => self.render(job, url, timeout, true, route).await,
        }
    }

    /// The browser, and stealth past a challenge.
    async fn browser_then_stealth(
        &self,
        job: &Job,
        url: url::Url,
        timeout: Duration,
        route: Option<&ProxyRoute>,
    ) -> Result<Fetched, FetchError> {
        let rendered = self.render(job, url.clone(), timeout, false, route).await?;
        if !rendered.detection.challenged() {
            return Ok(rendered);
        }
        self.escalated(job, "browser", "stealth", "challenge", &rendered.detection)
            .await;
        let mut stealth = self.render(job, url, timeout, true, route).await?;
        stealth.protection_seen = rendered.detection.protection;
        Ok(stealth)
    }

    /// The http engine, through the job's proxy when one is configured for its tier; each
    /// proxied use is logged with its bandwidth.
    async fn fetch_http(
        &self,
        job: &Job,
        url: url::Url,
        timeout: Duration,
        route: Option<&ProxyRoute>,
    ) -> Result<FetchedPage, FetchError> {
        let request = self.http_request(job, url, timeout);
        let sent = serde_json::json!({ "engine": "http", "method": job.method, "url": request.url.as_str(),
            "proxied": route.is_some() });
        self.event(job, EventType::RequestSent, sent, None).await;
        let Some(route) = route else {
            return self.http.fetch(&request).await;
        };
        self.event(
            job,
            EventType::ProxyAssigned,
            serde_json::json!({ "provider": route.provider, "tier": job.proxy_tier, "country": job.proxy_country }),
            None,
        )
        .await;
        // Through a relay of the job's own, which adds the credentials and counts the bytes
        // on the wire.
        let relay = crate::relay::ProxyRelay::start(route).await?;
        let fetched = self
            .http
            .fetch_via(&request, Some(&relay.endpoint()))
            .await
            .map(|mut page| {
                page.proxy = Some(route.used(job));
                page
            });
        self.log_proxy_use(job, route, fetched.as_ref().ok(), &relay)
            .await;
        fetched
    }

    /// Logs a proxied fetch with the bytes its relay counted. It failed only if the provider
    /// did (unreachable, refusing the credentials): a target's errors are not the proxy's.
    async fn log_proxy_use(
        &self,
        job: &Job,
        route: &ProxyRoute,
        page: Option<&FetchedPage>,
        relay: &crate::relay::ProxyRelay,
    ) {
        let (received, sent) = relay.traffic();
        let usage = scraperx_core::pg::ProxyUse {
            provider: route.provider,
            job: job.id,
            org: job.organization_id,
            tier: job.proxy_tier,
            country: job.proxy_country.clone(),
            bytes_in: i64::try_from(received).unwrap_or(i64::MAX),
            bytes_out: i64::try_from(sent).unwrap_or(i64::MAX),
            success: relay.proxy_failures() == 0,
            response_ms: page.and_then(|p| i32::try_from(p.timings.total_ms).ok()),
        };
        if let Err(err) = self.db.record_proxy_use(&usage).await {
            tracing::warn!(error = %err, "proxy use not recorded");
        }
    }

    fn http_request(&self, job: &Job, url: url::Url, timeout: Duration) -> FetchRequest {
        let headers: BTreeMap<String, String> = job
            .headers
            .as_ref()
            .and_then(|h| serde_json::from_value(h.0.clone()).ok())
            .unwrap_or_default();
        FetchRequest {
            url,
            method: job.method,
            headers,
            body: job.body.clone(),
            timeout,
        }
    }

    async fn escalated(&self, job: &Job, from: &str, to: &str, reason: &str, d: &Detection) {
        self.event(
            job,
            EventType::Escalated,
            serde_json::json!({ "from": from, "to": to, "reason": reason,
                "protection": d.protection, "captcha": d.captcha, "score": d.score }),
            None,
        )
        .await;
    }

    /// Renders in the browser; with `stealth`, under a fingerprint from the table.
    async fn render(
        &self,
        job: &Job,
        url: url::Url,
        timeout: Duration,
        stealth: bool,
        proxy: Option<&ProxyRoute>,
    ) -> Result<Fetched, FetchError> {
        let Some(browser) = &self.browser else {
            return Err(FetchError::Browser("this worker runs no browser".into()));
        };
        let engine = if stealth {
            Engine::Stealth
        } else {
            Engine::Browser
        };
        self.reserve_for(job, engine).await?;
        self.event(
            job,
            EventType::EngineSelected,
            serde_json::json!({ "engine": engine }),
            None,
        )
        .await;
        let picked = if stealth {
            self.db.pick_fingerprint().await.ok().flatten()
        } else {
            None
        };
        let fingerprint = picked.as_ref().map(fingerprint_of);
        if let (Some(row), Some(fp)) = (&picked, &fingerprint) {
            self.event(
                job,
                EventType::FingerprintApplied,
                serde_json::json!({ "fingerprint_id": row.id, "user_agent": fp.user_agent, "timezone": fp.timezone }),
                None,
            )
            .await;
        }
        // The browser reaches the provider through a relay of the job's own, which adds the
        // credentials and counts the bytes.
        let relay = match proxy {
            Some(route) => {
                self.event(
                    job,
                    EventType::ProxyAssigned,
                    serde_json::json!({ "provider": route.provider, "tier": job.proxy_tier, "engine": engine }),
                    None,
                )
                .await;
                Some(crate::relay::ProxyRelay::start(route).await?)
            }
            None => None,
        };
        let options = &job.options.0;
        let sent = serde_json::json!({ "engine": engine, "url": url.as_str(), "proxied": proxy.is_some() });
        self.event(job, EventType::RequestSent, sent, None).await;
        let rendered = browser
            .render(&RenderRequest {
                url,
                timeout,
                wait_for: options.wait_for.clone(),
                wait_time: Duration::from_millis(u64::from(options.wait_time)),
                wait_until: options.wait_until,
                screenshot: options.screenshot,
                pdf: options.pdf,
                block: options.block_resources.clone(),
                fingerprint,
                solver: crate::captcha::paid(&self.config.captcha_solver, &self.db, job, engine),
                proxy_server: relay.as_ref().map(|r| r.endpoint()),
            })
            .await;
        if let (Some(route), Some(relay)) = (&proxy, &relay) {
            let page = rendered.as_ref().ok().map(|r| &r.page);
            self.log_proxy_use(job, route, page, relay).await;
        }
        drop(relay);
        let mut rendered = rendered?;
        rendered.page.proxy = proxy.as_ref().map(|route| route.used(job));
        let detection = detect(
            rendered.page.status,
            &rendered.page.headers,
            &String::from_utf8_lossy(&rendered.page.body),
        );
        if let Some(row) = &picked
            && let Err(err) = self
                .db
                .record_fingerprint_use(row.id, !detection.challenged())
                .await
        {
            tracing::warn!(error = %err, "fingerprint use not recorded");
        }
        Ok(Fetched {
            page: rendered.page,
            screenshot: rendered.screenshot,
            pdf: rendered.pdf,
            engine,
            detection,
            captcha: rendered.captcha,
            http_was_shell: false,
            protection_seen: None,
        })
    }

    /// Raises the job's reservation to the price of running on `engine` (an escalation, or a
    /// start its organization's history chose), or refuses the engine.
    async fn reserve_for(&self, job: &Job, engine: Engine) -> Result<(), FetchError> {
        let run = scraperx_core::domain::pricing::Run {
            engine,
            captcha_solved: false,
        };
        let price = scraperx_core::domain::pricing::step_price(job.proxy_tier, &job.options.0, run);
        match self.db.reserve_up_to(job.id, price).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(FetchError::InsufficientCredits(price)),
            Err(e) => Err(FetchError::Network(format!("credits: {e}"))),
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

    async fn complete(&self, job: &Job, fetched: Fetched) -> Result<(), CompleteError> {
        let Fetched {
            page,
            screenshot,
            pdf,
            engine,
            detection,
            captcha,
            protection_seen,
            ..
        } = fetched;
        self.captcha_events(job, &detection, captcha.as_ref()).await;
        let t = page.timings;
        self.event(
            job,
            EventType::ResponseReceived,
            serde_json::json!({ "status": page.status, "final_url": page.final_url.as_str(),
                "redirects": page.redirect_count, "bytes": page.body.len(), "timings": t }),
            Some(t.total_ms),
        )
        .await;
        let options = &job.options.0;
        let content_hash = hex::encode(Sha256::digest(&page.body));
        let text_like = page
            .content_type
            .as_deref()
            .is_none_or(scraperx_core::content::store::is_text);
        let mut result = NewJobResult {
            status_code: Some(i32::from(page.status)),
            headers: serde_json::to_value(&page.headers).ok(),
            content_type: page.content_type.clone(),
            content_length: i64::try_from(page.body.len()).ok(),
            final_url: Some(page.final_url.to_string()),
            redirect_count: i32::try_from(page.redirect_count).unwrap_or(i32::MAX),
            content_hash: Some(content_hash),
            dns_time_ms: t.dns_ms.and_then(|v| i32::try_from(v).ok()),
            connect_time_ms: t.connect_ms.and_then(|v| i32::try_from(v).ok()),
            tls_time_ms: t.tls_ms.and_then(|v| i32::try_from(v).ok()),
            ttfb_ms: t.ttfb_ms.and_then(|v| i32::try_from(v).ok()),
            download_time_ms: t.download_ms.and_then(|v| i32::try_from(v).ok()),
            render_time_ms: t.render_ms.and_then(|v| i32::try_from(v).ok()),
            total_time_ms: i32::try_from(t.total_ms).ok(),
            protection_detected: detection.protection.or(protection_seen).map(str::to_owned),
            captcha_encountered: detection.captcha.is_some() || captcha.is_some(),
            captcha_type: captcha
                .as_ref()
                .map(|c| c.kind.clone())
                .or_else(|| detection.captcha.map(str::to_owned)),
            captcha_solved: captcha.as_ref().is_some_and(|c| c.solved),
            captcha_solve_time_ms: captcha
                .as_ref()
                .and_then(|c| i32::try_from(c.solve_ms).ok()),
            detection_score: Some(detection.score),
            status_text: reqwest::StatusCode::from_u16(page.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .map(str::to_owned),
            cookies: (!page.cookies.is_empty())
                .then(|| serde_json::to_value(&page.cookies).ok())
                .flatten(),
            content_encoding: page.content_encoding.clone(),
            proxy_ip: page.proxy.as_ref().and_then(|p| p.ip),
            proxy_country: page.proxy.as_ref().and_then(|p| p.country.clone()),
            proxy_provider: page.proxy.as_ref().map(|p| p.provider.clone()),
            ..NewJobResult::default()
        };
        let job_ref = JobRef {
            org: job.organization_id,
            job: job.id,
            created_at: job.created_at,
        };
        if let Some(png) = screenshot {
            let shot = self
                .content
                .store_screenshot(job_ref, png)
                .await
                .map_err(CompleteError::Store)?;
            self.event(
                job,
                EventType::ScreenshotTaken,
                serde_json::json!({ "width": shot.width, "height": shot.height, "bytes": shot.full.size }),
                None,
            )
            .await;
            result.screenshot_minio_bucket = Some(shot.full.bucket.name().to_owned());
            result.screenshot_minio_key = Some(shot.full.key);
            result.screenshot_thumbnail_key = Some(shot.thumbnail.key);
            result.screenshot_width = i32::try_from(shot.width).ok();
            result.screenshot_height = i32::try_from(shot.height).ok();
        }
        if let Some(bytes) = pdf {
            result.pdf_page_count = Some(pdf_pages(&bytes));
            let stored = self
                .content
                .store_pdf(job_ref, bytes)
                .await
                .map_err(CompleteError::Store)?;
            result.pdf_minio_bucket = Some(stored.bucket.name().to_owned());
            result.pdf_minio_key = Some(stored.key);
        }
        if text_like && page.body.len() <= self.config.inline_limit {
            result.content_storage = Some(ContentStorage::Inline);
            result.content_inline = Some(String::from_utf8_lossy(&page.body).into_owned());
        } else if !page.body.is_empty() {
            let stored = self
                .content
                .store_content(
                    job_ref,
                    page.body.clone(),
                    page.content_type
                        .as_deref()
                        .unwrap_or("application/octet-stream"),
                )
                .await
                .map_err(CompleteError::Store)?;
            result.content_storage = Some(ContentStorage::Minio);
            result.content_minio_bucket = Some(stored.bucket.name().to_owned());
            result.content_minio_key = Some(stored.key);
            result.content_compressed = stored.compressed;
        } else {
            result.content_storage = Some(ContentStorage::None);
        }
        if page.is_html() {
            let html = String::from_utf8_lossy(&page.body).into_owned();
            let base = page.final_url.clone();
            let rules = options.extract.clone();
            let markdown = options.markdown;
            // On an extraction thread of its own, bounded in stack and time.
            let extraction = crate::extract::extract_isolated(html, base, rules, markdown)
                .await
                .map_err(CompleteError::Fetch)?;
            let counts = extraction.summary();
            result.extracted_links = Some(extraction.links_json());
            result.extracted_images = Some(extraction.images_json());
            result.extracted_title = extraction.title;
            result.extracted_text = Some(extraction.text);
            result.extracted_data = extraction.data;
            result.extracted_markdown = extraction.markdown;
            self.event(job, EventType::ContentExtracted, counts, None)
                .await;
        }
        let (done, _) = self
            .db
            .complete_job(job.id, &self.change(JobStatus::Completed), &result, engine)
            .await
            .map_err(CompleteError::Store)?;
        self.publish(&done).await;
        Ok(())
    }

    async fn fail(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        job: &Job,
        err: FetchError,
    ) -> scraperx_core::Result<Outcome> {
        let message = err.to_string();
        if err.retryable() && job.attempts < job.max_attempts {
            let delay = retry_delay(
                u32::try_from(job.attempts).unwrap_or(1),
                self.config.retry_base,
                self.config.retry_max,
            );
            let mut change = self.change(JobStatus::Queued).error(err.code(), &message);
            change.event_data = serde_json::json!({ "reason": "retry", "error": err.code() });
            let back = self.db.transition_job(job.id, &change).await?;
            self.event(
                job,
                EventType::RetryScheduled,
                serde_json::json!({ "attempt": job.attempts, "delay_ms": delay.as_millis() as u64,
                    "error_code": err.code(), "error": message }),
                None,
            )
            .await;
            if !queue.retry(lease, delay).await? {
                tracing::warn!(job = %job.id, "lease lost before the retry was scheduled");
            }
            self.publish(&back).await;
            return Ok(Outcome::Retried);
        }
        let (status, outcome) = match err {
            FetchError::Timeout(_) => (JobStatus::Timeout, Outcome::TimedOut),
            _ => (JobStatus::Failed, Outcome::Failed),
        };
        // Failed work is not charged.
        let change = self.change(status).error(err.code(), &message);
        let (done, _) = self.db.finish_job(job.id, &change, 0).await?;
        self.publish(&done).await;
        queue.ack(lease).await?;
        Ok(outcome)
    }
}

/// Pages in a PDF: its page objects (`/Type /Page`, not the `/Pages` tree nodes), which
/// Chromium writes uncompressed.
fn pdf_pages(pdf: &[u8]) -> i32 {
    let mut pages = 0;
    let mut rest = pdf;
    while let Some(at) = rest.windows(5).position(|w| w == b"/Type") {
        rest = &rest[at + 5..];
        let after = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let tail = &rest[after..];
        if tail.starts_with(b"/Page") && !tail.starts_with(b"/Pages") {
            pages += 1;
        }
    }
    pages
}

/// The stealth engine's view of a fingerprint row, with coherent defaults for gaps.
fn fingerprint_of(row: &scraperx_core::pg::FingerprintRow) -> Fingerprint {
    let nav = row
        .navigator_properties
        .as_ref()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    let webgl = row
        .webgl_properties
        .as_ref()
        .map(|w| w.0.clone())
        .unwrap_or_default();
    let text = |v: &serde_json::Value, k: &str, d: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or(d).to_owned()
    };
    let number =
        |k: &str, d: u64| nav.get(k).and_then(serde_json::Value::as_u64).unwrap_or(d) as u32;
    let locale = row.locale.clone().unwrap_or_else(|| "en-US".into());
    let languages = nav
        .get("languages")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_else(|| vec![locale.clone()]);
    Fingerprint {
        user_agent: row.user_agent.clone(),
        accept_language: row
            .accept_language
            .clone()
            .unwrap_or_else(|| format!("{locale},en;q=0.8")),
        platform: text(&nav, "platform", "Win32"),
        languages,
        screen_width: row
            .screen_width
            .and_then(|w| u32::try_from(w).ok())
            .unwrap_or(1920),
        screen_height: row
            .screen_height
            .and_then(|h| u32::try_from(h).ok())
            .unwrap_or(1080),
        device_pixel_ratio: row.device_pixel_ratio.unwrap_or(1.0),
        timezone: row
            .timezone
            .clone()
            .unwrap_or_else(|| "America/New_York".into()),
        locale,
        webgl_vendor: text(&webgl, "vendor", "Google Inc."),
        webgl_renderer: text(&webgl, "renderer", "ANGLE"),
        hardware_concurrency: number("hardwareConcurrency", 8),
        device_memory: number("deviceMemory", 8),
    }
}

/// The engine charged for: an auto job fetched over plain HTTP costs what an http job costs.
enum CompleteError {
    /// The page itself is the problem (e.g. a bad extraction rule): the job fails.
    Fetch(FetchError),
    /// Storage is: the job is delivered again later.
    Store(Error),
    /// The lease lapsed meanwhile: the job is another worker's now.
    LeaseLost,
}

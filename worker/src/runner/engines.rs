//! The fetch of one attempt, over the engines: politeness first, then stage after stage
//! (plain HTTP, the browser, stealth) as the planner ([`plan::after_page`]) decides, each
//! stage through the job's proxy route when it has one. Whatever the outcome, the politeness
//! pass is released and the domain's intelligence records it.

use std::time::Duration;

use scraperx_core::{
    domain::{Engine, geo::country_timezone},
    pg::{DomainOutcome, Job, ProxyUse},
};

use super::{
    Fetched, Runner,
    events::{EngineSelected, Escalated, FingerprintApplied, ProxyAssigned, RequestSent},
    plan::{self, PageSeen, Step},
};
use crate::{
    browser::{Device, Emulation, Fingerprint, RenderRequest},
    detect::{Detection, detect},
    error::FetchError,
    fetch::{FetchRequest, FetchedPage},
    proxy::ProxyRoute,
    relay::ProxyRelay,
};

/// What escalated stages taught the one that kept its page: the plain-HTTP page was an
/// empty JavaScript shell, and the protection seen on the way (the last page may show none).
#[derive(Debug, Clone, Copy, Default)]
struct Carried {
    http_was_shell: bool,
    protection_seen: Option<&'static str>,
}

impl Runner {
    /// Fetches with the job's engines, politely, and records what the domain taught us.
    pub(super) async fn fetch(&self, job: &Job, timeout: Duration) -> Result<Fetched, FetchError> {
        let url = url::Url::parse(&job.url).map_err(|e| FetchError::Invalid(e.to_string()))?;
        let started = tokio::time::Instant::now();
        let pass = self.politeness.admit(&url, &self.http, timeout).await?;
        let learned = self.learned(job, &url).await;
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
            let outcome = domain_outcome(job, domain, &fetched);
            if let Err(err) = self.db.record_domain_outcome(&outcome).await {
                tracing::warn!(%domain, error = %err, "domain intelligence not recorded");
            }
        }
        fetched
    }

    /// The engine the job's organization learned for the domain, when the planner wants it.
    /// Only the job's own organization's history steers an auto job (and its bill).
    async fn learned(&self, job: &Job, url: &url::Url) -> Option<Engine> {
        let host = url.host_str()?;
        if !plan::reads_learned(job.engine, self.browser.is_some()) {
            return None;
        }
        self.db
            .learned_engine(job.organization_id, host)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "learned engine not read; starting on http");
                None
            })
    }

    /// Runs stage after stage until the planner keeps a page (or a stage fails).
    async fn fetch_engines(
        &self,
        job: &Job,
        url: url::Url,
        timeout: Duration,
        learned: Option<Engine>,
    ) -> Result<Fetched, FetchError> {
        // One route for the whole job, whichever engines it takes: the provider is picked
        // (and a resting one's probe claimed) once.
        let route = crate::proxy::route_for(&self.db, self.config.secrets.as_ref(), job).await?;
        let route = route.as_ref();
        let mut stage = plan::first_stage(job.engine, &job.options.0, learned);
        let mut carried = Carried::default();
        loop {
            let mut fetched = match stage {
                Engine::Http | Engine::Auto => {
                    self.fetch_http(job, url.clone(), timeout, route).await?
                }
                Engine::Browser => self.render(job, url.clone(), timeout, false, route).await?,
                Engine::Stealth => self.render(job, url.clone(), timeout, true, route).await?,
            };
            let d = fetched.detection.clone();
            let seen = PageSeen {
                status: fetched.page.status,
                challenged: d.challenged(),
                js_shell: d.js_shell,
            };
            match plan::after_page(job.engine, stage, seen, self.browser.is_some()) {
                Step::Keep => {
                    fetched.http_was_shell = carried.http_was_shell;
                    fetched.protection_seen = carried.protection_seen;
                    return Ok(fetched);
                }
                Step::Refused { status } => return Err(FetchError::RetryableStatus(status)),
                Step::Escalate { to, reason } => {
                    let escalated = Escalated {
                        from: stage,
                        to,
                        reason,
                        protection: d.protection,
                        captcha: d.captcha,
                        score: d.score,
                    };
                    self.event(job, &escalated, None).await;
                    if stage == Engine::Http {
                        carried.http_was_shell = d.js_shell;
                    }
                    carried.protection_seen = d.protection.or(carried.protection_seen);
                    stage = to;
                }
            }
        }
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

    /// The http engine, through the job's proxy when one is configured for its tier; each
    /// proxied use is logged with its bandwidth.
    async fn fetch_http(
        &self,
        job: &Job,
        url: url::Url,
        timeout: Duration,
        route: Option<&ProxyRoute>,
    ) -> Result<Fetched, FetchError> {
        let engine = Engine::Http;
        self.event(job, &EngineSelected { engine }, None).await;
        let request = http_request(job, url, timeout);
        let sent = RequestSent {
            engine,
            method: Some(job.method),
            url: request.url.as_str(),
            proxied: route.is_some(),
        };
        self.event(job, &sent, None).await;
        let page = match route {
            None => self.http.fetch(&request).await?,
            Some(route) => {
                self.proxy_assigned(job, route, engine).await;
                // Through a relay of the job's own, which adds the credentials and counts
                // the bytes on the wire.
                let relay = ProxyRelay::start(route).await?;
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
                fetched?
            }
        };
        let detection = detect_page(&page);
        Ok(Fetched::plain(page, engine, detection))
    }

    async fn proxy_assigned(&self, job: &Job, route: &ProxyRoute, engine: Engine) {
        let assigned = ProxyAssigned {
            provider: route.provider,
            tier: job.proxy_tier,
            country: crate::proxy::exit_country(job),
            engine,
        };
        self.event(job, &assigned, None).await;
    }

    /// Logs a proxied fetch with the bytes its relay counted. It failed only if the provider
    /// did (unreachable, refusing the credentials): a target's errors are not the proxy's.
    async fn log_proxy_use(
        &self,
        job: &Job,
        route: &ProxyRoute,
        page: Option<&FetchedPage>,
        relay: &ProxyRelay,
    ) {
        let (received, sent) = relay.traffic();
        let usage = ProxyUse {
            provider: route.provider,
            job: job.id,
            org: job.organization_id,
            tier: job.proxy_tier,
            country: crate::proxy::exit_country(job).map(str::to_owned),
            bytes_in: i64::try_from(received).unwrap_or(i64::MAX),
            bytes_out: i64::try_from(sent).unwrap_or(i64::MAX),
            success: relay.proxy_failures() == 0,
            response_ms: page.and_then(|p| i32::try_from(p.timings.total_ms).ok()),
        };
        if let Err(err) = self.db.record_proxy_use(&usage).await {
            tracing::warn!(error = %err, "proxy use not recorded");
        }
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
        self.event(job, &EngineSelected { engine }, None).await;
        let options = &job.options.0;
        let session = job.proxy_session_id.as_deref();
        // A phone's fingerprint for a mobile job, whichever engine wears it.
        let phone = if options.mobile {
            self.db
                .pick_mobile_fingerprint(session)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let picked = match (stealth, &phone) {
            (true, Some(row)) => Some(row.clone()),
            (true, None) => self.db.pick_fingerprint(session).await.ok().flatten(),
            (false, _) => None,
        };
        let place = Place::of(job);
        let fingerprint = picked
            .as_ref()
            .map(|row| place.dress(Fingerprint::from_row(row)));
        if let (Some(row), Some(fp)) = (&picked, &fingerprint) {
            let applied = FingerprintApplied {
                fingerprint_id: row.id,
                user_agent: &fp.user_agent,
                timezone: &fp.timezone,
            };
            self.event(job, &applied, None).await;
        }
        // The browser reaches the provider through a relay of the job's own, which adds the
        // credentials and counts the bytes.
        let relay = match proxy {
            Some(route) => {
                self.proxy_assigned(job, route, engine).await;
                Some(ProxyRelay::start(route).await?)
            }
            None => None,
        };
        let sent = RequestSent {
            engine,
            method: None,
            url: url.as_str(),
            proxied: proxy.is_some(),
        };
        self.event(job, &sent, None).await;
        let mut request =
            self.render_request(job, url, timeout, fingerprint, relay.as_ref(), engine);
        if !stealth {
            request.emulation = place.emulation(phone.as_ref().map(Device::from_row));
        }
        let rendered = browser.render(&request).await;
        if let (Some(route), Some(relay)) = (&proxy, &relay) {
            let page = rendered.as_ref().ok().map(|r| &r.page);
            self.log_proxy_use(job, route, page, relay).await;
        }
        drop(relay);
        let mut rendered = rendered?;
        rendered.page.proxy = proxy.map(|route| route.used(job));
        let detection = detect_page(&rendered.page);
        if let Some(row) = &picked
            && let Err(err) = self
                .db
                .record_fingerprint_use(row.id, !detection.challenged())
                .await
        {
            tracing::warn!(error = %err, "fingerprint use not recorded");
        }
        Ok(Fetched {
            screenshot: rendered.screenshot,
            pdf: rendered.pdf,
            captcha: rendered.captcha,
            actions: rendered.actions,
            ..Fetched::plain(rendered.page, engine, detection)
        })
    }

    fn render_request(
        &self,
        job: &Job,
        url: url::Url,
        timeout: Duration,
        fingerprint: Option<Fingerprint>,
        relay: Option<&ProxyRelay>,
        engine: Engine,
    ) -> RenderRequest {
        let options = &job.options.0;
        RenderRequest {
            url,
            timeout,
            wait_for: options.wait_for.clone(),
            wait_time: Duration::from_millis(u64::from(options.wait_time)),
            wait_until: options.wait_until,
            screenshot: options.screenshot,
            screenshot_mode: options.screenshot_mode.unwrap_or_default(),
            pdf: options.pdf,
            block: options.block_resources.clone(),
            fingerprint,
            solver: crate::captcha::paid(&self.config.captcha_solver, &self.db, job, engine),
            proxy_server: relay.map(ProxyRelay::endpoint),
            actions: options.actions.clone(),
            emulation: Emulation::default(),
        }
    }
}

impl Fetched {
    /// A page alone: no artifacts, no CAPTCHA work, nothing carried from earlier stages.
    fn plain(page: FetchedPage, engine: Engine, detection: Detection) -> Self {
        Self {
            page,
            screenshot: None,
            pdf: None,
            engine,
            detection,
            captcha: None,
            actions: Default::default(),
            http_was_shell: false,
            protection_seen: None,
        }
    }
}

fn detect_page(page: &FetchedPage) -> Detection {
    detect(
        page.status,
        &page.headers,
        &String::from_utf8_lossy(&page.body),
    )
}

/// What the attempt teaches the domain's intelligence.
fn domain_outcome<'a>(
    job: &Job,
    domain: &'a str,
    fetched: &Result<Fetched, FetchError>,
) -> DomainOutcome<'a> {
    match fetched {
        Ok(f) => DomainOutcome {
            organization_id: job.organization_id,
            domain,
            success: !f.detection.challenged() && f.page.status < 400,
            response_ms: i32::try_from(f.page.timings.total_ms).ok(),
            protection: f.detection.protection.or(f.protection_seen),
            escalated_to: job.engine.teaches(&job.options.0, f.engine),
            needed_javascript: f.http_was_shell && f.engine != Engine::Http,
            rate_limited: f.page.status == 429,
        },
        Err(e) => DomainOutcome {
            organization_id: job.organization_id,
            domain,
            success: false,
            response_ms: None,
            protection: None,
            escalated_to: None,
            needed_javascript: false,
            rate_limited: matches!(e, FetchError::RetryableStatus(429)),
        },
    }
}

fn http_request(job: &Job, url: url::Url, timeout: Duration) -> FetchRequest {
    let mut headers = job
        .headers
        .as_ref()
        .map(|h| h.0.clone())
        .unwrap_or_default();
    // A location's languages, unless the job sends its own.
    if let Some(location) = &job.options.0.location
        && !headers.contains("accept-language")
    {
        headers.insert("Accept-Language", location.accept_language());
    }
    FetchRequest {
        url,
        method: job.method,
        headers: headers.into_map(),
        body: job.body.clone(),
        timeout,
    }
}

/// Where a job's visitor is: the languages its location claims and the timezone of its
/// proxy's country (the location's when the job names no proxy country).
#[derive(Debug, Clone, Default, PartialEq)]
struct Place {
    languages: Vec<String>,
    timezone: Option<&'static str>,
}

impl Place {
    fn of(job: &Job) -> Self {
        let options = &job.options.0;
        let country = options.proxy_country(job.proxy_country.as_deref());
        Self {
            languages: options
                .location
                .as_ref()
                .map(|l| l.claimed_languages())
                .unwrap_or_default(),
            timezone: country.and_then(country_timezone),
        }
    }

    /// The stealth engine's fingerprint, placed: the clock and languages a person behind
    /// the proxy's address would have.
    fn dress(&self, mut fp: Fingerprint) -> Fingerprint {
        if let Some(zone) = self.timezone {
            fp.timezone = zone.to_owned();
        }
        if let Some(first) = self.languages.first() {
            fp.locale = first.clone();
            fp.languages = self.languages.clone();
        }
        fp
    }

    /// The browser engine's emulation: the location's languages and timezone, and a phone.
    fn emulation(&self, device: Option<Device>) -> Emulation {
        let located = !self.languages.is_empty();
        Emulation {
            languages: self.languages.clone(),
            // Only a job that gave a location moves the browser engine's clock.
            timezone: self.timezone.filter(|_| located).map(str::to_owned),
            device,
        }
    }
}

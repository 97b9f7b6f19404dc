//! The browser engines: one long-lived headless Chromium per worker (chromiumoxide) and
//! font set (the machine's own, or a stealth fingerprint's font profile, [`stealth::fonts`];
//! at most `MAX_BROWSERS` at once), one isolated browser context per job (its own cookies,
//! storage and cache), at most `contexts` at once. A browser is replaced after
//! `pages_per_browser` pages, and relaunched when it dies; a page can take down its
//! context, never the worker.
//!
//! Chromium runs with its sandbox, never as root, and WebRTC sends no UDP outside the proxy
//! ([`launch`]).
//!
//! Every connection a page makes goes through the job's relay ([`crate::relay`]). Without a
//! proxy provider the relay resolves and connects itself, under the address rule, so a page
//! cannot reach private addresses through scripts, images, redirects or DNS rebinding.
//! Requests are paused (the Fetch domain) and judged before they leave when a resource class
//! is blocked, and, behind a provider (which resolves names on its side), to check their
//! addresses first.

pub mod actions;
pub mod capture;
mod context;
mod cover;
mod document;
pub mod emulate;
mod idle;
mod intercept;
pub mod launch;
mod solve;
pub mod stealth;
mod watch;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use chromiumoxide::{
    Browser, Page,
    cdp::browser_protocol::{
        emulation::SetAutomationOverrideParams, page::PrintToPdfParams,
        target::CreateBrowserContextParams,
    },
};
use futures::StreamExt;
use scraperx_core::domain::{Action, ResourceType, ScreenshotMode, WaitUntil};
use tokio::sync::{Mutex, Semaphore};

use crate::{
    captcha::{CaptchaOutcome, SolverHandle},
    error::FetchError,
    fetch::{FetchedPage, Timings, timing::elapsed_ms},
};
pub use emulate::{Device, Emulation};
pub use stealth::{Fingerprint, fonts::FontProfile};

/// A bound on the calls around a page (opening a context and page, closing them): past it
/// the browser counts as hung and is replaced.
const BROWSER_CALL: Duration = Duration::from_secs(10);
/// How long a page past its time has to answer a trivial script before it counts as
/// unresponsive (a script that never yields) rather than slow.
pub const PROBE: Duration = Duration::from_secs(1);
/// The JavaScript heap a page may use: past it its renderer dies (a page that allocates
/// without bound ends as `page_crashed` within seconds, not after gigabytes; most of those
/// seconds are Chromium's crash reporting).
const JS_HEAP_MIB: u32 = 512;
pub use watch::MAX_DIALOGS;

/// How the browser is launched and pooled.
#[derive(Debug, Clone)]
pub struct BrowserSettings {
    pub executable: PathBuf,
    /// Isolated contexts (jobs) at once.
    pub contexts: usize,
    /// Pages served before the browser is replaced.
    pub pages_per_browser: usize,
    pub allow_private: bool,
    /// The page's HTML, its screenshot and its PDF may each be at most this large.
    pub max_bytes: usize,
}

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub url: url::Url,
    pub timeout: Duration,
    pub wait_for: Option<String>,
    pub wait_time: Duration,
    /// What counts as loaded: the load event, or the network quiet after it.
    pub wait_until: WaitUntil,
    pub screenshot: bool,
    /// How the screenshot is taken (full page or viewport, PNG or JPEG, its viewport).
    pub screenshot_mode: ScreenshotMode,
    pub pdf: bool,
    pub block: Vec<ResourceType>,
    pub fingerprint: Option<Fingerprint>,
    /// Solves a CAPTCHA widget found on the page; None: leave it.
    pub solver: Option<SolverHandle>,
    /// Sends the page's requests through this proxy, `http://host:port` without
    /// credentials (its own browser context's setting): a job's [`crate::relay::ProxyRelay`].
    pub proxy_server: Option<String>,
    /// Run in order once the page has loaded (and after `wait_for`, `wait_time`).
    pub actions: Vec<Action>,
    /// The browser engine's location and device (the stealth engine's are its fingerprint's).
    pub emulation: Emulation,
}

/// A rendered page and what was captured of it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub page: FetchedPage,
    pub screenshot: Option<Bytes>,
    pub pdf: Option<Bytes>,
    /// Requests refused by the interception (blocked classes and addresses).
    pub blocked_requests: usize,
    /// A widget met with a solver configured, and how solving went.
    pub captcha: Option<CaptchaOutcome>,
    /// What the job's actions gave back (empty without actions).
    pub actions: actions::RawOutputs,
}

struct Running {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    /// Chromium's process, watched to replace a browser that died.
    pid: Option<u32>,
    /// A call to it went unanswered: replace it.
    broken: std::sync::atomic::AtomicBool,
    served: AtomicUsize,
    /// Its DevTools address, for the stealth engine's own connection ([`cover`]).
    ws: String,
    /// Its full version (`156.0.8078.114`), which the stealth engine claims.
    engine: String,
    /// Its own user agent, kept when only the languages are overridden.
    user_agent: String,
    /// Killed when dropped, before its profile is removed.
    _process: tokio::process::Child,
    _profile: TempProfile,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The browser process goes with `_process` (kill on drop); its event loop with it.
        self.handler.abort();
    }
}

impl Running {
    /// Whether Chromium still runs: its process is neither gone nor a zombie, and its
    /// connection still has a reader.
    fn alive(&self) -> bool {
        if self.handler.is_finished() || self.broken.load(Ordering::Relaxed) {
            return false;
        }
        let Some(pid) = self.pid else {
            return true;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            // The state follows the parenthesised command name.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| !matches!(state, "Z" | "X" | "x"))
        })
    }

    /// Returns once Chromium is gone: a page it was rendering will never answer, so the
    /// job fails over to a fresh browser now instead of at its timeout.
    async fn died(&self) {
        while self.alive() {
            tokio::time::sleep(BROWSER_WATCH_INTERVAL).await;
        }
    }
}

/// How often a render checks that its browser still runs.
const BROWSER_WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A fresh, empty user-data directory, removed with the browser.
struct TempProfile(PathBuf);

impl Drop for TempProfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Browsers kept at once: the honest one (and Linux fingerprints') and a stealth one per
/// font profile in use; past it the least recently used is let go.
const MAX_BROWSERS: usize = 3;

/// A pooled browser: launched with `fonts` (none: the machine's own).
struct Slot {
    fonts: Option<FontProfile>,
    running: Arc<Running>,
    used: Instant,
}

pub struct BrowserPool {
    settings: BrowserSettings,
    browsers: Mutex<Vec<Slot>>,
    permits: Semaphore,
}

impl BrowserPool {
    pub fn new(settings: BrowserSettings) -> Self {
        let permits = Semaphore::new(settings.contexts.max(1));
        Self {
            settings,
            browsers: Mutex::new(Vec::new()),
            permits,
        }
    }

    async fn launch(&self, fonts: Option<&FontProfile>) -> Result<Arc<Running>, FetchError> {
        let profile = TempProfile(launch::new_profile());
        let launch::Launched {
            browser,
            mut handler,
            process,
            ws,
        } = launch::launch(&self.settings.executable, &profile.0, JS_HEAP_MIB, fonts).await?;
        let pid = process.id();
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if event.is_err() {
                    // One bad message is not fatal; the connection ending is.
                    continue;
                }
            }
        });
        let version = browser
            .version()
            .await
            .map_err(|e| FetchError::Browser(format!("version: {e}")))?;
        let product = version.product;
        let engine = stealth::engine_version(&product)
            .ok_or_else(|| FetchError::Browser(format!("version: {product}")))?;
        Ok(Arc::new(Running {
            browser,
            handler,
            pid,
            broken: Default::default(),
            served: AtomicUsize::new(0),
            ws,
            engine,
            user_agent: version.user_agent,
            _process: process,
            _profile: profile,
        }))
    }

    /// The live browser with `fonts`, launched or replaced as needed.
    async fn browser(&self, fonts: Option<&FontProfile>) -> Result<Arc<Running>, FetchError> {
        let mut browsers = self.browsers.lock().await;
        let found = browsers.iter().position(|s| s.fonts.as_ref() == fonts);
        let usable = found.is_some_and(|i| {
            let r = &browsers[i].running;
            r.alive() && r.served.load(Ordering::Relaxed) < self.settings.pages_per_browser
        });
        let at = match found {
            Some(i) if usable => i,
            _ => {
                // An old browser closes when its last page is done with it.
                if let Some(i) = found {
                    browsers.remove(i);
                }
                if browsers.len() >= MAX_BROWSERS
                    && let Some(i) = (0..browsers.len()).min_by_key(|&i| browsers[i].used)
                {
                    browsers.remove(i);
                }
                let running = self.launch(fonts).await?;
                browsers.push(Slot {
                    fonts: fonts.cloned(),
                    running,
                    used: Instant::now(),
                });
                browsers.len() - 1
            }
        };
        browsers[at].used = Instant::now();
        Ok(browsers[at].running.clone())
    }

    /// The process id of the browser used last, if one runs.
    pub async fn browser_pid(&self) -> Option<u32> {
        let browsers = self.browsers.lock().await;
        browsers
            .iter()
            .max_by_key(|s| s.used)
            .and_then(|s| s.running.pid)
    }

    /// Renders `req` in a context of its own.
    pub async fn render(&self, req: &RenderRequest) -> Result<Rendered, FetchError> {
        // The job's time runs from here: waiting for a context and opening it count.
        let deadline = tokio::time::Instant::now() + req.timeout;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| FetchError::Browser("browser pool closed".into()))?;
        let fonts = req.fingerprint.as_ref().and_then(Fingerprint::font_profile);
        let running = self.browser(fonts.as_ref()).await?;
        running.served.fetch_add(1, Ordering::Relaxed);
        // Without a provider, a direct relay makes the context's connections itself, each
        // one under the address rule (Chromium then never resolves a name on its own).
        let direct = match (&req.proxy_server, self.settings.allow_private) {
            (None, false) => Some(crate::relay::ProxyRelay::direct(false).await?),
            _ => None,
        };
        let proxy_server = req
            .proxy_server
            .clone()
            .or_else(|| direct.as_ref().map(crate::relay::ProxyRelay::endpoint));
        let context_params = CreateBrowserContextParams {
            // Never go around the relay or proxy, loopback included.
            proxy_bypass_list: proxy_server.as_ref().map(|_| "<-loopback>".to_owned()),
            proxy_server,
            ..CreateBrowserContextParams::default()
        };
        let (context, page, mut watch) =
            context::JobContext::open(&running, context_params).await?;
        // Addresses are checked in the page only behind a provider, which resolves names
        // itself; the direct relay checks every connection it makes.
        let check_addresses = !self.settings.allow_private && req.proxy_server.is_some();
        let rendering = async {
            tokio::select! {
                rendered = self.drive(&running, &page, req, check_addresses) => rendered,
                Ok(failed) = &mut watch.failure => Err(failed),
                () = running.died() => Err(FetchError::Browser("the browser exited mid-page".into())),
            }
        };
        let outcome = match tokio::time::timeout_at(deadline, rendering).await {
            Ok(outcome) => outcome,
            Err(_) => Err(watch::past_time(&page, watch.arrived(), req.timeout).await),
        };
        drop(watch);
        // Always cleaned up, whatever happened to the page.
        let ended_well = running.alive()
            && !matches!(
                outcome,
                Err(FetchError::Timeout(_)
                    | FetchError::PageCrashed(_)
                    | FetchError::PageUnresponsive(_)
                    | FetchError::TooManyDialogs(_))
            );
        context.close(ended_well).await;
        // The page itself refused on the connection (its name re-resolved to a private
        // address after the first check): blocked, whatever the browser made of it.
        let page_refused = direct.as_ref().is_some_and(|d| {
            req.url
                .host_str()
                .is_some_and(|host| d.refused_host(scraperx_core::net::bare_host(host)))
        });
        if page_refused {
            return Err(FetchError::Blocked(format!(
                "{} is refused by the address rule",
                req.url.host_str().unwrap_or_default()
            )));
        }
        let mut rendered = outcome?;
        // Requests the relay refused count as blocked too.
        let refused = direct.as_ref().map_or(0, crate::relay::ProxyRelay::refused);
        rendered.blocked_requests += usize::try_from(refused).unwrap_or(usize::MAX);
        Ok(rendered)
    }

    async fn drive(
        &self,
        running: &Running,
        page: &Page,
        req: &RenderRequest,
        check_addresses: bool,
    ) -> Result<Rendered, FetchError> {
        let started = Instant::now();
        // Requests are paused only when something is judged: a blocked class, or addresses.
        let blocked = if check_addresses || !req.block.is_empty() {
            intercept::install(page, check_addresses, &req.block).await?
        } else {
            Arc::default()
        };
        // Held until the page is read: the disguise of its frames and workers.
        let _cover = disguise(running, page, req.fingerprint.as_ref()).await?;
        emulate::apply(page, &req.emulation, &running.user_agent, &running.engine).await?;
        if req.screenshot {
            capture::apply_viewport(page, &req.screenshot_mode).await?;
        }
        let network = match req.wait_until.idle_allowance() {
            Some(allowance) => Some(idle::NetworkWatch::start(page, allowance).await?),
            None => None,
        };
        let document = document::DocumentWatch::start(page).await?;
        let navigating = Instant::now();
        page.goto(req.url.as_str())
            .await
            .map_err(|e| FetchError::Network(format!("navigation: {e}")))?;
        let ttfb = elapsed_ms(navigating);
        if let Some(network) = network {
            network.idle().await;
        }
        if let Some(selector) = &req.wait_for {
            wait_for_selector(page, selector).await?;
        }
        if !req.wait_time.is_zero() {
            tokio::time::sleep(req.wait_time).await;
        }
        let captcha = match &req.solver {
            Some(solver) => solve::on_page(page, solver, &req.url).await,
            None => None,
        };
        let cap = self.settings.max_bytes;
        let action_outputs = if req.actions.is_empty() {
            actions::RawOutputs::default()
        } else {
            actions::run(page, &req.actions, cap).await?
        };
        let render_ms = elapsed_ms(navigating);
        let html = page
            .content()
            .await
            .map_err(|e| FetchError::Browser(format!("content: {e}")))?;
        if html.len() > cap {
            return Err(FetchError::TooLarge(cap));
        }
        let final_url = page
            .url()
            .await
            .ok()
            .flatten()
            .and_then(|u| url::Url::parse(&u).ok())
            .unwrap_or_else(|| req.url.clone());
        let status: Option<i64> = page
            .evaluate(
                "(() => { const n = performance.getEntriesByType('navigation')[0]; \
                  return n && n.responseStatus ? n.responseStatus : null; })()",
            )
            .await
            .ok()
            .and_then(|r| r.into_value().ok());
        let screenshot = if req.screenshot {
            Some(capture::screenshot(page, &req.screenshot_mode, cap).await?)
        } else {
            None
        };
        let pdf = if req.pdf {
            let bytes = page
                .pdf(PrintToPdfParams {
                    print_background: Some(true),
                    ..PrintToPdfParams::default()
                })
                .await
                .map_err(|e| FetchError::Browser(format!("pdf: {e}")))?;
            if bytes.len() > cap {
                return Err(FetchError::TooLarge(cap));
            }
            Some(Bytes::from(bytes))
        } else {
            None
        };
        // The main document's response as the network saw it; the page's own account of
        // its status when the event was missed.
        let (seen_status, headers) = document.response();
        let status = seen_status
            .or_else(|| status.and_then(|s| u16::try_from(s).ok()))
            .unwrap_or(200);
        // The context's own jar: only this job's cookies are in it.
        let cookies = page
            .get_cookies()
            .await
            .map(|all| all.into_iter().map(document::cookie_of).collect())
            .unwrap_or_default();
        Ok(Rendered {
            page: FetchedPage {
                status,
                final_url,
                redirect_count: 0,
                content_type: Some(
                    headers
                        .get("content-type")
                        .cloned()
                        .unwrap_or_else(|| "text/html; charset=utf-8".into()),
                ),
                // Chromium decoded the document; the coding it came in is recorded.
                content_encoding: headers.get("content-encoding").cloned(),
                headers,
                cookies,
                proxy: None,
                body: Bytes::from(html),
                timings: Timings {
                    ttfb_ms: Some(ttfb),
                    render_ms: Some(render_ms),
                    total_ms: elapsed_ms(started),
                    ..Timings::default()
                },
            },
            screenshot,
            pdf,
            blocked_requests: blocked.load(Ordering::Relaxed),
            captcha,
            actions: action_outputs,
        })
    }
}

/// Under a fingerprint, the stealth disguise of the page and of every target it opens;
/// without one, the browser engine's honesty: the page says it is automated.
async fn disguise(
    running: &Running,
    page: &Page,
    fingerprint: Option<&Fingerprint>,
) -> Result<Option<cover::Cover>, FetchError> {
    let Some(fp) = fingerprint else {
        page.execute(SetAutomationOverrideParams::new(true))
            .await
            .map_err(|e| FetchError::Browser(format!("automation: {e}")))?;
        return Ok(None);
    };
    let scripts = stealth::Scripts::new(fp);
    stealth::apply(page, fp, &scripts).await?;
    let disguise = Arc::new(cover::Disguise::new(fp, &running.engine, &scripts));
    let target = page.target_id().inner().clone();
    Ok(Some(
        cover::Cover::start(&running.ws, &target, disguise).await?,
    ))
}

/// Polls (in the page, so no DOM node id can go stale) until `selector` matches.
pub(crate) async fn wait_for_selector(page: &Page, selector: &str) -> Result<(), FetchError> {
    let literal = serde_json::to_string(selector).unwrap_or_default();
    let probe = format!("document.querySelector({literal}) !== null");
    loop {
        let found: bool = page
            .evaluate(probe.as_str())
            .await
            .map_err(|e| FetchError::Invalid(format!("wait_for: {e}")))?
            .into_value()
            .unwrap_or(false);
        if found {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

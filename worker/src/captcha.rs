//! CAPTCHA solving behind a pluggable interface, off unless a solver is configured
//! (`SCRX_CAPTCHA_SOLVER_URL`, `SCRX_CAPTCHA_SOLVER_KEY`). The browser engines find a widget
//! (reCAPTCHA, hCaptcha, Turnstile) and its site key, ask the solver for a token, put the
//! token where the widget would, and call the page's callback. Whether a CAPTCHA was met
//! and whether it was solved (and how long that took) is recorded on the result. A solve
//! is paid for before it is asked ([`paid`]): its credits are reserved on the job, and
//! the job is charged for it only when it succeeded (core's `domain::pricing`).
//!
//! [`HttpSolver`] speaks a small JSON protocol: `POST <url>` with
//! `{"type", "site_key", "page_url"}` and `Authorization: Bearer <key>`, answered
//! `{"token"}`; an adapter in front of a commercial service (2Captcha, CapSolver, ...)
//! translates.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::error::FetchError;

/// A widget seen on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// recaptcha, hcaptcha or turnstile.
    pub kind: String,
    pub site_key: String,
    pub page_url: String,
}

pub trait CaptchaSolver: Send + Sync {
    fn name(&self) -> &str;
    fn solve<'a>(&'a self, challenge: &'a Challenge) -> BoxFuture<'a, Result<String, FetchError>>;
}

pub const ENV_CAPTCHA_SOLVER_URL: &str = "SCRX_CAPTCHA_SOLVER_URL";
pub const ENV_CAPTCHA_SOLVER_KEY: &str = "SCRX_CAPTCHA_SOLVER_KEY";

pub struct HttpSolver {
    url: url::Url,
    key: String,
    client: reqwest::Client,
}

impl HttpSolver {
    pub fn new(url: url::Url, key: String, timeout: Duration) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| FetchError::Invalid(format!("captcha solver client: {e}")))?;
        Ok(Self { url, key, client })
    }

    /// The solver configured in the environment, if any.
    pub fn from_env() -> Result<Option<Self>, FetchError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, FetchError> {
        let Some(raw) = lookup(ENV_CAPTCHA_SOLVER_URL) else {
            return Ok(None);
        };
        let url = url::Url::parse(&raw).map_err(|e| {
            FetchError::Invalid(format!(
                "{ENV_CAPTCHA_SOLVER_URL}={raw:?} is not valid: {e}"
            ))
        })?;
        let key = lookup(ENV_CAPTCHA_SOLVER_KEY).unwrap_or_default();
        Self::new(url, key, Duration::from_secs(120)).map(Some)
    }
}

impl CaptchaSolver for HttpSolver {
    fn name(&self) -> &str {
        "http"
    }

    fn solve<'a>(&'a self, c: &'a Challenge) -> BoxFuture<'a, Result<String, FetchError>> {
        Box::pin(async move {
            let response = self
                .client
                .post(self.url.clone())
                .bearer_auth(&self.key)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(
                    serde_json::json!({ "type": c.kind, "site_key": c.site_key, "page_url": c.page_url })
                        .to_string(),
                )
                .send()
                .await
                .map_err(|e| FetchError::Network(format!("captcha solver: {e}")))?;
            if !response.status().is_success() {
                return Err(FetchError::Browser(format!(
                    "captcha solver answered {}",
                    response.status()
                )));
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| FetchError::Browser(format!("captcha solver: {e}")))?;
            let body: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| FetchError::Browser(format!("captcha solver: {e}")))?;
            body.get("token")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
                .ok_or_else(|| FetchError::Browser("captcha solver gave no token".into()))
        })
    }
}

/// Finds the widget and its site key in the page (run in the page, no stale node ids).
pub const FIND_WIDGET: &str = r#"(() => {
  const pick = (sel, kind) => { const el = document.querySelector(sel);
    return el && el.getAttribute('data-sitekey') ? { kind, key: el.getAttribute('data-sitekey'),
      callback: el.getAttribute('data-callback') } : null; };
  return pick('.g-recaptcha[data-sitekey]', 'recaptcha') || pick('.h-captcha[data-sitekey]', 'hcaptcha')
      || pick('.cf-turnstile[data-sitekey]', 'turnstile');
})()"#;

/// Puts `token` where the widget keeps its response and calls the page's callback.
pub fn inject(kind: &str, token: &str, callback: Option<&str>) -> String {
    let field = match kind {
        "hcaptcha" => "h-captcha-response",
        "turnstile" => "cf-turnstile-response",
        _ => "g-recaptcha-response",
    };
    let token = serde_json::to_string(token).unwrap_or_else(|_| "\"\"".into());
    let field_js = serde_json::to_string(field).unwrap_or_default();
    let callback = callback
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .unwrap_or_else(|| "null".into());
    format!(
        r#"(() => {{
  const token = {token}; const name = {field_js};
  let el = document.querySelector('[name="' + name + '"]') || document.getElementById(name);
  if (!el) {{ el = document.createElement('textarea'); el.name = name; el.id = name;
    el.style.display = 'none'; (document.forms[0] || document.body).appendChild(el); }}
  el.value = token;
  const cb = {callback};
  if (cb && typeof window[cb] === 'function') {{ window[cb](token); }}
  return true;
}})()"#
    )
}

/// A configured solver, shareable and printable.
#[derive(Clone)]
pub struct SolverHandle(pub std::sync::Arc<dyn CaptchaSolver>);

impl std::fmt::Debug for SolverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SolverHandle({})", self.0.name())
    }
}

/// A job's solver: asks the configured one only once the job's reservation covers its run
/// with the solve (core's `Db::reserve_up_to`), so a solved CAPTCHA is always paid for;
/// without the credits it fails as any solve can, and the page goes on unsolved.
struct PaidSolver {
    inner: SolverHandle,
    db: scraperx_core::pg::Db,
    job: scraperx_core::domain::JobId,
    price: i64,
}

impl CaptchaSolver for PaidSolver {
    fn name(&self) -> &str {
        self.inner.0.name()
    }

    fn solve<'a>(&'a self, challenge: &'a Challenge) -> BoxFuture<'a, Result<String, FetchError>> {
        Box::pin(async move {
            match self.db.reserve_up_to(self.job, self.price).await {
                Ok(true) => self.inner.0.solve(challenge).await,
                Ok(false) => Err(FetchError::InsufficientCredits(self.price)),
                Err(e) => Err(FetchError::Network(format!("captcha credits: {e}"))),
            }
        })
    }
}

/// The configured solver (if any) for `job` running on `engine`, paid for before each solve.
pub fn paid(
    solver: &Option<SolverHandle>,
    db: &scraperx_core::pg::Db,
    job: &scraperx_core::pg::Job,
    engine: scraperx_core::domain::Engine,
) -> Option<SolverHandle> {
    use scraperx_core::domain::pricing;
    let run = pricing::Run {
        engine,
        captcha_solved: true,
    };
    solver.as_ref().map(|inner| {
        SolverHandle(std::sync::Arc::new(PaidSolver {
            inner: inner.clone(),
            db: db.clone(),
            job: job.id,
            price: pricing::step_price(job.proxy_tier, &job.options.0, run),
        }))
    })
}

/// What happened to a CAPTCHA on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptchaOutcome {
    pub kind: String,
    pub solved: bool,
    pub solve_ms: u32,
    pub error: Option<String>,
}

//! Why a fetch failed, and whether trying again may help.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// DNS, connect, TLS or a dropped connection.
    #[error("network error: {0}")]
    Network(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The target answered with a status worth retrying (5xx, 429).
    #[error("the target answered {0}")]
    RetryableStatus(u16),
    /// The target (or a redirect) points at an address this deployment may not reach.
    #[error("blocked target: {0}")]
    Blocked(String),
    #[error("too many redirects")]
    TooManyRedirects,
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("browser error: {0}")]
    Browser(String),
    /// The job asked for a proxy tier that no healthy provider serves right now.
    #[error("no proxy available: {0}")]
    ProxyUnavailable(String),
    /// The page is beyond what extraction does within its time budget (a parse or a
    /// selector that grows faster than the page): the same page would fail again.
    #[error("content too complex: {0}")]
    ContentTooComplex(String),
    /// Extraction itself broke on the page (a panic in a parser or a selector engine).
    #[error("extraction failed: {0}")]
    ExtractionFailed(String),
    /// The page's renderer crashed (out of memory, killed): another attempt may fare better.
    #[error("the page crashed: {0}")]
    PageCrashed(String),
    /// The page's renderer stopped answering (a script that never yields).
    #[error("the page stopped responding: {0}")]
    PageUnresponsive(String),
    /// The page kept opening dialogs (alert, confirm, prompt) past the allowance.
    #[error("the page opened more than {0} dialogs")]
    TooManyDialogs(usize),
    /// The job's run needed a dearer step (an engine, a CAPTCHA solve) whose credits its
    /// organization could not cover: the step was not taken.
    #[error("insufficient credits: {0} needed for this step")]
    InsufficientCredits(i64),
    /// One of the job's browser actions could not be done (a selector that never matched,
    /// a script that threw, an output over its cap): the steps after it did not run.
    #[error("action {step} ({kind}) failed: {reason}")]
    ActionFailed {
        step: usize,
        kind: &'static str,
        reason: String,
    },
}

impl FetchError {
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Network(_)
                | Self::Timeout(_)
                | Self::RetryableStatus(_)
                | Self::Browser(_)
                | Self::ProxyUnavailable(_)
                | Self::PageCrashed(_)
        )
    }

    /// The stable code stored in `scrape_jobs.error_code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Network(_) => "network_error",
            Self::Timeout(_) => "timeout",
            Self::RetryableStatus(429) => "rate_limited_by_target",
            Self::RetryableStatus(_) => "target_server_error",
            Self::Blocked(_) => "blocked_target",
            Self::TooManyRedirects => "too_many_redirects",
            Self::TooLarge(_) => "response_too_large",
            Self::Invalid(_) => "invalid_request",
            Self::Browser(_) => "browser_error",
            Self::ProxyUnavailable(_) => "proxy_unavailable",
            Self::ContentTooComplex(_) => "content_too_complex",
            Self::ExtractionFailed(_) => "extraction_failed",
            Self::PageCrashed(_) => "page_crashed",
            Self::PageUnresponsive(_) => "page_unresponsive",
            Self::TooManyDialogs(_) => "too_many_dialogs",
            Self::InsufficientCredits(_) => "insufficient_credits",
            Self::ActionFailed { .. } => "action_failed",
        }
    }
}

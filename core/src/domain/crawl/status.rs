//! A crawl's states and its pages' states, with every move checked here; the database
//! checks the same lists (`crawls_valid_status`, `crawl_pages_valid_state`) and a test
//! compares them.
//!
//! ```text
//! crawl:  running ⇄ paused          page:  waiting ──► submitted ──► done
//!            │         │                      │   ◄── (credits ran out)
//!            ▼         ▼                      └──► skipped
//!   completed / canceled / failed
//! ```

use crate::{Error, Result};

text_enum! {
    /// Where a crawl is (`crawls.status`).
    pub enum CrawlStatus {
        Running => "running",
        Paused => "paused",
        Completed => "completed",
        Canceled => "canceled",
        Failed => "failed",
    }
}

impl CrawlStatus {
    pub fn can_transition_to(self, next: CrawlStatus) -> bool {
        use CrawlStatus::*;
        match self {
            Running => matches!(next, Paused | Completed | Canceled | Failed),
            Paused => matches!(next, Running | Canceled | Failed),
            Completed | Canceled | Failed => false,
        }
    }

    /// Checks a move; the error names both states.
    pub fn transition(self, next: CrawlStatus) -> Result<CrawlStatus> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(Error::validation(
                "status",
                format!("a crawl cannot move from {self} to {next}"),
            ))
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled | Self::Failed)
    }

    /// The states a move into `self` may start from (for the guarded UPDATE).
    pub fn sources(self) -> Vec<&'static str> {
        sources(Self::ALL, self, Self::can_transition_to, Self::as_str)
    }
}

text_enum! {
    /// Why a crawl ended (`crawls.status_reason`).
    pub enum CrawlReason {
        /// Every page found was scraped (or skipped).
        Exhausted => "frontier_exhausted",
        /// The page limit was reached.
        LimitReached => "limit_reached",
        /// The organization's balance could not cover the next pages.
        InsufficientCredits => "insufficient_credits",
        /// Its owner canceled it.
        Canceled => "canceled",
        /// The start page could not be scraped.
        StartFailed => "start_page_failed",
    }
}

text_enum! {
    /// Where a page of a crawl's frontier is (`crawl_pages.state`).
    pub enum PageState {
        /// Found, waiting for a place under the crawl's concurrency.
        Waiting => "waiting",
        /// Its job exists (or is being created under its idempotency key).
        Submitted => "submitted",
        /// Its job finished and its links were added to the frontier.
        Done => "done",
        /// Never scraped (see its [`SkipReason`]).
        Skipped => "skipped",
    }
}

impl PageState {
    pub fn can_transition_to(self, next: PageState) -> bool {
        use PageState::*;
        match self {
            Waiting => matches!(next, Submitted | Skipped),
            // Back to waiting when the organization could not pay for its job.
            Submitted => matches!(next, Done | Waiting),
            Done | Skipped => false,
        }
    }

    /// The states a move into `self` may start from (for the guarded UPDATE).
    pub fn sources(self) -> Vec<&'static str> {
        sources(Self::ALL, self, Self::can_transition_to, Self::as_str)
    }
}

text_enum! {
    /// Why a page found was not scraped (`crawl_pages.skip_reason`).
    pub enum SkipReason {
        /// robots.txt disallows it.
        Robots => "robots_txt",
        /// Its host is (or resolves to) a private, loopback or link-local address.
        PrivateAddress => "private_address",
        /// A page already scraped names it as its canonical URL, or redirected to it.
        Duplicate => "duplicate",
        /// The crawl's page limit was reached.
        Limit => "limit",
    }
}

text_enum! {
    /// How a page entered the frontier (`crawl_pages.source`).
    pub enum PageSource {
        Start => "start",
        Link => "link",
        Sitemap => "sitemap",
    }
}

/// The text of the states of `all` that may move to `to`.
fn sources<T: Copy>(
    all: &[T],
    to: T,
    allowed: fn(T, T) -> bool,
    text: fn(T) -> &'static str,
) -> Vec<&'static str> {
    all.iter()
        .filter(|&&s| allowed(s, to))
        .map(|&s| text(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_crawl_pauses_resumes_and_ends() {
        use CrawlStatus::*;
        assert!(Running.can_transition_to(Paused));
        assert!(Paused.can_transition_to(Running));
        for end in [Completed, Canceled, Failed] {
            assert!(Running.can_transition_to(end));
            assert!(end.is_terminal());
            for &to in CrawlStatus::ALL {
                assert!(!end.can_transition_to(to), "{end} -> {to}");
            }
        }
        assert!(
            !Paused.can_transition_to(Completed),
            "a paused crawl completes only once resumed"
        );
    }

    #[test]
    fn a_refused_crawl_move_names_both_states() {
        let err = CrawlStatus::Completed
            .transition(CrawlStatus::Running)
            .expect_err("terminal");
        assert!(
            err.to_string().contains("from completed to running"),
            "{err}"
        );
    }

    #[test]
    fn a_page_is_scraped_once_or_skipped_and_never_goes_back_after_it() {
        use PageState::*;
        assert!(Waiting.can_transition_to(Submitted));
        assert!(Submitted.can_transition_to(Done));
        assert!(Submitted.can_transition_to(Waiting));
        assert!(!Done.can_transition_to(Submitted));
        assert!(!Skipped.can_transition_to(Waiting));
        assert_eq!(Submitted.sources(), ["waiting"]);
        assert_eq!(CrawlStatus::Running.sources(), ["paused"]);
    }
}

//! The runner's decisions, each a pure function of what it is given: what a leased job's
//! status calls for, which engine a fetch starts on, whether a page ends the fetch or
//! escalates to a stronger engine, and whether a failed attempt is retried (after which
//! delay) or ends the job. Nothing here does I/O; the driver ([`super`]) reads the inputs
//! from the services and applies the decisions. The rules themselves live in core
//! ([`Engine::starting_learned`], [`JobStatus::may_run_again`], [`retry_delay`]).

use std::time::Duration;

use scraperx_core::{
    domain::{Engine, JobOptions, JobStatus},
    queue::retry_delay,
};

use super::events::Escalation;
use crate::error::FetchError;

/// What a leased job's status calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Queued: run it.
    Run,
    /// Pending (submitted, not yet marked queued): `pending → queued`, then run it.
    Enqueue,
    /// Running, attempts left: its previous worker died mid-lease; `running → queued`,
    /// then run it.
    TakeOver,
    /// Running with no attempts left: each attempt took its worker down (or the worker died
    /// on it). A page that kills workers is not run forever: the job fails `worker_lost`.
    WorkerLost,
    /// Already final: nothing runs; it is settled and announced if that was missed.
    Finished,
}

pub fn admit(status: JobStatus, attempts: i32, max_attempts: i32) -> Admission {
    match status {
        JobStatus::Queued => Admission::Run,
        JobStatus::Pending => Admission::Enqueue,
        JobStatus::Running if JobStatus::may_run_again(attempts, max_attempts) => {
            Admission::TakeOver
        }
        JobStatus::Running => Admission::WorkerLost,
        // Workers retry by moving a job from running straight back to queued, so nothing
        // final is run again.
        JobStatus::Completed | JobStatus::Failed | JobStatus::Timeout | JobStatus::Canceled => {
            Admission::Finished
        }
    }
}

/// Whether the organization's learned engine for the domain is worth reading: only an auto
/// job on a worker that can act on it (one with a browser).
pub fn reads_learned(job: Engine, has_browser: bool) -> bool {
    has_browser && job == Engine::Auto
}

/// The engine the fetch's first stage runs on: where the job starts (its options and its
/// organization's history, `learned`), with auto meaning plain HTTP first.
pub fn first_stage(job: Engine, options: &JobOptions, learned: Option<Engine>) -> Engine {
    match job.starting_learned(options, learned) {
        Engine::Auto => Engine::Http,
        start => start,
    }
}

/// What one stage's page showed, as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageSeen {
    pub status: u16,
    /// A challenge (bot protection) stands before the content.
    pub challenged: bool,
    /// An empty shell that needs JavaScript.
    pub js_shell: bool,
}

/// What follows a stage's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The page is the job's: build the result from it.
    Keep,
    /// Fetch again on a stronger engine.
    Escalate { to: Engine, reason: Escalation },
    /// The target refused (429, 5xx, no challenge): the attempt fails, retryable.
    Refused { status: u16 },
}

/// After a stage on `stage` for a job that chose `job`: plain HTTP
/// escalates to the browser (for an auto job, on a worker with one) past a challenge or a
/// JavaScript shell; the browser escalates to stealth past a challenge for an auto job
/// only (a job that chose the browser gets the browser).
pub fn after_page(job: Engine, stage: Engine, page: PageSeen, has_browser: bool) -> Step {
    match stage {
        Engine::Http | Engine::Auto => {
            // A refusal is retried, unless it is a challenge page: that one is the
            // browser's to get past, or the result's to show.
            if (page.status == 429 || page.status >= 500) && !page.challenged {
                return Step::Refused {
                    status: page.status,
                };
            }
            if job != Engine::Auto || !has_browser || !(page.challenged || page.js_shell) {
                return Step::Keep;
            }
            let reason = if page.challenged {
                Escalation::Challenge
            } else {
                Escalation::JavascriptShell
            };
            Step::Escalate {
                to: Engine::Browser,
                reason,
            }
        }
        Engine::Browser if job == Engine::Auto && page.challenged => Step::Escalate {
            to: Engine::Stealth,
            reason: Escalation::Challenge,
        },
        Engine::Browser | Engine::Stealth => Step::Keep,
    }
}

/// The retry delays: exponential from `base`, capped at `max`, jittered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Back to the queue, to run again after the delay.
    Retry { after: Duration },
    /// The job ends in `status` (failed or timeout), refunded.
    Fail { status: JobStatus },
}

/// After attempt number `attempts` of `max_attempts` failed with `err`: a retryable error
/// with attempts left is retried; otherwise a timeout ends the job `timeout`, anything else
/// `failed`.
pub fn after_failure(err: &FetchError, attempts: i32, max_attempts: i32, backoff: Backoff) -> Next {
    if err.retryable() && JobStatus::may_run_again(attempts, max_attempts) {
        let retry = u32::try_from(attempts).unwrap_or(1);
        return Next::Retry {
            after: retry_delay(retry, backoff.base, backoff.max),
        };
    }
    let status = match err {
        FetchError::Timeout(_) => JobStatus::Timeout,
        _ => JobStatus::Failed,
    };
    Next::Fail { status }
}

/// How a job whose cancel was seen is ended, given its status now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Still running (its batch asked it to stop): `running → canceled`, settled.
    Finish,
    /// Canceled elsewhere already: only settled, without charge (settling twice is a no-op).
    Settle,
}

pub fn on_cancel(current: JobStatus) -> Cancel {
    if current == JobStatus::Running {
        Cancel::Finish
    } else {
        Cancel::Settle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: PageSeen = PageSeen {
        status: 200,
        challenged: false,
        js_shell: false,
    };
    const CHALLENGE: PageSeen = PageSeen {
        status: 403,
        challenged: true,
        js_shell: false,
    };
    const SHELL: PageSeen = PageSeen {
        status: 200,
        challenged: false,
        js_shell: true,
    };
    const BACKOFF: Backoff = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(5),
    };

    #[test]
    fn a_leased_job_is_run_taken_over_or_dropped_by_its_status() {
        assert_eq!(admit(JobStatus::Queued, 0, 3), Admission::Run);
        assert_eq!(admit(JobStatus::Pending, 0, 3), Admission::Enqueue);
        assert_eq!(admit(JobStatus::Running, 2, 3), Admission::TakeOver);
        assert_eq!(admit(JobStatus::Running, 3, 3), Admission::WorkerLost);
        for done in [
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Timeout,
            JobStatus::Canceled,
        ] {
            assert_eq!(admit(done, 1, 3), Admission::Finished, "{done}");
        }
    }

    #[test]
    fn only_an_auto_job_on_a_browser_worker_reads_what_its_organization_learned() {
        assert!(reads_learned(Engine::Auto, true));
        assert!(!reads_learned(Engine::Auto, false));
        assert!(!reads_learned(Engine::Http, true));
        assert!(!reads_learned(Engine::Browser, true));
    }

    #[test]
    fn an_auto_job_starts_on_http_unless_its_options_or_its_history_say_otherwise() {
        let plain = JobOptions::default();
        assert_eq!(first_stage(Engine::Auto, &plain, None), Engine::Http);
        assert_eq!(
            first_stage(Engine::Auto, &plain, Some(Engine::Stealth)),
            Engine::Stealth
        );
        assert_eq!(
            first_stage(Engine::Auto, &plain, Some(Engine::Http)),
            Engine::Http
        );
        let shot = JobOptions {
            screenshot: true,
            ..JobOptions::default()
        };
        assert_eq!(first_stage(Engine::Auto, &shot, None), Engine::Browser);
        assert_eq!(
            first_stage(Engine::Http, &plain, Some(Engine::Stealth)),
            Engine::Http,
            "a job that chose its engine keeps it"
        );
        assert_eq!(first_stage(Engine::Stealth, &plain, None), Engine::Stealth);
    }

    #[test]
    fn plain_http_escalates_an_auto_job_past_a_challenge_or_a_javascript_shell() {
        let http = |page| after_page(Engine::Auto, Engine::Http, page, true);
        assert_eq!(http(OK), Step::Keep);
        assert_eq!(
            http(CHALLENGE),
            Step::Escalate {
                to: Engine::Browser,
                reason: Escalation::Challenge
            }
        );
        assert_eq!(
            http(SHELL),
            Step::Escalate {
                to: Engine::Browser,
                reason: Escalation::JavascriptShell
            }
        );
    }

    #[test]
    fn plain_http_keeps_the_page_of_an_http_job_or_on_a_worker_without_a_browser() {
        assert_eq!(
            after_page(Engine::Http, Engine::Http, CHALLENGE, true),
            Step::Keep
        );
        assert_eq!(
            after_page(Engine::Auto, Engine::Http, SHELL, false),
            Step::Keep
        );
    }

    #[test]
    fn a_refusal_fails_the_attempt_unless_it_is_a_challenge_page() {
        for status in [429, 500, 503] {
            let refused = PageSeen { status, ..OK };
            assert_eq!(
                after_page(Engine::Http, Engine::Http, refused, true),
                Step::Refused { status }
            );
        }
        let challenge_503 = PageSeen {
            status: 503,
            ..CHALLENGE
        };
        assert_eq!(
            after_page(Engine::Auto, Engine::Http, challenge_503, true),
            Step::Escalate {
                to: Engine::Browser,
                reason: Escalation::Challenge
            }
        );
        assert_eq!(
            after_page(
                Engine::Auto,
                Engine::Browser,
                PageSeen { status: 503, ..OK },
                true
            ),
            Step::Keep,
            "a browser's page is kept whatever its status"
        );
    }

    #[test]
    fn the_browser_escalates_to_stealth_past_a_challenge_for_an_auto_job_only() {
        assert_eq!(
            after_page(Engine::Auto, Engine::Browser, CHALLENGE, true),
            Step::Escalate {
                to: Engine::Stealth,
                reason: Escalation::Challenge
            }
        );
        assert_eq!(
            after_page(Engine::Auto, Engine::Browser, SHELL, true),
            Step::Keep
        );
        assert_eq!(
            after_page(Engine::Browser, Engine::Browser, CHALLENGE, true),
            Step::Keep
        );
        assert_eq!(
            after_page(Engine::Auto, Engine::Stealth, CHALLENGE, true),
            Step::Keep,
            "stealth is the last engine"
        );
    }

    #[test]
    fn a_retryable_failure_with_attempts_left_is_retried_within_the_backoff() {
        let err = FetchError::Network("reset".into());
        for attempts in 1..=4 {
            match after_failure(&err, attempts, 5, BACKOFF) {
                Next::Retry { after } => assert!(
                    after >= BACKOFF.base && after <= BACKOFF.max,
                    "attempt {attempts}: {after:?}"
                ),
                other => panic!("attempt {attempts}: {other:?}"),
            }
        }
        assert_eq!(
            after_failure(&err, 1, 5, BACKOFF),
            Next::Retry {
                after: BACKOFF.base
            },
            "the first retry waits the base delay"
        );
    }

    #[test]
    fn the_last_attempt_or_a_permanent_error_ends_the_job() {
        let network = FetchError::Network("reset".into());
        assert_eq!(
            after_failure(&network, 5, 5, BACKOFF),
            Next::Fail {
                status: JobStatus::Failed
            }
        );
        let timeout = FetchError::Timeout(Duration::from_secs(1));
        assert_eq!(
            after_failure(&timeout, 3, 3, BACKOFF),
            Next::Fail {
                status: JobStatus::Timeout
            }
        );
        let blocked = FetchError::Blocked("10.0.0.1".into());
        assert_eq!(
            after_failure(&blocked, 1, 5, BACKOFF),
            Next::Fail {
                status: JobStatus::Failed
            },
            "a permanent error is not retried"
        );
    }

    #[test]
    fn a_seen_cancel_finishes_a_running_job_and_only_settles_one_canceled_elsewhere() {
        assert_eq!(on_cancel(JobStatus::Running), Cancel::Finish);
        assert_eq!(on_cancel(JobStatus::Canceled), Cancel::Settle);
    }
}

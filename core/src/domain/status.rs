//! The job state machine. The database enforces the same table in the trigger
//! `validate_job_status` (function `job_status_transition_allowed`); a test walks every pair
//! of states through both and requires them to agree.
//!
//! ```text
//! pending ──► queued ──► running ──► completed
//!    │          │          │ ├──► failed ──┐
//!    │          │          │ ├──► timeout ─┤ retry while attempts < max_attempts
//!    │          │          │ └──► queued   │ (lease lost, worker drained)
//!    │          │          ▼             ◄─┘ back to queued
//!    └──────────┴──► canceled / failed
//! ```

use super::EventType;
use crate::{Error, Result};

text_enum! {
    /// Where a job is in its life (`scrape_jobs_valid_status`).
    pub enum JobStatus {
        Pending => "pending",
        Queued => "queued",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        Canceled => "canceled",
        Timeout => "timeout",
    }
}

impl JobStatus {
    /// Whether a job in `self`, having made `attempts` of `max_attempts`, may move to `next`.
    pub fn can_transition_to(self, next: JobStatus, attempts: i32, max_attempts: i32) -> bool {
        use JobStatus::*;
        match self {
            Pending => matches!(next, Queued | Canceled | Failed),
            Queued => matches!(next, Running | Canceled | Failed),
            Running => matches!(next, Completed | Failed | Timeout | Canceled | Queued),
            Failed | Timeout => next == Queued && Self::may_run_again(attempts, max_attempts),
            Completed | Canceled => false,
        }
    }

    /// Whether a job that has made `attempts` of its `max_attempts` may run once more: the
    /// one retry rule, for failed attempts and for redeliveries after a dead worker alike.
    pub fn may_run_again(attempts: i32, max_attempts: i32) -> bool {
        attempts < max_attempts
    }

    /// Checks a move, returning the typed error the repository reports.
    pub fn transition(
        self,
        next: JobStatus,
        attempts: i32,
        max_attempts: i32,
    ) -> Result<JobStatus> {
        if self.can_transition_to(next, attempts, max_attempts) {
            Ok(next)
        } else {
            Err(Error::InvalidTransition {
                from: self,
                to: next,
            })
        }
    }

    /// No move leaves this state, whatever the attempts.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Canceled)
    }

    /// The job has finished this attempt (it may still be retried when failed or timed out).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled | JobStatus::Timeout
        )
    }
}

impl EventType {
    /// The event a move into `status` records.
    pub fn for_status(status: JobStatus) -> EventType {
        match status {
            JobStatus::Pending => EventType::Created,
            JobStatus::Queued => EventType::Queued,
            JobStatus::Running => EventType::Started,
            JobStatus::Completed => EventType::Completed,
            JobStatus::Failed => EventType::Failed,
            JobStatus::Canceled => EventType::Canceled,
            JobStatus::Timeout => EventType::Timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JobStatus::{self, *};

    #[test]
    fn a_job_runs_from_pending_to_completed() {
        assert!(Pending.can_transition_to(Queued, 0, 3));
        assert!(Queued.can_transition_to(Running, 0, 3));
        assert!(Running.can_transition_to(Completed, 1, 3));
    }

    #[test]
    fn failed_and_timed_out_attempts_retry_only_while_attempts_remain() {
        for from in [Failed, Timeout] {
            assert!(from.can_transition_to(Queued, 1, 3));
            assert!(from.can_transition_to(Queued, 2, 3));
            assert!(!from.can_transition_to(Queued, 3, 3));
            assert!(!from.can_transition_to(Running, 1, 3));
        }
    }

    #[test]
    fn completed_and_canceled_are_terminal() {
        for from in [Completed, Canceled] {
            assert!(from.is_terminal());
            for &to in JobStatus::ALL {
                assert!(!from.can_transition_to(to, 0, 3), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_rejected_move_names_both_states() {
        let err = Completed.transition(Running, 1, 3).expect_err("terminal");
        assert_eq!(err.to_string(), "job cannot move from completed to running");
    }

    #[test]
    fn text_form_round_trips() {
        for &s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().expect("parses"), s);
            assert_eq!(serde_json::to_string(&s).expect("json"), format!("\"{s}\""));
        }
        assert!("done".parse::<JobStatus>().is_err());
    }
}

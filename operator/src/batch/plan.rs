//! The ScrapeBatch reconciler's decisions, pure: from what was observed (the spec, the
//! status last written, the batch's job counts and the time) to the moves its jobs need,
//! the status to write, the Events to record and when to look again. Nothing here reads or
//! writes a service, so every rule is unit-tested without an API server, a database or a
//! queue; `mod.rs` reads the inputs and applies the decisions.

use std::time::Duration;

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use scraperx_core::{
    domain::BatchId,
    pg::{BatchCounts, check_batch_size},
};

use crate::crd::{BatchPhase, ScrapeBatchSpec, ScrapeBatchStatus};
use crate::status::condition;

/// How often a running batch's status is refreshed.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How soon a batch that cannot proceed (no Secret, no credits yet) is looked at again.
pub const BLOCKED_RETRY: Duration = Duration::from_secs(15);

/// What one reconcile observed of a batch whose jobs exist.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub spec: &'a ScrapeBatchSpec,
    pub generation: Option<i64>,
    /// The status last written (default when none was).
    pub previous: &'a ScrapeBatchStatus,
    pub counts: BatchCounts,
    pub now: Timestamp,
}

/// A move of the batch's jobs, applied before the status is computed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Hold the queued jobs back: off their queues, still queued in Postgres.
    Suspend,
    /// Put the held-back jobs on their queues again.
    Resume,
    /// Queue the jobs still pending.
    Dispatch,
    /// The active deadline passed: cancel what has not finished.
    CancelForDeadline { limit: i64 },
}

/// The moves a batch needs, in the order they are applied.
pub fn moves(o: &Observed) -> Vec<Move> {
    let was_suspended = o.previous.phase == BatchPhase::Suspended;
    let mut moves = Vec::new();
    if o.spec.suspend {
        if !was_suspended {
            moves.push(Move::Suspend);
        }
    } else {
        if was_suspended {
            moves.push(Move::Resume);
        }
        if o.counts.pending > 0 {
            moves.push(Move::Dispatch);
        }
    }
    // Suspending, resuming and dispatching finish no job, so the counts decide the deadline.
    if let Some(limit) = o.spec.active_deadline_seconds
        && !o.counts.is_done()
        && o.now.as_second() - start_time(o).0.as_second() > limit
    {
        moves.push(Move::CancelForDeadline { limit });
    }
    moves
}

/// When the batch started: kept from the status, or now for its first status.
pub fn start_time(o: &Observed) -> Time {
    o.previous.start_time.clone().unwrap_or(Time(o.now))
}

/// The status after the moves; `o.counts` are the counts read after them, and
/// `deadline_hit` whether this reconcile canceled for the deadline.
pub fn status(o: &Observed, batch: BatchId, deadline_hit: bool) -> ScrapeBatchStatus {
    let c = o.counts;
    let now = Time(o.now);
    let p = &o.previous.conditions;
    // Once the deadline has failed the batch, it stays the reason.
    let deadline_hit = deadline_hit
        || p.iter()
            .any(|c| c.type_ == "Failed" && c.status == "True" && c.reason == "DeadlineExceeded");
    let phase = phase(o.spec, c, deadline_hit);
    let done = is_done(phase);
    let failed = c.failed + c.timeout;
    let progress = format!("{}/{}", c.finished(), c.total);
    let fail_reason = if deadline_hit {
        "DeadlineExceeded"
    } else {
        "JobsFailed"
    };
    let g = o.generation;
    let conditions = vec![
        condition(
            p,
            "Progressing",
            phase == BatchPhase::Running,
            "Dispatching",
            &progress,
            g,
            &now,
        ),
        condition(
            p,
            "Complete",
            phase == BatchPhase::Succeeded,
            "AllJobsSucceeded",
            &progress,
            g,
            &now,
        ),
        condition(
            p,
            "Failed",
            phase == BatchPhase::Failed,
            fail_reason,
            &format!("{failed} failed, {} canceled", c.canceled),
            g,
            &now,
        ),
        condition(
            p,
            "Suspended",
            phase == BatchPhase::Suspended,
            "SpecSuspend",
            "dispatching is paused",
            g,
            &now,
        ),
    ];
    ScrapeBatchStatus {
        phase,
        total: c.total,
        queued: c.queued + c.pending,
        running: c.running,
        succeeded: c.completed,
        failed,
        canceled: c.canceled,
        progress,
        start_time: Some(start_time(o)),
        completion_time: done.then(|| o.previous.completion_time.clone().unwrap_or(now)),
        batch_id: Some(batch.to_string()),
        observed_generation: g,
        conditions,
    }
}

fn phase(spec: &ScrapeBatchSpec, c: BatchCounts, deadline_hit: bool) -> BatchPhase {
    let finished = c.is_done();
    if deadline_hit || (finished && (c.failed + c.timeout > 0 || c.canceled > 0)) {
        BatchPhase::Failed
    } else if finished {
        BatchPhase::Succeeded
    } else if spec.suspend {
        BatchPhase::Suspended
    } else {
        BatchPhase::Running
    }
}

pub fn is_done(phase: BatchPhase) -> bool {
    matches!(phase, BatchPhase::Succeeded | BatchPhase::Failed)
}

/// The Event a batch's finish is announced with, once: only when this status finishes it.
pub fn finish_event(previous: &ScrapeBatchStatus, status: &ScrapeBatchStatus) -> Option<Note> {
    if !is_done(status.phase) || previous.completion_time.is_some() {
        return None;
    }
    let reason = if status.phase == BatchPhase::Succeeded {
        "Completed"
    } else {
        "Failed"
    };
    Some(Note::normal(
        reason,
        format!("progress {}", status.progress),
    ))
}

/// An Event to record: its reason and note; `warning` for a Warning, else Normal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

impl Note {
    pub fn normal(reason: &'static str, note: String) -> Self {
        Self {
            warning: false,
            reason,
            note,
        }
    }

    pub fn warning(reason: &'static str, note: String) -> Self {
        Self {
            warning: true,
            reason,
            note,
        }
    }
}

/// What the reconciler does after writing the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The batch finished and its time to live is over: delete the resource.
    Delete,
    Requeue(Duration),
    /// Finished, with no time to live: only a change of the resource wakes it.
    AwaitChange,
}

/// After the status: a finished batch waits out its TTL and is deleted; a running one is
/// refreshed every [`REFRESH`].
pub fn next(spec: &ScrapeBatchSpec, status: &ScrapeBatchStatus, now: Timestamp) -> Next {
    if !is_done(status.phase) {
        return Next::Requeue(REFRESH);
    }
    after_finish(
        spec.ttl_seconds_after_finished,
        status.completion_time.as_ref(),
        now,
    )
}

/// What a finished resource waits for: the end of its time to live `ttl` (counted from
/// `done_at`), then its deletion; without one, only a change.
pub fn after_finish(ttl: Option<i64>, done_at: Option<&Time>, now: Timestamp) -> Next {
    match (ttl, done_at) {
        (Some(ttl), Some(done_at)) => {
            let left = ttl - (now.as_second() - done_at.0.as_second());
            if left <= 0 {
                Next::Delete
            } else {
                Next::Requeue(Duration::from_secs(u64::try_from(left).unwrap_or(1)))
            }
        }
        _ => Next::AwaitChange,
    }
}

/// Why a batch cannot proceed yet (its Secret, URLs, spec or credits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub reason: &'static str,
    pub message: String,
}

impl Blocked {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// The status of a batch blocked for this reason: pending, neither progressing nor failed.
    pub fn status(
        &self,
        previous: &ScrapeBatchStatus,
        generation: Option<i64>,
        now: Timestamp,
    ) -> ScrapeBatchStatus {
        let now = Time(now);
        let p = &previous.conditions;
        let (reason, message) = (self.reason, self.message.as_str());
        ScrapeBatchStatus {
            phase: BatchPhase::Pending,
            observed_generation: generation,
            conditions: vec![
                condition(p, "Progressing", false, reason, message, generation, &now),
                condition(p, "Failed", false, reason, message, generation, &now),
            ],
            ..previous.clone()
        }
    }

    /// The Warning to record: only when the resource was not already blocked for this
    /// reason (its `previous` conditions say).
    pub fn event(&self, previous: &[Condition]) -> Option<Note> {
        previous
            .iter()
            .all(|c| c.reason != self.reason)
            .then(|| Note::warning(self.reason, self.message.clone()))
    }
}

/// The batch's URLs against the organization's batch-size limit (core's rule), as the
/// reason the batch is blocked.
pub fn check_urls(urls: &[String], max_batch_size: i32) -> Result<(), Blocked> {
    match check_batch_size(urls.len(), max_batch_size.into()) {
        Ok(()) => Ok(()),
        Err(scraperx_core::Error::BatchSize { count: 0, .. }) => {
            Err(Blocked::new("NoURLs", crate::rules::NO_URLS))
        }
        Err(_) => Err(Blocked::new(
            "TooManyURLs",
            format!(
                "{} URLs; the organization allows {max_batch_size} per batch",
                urls.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ScrapeBatch;

    fn spec(extra: serde_json::Value) -> ScrapeBatchSpec {
        let mut spec = serde_json::json!({
            "urls": ["https://example.com/"],
            "organizationRef": { "name": "key", "key": "apiKey" },
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let sb: ScrapeBatch = serde_json::from_value(serde_json::json!({
            "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeBatch",
            "metadata": { "name": "b", "namespace": "ns" }, "spec": spec,
        }))
        .expect("a batch");
        sb.spec
    }

    fn counts(pending: i64, queued: i64, completed: i64, failed: i64) -> BatchCounts {
        BatchCounts {
            total: pending + queued + completed + failed,
            pending,
            queued,
            completed,
            failed,
            ..BatchCounts::default()
        }
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).expect("a time")
    }

    fn observed<'a>(
        spec: &'a ScrapeBatchSpec,
        previous: &'a ScrapeBatchStatus,
        counts: BatchCounts,
        now: i64,
    ) -> Observed<'a> {
        Observed {
            spec,
            generation: Some(1),
            previous,
            counts,
            now: at(now),
        }
    }

    fn batch() -> BatchId {
        BatchId::from(uuid::Uuid::nil())
    }

    #[test]
    fn a_new_batch_with_pending_jobs_is_dispatched_and_running() {
        let spec = spec(serde_json::json!({}));
        let previous = ScrapeBatchStatus::default();
        let o = observed(&spec, &previous, counts(3, 0, 0, 0), 100);
        assert_eq!(moves(&o), vec![Move::Dispatch]);
        let s = status(
            &observed(&spec, &previous, counts(0, 3, 0, 0), 100),
            batch(),
            false,
        );
        assert_eq!(s.phase, BatchPhase::Running);
        assert_eq!((s.total, s.queued, s.progress.as_str()), (3, 3, "0/3"));
        assert_eq!(s.start_time, Some(Time(at(100))));
        assert_eq!(s.completion_time, None);
        assert_eq!(next(&spec, &s, at(100)), Next::Requeue(REFRESH));
    }

    #[test]
    fn a_running_batch_whose_counts_did_not_change_gets_the_same_status_and_no_moves() {
        let spec = spec(serde_json::json!({}));
        let first = status(
            &observed(
                &spec,
                &ScrapeBatchStatus::default(),
                counts(0, 2, 1, 0),
                100,
            ),
            batch(),
            false,
        );
        let o = observed(&spec, &first, counts(0, 2, 1, 0), 160);
        assert!(moves(&o).is_empty());
        assert_eq!(status(&o, batch(), false), first, "nothing to write");
    }

    #[test]
    fn suspending_holds_the_jobs_back_once_and_resuming_puts_them_back_and_dispatches() {
        let suspended = spec(serde_json::json!({ "suspend": true }));
        let running = ScrapeBatchStatus::default();
        let o = observed(&suspended, &running, counts(1, 2, 0, 0), 100);
        assert_eq!(moves(&o), vec![Move::Suspend]);
        let s = status(&o, batch(), false);
        assert_eq!(s.phase, BatchPhase::Suspended);
        assert!(
            moves(&observed(&suspended, &s, counts(1, 2, 0, 0), 101)).is_empty(),
            "suspended once"
        );
        let resumed = spec(serde_json::json!({}));
        let o = observed(&resumed, &s, counts(1, 2, 0, 0), 102);
        assert_eq!(moves(&o), vec![Move::Resume, Move::Dispatch]);
    }

    #[test]
    fn the_deadline_cancels_an_unfinished_batch_and_stays_its_failure_reason() {
        let spec = spec(serde_json::json!({ "activeDeadlineSeconds": 60 }));
        let first = status(
            &observed(
                &spec,
                &ScrapeBatchStatus::default(),
                counts(0, 2, 0, 0),
                100,
            ),
            batch(),
            false,
        );
        assert!(moves(&observed(&spec, &first, counts(0, 2, 0, 0), 160)).is_empty());
        let o = observed(&spec, &first, counts(0, 2, 0, 0), 161);
        assert_eq!(moves(&o), vec![Move::CancelForDeadline { limit: 60 }]);
        let canceled = BatchCounts {
            total: 2,
            canceled: 2,
            ..BatchCounts::default()
        };
        let s = status(&observed(&spec, &first, canceled, 161), batch(), true);
        assert_eq!(s.phase, BatchPhase::Failed);
        let failed = s
            .conditions
            .iter()
            .find(|c| c.type_ == "Failed")
            .expect("Failed");
        assert_eq!(
            (failed.status.as_str(), failed.reason.as_str()),
            ("True", "DeadlineExceeded")
        );
        let later = status(&observed(&spec, &s, canceled, 300), batch(), false);
        assert_eq!(later, s, "the reason and completion time are kept");
        assert!(
            moves(&observed(&spec, &s, canceled, 300)).is_empty(),
            "a finished batch is not canceled again"
        );
    }

    #[test]
    fn a_finished_batch_is_announced_once_and_succeeds_only_without_failures() {
        let spec = spec(serde_json::json!({}));
        let running = ScrapeBatchStatus::default();
        let ok = status(
            &observed(&spec, &running, counts(0, 0, 3, 0), 100),
            batch(),
            false,
        );
        assert_eq!(ok.phase, BatchPhase::Succeeded);
        assert_eq!(ok.completion_time, Some(Time(at(100))));
        assert_eq!(
            finish_event(&running, &ok),
            Some(Note::normal("Completed", "progress 3/3".into()))
        );
        assert_eq!(finish_event(&ok, &ok), None, "announced once");
        let bad = status(
            &observed(&spec, &running, counts(0, 0, 2, 1), 100),
            batch(),
            false,
        );
        assert_eq!(bad.phase, BatchPhase::Failed);
        assert_eq!(
            finish_event(&running, &bad).map(|n| n.reason),
            Some("Failed")
        );
    }

    #[test]
    fn a_finished_batch_is_deleted_when_its_ttl_is_over_and_kept_without_one() {
        let with_ttl = spec(serde_json::json!({ "ttlSecondsAfterFinished": 30 }));
        let done = status(
            &observed(
                &with_ttl,
                &ScrapeBatchStatus::default(),
                counts(0, 0, 1, 0),
                100,
            ),
            batch(),
            false,
        );
        assert_eq!(
            next(&with_ttl, &done, at(110)),
            Next::Requeue(Duration::from_secs(20))
        );
        assert_eq!(next(&with_ttl, &done, at(130)), Next::Delete);
        assert_eq!(
            next(&spec(serde_json::json!({})), &done, at(130)),
            Next::AwaitChange
        );
    }

    #[test]
    fn a_blocked_batch_is_pending_and_warns_once_per_reason() {
        let b = Blocked::new("NoURLs", "no URLs");
        let previous = ScrapeBatchStatus::default();
        let s = b.status(&previous, Some(2), at(100));
        assert_eq!(s.phase, BatchPhase::Pending);
        assert_eq!(s.observed_generation, Some(2));
        assert!(
            s.conditions
                .iter()
                .all(|c| c.status == "False" && c.reason == "NoURLs")
        );
        assert_eq!(
            b.event(&previous.conditions),
            Some(Note::warning("NoURLs", "no URLs".into()))
        );
        assert_eq!(b.event(&s.conditions), None, "already reported");
        assert!(
            Blocked::new("InsufficientCredits", "x")
                .event(&s.conditions)
                .is_some()
        );
    }

    #[test]
    fn a_batch_needs_urls_within_the_organization_s_limit() {
        let two = vec!["https://a.test/".to_owned(), "https://b.test/".to_owned()];
        assert_eq!(check_urls(&[], 10).map_err(|b| b.reason), Err("NoURLs"));
        assert_eq!(
            check_urls(&two, 1).map_err(|b| b.reason),
            Err("TooManyURLs")
        );
        assert_eq!(check_urls(&two, 2), Ok(()));
    }
}

//! The ScrapeCrawl reconciler's decisions, pure: from what was observed (the spec, the
//! status last written, the crawl row's state, its progress and the time) to the moves the
//! crawl needs, the status to write, the Events to record and when to look again. The
//! phase is core's `CrawlStatus`, mapped once here ([`phase`]); nothing here reads or writes
//! a service, so every rule is unit-tested without an API server, a database or a queue.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use scraperx_core::{
    crawl::Progress,
    domain::{
        CrawlId,
        crawl::{CrawlOptions, CrawlReason, CrawlStatus},
    },
};

pub use crate::batch::plan::{BLOCKED_RETRY, Blocked, Next, Note, REFRESH, after_finish};
use crate::crd::{CrawlPhase, ScrapeCrawlSpec, ScrapeCrawlStatus};
use crate::{rules, status::condition};

/// The reason a crawl canceled for its active deadline is given.
pub const DEADLINE_EXCEEDED: &str = "deadline_exceeded";

/// The crawl row, as far as the plan reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlRow {
    pub id: CrawlId,
    pub status: CrawlStatus,
    pub reason: Option<CrawlReason>,
    /// Its start URL and options are not the spec's any more (changed before the CRD's
    /// rule existed, or by hand): they stay as created.
    pub drifted: bool,
}

impl CrawlRow {
    /// The row of a crawl created from `url` and `options`, against the spec's now.
    pub fn of(crawl: &scraperx_core::pg::Crawl, spec: &ScrapeCrawlSpec) -> Self {
        Self {
            id: crawl.id,
            status: crawl.status,
            reason: crawl.status_reason,
            drifted: crawl.url != spec.url || crawl.options.0 != spec.crawl.options(),
        }
    }
}

/// What one reconcile observed of a ScrapeCrawl whose crawl exists.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub spec: &'a ScrapeCrawlSpec,
    pub generation: Option<i64>,
    /// The status last written (default when none was).
    pub previous: &'a ScrapeCrawlStatus,
    pub crawl: &'a CrawlRow,
    pub progress: Progress,
    pub now: Timestamp,
}

/// A move of the crawl, through core's one path for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// `suspend` set: pause the running crawl.
    Pause,
    /// `suspend` cleared: resume the paused crawl, and top it up.
    Resume,
    /// The active deadline passed: cancel the crawl.
    CancelForDeadline { limit: i64 },
}

/// The moves the crawl needs: level-triggered, from the crawl row's own state, so a crawl
/// paused or resumed elsewhere is brought back to the spec.
pub fn moves(o: &Observed) -> Vec<Move> {
    let status = o.crawl.status;
    if status.is_terminal() {
        return Vec::new();
    }
    if let Some(limit) = o.spec.active_deadline_seconds
        && o.now.as_second() - start_time(o).0.as_second() > limit
    {
        return vec![Move::CancelForDeadline { limit }];
    }
    match (o.spec.suspend, status) {
        (true, CrawlStatus::Running) => vec![Move::Pause],
        (false, CrawlStatus::Paused) => vec![Move::Resume],
        _ => Vec::new(),
    }
}

/// When the crawl started: kept from the status, or now for its first status.
pub fn start_time(o: &Observed) -> Time {
    o.previous.start_time.clone().unwrap_or(Time(o.now))
}

/// The phase of a crawl in `status`; `deadline_hit` when it was canceled for the deadline.
pub fn phase(status: CrawlStatus, deadline_hit: bool) -> CrawlPhase {
    match status {
        CrawlStatus::Running => CrawlPhase::Running,
        CrawlStatus::Paused => CrawlPhase::Suspended,
        CrawlStatus::Completed => CrawlPhase::Completed,
        CrawlStatus::Failed => CrawlPhase::Failed,
        CrawlStatus::Canceled if deadline_hit => CrawlPhase::Failed,
        CrawlStatus::Canceled => CrawlPhase::Canceled,
    }
}

/// The status after the moves (`o.crawl` and `o.progress` read after them);
/// `deadline_hit` when this reconcile canceled for the deadline.
pub fn status(o: &Observed, deadline_hit: bool) -> ScrapeCrawlStatus {
    let p = &o.previous;
    let deadline_hit = deadline_hit || p.reason.as_deref() == Some(DEADLINE_EXCEEDED);
    let phase = phase(o.crawl.status, deadline_hit);
    let reason = if deadline_hit {
        Some(DEADLINE_EXCEEDED.to_owned())
    } else {
        o.crawl.reason.map(|r| r.as_str().to_owned())
    };
    let c = o.progress;
    let now = Time(o.now);
    ScrapeCrawlStatus {
        phase,
        discovered: c.discovered,
        queued: c.queued,
        running: c.running,
        completed: c.completed,
        failed: c.failed,
        skipped: c.skipped,
        conditions: conditions(o, phase, ended(o.crawl.reason, deadline_hit), &now),
        reason,
        start_time: Some(start_time(o)),
        completion_time: phase
            .is_done()
            .then(|| p.completion_time.clone().unwrap_or(now)),
        crawl_id: Some(o.crawl.id.to_string()),
        observed_generation: o.generation,
    }
}

/// The conditions' reason for how the crawl ended (or would).
fn ended(reason: Option<CrawlReason>, deadline_hit: bool) -> &'static str {
    if deadline_hit {
        return "DeadlineExceeded";
    }
    match reason {
        Some(CrawlReason::InsufficientCredits) => "InsufficientCredits",
        Some(CrawlReason::StartFailed) => "StartPageFailed",
        Some(CrawlReason::LimitReached) => "LimitReached",
        Some(CrawlReason::Canceled) => "Canceled",
        Some(CrawlReason::Exhausted) | None => "FrontierExhausted",
    }
}

/// `Progressing`, `Complete`, `Failed` (what `kubectl wait --for=condition=...` reads) and
/// `Suspended`.
fn conditions(o: &Observed, phase: CrawlPhase, ended: &str, now: &Time) -> Vec<Condition> {
    let p = &o.previous.conditions;
    let g = o.generation;
    let c = o.progress;
    let pages = format!(
        "{} discovered, {} completed, {} failed",
        c.discovered, c.completed, c.failed
    );
    let failed_reason = if phase == CrawlPhase::Failed {
        ended
    } else {
        "NotFailed"
    };
    vec![
        condition(
            p,
            "Progressing",
            phase == CrawlPhase::Running,
            "Crawling",
            &pages,
            g,
            now,
        ),
        condition(
            p,
            "Complete",
            phase == CrawlPhase::Completed,
            ended,
            &pages,
            g,
            now,
        ),
        condition(
            p,
            "Failed",
            phase == CrawlPhase::Failed,
            failed_reason,
            &pages,
            g,
            now,
        ),
        condition(
            p,
            "Suspended",
            phase == CrawlPhase::Suspended,
            "SpecSuspend",
            "no new page is submitted",
            g,
            now,
        ),
    ]
}

/// The Event a crawl's end is announced with, once: only when this status ends it.
pub fn finish_event(previous: &ScrapeCrawlStatus, status: &ScrapeCrawlStatus) -> Option<Note> {
    if !status.phase.is_done() || previous.completion_time.is_some() {
        return None;
    }
    let note = format!(
        "{} pages completed, {} failed, of {} discovered{}",
        status.completed,
        status.failed,
        status.discovered,
        status
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    Some(match status.phase {
        CrawlPhase::Completed => Note::normal("Completed", note),
        CrawlPhase::Canceled => Note::normal("Canceled", note),
        _ => Note::warning("Failed", note),
    })
}

/// The Warning about a spec whose URL or crawl options are not the crawl's, once per
/// generation (the CRD's rule refuses such a change; this is for one made before it).
pub fn drift_event(o: &Observed) -> Option<Note> {
    (o.crawl.drifted && o.previous.observed_generation != o.generation)
        .then(|| Note::warning("SpecChanged", rules::CRAWL_FIXED.to_owned()))
}

/// After the status: a finished crawl waits out its TTL and is deleted; a running or
/// suspended one is refreshed every [`REFRESH`].
pub fn next(spec: &ScrapeCrawlSpec, status: &ScrapeCrawlStatus, now: Timestamp) -> Next {
    if !status.phase.is_done() {
        return Next::Requeue(REFRESH);
    }
    after_finish(
        spec.ttl_seconds_after_finished,
        status.completion_time.as_ref(),
        now,
    )
}

/// The status of a ScrapeCrawl whose crawl cannot be created yet: Pending, neither
/// progressing nor failed, the reason in its conditions.
pub fn blocked_status(
    b: &Blocked,
    previous: &ScrapeCrawlStatus,
    generation: Option<i64>,
    now: Timestamp,
) -> ScrapeCrawlStatus {
    let now = Time(now);
    let p = &previous.conditions;
    let (reason, message) = (b.reason, b.message.as_str());
    ScrapeCrawlStatus {
        phase: CrawlPhase::Pending,
        observed_generation: generation,
        conditions: vec![
            condition(p, "Progressing", false, reason, message, generation, &now),
            condition(p, "Failed", false, reason, message, generation, &now),
        ],
        ..previous.clone()
    }
}

/// The crawl's options from the spec, checked by core; the refusal names the spec's field.
pub fn crawl_options(spec: &ScrapeCrawlSpec) -> Result<CrawlOptions, Blocked> {
    let options = spec.crawl.options();
    options.validate().map_err(|e| match e {
        scraperx_core::Error::Validation { field, message } => Blocked::new(
            "InvalidSpec",
            format!("spec.crawl.{}: {message}", camel(&field)),
        ),
        other => Blocked::new("InvalidSpec", other.to_string()),
    })?;
    Ok(options)
}

/// Core's snake-case field path in the spec's camel case (`include_paths[0]` →
/// `includePaths[0]`).
fn camel(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for ch in field.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

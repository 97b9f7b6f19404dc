//! The re-enqueue sweep: Postgres is the truth, Redis a fast copy that may lose anything
//! (a restart without persistence, a flush, a failover to a replica that lagged).
//!
//! Invariant: after a pass with cutoff `c`, every job Postgres held before `c` as `queued`
//! (outside suspended batches) or `running`, and still holds so, is in its queue: waiting,
//! delayed or leased. Enqueues are idempotent (a job already in its queue, in any state, is
//! left alone), so a pass never queues a job twice and never touches a running job whose
//! lease survived. A running job put back is taken over by the next worker to lease it (the
//! runner moves it `running → queued → running`, settled once): at-least-once, as a dead
//! worker's job is.
//!
//! Two kinds of pass, chosen by [`next_pass`]:
//! - a restore, at once and with no grace, when a queue's `intact` marker is not there
//!   ([`crate::queue::JobQueue::is_intact`]): Redis lost the queues, so every job comes back;
//! - a check every [`PASS_EVERY`], with [`GRACE`] (a dispatch between its Postgres write and
//!   its enqueue is not yet late), for losses the marker cannot see (one lost write).
//!
//! A pass reads keyset pages of [`PAGE`] rows over partial indexes and puts each page back
//! with one script call per queue, so a backlog of 100,000 jobs is back in seconds.
//! Who runs it: the workers, one at a time (see `worker/src/sweep.rs`).

use std::{collections::HashMap, time::Duration};

use crate::{
    Result,
    dispatch::{QueueSet, queue_priority},
    domain::JobOptions,
    pg::{Db, SweepRow, SweepState},
    queue::{Entry, JobQueue, QueuedJob, Share},
};

/// Rows read, and jobs put back with one script call per queue, at a time.
pub const PAGE: i64 = 1_000;
/// How long a job may sit queued (or run) in Postgres without a queue entry before a check
/// pass puts it back.
pub const GRACE: Duration = Duration::from_secs(30);
/// How often a check pass runs when the queues are intact.
pub const PASS_EVERY: Duration = Duration::from_secs(60);

/// Why a pass runs, and so how late a job must be to be put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A queue's marker is gone: Redis lost it. Everything comes back now.
    Restore,
    /// The periodic check.
    Check,
}

impl Pass {
    pub fn grace(self) -> Duration {
        match self {
            Pass::Restore => Duration::ZERO,
            Pass::Check => GRACE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Pass::Restore => "restore",
            Pass::Check => "check",
        }
    }
}

/// The pass to run now, if any: a restore when the queues are not intact, else a check when
/// none ran for `every` (or none ran yet).
pub fn next_pass(intact: bool, since_last: Option<Duration>, every: Duration) -> Option<Pass> {
    if !intact {
        Some(Pass::Restore)
    } else if since_last.is_none_or(|d| d >= every) {
        Some(Pass::Check)
    } else {
        None
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Queued and running jobs read from Postgres.
    pub queued: u64,
    pub running: u64,
    /// Jobs their queue did not hold, now back in it.
    pub restored: u64,
}

/// True when every job queue is intact.
pub async fn queues_intact(queues: &QueueSet) -> Result<bool> {
    for queue in queues.jobs() {
        if !queue.is_intact().await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs `pass`: a restore marks the queues restoring first and intact after, so a restore
/// cut short (its runner died, Redis was lost again) is done again.
pub async fn run_pass(db: &Db, queues: &QueueSet, pass: Pass) -> Result<SweepReport> {
    if pass == Pass::Restore {
        for queue in queues.jobs() {
            queue.mark_restoring().await?;
        }
    }
    let report = sweep(db, queues, pass.grace()).await?;
    if pass == Pass::Restore {
        for queue in queues.jobs() {
            queue.mark_intact().await?;
        }
    }
    Ok(report)
}

/// Puts back every job Postgres holds as queued or running for longer than `grace` that
/// its queue lacks.
pub async fn sweep(db: &Db, queues: &QueueSet, grace: Duration) -> Result<SweepReport> {
    let cutoff = db.sweep_cutoff(grace).await?;
    let mut report = SweepReport::default();
    for state in [SweepState::Queued, SweepState::Running] {
        let mut after = None;
        loop {
            let rows = db.sweep_page(state, cutoff, after, PAGE).await?;
            let read = rows.len() as u64;
            match state {
                SweepState::Queued => report.queued += read,
                SweepState::Running => report.running += read,
            }
            // Jobs that were running go ahead of the backlog, as a reclaimed lease does.
            let ahead = state == SweepState::Running;
            report.restored += restore(queues, &rows, ahead).await?;
            match rows.last() {
                Some(last) if read == PAGE as u64 => after = Some(last.cursor()),
                _ => break,
            }
        }
    }
    Ok(report)
}

/// Puts a page back: one script call per queue. Returns how many were missing.
async fn restore(queues: &QueueSet, rows: &[SweepRow], ahead: bool) -> Result<u64> {
    let defaults = JobOptions::default();
    let mut by_queue: HashMap<&str, (&JobQueue, Vec<Entry>)> = HashMap::new();
    for row in rows {
        let options = row.options.as_ref().map_or(&defaults, |o| &o.0);
        let queue = queues.queue_named(row.queue_name.as_deref(), row.engine, options);
        by_queue
            .entry(queue.name())
            .or_insert((queue, Vec::new()))
            .1
            .push(Entry {
                id: row.id.to_string(),
                payload: QueuedJob { job_id: row.id }.to_payload(),
                priority: queue_priority(row.priority),
                share: Some(Share::of_plan(
                    row.organization_id,
                    row.max_concurrent_jobs.unwrap_or(1),
                )),
            });
    }
    let mut restored = 0;
    for (queue, jobs) in by_queue.into_values() {
        restored += if ahead {
            queue.enqueue_many_ahead(&jobs).await?
        } else {
            queue.enqueue_many(&jobs).await?
        };
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(60);

    #[test]
    fn a_lost_queue_is_restored_at_once_whatever_ran_before() {
        for since in [None, Some(Duration::ZERO), Some(Duration::from_secs(600))] {
            assert_eq!(next_pass(false, since, EVERY), Some(Pass::Restore));
        }
    }

    #[test]
    fn intact_queues_are_checked_first_thing_then_every_period() {
        assert_eq!(next_pass(true, None, EVERY), Some(Pass::Check));
        assert_eq!(next_pass(true, Some(Duration::from_secs(59)), EVERY), None);
        assert_eq!(next_pass(true, Some(EVERY), EVERY), Some(Pass::Check));
    }

    #[test]
    fn a_restore_puts_back_even_jobs_queued_a_moment_ago_and_a_check_waits() {
        assert_eq!(Pass::Restore.grace(), Duration::ZERO);
        assert_eq!(Pass::Check.grace(), GRACE);
    }
}

//! Dead workers are noticed in seconds, slow ones are not mistaken for dead.
//!
//! Invariant: a lease taken by a named owner ([`JobQueue::with_owner`]) goes back to waiting
//! once its owner's liveness has lapsed for [`TTL`], even before the lease's deadline; while
//! the owner keeps refreshing it (every [`EVERY`], from a task that does no job work), only
//! the deadline, which the runner extends, can end the lease.
//!
//! Where liveness lives. Each queue keeps its own owner index under its hash tag: `alive`, a
//! sorted set of worker id → liveness deadline (server time, ms), next to `owners`, the hash
//! of leased job id → worker id. A per-worker key with a TTL would sit on another cluster
//! slot, and a queue script may only touch its own slot, so the reclaim could not read it;
//! the per-queue index needs no cross-slot read and keeps every queue move one script.
//! A worker therefore refreshes its entry in every queue it serves ([`keep_alive`]); leasing
//! refreshes it too, so a worker's first lease is never taken for a dead one's.
//!
//! The reclaim runs inside `housekeep` (every dequeue and depth call) and in every refresh
//! (so it never waits for a free slot somewhere to dequeue): lapsed entries are
//! read by score (O(log n)); only when one has lapsed, which is rare, is the owners hash
//! read, and that worker's leases are re-queued and its entry dropped. A worker that stalls
//! past the TTL (a frozen process, a partition) loses its leases as a dead one would: its
//! extensions then fail and the runner lets the job go ("lease lost").

use std::time::Duration;

use super::{JobQueue, scripts};
use crate::{Result, hot::millis};

/// A worker not heard from for this long is dead: its leases are reclaimed.
pub const TTL: Duration = Duration::from_millis(2_500);
/// How often a live worker says so: five chances before its TTL runs out.
pub const EVERY: Duration = Duration::from_millis(500);

impl JobQueue {
    /// Refreshes this queue's owner's liveness; false when the queue has no owner.
    pub async fn keep_alive(&self) -> Result<bool> {
        let Some(owner) = self.owner.clone() else {
            return Ok(false);
        };
        let _: i64 = self
            .run(&scripts().alive, |inv| {
                inv.arg(owner.as_ref()).arg(millis(TTL));
            })
            .await?;
        Ok(true)
    }
}

/// Refreshes the owners' liveness in every queue, every [`EVERY`], until the task is
/// dropped. Run it on its own task, apart from job work, so a long job or a busy slot never
/// delays it; keep it running through a drain.
pub async fn keep_alive(queues: Vec<JobQueue>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let results = futures::future::join_all(queues.iter().map(JobQueue::keep_alive)).await;
        match results.into_iter().find_map(|r| r.err()) {
            Some(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "liveness not refreshed; retrying every half second");
            }
            Some(_) => {}
            None if failing => {
                failing = false;
                tracing::info!("liveness refreshed again");
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_worker_refreshes_at_least_twice_within_its_ttl() {
        assert!(
            EVERY * 2 < TTL,
            "one missed refresh must not look like death"
        );
    }

    #[test]
    fn a_dead_worker_is_noticed_well_within_five_seconds() {
        // The reclaim runs at the next dequeue or refresh after the TTL (within EVERY);
        // the drill's budget is 5 s from the kill to the job running again, so the TTL and
        // one refresh leave more than a second for a loaded machine to dequeue and start it.
        assert!(TTL + EVERY + Duration::from_secs(1) < Duration::from_secs(5));
    }
}

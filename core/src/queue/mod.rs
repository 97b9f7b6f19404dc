//! Redis job queues with at-least-once delivery (seed 001 §4.7, done without BullMQ).
//!
//! One queue per engine plus webhook delivery and usage aggregation. Every key of a queue
//! shares one hash tag ([`keys`]): the engines' queues one between them, the others one each,
//! so each Lua script touches one cluster slot. A job
//! id is in exactly one of: waiting (priority 10..1, then first in, first out), delayed
//! (retry backoff) or active (leased until a deadline). Every move is one script, so a job is
//! never in two places and never in none. A lease that is neither acknowledged nor extended
//! before its deadline (the worker died) is reclaimed by the next dequeue or depth call and
//! the job is delivered again; the dead worker's token no longer acknowledges it. A lease
//! taken by a named owner is reclaimed sooner, as soon as its owner's liveness lapses
//! ([`liveness`]). Redis losing a queue is seen by its `intact` marker ([`JobQueue::is_intact`]).
//!
//! Fairness ([`Share`]): a job is queued for its organization, with the organization's cap
//! on running jobs. Each organization has its own waiting set; the organizations that have
//! waiting jobs and fewer leased than their cap take turns, one lease each, so priority
//! orders an organization's own jobs only and one organization's backlog never holds up
//! another's. An organization at its cap waits out of line until one of its leases ends;
//! every end of a lease (ack, retry, expiry, a dead owner) lowers its count exactly once.
//! The engines' queues ([`JobQueue::group`]) count an organization's leases together, so its
//! cap holds over all of them: at most `max_running` of its jobs run at once, whatever the
//! engines.

mod backoff;
mod keys;
pub mod liveness;
pub mod wake;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use redis::{FromRedisValue, Script, ScriptInvocation};

/// Kept here too: queue users need nothing else from [`crate::hot`].
pub use crate::hot::{RedisConn, connect};
pub use backoff::retry_delay;

use crate::{
    Error, Result,
    hot::{millis, random_token},
};

/// The queues ScraperX runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    Http,
    Browser,
    Stealth,
    Webhooks,
    Usage,
}

impl QueueName {
    pub const ALL: [QueueName; 5] = [
        QueueName::Http,
        QueueName::Browser,
        QueueName::Stealth,
        QueueName::Webhooks,
        QueueName::Usage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Http => "http",
            QueueName::Browser => "browser",
            QueueName::Stealth => "stealth",
            QueueName::Webhooks => "webhooks",
            QueueName::Usage => "usage",
        }
    }
}

/// Whose a queued job is, and how many of that organization's jobs may be leased at once
/// from this queue and the queues of its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub org: crate::domain::OrgId,
    pub max_running: u32,
}

impl Share {
    /// An organization's share under its plan's `max_concurrent_jobs` (at least one job).
    pub fn of_plan(org: crate::domain::OrgId, max_concurrent_jobs: i32) -> Self {
        Self {
            org,
            max_running: u32::try_from(max_concurrent_jobs.max(1)).unwrap_or(1),
        }
    }
}

/// What a job queue entry carries: the job's id. Workers load the rest from Postgres, so
/// the queue never holds a stale copy of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuedJob {
    pub job_id: crate::domain::JobId,
}

impl QueuedJob {
    pub fn to_payload(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }
}

/// A job for [`JobQueue::enqueue_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub payload: String,
    /// 1 to 10, 10 first (within its organization).
    pub priority: u8,
    /// None: the job belongs to no organization and is not capped.
    pub share: Option<Share>,
}

/// The organization and cap arguments of the enqueue scripts ('' and 0 for none).
fn share_args(share: Option<Share>) -> (String, u32) {
    share.map_or((String::new(), 0), |s| (s.org.to_string(), s.max_running))
}

/// The values of a queue's `intact` marker.
const INTACT: &str = "intact";
const RESTORING: &str = "restoring";

/// A leased job. Acknowledge it when done, or give it back with [`JobQueue::retry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
    pub payload: String,
    /// How many times this job has been leased, this one included (above 1: a redelivery).
    pub deliveries: u32,
    token: String,
}

/// Jobs per state, read in one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub waiting: u64,
    pub delayed: u64,
    pub active: u64,
    /// The waiting jobs a free worker could lease now: those of organizations at their cap
    /// wait for their own leases to end, not for more workers.
    pub runnable: u64,
}

impl QueueDepth {
    /// Waiting plus in flight.
    pub fn total(&self) -> u64 {
        self.waiting + self.active
    }
}

/// What removing a job found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NotQueued,
    /// Leased by a worker: it must observe the cancel itself.
    InFlight,
}

struct Scripts {
    enqueue: Script,
    enqueue_many: Script,
    alive: Script,
    dequeue: Script,
    ack: Script,
    extend: Script,
    retry: Script,
    remove: Script,
    depth: Script,
}

/// The scripts, hashed once per process.
fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(Scripts::load)
}

impl Scripts {
    fn load() -> Self {
        let with_prelude =
            |body: &str| Script::new(&format!("{}\n{}", include_str!("lua/prelude.lua"), body));
        Self {
            enqueue: with_prelude(include_str!("lua/enqueue.lua")),
            enqueue_many: with_prelude(include_str!("lua/enqueue_many.lua")),
            alive: with_prelude(include_str!("lua/alive.lua")),
            dequeue: with_prelude(include_str!("lua/dequeue.lua")),
            ack: with_prelude(include_str!("lua/ack.lua")),
            extend: with_prelude(include_str!("lua/extend.lua")),
            retry: with_prelude(include_str!("lua/retry.lua")),
            remove: with_prelude(include_str!("lua/remove.lua")),
            depth: with_prelude(include_str!("lua/depth.lua")),
        }
    }
}

/// One named queue over a shared, self-reconnecting connection; leases it takes are
/// recorded as its owner's when it has one ([`JobQueue::with_owner`]).
#[derive(Clone)]
pub struct JobQueue {
    conn: RedisConn,
    keys: Vec<String>,
    name: String,
    owner: Option<Arc<str>>,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl JobQueue {
    pub fn new(conn: RedisConn, queue: QueueName) -> Self {
        Self::named(conn, queue.as_str())
    }

    /// A queue of any name, alone under its own hash tag (tests use unique names to stay
    /// apart).
    pub fn named(conn: RedisConn, name: &str) -> Self {
        Self {
            conn,
            keys: keys::alone(name),
            name: name.to_owned(),
            owner: None,
        }
    }

    /// The queues `members`, one group under the hash tag of `group`: an organization's
    /// leases are counted over all of them against one cap, and an organization in line in
    /// one takes its turns in the others as its running count allows.
    pub fn group<const N: usize>(conn: RedisConn, group: &str, members: [&str; N]) -> [Self; N] {
        members.map(|name| Self {
            conn: conn.clone(),
            keys: keys::in_group(group, name, &members),
            name: name.to_owned(),
            owner: None,
        })
    }

    /// This queue, taking leases as `worker`'s: they go back to waiting as soon as the
    /// worker's liveness lapses ([`liveness`]), not only at their deadline.
    pub fn with_owner(mut self, worker: &str) -> Self {
        self.owner = Some(Arc::from(worker));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's waiting set: its ready channel is named after it ([`wake`]).
    pub fn wait_key(&self) -> &str {
        &self.keys[0]
    }

    /// The Redis keys this queue's scripts take, all under one hash tag (a group member's
    /// include the keys it shares with its siblings and two of each sibling's).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Runs one of the queue's scripts over its keys, with the arguments `args` adds.
    async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        args: impl FnOnce(&mut ScriptInvocation<'_>),
    ) -> Result<T> {
        let mut invocation = script.prepare_invoke();
        for k in &self.keys {
            invocation.key(k);
        }
        args(&mut invocation);
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Runs a script that only the lease's holder may run: true when it held the lease.
    async fn as_holder(
        &self,
        script: &Script,
        lease: &Lease,
        duration: Option<Duration>,
    ) -> Result<bool> {
        let done: i64 = self
            .run(script, |inv| {
                inv.arg(&lease.id).arg(&lease.token);
                if let Some(d) = duration {
                    inv.arg(millis(d));
                }
            })
            .await?;
        Ok(done == 1)
    }

    /// Queues a job of no organization (uncapped) at `priority` (1 to 10, 10 first), after
    /// `delay`. False when the id is already queued (nothing changes).
    pub async fn enqueue(
        &self,
        id: &str,
        payload: &str,
        priority: u8,
        delay: Duration,
    ) -> Result<bool> {
        self.enqueue_shared(None, id, payload, priority, delay)
            .await
    }

    /// Queues `share`'s organization's job as [`JobQueue::enqueue`] does; it is leased in
    /// its organization's turn and only while fewer than `share.max_running` are leased.
    pub async fn enqueue_for(
        &self,
        share: Share,
        id: &str,
        payload: &str,
        priority: u8,
        delay: Duration,
    ) -> Result<bool> {
        self.enqueue_shared(Some(share), id, payload, priority, delay)
            .await
    }

    async fn enqueue_shared(
        &self,
        share: Option<Share>,
        id: &str,
        payload: &str,
        priority: u8,
        delay: Duration,
    ) -> Result<bool> {
        if !(1..=10).contains(&priority) {
            return Err(Error::validation("priority", "must be between 1 and 10"));
        }
        let (org, cap) = share_args(share);
        let added: i64 = self
            .run(&scripts().enqueue, |inv| {
                inv.arg(id)
                    .arg(payload)
                    .arg(priority)
                    .arg(millis(delay))
                    .arg(&org)
                    .arg(cap);
            })
            .await?;
        Ok(added == 1)
    }

    /// Queues many jobs in one script call, each as [`enqueue_for`] would; returns how many
    /// were not in the queue already.
    ///
    /// [`enqueue_for`]: JobQueue::enqueue_for
    pub async fn enqueue_many(&self, jobs: &[Entry]) -> Result<u64> {
        self.enqueue_many_placed(jobs, false).await
    }

    /// [`Self::enqueue_many`], each added job going ahead of its organization's waiting jobs
    /// of the same priority: for jobs that were running when their leases were lost, so they
    /// are not run after the whole backlog.
    pub async fn enqueue_many_ahead(&self, jobs: &[Entry]) -> Result<u64> {
        self.enqueue_many_placed(jobs, true).await
    }

    async fn enqueue_many_placed(&self, jobs: &[Entry], ahead: bool) -> Result<u64> {
        if jobs.is_empty() {
            return Ok(0);
        }
        if jobs.iter().any(|e| !(1..=10).contains(&e.priority)) {
            return Err(Error::validation("priority", "must be between 1 and 10"));
        }
        self.run(&scripts().enqueue_many, |inv| {
            inv.arg(0).arg(u8::from(ahead));
            for e in jobs {
                let (org, cap) = share_args(e.share);
                inv.arg(&e.id)
                    .arg(&e.payload)
                    .arg(e.priority)
                    .arg(org)
                    .arg(cap);
            }
        })
        .await
    }

    /// How many of `org`'s jobs are leased from this queue and the rest of its group, as
    /// last counted (expired leases are reclaimed at the next dequeue or depth call).
    pub async fn running(&self, org: crate::domain::OrgId) -> Result<u64> {
        let n: Option<u64> = redis::cmd("HGET")
            .arg(&self.keys[keys::RUNNING])
            .arg(org.to_string())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(n.unwrap_or(0))
    }

    /// Leases the next job for `lease`; None when nothing is waiting. With an owner, the
    /// lease is recorded as its, and its liveness refreshed.
    pub async fn dequeue(&self, lease: Duration) -> Result<Option<Lease>> {
        let token = random_token();
        let owner = self.owner.as_deref().unwrap_or("");
        let got: Option<(String, String, u32)> = self
            .run(&scripts().dequeue, |inv| {
                inv.arg(millis(lease))
                    .arg(&token)
                    .arg(owner)
                    .arg(millis(liveness::TTL));
            })
            .await?;
        Ok(got.map(|(id, payload, deliveries)| Lease {
            id,
            payload,
            deliveries,
            token,
        }))
    }

    /// Removes a finished job. False when the lease was lost (expired and re-delivered).
    pub async fn ack(&self, lease: &Lease) -> Result<bool> {
        self.as_holder(&scripts().ack, lease, None).await
    }

    /// Extends a lease to `duration` from now. False when it was lost.
    pub async fn extend(&self, lease: &Lease, duration: Duration) -> Result<bool> {
        self.as_holder(&scripts().extend, lease, Some(duration))
            .await
    }

    /// Gives a leased job back to run again after `delay`. False when the lease was lost.
    pub async fn retry(&self, lease: &Lease, delay: Duration) -> Result<bool> {
        self.as_holder(&scripts().retry, lease, Some(delay)).await
    }

    /// Gives a leased job back untouched, to run after `delay`, without counting the lease
    /// among its deliveries (the holder could not start it yet: a bound was reached). False
    /// when the lease was lost.
    pub async fn defer(&self, lease: &Lease, delay: Duration) -> Result<bool> {
        let done: i64 = self
            .run(&scripts().retry, |inv| {
                inv.arg(&lease.id)
                    .arg(&lease.token)
                    .arg(millis(delay))
                    .arg(1);
            })
            .await?;
        Ok(done == 1)
    }

    /// Removes a waiting or delayed job (a cancel).
    pub async fn remove(&self, id: &str) -> Result<Removal> {
        let outcome: i64 = self
            .run(&scripts().remove, |inv| {
                inv.arg(id);
            })
            .await?;
        Ok(match outcome {
            1 => Removal::Removed,
            -1 => Removal::InFlight,
            _ => Removal::NotQueued,
        })
    }

    /// Waiting, delayed, leased and runnable counts, after reclaiming expired leases.
    pub async fn depth(&self) -> Result<QueueDepth> {
        let (waiting, delayed, active, _reclaimed, runnable): (u64, u64, u64, u64, u64) =
            self.run(&scripts().depth, |_| {}).await?;
        Ok(QueueDepth {
            waiting,
            delayed,
            active,
            runnable,
        })
    }

    /// True when this queue's marker says it is whole: no restore pending, and Redis has
    /// not lost it (restarted empty, flushed, failed over to a replica that never had it)
    /// since the last restore finished.
    pub async fn is_intact(&self) -> Result<bool> {
        let marker: Option<String> = redis::cmd("GET")
            .arg(self.intact_key())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(marker.as_deref() == Some(INTACT))
    }

    /// Records that a restore of this queue from Postgres has begun: until
    /// [`JobQueue::mark_intact`], the queue is not intact, so a restorer that dies midway
    /// leaves the restore to be done again. The marker never expires.
    pub async fn mark_restoring(&self) -> Result<()> {
        redis::cmd("SET")
            .arg(self.intact_key())
            .arg(RESTORING)
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Records that the restore finished. False when the marker vanished meanwhile (Redis
    /// lost the queue again during the restore): it is left not intact.
    pub async fn mark_intact(&self) -> Result<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(self.intact_key())
            .arg(INTACT)
            .arg("XX")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    fn intact_key(&self) -> &str {
        &self.keys[keys::INTACT]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_s_share_is_its_max_concurrent_jobs_and_never_below_one() {
        let org = crate::domain::OrgId::new();
        assert_eq!(Share::of_plan(org, 50).max_running, 50);
        assert_eq!(Share::of_plan(org, 0).max_running, 1);
        assert_eq!(Share::of_plan(org, -3).max_running, 1);
    }

    #[test]
    fn a_job_of_no_organization_is_enqueued_uncapped() {
        assert_eq!(share_args(None), (String::new(), 0));
        let org = crate::domain::OrgId::new();
        assert_eq!(
            share_args(Some(Share::of_plan(org, 7))),
            (org.to_string(), 7)
        );
    }
}

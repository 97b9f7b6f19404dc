//! Putting accepted jobs on their queues, shared by the API and the operator: each job is
//! `queued` in Postgres (inserted so by [`submit`], or marked so by [`dispatch`], one
//! statement per queue), then pushed onto its engine's Redis queue (a thousand entries per
//! script call, several calls in flight). Postgres is the truth: if Redis fails in between,
//! the job is `queued` in Postgres without a queue entry, and the re-enqueue sweep
//! ([`crate::sweep`]) puts it back.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures::StreamExt;

use chrono::Utc;

use crate::{
    Result,
    domain::{ApiKeyId, BatchId, Engine, JobId, JobOptions, JobStatus, OrgId},
    pg::{Db, Job, NewJob, Submission},
    queue::{Entry, JobQueue, QueueName, QueuedJob, RedisConn, Share},
};

/// The queue shares of the organizations of `jobs`, from their plans (one query). An
/// organization Postgres does not know (it cannot own a job) gets the smallest share.
pub async fn shares_of(db: &Db, jobs: &[&Job]) -> Result<HashMap<OrgId, Share>> {
    let mut orgs: Vec<OrgId> = jobs.iter().map(|j| j.organization_id).collect();
    orgs.sort_unstable();
    orgs.dedup();
    db.shares(&orgs).await
}

fn share_in(shares: &HashMap<OrgId, Share>, org: OrgId) -> Share {
    shares
        .get(&org)
        .copied()
        .unwrap_or_else(|| Share::of_plan(org, 1))
}

/// The job queues of one deployment (an optional name prefix keeps deployments, or tests,
/// apart on a shared Redis).
#[derive(Clone)]
pub struct QueueSet {
    http: JobQueue,
    browser: JobQueue,
    stealth: JobQueue,
    webhooks: JobQueue,
    namespace: String,
}

impl QueueSet {
    /// The engines' queues are one group ([`JobQueue::group`]), so an organization's cap
    /// counts its running jobs on every engine; webhook deliveries queue apart.
    pub fn new(conn: RedisConn, namespace: &str) -> Self {
        let name = |q: QueueName| format!("{namespace}{}", q.as_str());
        let engines = [QueueName::Http, QueueName::Browser, QueueName::Stealth].map(name);
        let [http, browser, stealth] = JobQueue::group(
            conn.clone(),
            &format!("{namespace}jobs"),
            engines.each_ref().map(String::as_str),
        );
        Self {
            http,
            browser,
            stealth,
            webhooks: JobQueue::named(conn, &name(QueueName::Webhooks)),
            namespace: namespace.to_owned(),
        }
    }

    /// The queue a job of `engine` starts on: auto starts over plain HTTP, or in the browser
    /// when its options need one.
    pub fn for_job(&self, engine: Engine, options: &JobOptions) -> &JobQueue {
        match engine.starting(options) {
            Engine::Auto | Engine::Http => &self.http,
            Engine::Browser => &self.browser,
            Engine::Stealth => &self.stealth,
        }
    }

    /// The queue that holds (or should hold) `job`: the one it was queued on, else the one
    /// it starts on.
    pub fn queue_of(&self, job: &Job) -> &JobQueue {
        self.queue_named(job.queue_name.as_deref(), job.engine, &job.options.0)
    }

    /// The queue called `name`, else the one a job of `engine` and `options` starts on.
    pub fn queue_named(
        &self,
        name: Option<&str>,
        engine: Engine,
        options: &JobOptions,
    ) -> &JobQueue {
        name.and_then(|n| self.by_name(n))
            .unwrap_or_else(|| self.for_job(engine, options))
    }

    /// Puts `job` on its queue under its organization's `share`; false when the queue holds
    /// it already (in any state).
    pub async fn enqueue_job(&self, job: &Job, share: Share) -> Result<bool> {
        self.queue_of(job)
            .enqueue_for(
                share,
                &job.id.to_string(),
                &QueuedJob { job_id: job.id }.to_payload(),
                queue_priority(job.priority),
                Duration::ZERO,
            )
            .await
    }

    /// Takes jobs that will not run (canceled, suspended) off their queues. Best effort: a
    /// job left behind is dropped by the worker that leases it, which reads Postgres first.
    pub async fn unqueue(&self, jobs: &[Job]) {
        for job in jobs {
            if let Err(err) = self.queue_of(job).remove(&job.id.to_string()).await {
                tracing::warn!(job = %job.id, error = %err, "queue removal failed");
            }
        }
    }

    pub fn for_engine(&self, engine: Engine) -> &JobQueue {
        self.for_job(engine, &JobOptions::default())
    }

    pub fn jobs(&self) -> [&JobQueue; 3] {
        [&self.http, &self.browser, &self.stealth]
    }

    /// The name prefix; workers must be given the same (`SCRX_QUEUE_NAMESPACE`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn webhooks(&self) -> &JobQueue {
        &self.webhooks
    }

    pub fn by_name(&self, name: &str) -> Option<&JobQueue> {
        self.jobs().into_iter().find(|q| q.name() == name)
    }
}

/// A job's priority as the queues take it (1 to 10; out of range is clamped).
pub fn queue_priority(priority: i32) -> u8 {
    u8::try_from(priority.clamp(1, 10)).unwrap_or(5)
}

/// Cancels a batch's unfinished jobs ([`Db::cancel_batch`]) and takes those waiting off their
/// queues (a leased one stays with its worker, which sees the cancel).
pub async fn cancel_batch(
    db: &Db,
    queues: &QueueSet,
    org: crate::domain::OrgId,
    batch: crate::domain::BatchId,
) -> Result<Vec<Job>> {
    let canceled = db.cancel_batch(org, batch).await?;
    queues.unqueue(&canceled).await;
    Ok(canceled)
}

/// Queue entries per script call when dispatching, and calls in flight at once: a
/// 100,000-job batch is 100 calls, pipelined on the one connection.
const DISPATCH_CHUNK: usize = 1000;
const DISPATCH_IN_FLIGHT: usize = 8;

/// Submits `jobs` already queued, each on the queue it starts on ([`Db::submit_jobs_queued`]:
/// one statement, credits reserved), then puts the created ones on their Redis queues.
/// Results in input order; a replayed idempotency key's original is not enqueued again.
pub async fn submit(
    db: &Db,
    queues: &QueueSet,
    org: OrgId,
    (api_key, batch): (Option<ApiKeyId>, Option<BatchId>),
    jobs: &[NewJob],
) -> Result<Vec<Submission>> {
    let names: Vec<&str> = jobs
        .iter()
        .map(|j| queues.for_job(j.engine, &j.options).name())
        .collect();
    let subs = db
        .submit_jobs_queued(org, api_key, batch, jobs, &names)
        .await?;
    let created: Vec<&Job> = subs
        .iter()
        .filter_map(|s| match s {
            Submission::Created(job) => Some(job),
            Submission::Existing(_) => None,
        })
        .collect();
    let shares = shares_of(db, &created).await?;
    let mut by_queue: HashMap<&str, Vec<&Job>> = HashMap::new();
    for job in created {
        by_queue
            .entry(queues.queue_of(job).name())
            .or_default()
            .push(job);
    }
    for (name, jobs) in by_queue {
        if let Some(queue) = queues.by_name(name) {
            let entries: Vec<Entry> = jobs.iter().map(|j| entry_of(j, &shares)).collect();
            enqueue_entries(queue, &entries).await;
        }
    }
    Ok(subs)
}

/// Marks `jobs` (created pending) queued and enqueues them; each job passed in is
/// updated to what Postgres now holds. Returns how many were queued. Per queue: one
/// statement in Postgres, then the entries in chunks of [`DISPATCH_CHUNK`] per script call,
/// several calls in flight; a chunk Redis refused is left to the re-enqueue sweep.
pub async fn dispatch(db: &Db, queues: &QueueSet, jobs: &mut [&mut Job]) -> Result<usize> {
    let shares = {
        let all: Vec<&Job> = jobs.iter().map(|j| &**j).collect();
        shares_of(db, &all).await?
    };
    let mut by_queue: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let queue = queues.for_job(job.engine, &job.options.0);
        by_queue.entry(queue.name().to_owned()).or_default().push(i);
    }
    let mut queued = 0;
    for (name, idx) in by_queue {
        let ids: Vec<JobId> = idx.iter().map(|&i| jobs[i].id).collect();
        let moved: HashSet<JobId> = db
            .mark_jobs_queued(&ids, &name)
            .await?
            .into_iter()
            .collect();
        let now = Utc::now();
        let mut entries = Vec::with_capacity(moved.len());
        for &i in &idx {
            let job = &mut *jobs[i];
            if !moved.contains(&job.id) {
                continue;
            }
            job.status = JobStatus::Queued;
            job.queued_at = Some(now);
            job.queue_name = Some(name.clone());
            entries.push(entry_of(job, &shares));
        }
        queued += entries.len();
        if let Some(queue) = queues.by_name(&name) {
            enqueue_entries(queue, &entries).await;
        }
    }
    Ok(queued)
}

/// `job`'s queue entry, under its organization's share.
fn entry_of(job: &Job, shares: &HashMap<OrgId, Share>) -> Entry {
    Entry {
        id: job.id.to_string(),
        payload: QueuedJob { job_id: job.id }.to_payload(),
        priority: queue_priority(job.priority),
        share: Some(share_in(shares, job.organization_id)),
    }
}

/// Pushes `entries` onto `queue`, [`DISPATCH_CHUNK`] per script call, [`DISPATCH_IN_FLIGHT`]
/// calls at once; a chunk Redis refused is logged and left to the re-enqueue sweep.
async fn enqueue_entries(queue: &JobQueue, entries: &[Entry]) {
    futures::stream::iter(entries.chunks(DISPATCH_CHUNK))
        .for_each_concurrent(DISPATCH_IN_FLIGHT, |chunk| async move {
            if let Err(err) = queue.enqueue_many(chunk).await {
                tracing::warn!(queue = queue.name(), jobs = chunk.len(), error = %err,
                    "enqueue failed; the re-enqueue sweep will retry");
            }
        })
        .await;
}

/// Puts jobs back on their queues (idempotently), each under its organization's share;
/// returns how many were missing there.
pub async fn requeue(db: &Db, queues: &QueueSet, jobs: &[Job]) -> Result<u64> {
    let shares = shares_of(db, &jobs.iter().collect::<Vec<_>>()).await?;
    let mut restored = 0;
    for job in jobs {
        let share = share_in(&shares, job.organization_id);
        if queues.enqueue_job(job, share).await? {
            restored += 1;
        }
    }
    Ok(restored)
}

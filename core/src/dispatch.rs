//! Putting accepted jobs on their queues, shared by the API and the operator: each job is
//! marked `queued` in Postgres (one statement per queue), then pushed onto its engine's
//! Redis queue. Postgres is the truth: if Redis fails in between, the job is `queued` in
//! Postgres without a queue entry, and the re-enqueue sweep ([`requeue_lost`]) puts it back.

use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use redis::aio::ConnectionManager;

use crate::{
    Result,
    domain::{Engine, JobId, JobOptions, JobStatus},
    pg::{Db, Job},
    queue::{JobQueue, QueueName, QueuedJob},
};

/// The job queues of one deployment (an optional name prefix keeps deployments, or tests,
/// apart on a shared Redis).
#[derive(Clone)]
pub struct QueueSet {
    http: JobQueue,
    browser: JobQueue,
    stealth: JobQueue,
    webhooks: JobQueue,
}

impl QueueSet {
    pub fn new(conn: ConnectionManager, namespace: &str) -> Self {
        let q = |name: QueueName| {
            JobQueue::named(conn.clone(), &format!("{namespace}{}", name.as_str()))
        };
        Self {
            http: q(QueueName::Http),
            browser: q(QueueName::Browser),
            stealth: q(QueueName::Stealth),
            webhooks: q(QueueName::Webhooks),
        }
    }

    /// The queue a job of `engine` starts on: auto starts over plain HTTP, or in the browser
    /// when its options need one.
    pub fn for_job(&self, engine: Engine, options: &JobOptions) -> &JobQueue {
        match engine {
            Engine::Auto if options.needs_browser() => &self.browser,
            Engine::Auto | Engine::Http => &self.http,
            Engine::Browser => &self.browser,
            Engine::Stealth => &self.stealth,
        }
    }

    pub fn for_engine(&self, engine: Engine) -> &JobQueue {
        self.for_job(engine, &JobOptions::default())
    }

    pub fn jobs(&self) -> [&JobQueue; 3] {
        [&self.http, &self.browser, &self.stealth]
    }

    pub fn webhooks(&self) -> &JobQueue {
        &self.webhooks
    }

    pub fn by_name(&self, name: &str) -> Option<&JobQueue> {
        self.jobs().into_iter().find(|q| q.name() == name)
    }
}

/// Marks `jobs` (freshly created, pending) queued and enqueues them; each job passed in is
/// updated to what Postgres now holds. Returns how many were queued.
pub async fn dispatch(db: &Db, queues: &QueueSet, jobs: &mut [&mut Job]) -> Result<usize> {
    let mut by_queue: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let queue = queues.for_job(job.engine, &job.options.0);
        by_queue.entry(queue.name().to_owned()).or_default().push(i);
    }
    let mut queued = 0;
    for (name, idx) in by_queue {
        let Some(queue) = queues.by_name(&name) else {
            continue;
        };
        let ids: Vec<JobId> = idx.iter().map(|&i| jobs[i].id).collect();
        let moved = db.mark_jobs_queued(&ids, &name).await?;
        let now = Utc::now();
        for &i in &idx {
            let job = &mut *jobs[i];
            if !moved.contains(&job.id) {
                continue;
            }
            job.status = JobStatus::Queued;
            job.queued_at = Some(now);
            job.queue_name = Some(name.clone());
            enqueue(queue, job).await;
            queued += 1;
        }
    }
    Ok(queued)
}

async fn enqueue(queue: &JobQueue, job: &Job) {
    let priority = u8::try_from(job.priority.clamp(1, 10)).unwrap_or(5);
    let payload = QueuedJob { job_id: job.id }.to_payload();
    if let Err(err) = queue
        .enqueue(&job.id.to_string(), &payload, priority, Duration::ZERO)
        .await
    {
        tracing::warn!(job = %job.id, error = %err, "enqueue failed; the re-enqueue sweep will retry");
    }
}

/// Re-enqueues jobs Postgres holds as queued (for longer than `grace`) that no queue holds:
/// Redis lost them (a flush, a failover, a crash between the two writes). Jobs of suspended
/// batches are left alone. Returns how many were put back.
pub async fn requeue_lost(db: &Db, queues: &QueueSet, grace: Duration, limit: i64) -> Result<u64> {
    let candidates = db.queued_jobs_older_than(grace, limit).await?;
    let mut restored = 0;
    for job in candidates {
        let queue = job
            .queue_name
            .as_deref()
            .and_then(|n| queues.by_name(n))
            .unwrap_or_else(|| queues.for_job(job.engine, &job.options.0));
        let priority = u8::try_from(job.priority.clamp(1, 10)).unwrap_or(5);
        // enqueue is a no-op (false) for an id the queue already holds in any state.
        if queue
            .enqueue(
                &job.id.to_string(),
                &QueuedJob { job_id: job.id }.to_payload(),
                priority,
                Duration::ZERO,
            )
            .await?
        {
            restored += 1;
        }
    }
    Ok(restored)
}

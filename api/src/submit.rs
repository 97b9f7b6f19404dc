//! Submission, shared by scrape-now, jobs and batches: target checks, then one Postgres
//! statement that inserts the jobs and reserves their credits (402 when the balance cannot
//! cover them; an idempotency key replay returns the original), then the new jobs are
//! marked queued and pushed onto their engine's Redis queue.
//!
//! Postgres is the truth: a job is marked queued before its Redis entry exists, so a worker
//! never sees a job that Postgres still calls pending. If Redis fails in between, the job
//! stays queued in Postgres and the operator's re-enqueue sweep puts it back on the queue;
//! the customer's job is never lost.

use std::collections::HashMap;

use chrono::Utc;
use scraperx_core::{
    domain::{BatchId, Engine, JobId, JobStatus},
    pg::{Job, NewJob, Submission},
    queue::{JobQueue, QueuedJob},
};

use crate::{auth::Auth, error::ApiResult, state::AppState, target};

/// The engine a job starts with: auto goes to the browser straight away when the options
/// need one (rendering, waiting for a selector, screenshots, PDFs).
pub fn starting_engine(job: &NewJob) -> Engine {
    match job.engine {
        Engine::Auto if job.options.needs_browser() => Engine::Browser,
        other => other,
    }
}

/// Submits `jobs`; results in input order. `fields` names each job's URL field for errors.
pub async fn submit(
    state: &AppState,
    auth: &Auth,
    batch: Option<BatchId>,
    jobs: Vec<NewJob>,
    fields: Vec<String>,
) -> ApiResult<Vec<Submission>> {
    let targets: Vec<(String, &str)> = fields
        .into_iter()
        .zip(jobs.iter().map(|j| j.url.as_str()))
        .collect();
    target::check_targets(state, auth, &targets).await?;
    let mut subs = state
        .db
        .submit_jobs(auth.org_id, Some(auth.key_id), batch, &jobs)
        .await?;

    let mut by_queue: HashMap<&str, (&JobQueue, Vec<usize>)> = HashMap::new();
    for (i, (sub, new)) in subs.iter().zip(&jobs).enumerate() {
        if sub.is_created() {
            let engine = starting_engine(new);
            state
                .metrics
                .jobs_submitted
                .get_or_create(&crate::metrics::EngineLabel {
                    engine: engine.as_str().to_owned(),
                })
                .inc();
            let queue = state.queue_for(engine);
            by_queue
                .entry(queue.name())
                .or_insert((queue, Vec::new()))
                .1
                .push(i);
        }
    }
    for (name, (queue, idx)) in by_queue {
        let ids: Vec<JobId> = idx.iter().map(|&i| subs[i].job().id).collect();
        let moved = state.db.mark_jobs_queued(&ids, name).await?;
        let now = Utc::now();
        for &i in &idx {
            if let Submission::Created(job) = &mut subs[i]
                && moved.contains(&job.id)
            {
                job.status = JobStatus::Queued;
                job.queued_at = Some(now);
                job.queue_name = Some(name.to_owned());
                enqueue(queue, job).await;
            }
        }
    }
    Ok(subs)
}

async fn enqueue(queue: &JobQueue, job: &Job) {
    let payload = QueuedJob { job_id: job.id }.to_payload();
    let priority = u8::try_from(job.priority.clamp(1, 10)).unwrap_or(5);
    if let Err(err) = queue
        .enqueue(
            &job.id.to_string(),
            &payload,
            priority,
            std::time::Duration::ZERO,
        )
        .await
    {
        tracing::warn!(job = %job.id, error = %err, "enqueue failed; the re-enqueue sweep will retry");
    }
}

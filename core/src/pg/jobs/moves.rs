//! A job's moves through the state machine: each checked against [`JobStatus`] first (the
//! database trigger checks the same rules again), stamped, recorded as a job event, and,
//! for a final move or a cancel, settled, all in one transaction.

use super::{JOB_COLUMNS, Job};
use crate::{
    Error, Result,
    domain::{EventType, JobId, JobStatus, OrgId},
    pg::{Db, NewJobEvent, events::insert_status_event},
};

/// A move of a job through the state machine, with what the move records.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub to: JobStatus,
    pub worker_id: Option<String>,
    pub queue_name: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub event_data: serde_json::Value,
    /// Events of the job held until this move, written first in its transaction.
    pub events: Vec<NewJobEvent>,
}

impl StatusChange {
    pub fn to(status: JobStatus) -> Self {
        Self {
            to: status,
            worker_id: None,
            queue_name: None,
            error_code: None,
            error_message: None,
            event_data: serde_json::json!({}),
            events: Vec::new(),
        }
    }

    /// The move also writes `events` (held since the last one), before its own.
    pub fn with_events(mut self, events: Vec<NewJobEvent>) -> Self {
        self.events = events;
        self
    }

    pub fn worker(mut self, worker_id: &str) -> Self {
        self.worker_id = Some(worker_id.to_owned());
        self
    }

    pub fn queue(mut self, queue_name: &str) -> Self {
        self.queue_name = Some(queue_name.to_owned());
        self
    }

    pub fn error(mut self, code: &str, message: &str) -> Self {
        self.error_code = Some(code.to_owned());
        self.error_message = Some(message.to_owned());
        self
    }
}

impl Db {
    /// Moves a job through the state machine, checked first against [`JobStatus`] (the
    /// database trigger checks the same rules again), stamping the move's timestamps and
    /// recording its job event in the same transaction.
    pub async fn transition_job(&self, id: JobId, change: &StatusChange) -> Result<Job> {
        let mut tx = self.pool.begin().await?;
        let job = self.transition_in(&mut tx, id, change).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Moves a job to a final status and settles its credits to `actual` in one
    /// transaction: a worker that dies can leave the job running (and it is run again) or
    /// finished and settled, never finished with its reservation open.
    pub async fn finish_job(
        &self,
        id: JobId,
        change: &StatusChange,
        actual: i64,
    ) -> Result<(Job, crate::pg::credits::Settlement)> {
        if !change.to.is_finished() {
            return Err(Error::validation(
                "status",
                "finishing needs a final status",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let job = self.transition_in(&mut tx, id, change).await?;
        let settlement = crate::pg::credits::settle_in(&mut tx, id, actual).await?;
        tx.commit().await?;
        Ok((job, settlement))
    }

    /// [`Db::transition_job`] inside a caller's transaction.
    pub(crate) async fn transition_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: JobId,
        change: &StatusChange,
    ) -> Result<Job> {
        Ok(self.moved_in(tx, id, change).await?.1)
    }

    /// [`Db::transition_in`], also returning the status the job moved from.
    async fn moved_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: JobId,
        change: &StatusChange,
    ) -> Result<(JobStatus, Job)> {
        // First, so that they stay even when the move is refused in a transaction that
        // commits all the same (a completion that finds its job canceled).
        crate::pg::events::insert_events(&mut **tx, &change.events).await?;
        let current: Option<(JobStatus, i32, i32)> = sqlx::query_as(
            "SELECT status, attempts, max_attempts FROM scrape_jobs WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        let (from, attempts, max_attempts) = current.ok_or(Error::NotFound { entity: "job" })?;
        from.transition(change.to, attempts, max_attempts)?;

        let sql = format!(
            "UPDATE scrape_jobs SET status = $2, \
                 queued_at = CASE WHEN $2 = 'queued' THEN NOW() ELSE queued_at END, \
                 started_at = CASE WHEN $2 = 'running' THEN NOW() ELSE started_at END, \
                 attempts = CASE WHEN $2 = 'running' THEN attempts + 1 ELSE attempts END, \
                 timeout_at = CASE WHEN $2 = 'running' \
                     THEN NOW() + make_interval(secs => COALESCE((options->>'timeout')::int, 30000) / 1000.0) \
                     ELSE timeout_at END, \
                 completed_at = CASE WHEN $2 IN ('completed', 'failed', 'canceled', 'timeout') THEN NOW() \
                     WHEN $2 = 'queued' THEN NULL ELSE completed_at END, \
                 worker_id = COALESCE($3, worker_id), \
                 queue_name = COALESCE($4, queue_name), \
                 error_code = CASE WHEN $2 IN ('failed', 'timeout', 'canceled') THEN $5 ELSE error_code END, \
                 error_message = CASE WHEN $2 IN ('failed', 'timeout', 'canceled') THEN $6 ELSE error_message END \
             WHERE id = $1 RETURNING {JOB_COLUMNS}"
        );
        let job: Job = sqlx::query_as(&sql)
            .bind(id)
            .bind(change.to)
            .bind(&change.worker_id)
            .bind(&change.queue_name)
            .bind(&change.error_code)
            .bind(&change.error_message)
            .fetch_one(&mut **tx)
            .await?;
        let mut data = change.event_data.clone();
        if let serde_json::Value::Object(map) = &mut data {
            map.insert("from".into(), from.as_str().into());
            map.insert("attempt".into(), job.attempts.into());
            if let Some(code) = &change.error_code {
                map.insert("error_code".into(), code.as_str().into());
            }
        }
        insert_status_event(
            tx,
            (job.id, job.organization_id),
            EventType::for_status(change.to),
            data,
            change.worker_id.as_deref(),
        )
        .await?;
        Ok((from, job))
    }

    /// Whether a running job should stop: it was canceled (alone or with its batch, both
    /// through [`Db::cancel_in`]), or its `cancel_requested` flag is set. Polled by workers
    /// while a job runs.
    pub async fn cancel_requested(&self, id: JobId) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT status = 'canceled' OR cancel_requested \
             FROM scrape_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(true))
    }

    /// Cancels a job of this organization (another organization's job is not found), through
    /// [`Db::cancel_in`].
    pub async fn cancel_job(&self, org: OrgId, id: JobId) -> Result<Job> {
        let mut tx = self.pool.begin().await?;
        let owner: Option<OrgId> =
            sqlx::query_scalar("SELECT organization_id FROM scrape_jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if owner != Some(org) {
            return Err(Error::NotFound { entity: "job" });
        }
        let job = self
            .cancel_in(&mut tx, id, &StatusChange::to(JobStatus::Canceled))
            .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// The one cancel, inside the caller's transaction, for a job alone and for each job of
    /// a batch: the move to `canceled` (checked and recorded as every move is), and, for a
    /// job that was not running, its reservation refunded in the same transaction. A
    /// running job's worker sees the cancel, stops, and settles it without charge (or, if
    /// the worker died, whoever takes the lease next does).
    pub(crate) async fn cancel_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: JobId,
        change: &StatusChange,
    ) -> Result<Job> {
        let (from, job) = self.moved_in(tx, id, change).await?;
        if from == JobStatus::Running {
            return Ok(job);
        }
        crate::pg::credits::settle_in(tx, id, 0).await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_one(&mut **tx).await?)
    }
}

//! Scrape jobs: the stored row and its reads with keyset pagination. Submission (one or
//! many, one statement, credits reserved in the same transaction, idempotent by key) is in
//! `submit.rs`, the listing's cursor in `cursor.rs`, and the moves through the state machine
//! (each checked, recorded and settled in one transaction) in `moves.rs`.

mod cursor;
mod moves;
mod submit;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

pub use cursor::{JobCursor, JobFilter, JobPage};
pub use moves::StatusChange;
pub use submit::Submission;

use super::{Db, NewJobEvent};
use crate::{
    Error, Result,
    domain::{
        ApiKeyId, BatchId, Engine, EventType, HttpMethod, JobId, JobOptions, JobStatus, OrgId,
        ProxyTier, RequestHeaders,
    },
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: JobId,
    pub organization_id: OrgId,
    pub api_key_id: Option<ApiKeyId>,
    pub batch_id: Option<BatchId>,
    pub url: String,
    pub url_hash: String,
    pub method: HttpMethod,
    pub headers: Option<Json<RequestHeaders>>,
    pub body: Option<String>,
    pub engine: Engine,
    pub options: Json<JobOptions>,
    pub proxy_tier: ProxyTier,
    pub proxy_country: Option<String>,
    pub proxy_session_id: Option<String>,
    pub status: JobStatus,
    pub priority: i32,
    pub attempts: i32,
    pub max_attempts: i32,
    pub created_at: DateTime<Utc>,
    pub queued_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub timeout_at: Option<DateTime<Utc>>,
    pub worker_id: Option<String>,
    pub queue_name: Option<String>,
    pub result_id: Option<Uuid>,
    pub credits_estimated: i64,
    pub credits_charged: i64,
    pub credits_settled_at: Option<DateTime<Utc>>,
    pub webhook_url: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub client_reference: Option<String>,
    pub idempotency_key: Option<String>,
    pub metadata: Option<Json<serde_json::Value>>,
}

impl Job {
    /// True when the job has an outcome to report: completed, canceled, failed or timed
    /// out. Workers retry by moving a job from `running` straight back to `queued`, so a job
    /// seen `failed` or `timeout` is one they gave up on (only an explicit retry moves it on).
    pub fn is_final(&self) -> bool {
        self.status.is_finished()
    }
}

pub(crate) const JOB_COLUMNS: &str = "id, organization_id, api_key_id, batch_id, url, url_hash, \
    method, headers, body, engine, options, COALESCE(proxy_tier, 'datacenter') AS proxy_tier, \
    proxy_country, proxy_session_id, status, priority, attempts, max_attempts, created_at, \
    queued_at, started_at, completed_at, timeout_at, worker_id, queue_name, result_id, \
    COALESCE(credits_estimated, 0) AS credits_estimated, COALESCE(credits_charged, 0) AS credits_charged, \
    credits_settled_at, webhook_url, error_code, error_message, client_reference, idempotency_key, metadata";

impl NewJobEvent {
    /// An event of `job`, taking `ms` (when timed), recorded by `worker` (when one did).
    pub fn of(
        job: &Job,
        kind: EventType,
        data: serde_json::Value,
        ms: Option<u32>,
        worker: Option<&str>,
    ) -> Self {
        Self {
            job_id: job.id,
            organization_id: job.organization_id,
            event_type: kind,
            event_data: data,
            duration_ms: ms.and_then(|m| i32::try_from(m).ok()),
            worker_id: worker.map(str::to_owned),
            at: Utc::now(),
        }
    }
}

impl Db {
    /// A job of this organization; another organization's job is not found.
    pub async fn get_job(&self, org: OrgId, id: JobId) -> Result<Job> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE id = $1 AND organization_id = $2");
        crate::pg::sql::query_as(&sql)
            .bind(id)
            .bind(org)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound { entity: "job" })
    }

    /// A job by id alone, for workers and the operator (not tenant-facing).
    pub async fn get_job_unscoped(&self, id: JobId) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE id = $1");
        crate::pg::sql::query_as(&sql)
            .bind(id)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound { entity: "job" })
    }

    pub async fn find_job_by_idempotency_key(&self, org: OrgId, key: &str) -> Result<Option<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE organization_id = $1 AND idempotency_key = $2"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(key)
            .fetch_optional(self.exec())
            .await?)
    }

    /// Newest first, `limit` (1 to 100) at a time, continuing after `after`.
    pub async fn list_jobs(
        &self,
        org: OrgId,
        filter: &JobFilter,
        after: Option<JobCursor>,
        limit: u32,
    ) -> Result<JobPage> {
        if !(1..=100).contains(&limit) {
            return Err(Error::validation("limit", "must be between 1 and 100"));
        }
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM scrape_jobs \
             WHERE organization_id = $1 \
               AND ($2::text IS NULL OR status = $2) \
               AND ($3::uuid IS NULL OR batch_id = $3) \
               AND ($4::text IS NULL OR client_reference = $4) \
               AND ($5::timestamptz IS NULL OR created_at >= $5) \
               AND ($6::timestamptz IS NULL OR created_at < $6) \
               AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid)) \
             ORDER BY created_at DESC, id DESC LIMIT $9"
        );
        let mut jobs: Vec<Job> = crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(filter.status)
            .bind(filter.batch_id)
            .bind(&filter.client_reference)
            .bind(filter.created_after)
            .bind(filter.created_before)
            .bind(after.map(|c| c.created_at))
            .bind(after.map(|c| c.id))
            .bind(i64::from(limit) + 1)
            .fetch_all(self.exec())
            .await?;
        let next = if jobs.len() > limit as usize {
            jobs.truncate(limit as usize);
            jobs.last().map(|j| JobCursor {
                created_at: j.created_at,
                id: j.id,
            })
        } else {
            None
        };
        Ok(JobPage { jobs, next })
    }
}

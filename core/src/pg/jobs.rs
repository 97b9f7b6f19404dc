//! Scrape jobs: submission (one or many, one statement, credits reserved in the same
//! transaction, idempotent by key), reads with keyset pagination, and moves through the
//! state machine.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, NewJob, events::insert_status_event};
use crate::{
    Error, Result,
    domain::{
        ApiKeyId, BatchId, Engine, EventType, HttpMethod, JobId, JobOptions, JobStatus, OrgId,
        ProxyTier, pricing,
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
    pub headers: Option<Json<serde_json::Value>>,
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

/// The outcome of submitting one job.
#[derive(Debug, Clone)]
pub enum Submission {
    /// A new job, its estimated credits reserved.
    Created(Job),
    /// The idempotency key was used before: the original job, nothing charged.
    Existing(Job),
}

impl Submission {
    pub fn job(&self) -> &Job {
        match self {
            Submission::Created(job) | Submission::Existing(job) => job,
        }
    }

    pub fn into_job(self) -> Job {
        match self {
            Submission::Created(job) | Submission::Existing(job) => job,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, Submission::Created(_))
    }
}

/// Filters of a job listing; all optional.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub batch_id: Option<BatchId>,
    pub client_reference: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// Position in a listing ordered by (created_at, id) descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    pub created_at: DateTime<Utc>,
    pub id: JobId,
}

impl JobCursor {
    /// An opaque token for clients.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            self.created_at.timestamp_micros(),
            self.id.as_uuid().simple()
        )
    }

    pub fn decode(token: &str) -> Result<Self> {
        let bad = || Error::validation("cursor", "not a cursor returned by this API");
        let (micros, id) = token.split_once('.').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self {
            created_at,
            id: JobId(id),
        })
    }
}

#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    /// Present when more jobs follow.
    pub next: Option<JobCursor>,
}

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
    pub events: Vec<super::NewJobEvent>,
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
    pub fn with_events(mut self, events: Vec<super::NewJobEvent>) -> Self {
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
    /// Submits one job: see [`Db::submit_jobs`].
    pub async fn submit_job(
        &self,
        org: OrgId,
        api_key: Option<ApiKeyId>,
        job: &NewJob,
    ) -> Result<Submission> {
        let mut out = self
            .submit_jobs(org, api_key, None, std::slice::from_ref(job))
            .await?;
        out.pop().ok_or(Error::NotFound { entity: "job" })
    }

    /// Submits jobs in one transaction with one multi-row INSERT: each job reserves
    /// [`pricing::reservation`] (the most it can cost) and the total is taken with `deduct_credits`. When
    /// the balance cannot cover it nothing is inserted ([`Error::InsufficientCredits`]). A job
    /// whose idempotency key exists already is not inserted nor charged: its original comes
    /// back as [`Submission::Existing`]. Results are in input order.
    pub async fn submit_jobs(
        &self,
        org: OrgId,
        api_key: Option<ApiKeyId>,
        batch: Option<BatchId>,
        jobs: &[NewJob],
    ) -> Result<Vec<Submission>> {
        for (i, job) in jobs.iter().enumerate() {
            job.validate().map_err(|e| match e {
                Error::Validation { field, message } if jobs.len() > 1 => Error::Validation {
                    field: format!("urls[{i}].{field}"),
                    message,
                },
                other => other,
            })?;
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
        let col = |f: fn(&NewJob) -> Option<String>| jobs.iter().map(f).collect::<Vec<_>>();
        let urls = col(|j| Some(j.url.clone()));
        let methods = col(|j| Some(j.method.as_str().to_owned()));
        let bodies = col(|j| j.body.clone());
        let engines = col(|j| Some(j.engine.as_str().to_owned()));
        let tiers = col(|j| Some(j.proxy_tier.as_str().to_owned()));
        let countries = col(|j| j.proxy_country.as_ref().map(|c| c.to_ascii_uppercase()));
        let sessions = col(|j| j.proxy_session_id.clone());
        let webhook_urls = col(|j| j.webhook_url.clone());
        let webhook_secrets = col(|j| j.webhook_secret.clone());
        let references = col(|j| j.client_reference.clone());
        let keys = col(|j| j.idempotency_key.clone());
        let headers: Vec<serde_json::Value> = jobs.iter().map(|j| j.headers.clone()).collect();
        let metadata: Vec<serde_json::Value> = jobs.iter().map(|j| j.metadata.clone()).collect();
        let options = jobs
            .iter()
            .map(|j| serde_json::to_value(&j.options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::validation("options", e.to_string()))?;
        let prices: Vec<i64> = jobs
            .iter()
            .map(|j| pricing::reservation(j.engine, j.proxy_tier, &j.options))
            .collect();
        let priorities: Vec<i32> = jobs.iter().map(|j| j.priority).collect();
        let max_attempts: Vec<i32> = jobs.iter().map(|j| j.max_attempts).collect();

        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "WITH ins AS (INSERT INTO scrape_jobs (id, organization_id, api_key_id, batch_id, url, url_hash, method, \
                 headers, body, engine, options, proxy_tier, proxy_country, proxy_session_id, \
                 priority, max_attempts, webhook_url, webhook_secret, client_reference, \
                 idempotency_key, metadata, credits_estimated, credit_breakdown) \
             SELECT u.id, $1, $2, $3, u.url, '', u.method, u.headers, u.body, u.engine, u.options, \
                 u.tier, u.country, u.session, u.priority, u.max_attempts, u.webhook_url, \
                 u.webhook_secret, u.reference, u.key, u.metadata, u.credits, \
                 jsonb_build_object('engine', u.engine, 'proxy_tier', u.tier, 'estimated', u.credits) \
             FROM UNNEST($4::uuid[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::text[], \
                 $10::jsonb[], $11::text[], $12::text[], $13::text[], $14::int[], $15::int[], \
                 $16::text[], $17::text[], $18::text[], $19::text[], $20::jsonb[], $21::bigint[]) \
                 AS u(id, url, method, headers, body, engine, options, tier, country, session, \
                      priority, max_attempts, webhook_url, webhook_secret, reference, key, metadata, \
                      credits) \
             ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING *), \
             created AS (INSERT INTO job_events (job_id, organization_id, event_type, event_data) \
                 SELECT id, organization_id, 'job.created', \
                        jsonb_build_object('credits_reserved', credits_estimated, 'engine', engine) \
                 FROM ins) \
             SELECT {JOB_COLUMNS} FROM ins"
        );
        let inserted: Vec<Job> = crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(api_key)
            .bind(batch)
            .bind(&ids)
            .bind(&urls)
            .bind(&methods)
            .bind(&headers)
            .bind(&bodies)
            .bind(&engines)
            .bind(&options)
            .bind(&tiers)
            .bind(&countries)
            .bind(&sessions)
            .bind(&priorities)
            .bind(&max_attempts)
            .bind(&webhook_urls)
            .bind(&webhook_secrets)
            .bind(&references)
            .bind(&keys)
            .bind(&metadata)
            .bind(&prices)
            .fetch_all(&mut *tx)
            .await?;

        let required: i64 = inserted.iter().map(|j| j.credits_estimated).sum();
        if required > 0 {
            let covered: bool = crate::pg::sql::query_scalar("SELECT deduct_credits($1, $2)")
                .bind(org)
                .bind(required)
                .fetch_one(&mut *tx)
                .await?;
            if !covered {
                return Err(Error::InsufficientCredits { required });
            }
        }
        // Jobs not inserted collided on their idempotency key: return the originals.
        let inserted_set: HashSet<Uuid> = inserted.iter().map(|j| j.id.as_uuid()).collect();
        let replayed: Vec<String> = jobs
            .iter()
            .zip(&ids)
            .filter(|(_, id)| !inserted_set.contains(id))
            .filter_map(|(j, _)| j.idempotency_key.clone())
            .collect();
        let existing: Vec<Job> = if replayed.is_empty() {
            Vec::new()
        } else {
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE organization_id = $1 AND idempotency_key = ANY($2)"
            );
            crate::pg::sql::query_as(&sql)
                .bind(org)
                .bind(&replayed)
                .fetch_all(&mut *tx)
                .await?
        };
        tx.commit().await?;

        let mut created: HashMap<Uuid, Job> =
            inserted.into_iter().map(|j| (j.id.as_uuid(), j)).collect();
        let existing: HashMap<String, Job> = existing
            .into_iter()
            .filter_map(|j| j.idempotency_key.clone().map(|k| (k, j)))
            .collect();
        jobs.iter()
            .zip(ids)
            .map(|(new, id)| {
                if let Some(job) = created.remove(&id) {
                    return Ok(Submission::Created(job));
                }
                new.idempotency_key
                    .as_ref()
                    .and_then(|k| existing.get(k))
                    .cloned()
                    .map(Submission::Existing)
                    .ok_or(Error::Conflict {
                        constraint: "idx_jobs_idempotency".into(),
                    })
            })
            .collect()
    }

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
    ) -> Result<(Job, super::credits::Settlement)> {
        if !change.to.is_finished() {
            return Err(Error::validation(
                "status",
                "finishing needs a final status",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let job = self.transition_in(&mut tx, id, change).await?;
        let settlement = super::credits::settle_in(&mut tx, id, actual).await?;
        tx.commit().await?;
        Ok((job, settlement))
    }

    /// [`Db::transition_job`] inside a caller's transaction.
    pub(super) async fn transition_in(
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
        super::events::insert_events(&mut **tx, &change.events).await?;
        let current: Option<(JobStatus, i32, i32)> = crate::pg::sql::query_as(
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
        let job: Job = crate::pg::sql::query_as(&sql)
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
            &job,
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
        Ok(crate::pg::sql::query_scalar(
            "SELECT status = 'canceled' OR cancel_requested \
             FROM scrape_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.exec())
        .await?
        .unwrap_or(true))
    }

    /// Cancels a job of this organization (another organization's job is not found), through
    /// [`Db::cancel_in`].
    pub async fn cancel_job(&self, org: OrgId, id: JobId) -> Result<Job> {
        let mut tx = self.pool.begin().await?;
        let owner: Option<OrgId> =
            crate::pg::sql::query_scalar("SELECT organization_id FROM scrape_jobs WHERE id = $1")
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
    pub(super) async fn cancel_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: JobId,
        change: &StatusChange,
    ) -> Result<Job> {
        let (from, job) = self.moved_in(tx, id, change).await?;
        if from == JobStatus::Running {
            return Ok(job);
        }
        super::credits::settle_in(tx, id, 0).await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE id = $1");
        Ok(crate::pg::sql::query_as(&sql)
            .bind(id)
            .fetch_one(&mut **tx)
            .await?)
    }
}

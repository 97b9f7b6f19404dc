//! Job events: the append-only audit log of each job's life (partitioned by month). Each
//! event keeps the time it happened (never later than its insert), so a worker may hold a
//! job's events and write them together, in one statement, with the job's next move.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Postgres, Transaction, types::Json};

use super::Db;
use crate::{
    Result,
    domain::{EventType, JobId, OrgId},
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobEvent {
    pub id: i64,
    pub job_id: JobId,
    pub event_type: EventType,
    pub event_data: Option<Json<serde_json::Value>>,
    pub duration_ms: Option<i32>,
    pub worker_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewJobEvent {
    pub job_id: JobId,
    pub organization_id: OrgId,
    pub event_type: EventType,
    pub event_data: serde_json::Value,
    pub duration_ms: Option<i32>,
    pub worker_id: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// Writes `events` in one statement, each at its own time (or the statement's, when a
/// clock ahead of the database's put it later), in the order given.
pub(crate) async fn insert_events<'e, E>(executor: E, events: &[NewJobEvent]) -> Result<()>
where
    E: sqlx::PgExecutor<'e>,
{
    if events.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&NewJobEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let jobs: Vec<uuid::Uuid> = events.iter().map(|e| e.job_id.as_uuid()).collect();
    let orgs: Vec<uuid::Uuid> = events.iter().map(|e| e.organization_id.as_uuid()).collect();
    let kinds = col(|e| Some(e.event_type.as_str().to_owned()));
    let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.event_data).collect();
    let durations: Vec<Option<i32>> = events.iter().map(|e| e.duration_ms).collect();
    let workers = col(|e| e.worker_id.clone());
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    sqlx::query(
        "INSERT INTO job_events (job_id, organization_id, event_type, event_data, duration_ms, worker_id, created_at) \
         SELECT u.job, u.org, u.kind, u.data, u.ms, u.worker, LEAST(u.at, NOW()) \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::int[], $6::text[], $7::timestamptz[]) \
             WITH ORDINALITY AS u(job, org, kind, data, ms, worker, at, n) \
         ORDER BY u.n",
    )
    .bind(&jobs)
    .bind(&orgs)
    .bind(&kinds)
    .bind(&data)
    .bind(&durations)
    .bind(&workers)
    .bind(&times)
    .execute(executor)
    .await?;
    Ok(())
}

pub(crate) async fn insert_status_event(
    tx: &mut Transaction<'_, Postgres>,
    (job, org): (JobId, OrgId),
    event_type: EventType,
    data: serde_json::Value,
    worker_id: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_events (job_id, organization_id, event_type, event_data, worker_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(job)
    .bind(org)
    .bind(event_type)
    .bind(data)
    .bind(worker_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    pub async fn record_event(&self, event: &NewJobEvent) -> Result<()> {
        self.record_events(std::slice::from_ref(event)).await
    }

    /// Records `events` in one statement (see [`NewJobEvent::at`]).
    pub async fn record_events(&self, events: &[NewJobEvent]) -> Result<()> {
        insert_events(&self.pool, events).await
    }

    /// Whether `job` has an event of `kind` (served by the job-and-time index).
    pub async fn has_event(&self, job: JobId, kind: EventType) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM job_events WHERE job_id = $1 AND event_type = $2)",
        )
        .bind(job)
        .bind(kind)
        .fetch_one(&self.pool)
        .await?)
    }

    /// A job's events in the order they happened, scoped by organization.
    pub async fn list_job_events(&self, org: OrgId, job: JobId) -> Result<Vec<JobEvent>> {
        Ok(sqlx::query_as(
            "SELECT id, job_id, event_type, event_data, duration_ms, worker_id, created_at \
             FROM job_events WHERE job_id = $1 AND organization_id = $2 ORDER BY created_at, id",
        )
        .bind(job)
        .bind(org)
        .fetch_all(&self.pool)
        .await?)
    }
}

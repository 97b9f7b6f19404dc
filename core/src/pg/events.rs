//! Job events: the append-only audit log of each job's life (partitioned by month).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Postgres, Transaction, types::Json};

use super::{Db, jobs::Job};
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
}

impl NewJobEvent {
    /// An event of `job`, taking `ms` (when timed), recorded by `worker` (when one did).
    pub fn of(
        job: &super::Job,
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
        }
    }
}

pub(crate) async fn insert_status_event(
    tx: &mut Transaction<'_, Postgres>,
    job: &Job,
    event_type: EventType,
    data: serde_json::Value,
    worker_id: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_events (job_id, organization_id, event_type, event_data, worker_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(job.id)
    .bind(job.organization_id)
    .bind(event_type)
    .bind(data)
    .bind(worker_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    pub async fn record_event(&self, event: &NewJobEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO job_events (job_id, organization_id, event_type, event_data, duration_ms, worker_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.job_id)
        .bind(event.organization_id)
        .bind(event.event_type)
        .bind(&event.event_data)
        .bind(event.duration_ms)
        .bind(&event.worker_id)
        .execute(&self.pool)
        .await?;
        Ok(())
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

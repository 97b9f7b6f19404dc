//! What the API returns for jobs, events and results: the customer's view, without internal
//! columns (worker ids, webhook secrets, hashes of URLs).

use chrono::{DateTime, Utc};
use scraperx_core::{
    domain::{BatchId, Engine, JobId, JobStatus, ProxyTier},
    pg::{Job, JobEvent},
};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct JobError {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub result: String,
    pub events: String,
    pub stream: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: JobId,
    pub status: JobStatus,
    pub url: String,
    pub engine: Engine,
    pub proxy_tier: ProxyTier,
    pub priority: i32,
    pub attempts: i32,
    pub max_attempts: i32,
    pub batch_id: Option<BatchId>,
    pub client_reference: Option<String>,
    pub idempotency_key: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub credits_estimated: i64,
    pub credits_charged: i64,
    pub created_at: DateTime<Utc>,
    pub queued_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error: Option<JobError>,
    pub links: JobLinks,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        let base = format!("/v1/jobs/{}", job.id);
        Self {
            id: job.id,
            status: job.status,
            url: job.url,
            engine: job.engine,
            proxy_tier: job.proxy_tier,
            priority: job.priority,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            batch_id: job.batch_id,
            client_reference: job.client_reference,
            idempotency_key: job.idempotency_key,
            metadata: job.metadata.map(|m| m.0),
            credits_estimated: job.credits_estimated,
            credits_charged: job.credits_charged,
            created_at: job.created_at,
            queued_at: job.queued_at,
            started_at: job.started_at,
            completed_at: job.completed_at,
            error: (job.error_code.is_some() || job.error_message.is_some()).then_some(JobError {
                code: job.error_code,
                message: job.error_message,
            }),
            links: JobLinks {
                result: format!("{base}/result"),
                events: format!("{base}/events"),
                stream: format!("{base}/stream"),
                self_: base,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub event_type: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub duration_ms: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl From<JobEvent> for EventView {
    fn from(e: JobEvent) -> Self {
        Self {
            event_type: e.event_type.to_string(),
            data: e.event_data.map(|d| d.0).unwrap_or_default(),
            duration_ms: e.duration_ms,
            created_at: e.created_at,
        }
    }
}

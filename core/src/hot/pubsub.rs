//! Pub/sub (seed 001 §4.10) with typed JSON messages. Each message type knows its channel,
//! so a publisher cannot send a batch update down a job channel, and a subscriber gets
//! decoded values; a message that does not decode is logged and skipped.
//!
//! Pub/sub is fire-and-forget: a subscriber that is not connected misses messages. Callers
//! that must not miss a state (the API's scrape-and-wait) subscribe first and then read the
//! current state from Postgres, which stays the truth.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use redis::AsyncCommands;

use super::RedisConn;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::keys::channel;
use crate::{
    Result,
    config::RedisConfig,
    domain::{BatchId, JobId, JobStatus, OrgId},
};

/// A job's new status, on its organization's channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatusMessage {
    pub job_id: JobId,
    pub organization_id: OrgId,
    pub batch_id: Option<BatchId>,
    pub status: JobStatus,
    pub error_code: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<&crate::pg::Job> for JobStatusMessage {
    fn from(job: &crate::pg::Job) -> Self {
        Self {
            job_id: job.id,
            organization_id: job.organization_id,
            batch_id: job.batch_id,
            status: job.status,
            error_code: job.error_code.clone(),
            at: Utc::now(),
        }
    }
}

/// Counts of a batch, on the batch's channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchProgressMessage {
    pub batch_id: BatchId,
    pub organization_id: OrgId,
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    pub canceled: u64,
    pub at: DateTime<Utc>,
}

/// A worker starting, draining or stopping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatusMessage {
    pub worker_id: String,
    pub pool: String,
    pub status: WorkerState,
    pub current_jobs: u32,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    Started,
    Active,
    Draining,
    Stopped,
}

/// A system-wide alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemAlert {
    /// Stable machine-readable kind, e.g. `high_error_rate`.
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// A message type and the channel it travels on.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    fn channel(&self) -> String;
}

impl Message for JobStatusMessage {
    fn channel(&self) -> String {
        channel::job_status(self.organization_id)
    }
}

impl Message for BatchProgressMessage {
    fn channel(&self) -> String {
        channel::batch_progress(self.batch_id)
    }
}

impl Message for WorkerStatusMessage {
    fn channel(&self) -> String {
        channel::WORKER_STATUS.to_owned()
    }
}

impl Message for SystemAlert {
    fn channel(&self) -> String {
        channel::SYSTEM_ALERTS.to_owned()
    }
}

/// What to subscribe to, typed by the messages it carries.
#[derive(Debug, Clone)]
pub struct Topic<M> {
    name: String,
    pattern: bool,
    _message: PhantomData<fn() -> M>,
}

impl<M> Topic<M> {
    fn exact(name: String) -> Self {
        Self {
            name,
            pattern: false,
            _message: PhantomData,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Topic<JobStatusMessage> {
    /// Status changes of one organization's jobs.
    pub fn job_status(org: OrgId) -> Self {
        Self::exact(channel::job_status(org))
    }

    /// Status changes of every organization's jobs (one subscription per API replica).
    pub fn all_job_status() -> Self {
        Self {
            name: channel::job_status("*"),
            pattern: true,
            _message: PhantomData,
        }
    }
}

impl Topic<BatchProgressMessage> {
    pub fn batch_progress(batch: BatchId) -> Self {
        Self::exact(channel::batch_progress(batch))
    }
}

impl Topic<WorkerStatusMessage> {
    pub fn worker_status() -> Self {
        Self::exact(channel::WORKER_STATUS.to_owned())
    }
}

impl Topic<SystemAlert> {
    pub fn system_alerts() -> Self {
        Self::exact(channel::SYSTEM_ALERTS.to_owned())
    }
}

#[derive(Clone)]
pub struct Publisher {
    conn: RedisConn,
}

impl Publisher {
    pub fn new(conn: RedisConn) -> Self {
        Self { conn }
    }

    /// Publishes `message` on its channel; returns how many subscribers received it.
    pub async fn publish<M: Message>(&self, message: &M) -> Result<u64> {
        let payload = serde_json::to_string(message)
            .map_err(|e| crate::Error::validation("message", format!("not serializable: {e}")))?;
        Ok(self
            .conn
            .clone()
            .publish(message.channel(), payload)
            .await?)
    }
}

/// Subscribes on a connection of its own (a subscribed connection can do nothing else).
/// The stream ends when the connection drops; subscribers re-subscribe and re-read state.
pub async fn subscribe<M: Message>(
    config: &RedisConfig,
    topic: &Topic<M>,
) -> Result<impl Stream<Item = M> + Send + use<M>> {
    let client = super::client(config)?;
    let mut pubsub = tokio::time::timeout(super::CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| {
            redis::RedisError::from((redis::ErrorKind::IoError, "pub/sub connect timed out"))
        })??;
    if topic.pattern {
        pubsub.psubscribe(&topic.name).await?;
    } else {
        pubsub.subscribe(&topic.name).await?;
    }
    Ok(pubsub.into_on_message().filter_map(|msg| async move {
        match serde_json::from_slice::<M>(msg.get_payload_bytes()) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(channel = msg.get_channel_name(), error = %e, "undecodable message skipped");
                None
            }
        }
    }))
}

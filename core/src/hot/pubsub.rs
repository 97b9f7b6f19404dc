//! Pub/sub (seed 001 §4.10) with typed JSON messages. Each message type knows its channel,
//! so a publisher cannot send a batch update down a job channel, and a subscriber gets
//! decoded values; a message that does not decode is logged and skipped.
//!
//! Pub/sub is fire-and-forget: a subscriber that is not connected misses messages. Callers
//! that must not miss a state (the API's scrape-and-wait) subscribe first and then read the
//! current state from Postgres, which stays the truth.
//!
//! Channels are sharded (`SPUBLISH`/`SSUBSCRIBE`, Redis 7) where that fits: a channel with
//! only exact subscribers travels to its slot's shard alone instead of across every node of
//! a cluster. Job status is the exception: the API subscribes to every organization's with
//! one pattern, and patterns exist only for classic channels, which a cluster broadcasts.
//! A message type knows which kind its channel is ([`Message::SHARDED`]), so its publisher
//! and its subscribers cannot disagree. Subscriptions use RESP3 pushes on both topologies,
//! and the stream ends when a connection drops (on a cluster, any node's: redis-rs 0.32
//! subscribes again only after a command fails, and a subscribed connection sends none), so
//! the subscriber subscribes again, reaching the new master, and re-reads state.

use std::marker::PhantomData;

use super::RedisConn;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::keys::channel;
use crate::{
    Result,
    config::{RedisConfig, RedisTopology},
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

/// A job is waiting on a queue (published by its enqueue scripts; `crate::queue::wake`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReady {
    /// The queue's waiting set: its channel is this and `:ready`.
    pub wait: String,
    /// How many jobs were made waiting.
    #[serde(default = "one")]
    pub jobs: u64,
}

fn one() -> u64 {
    1
}

/// A message type and the channel it travels on.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// Whether its channel is sharded; false only where a pattern subscribes to it.
    const SHARDED: bool = true;

    fn channel(&self) -> String;
}

impl Message for JobStatusMessage {
    /// The API watches every organization's jobs with one pattern subscription.
    const SHARDED: bool = false;

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

impl Message for QueueReady {
    fn channel(&self) -> String {
        format!("{}:ready", self.wait)
    }
}

impl Message for SystemAlert {
    fn channel(&self) -> String {
        channel::SYSTEM_ALERTS.to_owned()
    }
}

/// How a topic is subscribed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Pattern,
    Sharded,
}

impl Kind {
    fn subscribe_command(self) -> &'static str {
        match self {
            Self::Exact => "SUBSCRIBE",
            Self::Pattern => "PSUBSCRIBE",
            Self::Sharded => "SSUBSCRIBE",
        }
    }
}

/// What to subscribe to, typed by the messages it carries.
#[derive(Debug, Clone)]
pub struct Topic<M> {
    name: String,
    kind: Kind,
    _message: PhantomData<fn() -> M>,
}

impl<M: Message> Topic<M> {
    fn exact(name: String) -> Self {
        Self {
            name,
            kind: if M::SHARDED {
                Kind::Sharded
            } else {
                Kind::Exact
            },
            _message: PhantomData,
        }
    }
}

impl<M> Topic<M> {
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
            kind: Kind::Pattern,
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

impl Topic<QueueReady> {
    /// Jobs arriving on the queue whose waiting set is `wait` (its first key).
    pub fn queue_ready(wait: &str) -> Self {
        Self::exact(format!("{wait}:ready"))
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

    /// Publishes `message` on its channel; returns how many subscribers received it (on a
    /// cluster, those of the node it was published on for a classic channel).
    pub async fn publish<M: Message>(&self, message: &M) -> Result<u64> {
        let payload = serde_json::to_string(message)
            .map_err(|e| crate::Error::validation("message", format!("not serializable: {e}")))?;
        let command = if M::SHARDED { "SPUBLISH" } else { "PUBLISH" };
        Ok(redis::cmd(command)
            .arg(message.channel())
            .arg(payload)
            .query_async(&mut self.conn.clone())
            .await?)
    }
}

/// Subscribes on a connection of its own (a subscribed connection can do nothing else).
/// The stream ends when the connection drops (on a cluster, a link to any node);
/// subscribers re-subscribe and re-read state.
pub async fn subscribe<M: Message>(
    config: &RedisConfig,
    topic: &Topic<M>,
) -> Result<impl Stream<Item = M> + Send + use<M>> {
    let (push, pushed) = tokio::sync::mpsc::unbounded_channel();
    let subscription = redis::cmd(topic.kind.subscribe_command())
        .arg(&topic.name)
        .clone();
    let connection = match config.topology {
        RedisTopology::Single => {
            let mut conn = push_connection(&config.url, push).await?;
            subscription.exec_async(&mut conn).await?;
            Subscribed::Single(conn)
        }
        RedisTopology::Cluster => {
            let client = super::cluster_client(config, Some(push))?;
            let mut conn =
                tokio::time::timeout(super::CONNECT_TIMEOUT * 2, client.get_async_connection())
                    .await
                    .map_err(|_| timed_out())??;
            match topic.kind {
                Kind::Exact => conn.subscribe(&topic.name).await?,
                Kind::Pattern => conn.psubscribe(&topic.name).await?,
                Kind::Sharded => conn.ssubscribe(&topic.name).await?,
            }
            Subscribed::Cluster(conn)
        }
    };
    let mut pushed = pushed;
    let pushes = futures::stream::poll_fn(move |cx| {
        // The connection lives as long as the stream: dropping it would end the pushes.
        let _subscribed = &connection;
        pushed.poll_recv(cx)
    });
    Ok(pushes
        .take_while(|push| std::future::ready(push.kind != redis::PushKind::Disconnection))
        .filter_map(|push| std::future::ready(decode::<M>(push))))
}

/// A subscribed connection, kept alive by its stream (held, never read: dropping it would
/// end the pushes).
#[allow(dead_code)]
enum Subscribed {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

fn timed_out() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "pub/sub connect timed out"))
}

/// A RESP3 connection to one server whose pushes go to `push`.
async fn push_connection(
    url: &str,
    push: tokio::sync::mpsc::UnboundedSender<redis::PushInfo>,
) -> Result<redis::aio::MultiplexedConnection> {
    let mut info = redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(|e| crate::Error::Config(format!("REDIS_URL: {e}")))?;
    info.redis.protocol = redis::ProtocolVersion::RESP3;
    let client =
        redis::Client::open(info).map_err(|e| crate::Error::Config(format!("REDIS_URL: {e}")))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(super::CONNECT_TIMEOUT)
        .set_push_sender(push);
    Ok(tokio::time::timeout(
        super::CONNECT_TIMEOUT * 2,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .map_err(|_| timed_out())??)
}

/// The message a push carries, when it is one and decodes; the channel and payload are the
/// last two parts of `message`, `smessage` and `pmessage` pushes alike.
fn decode<M: Message>(push: redis::PushInfo) -> Option<M> {
    use redis::PushKind::{Message as Plain, PMessage, SMessage};
    if !matches!(push.kind, Plain | PMessage | SMessage) {
        return None;
    }
    let [.., channel, payload] = push.data.as_slice() else {
        return None;
    };
    let bytes = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => Some(b.clone()),
        redis::Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    };
    let payload = bytes(payload)?;
    match serde_json::from_slice::<M>(&payload) {
        Ok(m) => Some(m),
        Err(e) => {
            let channel = bytes(channel).map(|c| String::from_utf8_lossy(&c).into_owned());
            tracing::warn!(?channel, error = %e, "undecodable message skipped");
            None
        }
    }
}

//! Everything a handler needs, built once at start-up and shared (cheap clones).

use std::sync::Arc;

use redis::aio::ConnectionManager;
use scraperx_core::{
    config::RedisConfig,
    content::ContentStore,
    domain::Engine,
    hot::{
        TtlConfig, cache::ResponseCache, pubsub::Publisher, rate_limit::RateLimiter,
        slots::ConcurrencySlots,
    },
    pg::Db,
    queue::{JobQueue, QueueName},
};

use crate::{config::ApiConfig, metrics::ApiMetrics, usage::KeyUsage, watcher::JobWatcher};

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub config: ApiConfig,
    pub db: Db,
    pub redis: ConnectionManager,
    pub redis_config: RedisConfig,
    pub content: ContentStore,
    pub limiter: RateLimiter,
    pub slots: ConcurrencySlots,
    pub cache: ResponseCache,
    pub publisher: Publisher,
    pub usage: KeyUsage,
    pub watcher: JobWatcher,
    pub metrics: Arc<ApiMetrics>,
    queues: [JobQueue; 3],
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// What the state is built from.
pub struct Services {
    pub db: Db,
    pub redis: ConnectionManager,
    pub redis_config: RedisConfig,
    pub content: ContentStore,
    pub ttl: TtlConfig,
}

impl AppState {
    /// Builds the state and starts the job-status subscription (inside a Tokio runtime).
    pub fn new(config: ApiConfig, s: Services) -> Self {
        let queue = |name: QueueName| {
            JobQueue::named(
                s.redis.clone(),
                &format!("{}{}", config.queue_namespace, name.as_str()),
            )
        };
        let (watcher, _task) = JobWatcher::spawn(s.redis_config.clone());
        Self {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(s.redis.clone(), s.ttl),
                slots: ConcurrencySlots::new(s.redis.clone(), s.ttl.concurrent),
                cache: ResponseCache::new(s.redis.clone(), s.ttl),
                publisher: Publisher::new(s.redis.clone()),
                usage: KeyUsage::default(),
                watcher,
                metrics: Arc::new(ApiMetrics::default()),
                queues: [
                    queue(QueueName::Http),
                    queue(QueueName::Browser),
                    queue(QueueName::Stealth),
                ],
                config,
                db: s.db,
                redis: s.redis,
                redis_config: s.redis_config,
                content: s.content,
            }),
        }
    }

    /// The queue a job of `engine` starts on: auto starts with plain HTTP and escalates.
    pub fn queue_for(&self, engine: Engine) -> &JobQueue {
        match engine {
            Engine::Auto | Engine::Http => &self.queues[0],
            Engine::Browser => &self.queues[1],
            Engine::Stealth => &self.queues[2],
        }
    }

    pub fn queues(&self) -> &[JobQueue] {
        &self.queues
    }

    /// Tells subscribers (waiting scrapes, live streams, other replicas) that `job` changed.
    pub async fn publish_status(&self, job: &scraperx_core::pg::Job) {
        let message = scraperx_core::hot::pubsub::JobStatusMessage {
            job_id: job.id,
            organization_id: job.organization_id,
            batch_id: job.batch_id,
            status: job.status,
            error_code: job.error_code.clone(),
            at: chrono::Utc::now(),
        };
        if let Err(err) = self.publisher.publish(&message).await {
            tracing::warn!(job = %job.id, error = %err, "status not published");
        }
    }
}

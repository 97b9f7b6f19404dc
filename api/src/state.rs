//! Everything a handler needs, built once at start-up and shared (cheap clones).

use std::sync::Arc;

use scraperx_core::{
    config::RedisConfig,
    content::ContentStore,
    dispatch::QueueSet,
    hot::{
        RedisConn, TtlConfig, auth_failures::AuthFailures, cache::ResponseCache, pubsub::Publisher,
        rate_limit::RateLimiter,
    },
    pg::Db,
};

use crate::{config::ApiConfig, metrics::ApiMetrics, usage::KeyUsage, watcher::JobWatcher};

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub config: ApiConfig,
    pub db: Db,
    pub redis: RedisConn,
    pub content: ContentStore,
    pub limiter: RateLimiter,
    pub auth_failures: AuthFailures,
    pub readiness: crate::routes::health::ReadinessCache,
    pub cache: ResponseCache,
    pub publisher: Publisher,
    pub usage: KeyUsage,
    pub watcher: JobWatcher,
    pub metrics: Arc<ApiMetrics>,
    pub queues: QueueSet,
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
    pub redis: RedisConn,
    pub redis_config: RedisConfig,
    pub content: ContentStore,
    pub ttl: TtlConfig,
}

impl AppState {
    /// Builds the state and starts the job-status subscription (inside a Tokio runtime).
    pub fn new(config: ApiConfig, s: Services) -> Self {
        let (watcher, _task) = JobWatcher::spawn(s.redis_config.clone());
        let secrets = config.secrets.clone();
        Self {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(s.redis.clone(), s.ttl),
                auth_failures: AuthFailures::new(
                    s.redis.clone(),
                    s.ttl,
                    config.auth_failures_per_minute,
                ),
                readiness: Default::default(),
                cache: ResponseCache::new(s.redis.clone(), s.ttl),
                publisher: Publisher::new(s.redis.clone()),
                usage: KeyUsage::default(),
                watcher,
                metrics: Arc::new(ApiMetrics::default()),
                queues: QueueSet::new(s.redis.clone(), &config.queue_namespace),
                config,
                // A job's own webhook secret is sealed as it is inserted.
                db: s.db.with_secrets(secrets),
                redis: s.redis,
                content: s.content,
            }),
        }
    }

    /// Tells subscribers (waiting scrapes, live streams, other replicas) that `job` changed.
    pub async fn publish_status(&self, job: &scraperx_core::pg::Job) {
        let message = scraperx_core::hot::pubsub::JobStatusMessage::from(job);
        if let Err(err) = self.publisher.publish(&message).await {
            tracing::warn!(job = %job.id, error = %err, "status not published");
        }
    }
}

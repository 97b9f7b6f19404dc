//! The scraping worker: takes jobs from its engines' Redis queues and runs each to a
//! terminal state ([`runner`]), `concurrency` at a time. On shutdown it stops taking jobs,
//! lets the running ones finish within the grace period, then hands the rest back. Beside
//! the slots, two tasks run for the worker's whole life, drain included: its liveness in
//! every queue it takes leases from (so a dead worker's leases return in seconds,
//! [`scraperx_core::queue::liveness`]), and the [`sweep`]er that puts back what Redis lost.

pub mod browser;
pub mod captcha;
pub mod config;
pub mod crawl;
pub mod detect;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod ops;
pub mod politeness;
pub mod proxy;
pub mod relay;
pub mod runner;
pub mod sweep;
pub mod webhooks;

use std::{collections::HashMap, sync::Arc};

use scraperx_core::{
    config::RedisConfig,
    content::ContentStore,
    dispatch::QueueSet,
    hot::RedisConn,
    hot::pubsub::Publisher,
    hot::pubsub::WorkerState,
    pg::Db,
    queue::{JobQueue, Lease, liveness, wake::Waker},
};
use tokio::sync::watch;
use tracing::Instrument;

pub use config::WorkerConfig;
pub use runner::{Outcome, Runner};

use crate::fetch::http::HttpFetcher;

/// The services a worker runs on.
pub struct Services {
    pub db: Db,
    pub redis: RedisConn,
    pub content: ContentStore,
}

pub struct Worker {
    runner: Arc<Runner>,
    metrics: Arc<ops::WorkerMetrics>,
    deliverer: Arc<webhooks::Deliverer>,
    queues: Vec<JobQueue>,
    webhooks: Option<JobQueue>,
    sweeper: sweep::Sweeper,
    /// Where idle slots are woken when a job arrives ([`Worker::with_wake_ups`]).
    waker: Waker,
    wake_from: Option<RedisConfig>,
}

impl Worker {
    pub fn new(config: WorkerConfig, mut s: Services) -> scraperx_core::Result<Self> {
        // A job's own webhook secret is opened with the worker's key to sign its deliveries.
        s.db = s.db.with_secrets(config.secrets.clone());
        let http = HttpFetcher::new(
            &config.user_agent,
            config.allow_private_targets,
            config.max_response_bytes,
            &config.extra_roots,
        )
        .map_err(|e| scraperx_core::Error::Config(e.to_string()))?;
        let set = QueueSet::new(s.redis.clone(), &config.queue_namespace);
        let owned = |q: &JobQueue| q.clone().with_owner(&config.worker_id);
        let queues = config
            .engines
            .iter()
            .map(|&e| owned(set.for_engine(e)))
            .collect();

        let webhook_queue = set.webhooks().clone();
        let deliverer = webhooks::Deliverer::new(
            s.db.clone(),
            s.redis.clone(),
            webhooks::DelivererSettings {
                allow_private: config.allow_private_targets,
                retry_base: config.retry_base,
                retry_max: config.retry_max,
                lease: config.lease,
                secrets: config.secrets.clone(),
            },
        )
        .map_err(|e| scraperx_core::Error::Config(e.to_string()))?;
        let browser = config.chromium.clone().map(|executable| {
            Arc::new(browser::BrowserPool::new(browser::BrowserSettings {
                executable,
                contexts: config.browser_contexts,
                pages_per_browser: config.pages_per_browser,
                allow_private: config.allow_private_targets,
                max_bytes: config.max_response_bytes,
            }))
        });
        let politeness = politeness::Politeness::new(
            politeness::PolitenessSettings {
                per_domain_concurrency: config.per_domain_concurrency,
                obey_robots: config.obey_robots,
            },
            s.redis.clone(),
            s.db.clone(),
        );
        let crawler = crawl::Crawler::new(
            s.db.clone(),
            set.clone(),
            http.clone(),
            politeness.clone(),
            config.allow_private_targets,
        );
        let sweeper = sweep::Sweeper::new(s.db.clone(), set.clone(), s.redis.clone())
            .with_crawls(crawler.clone());
        let hot = scraperx_core::hot::metrics::Metrics::new(
            s.redis.clone(),
            scraperx_core::hot::TtlConfig::default(),
        );
        Ok(Self {
            metrics: Arc::new(ops::WorkerMetrics::default()),
            deliverer: Arc::new(deliverer),
            webhooks: config.deliver_webhooks.then(|| owned(&webhook_queue)),
            runner: Arc::new(Runner {
                publisher: Publisher::new(s.redis.clone()),
                webhooks: webhook_queue,
                config,
                db: s.db,
                content: s.content,
                http,
                browser,
                politeness,
                crawler,
                counters: hot,
                held: Default::default(),
            }),
            queues,
            sweeper,
            waker: Waker::default(),
            wake_from: None,
        })
    }

    /// Idle slots wake when a job arrives on their queues (followed on subscriptions to
    /// `redis`) instead of at their next poll, `idle_poll` staying the longest wait.
    pub fn with_wake_ups(mut self, redis: RedisConfig) -> Self {
        self.wake_from = Some(redis);
        self
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.runner.config
    }

    pub fn metrics(&self) -> Arc<ops::WorkerMetrics> {
        self.metrics.clone()
    }

    /// Runs until `stop` turns true (or its sender is dropped), then drains: running jobs get the grace period to
    /// finish; what is still running after it is left to its lease and redelivered.
    pub async fn run(&self, stop: watch::Receiver<bool>) {
        let identity = ops::Identity {
            worker_id: self.runner.config.worker_id.clone(),
            pool: self
                .runner
                .config
                .engines
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(","),
            region: self.runner.config.region.clone(),
        };
        ops::announce(&self.runner.publisher, &identity, WorkerState::Started, 0).await;
        let beating = tokio::spawn(ops::heartbeats(
            self.runner.counters.clone(),
            identity.clone(),
            self.metrics.clone(),
            self.runner.config.heartbeat,
            stop.clone(),
        ));
        let owned: Vec<JobQueue> = self.queues.iter().chain(&self.webhooks).cloned().collect();
        // Ended with this future, so a worker that vanishes stops saying it is alive.
        let mut tasks = vec![
            tokio::spawn(liveness::keep_alive(owned.clone())),
            tokio::spawn(self.sweeper.clone().run()),
        ];
        if let Some(redis) = &self.wake_from {
            tasks.extend(self.waker.follow(redis, &owned));
        }
        let background = Background(tasks);
        // Leases being worked on, to hand back if the grace period runs out.
        let in_flight: Arc<std::sync::Mutex<HashMap<String, (JobQueue, Lease)>>> = Arc::default();
        // Owned here: if this future is dropped (the process dies), every slot goes with it.
        let mut slots = tokio::task::JoinSet::new();
        for slot in 0..self.runner.config.concurrency {
            let (runner, queues, mut stop) =
                (self.runner.clone(), self.queues.clone(), stop.clone());
            let (deliverer, hooks) = (self.deliverer.clone(), self.webhooks.clone());
            let (metrics, in_flight) = (self.metrics.clone(), in_flight.clone());
            let waker = self.waker.clone();
            slots.spawn(async move {
                let mut next = slot;
                // A dropped sender counts as a stop.
                while !*stop.borrow() && stop.has_changed().is_ok() {
                    let mut worked = false;
                    // Read before looking, so a job arriving meanwhile cuts the wait short.
                    let seen = waker.generation();
                    // Deliveries first: they are short, and a backlog delays customers.
                    if let Some(hooks) = &hooks {
                        match hooks.dequeue(runner.config.lease).await {
                            Ok(Some(lease)) => {
                                worked = true;
                                let id = lease.id.clone();
                                match deliverer.deliver(hooks, lease).await {
                                    Ok(outcome) => tracing::info!(delivery = %id, ?outcome, "webhook"),
                                    Err(err) => tracing::warn!(delivery = %id, error = %err, "delivery left to its lease"),
                                }
                            }
                            Ok(None) => {}
                            Err(err) => tracing::warn!(error = %err, "webhook dequeue failed"),
                        }
                    }
                    for i in 0..queues.len() {
                        let queue = &queues[(next + i) % queues.len()];
                        match queue.dequeue(runner.config.lease).await {
                            Ok(Some(lease)) => {
                                worked = true;
                                let id = lease.id.clone();
                                if let Ok(mut m) = in_flight.lock() {
                                    m.insert(id.clone(), (queue.clone(), lease.clone()));
                                }
                                metrics.started();
                                let started = std::time::Instant::now();
                                // Every line about the job carries its id, and its
                                // organization once the runner has read it.
                                let span = tracing::info_span!(
                                    "job",
                                    job = %id,
                                    org = tracing::field::Empty,
                                    queue = queue.name()
                                );
                                let outcome =
                                    runner.run(queue, lease).instrument(span.clone()).await;
                                let label = match &outcome {
                                    Ok(o) => format!("{o:?}").to_ascii_lowercase(),
                                    Err(_) => "error".to_owned(),
                                };
                                metrics.finished(queue.name(), &label, started.elapsed());
                                if let Ok(mut m) = in_flight.lock() {
                                    m.remove(&id);
                                }
                                span.in_scope(|| match outcome {
                                    Ok(outcome) => tracing::info!(?outcome, "job done"),
                                    Err(err) => tracing::warn!(error = %err, "job left to its lease"),
                                });
                                break;
                            }
                            Ok(None) => {}
                            Err(err) => {
                                tracing::warn!(queue = queue.name(), error = %err, "dequeue failed");
                            }
                        }
                    }
                    next = next.wrapping_add(1);
                    if !worked {
                        tokio::select! {
                            _ = stop.changed() => {}
                            () = waker.idle(seen, runner.config.idle_poll) => {}
                        }
                    }
                }
            });
        }
        let mut stop_signal = stop.clone();
        let _ = stop_signal.wait_for(|s| *s).await;
        let running = usize::try_from(self.metrics.in_flight.get()).unwrap_or(0);
        ops::announce(
            &self.runner.publisher,
            &identity,
            WorkerState::Draining,
            running,
        )
        .await;
        let grace = self.runner.config.grace;
        let drained =
            tokio::time::timeout(grace, async { while slots.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            slots.abort_all();
            while slots.join_next().await.is_some() {}
            let left: Vec<(JobQueue, Lease)> = in_flight
                .lock()
                .map(|mut m| m.drain().map(|(_, v)| v).collect())
                .unwrap_or_default();
            tracing::warn!(
                ?grace,
                jobs = left.len(),
                "grace period over; handing the running jobs back"
            );
            for (queue, lease) in left {
                self.runner.hand_back(&queue, &lease).await;
            }
        }
        beating.abort();
        drop(background);
        let _ = self
            .runner
            .counters
            .remove_worker(&identity.worker_id)
            .await;
        ops::announce(&self.runner.publisher, &identity, WorkerState::Stopped, 0).await;
    }
}

/// Tasks that live as long as [`Worker::run`]: aborted when it returns or is dropped.
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

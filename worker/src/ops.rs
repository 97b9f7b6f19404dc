//! The worker's own operations: Prometheus metrics (jobs by engine queue and outcome, job
//! durations, jobs in flight), heartbeats to Redis with a TTL and status messages on pub/sub,
//! and `/healthz` and `/metrics`.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::State, routing::get};
use chrono::Utc;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use scraperx_core::hot::{
    metrics::{Metrics as HotMetrics, WorkerHeartbeat},
    pubsub::{Publisher, WorkerState, WorkerStatusMessage},
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub queue: String,
    pub outcome: String,
}

pub struct WorkerMetrics {
    registry: Registry,
    pub jobs: Family<JobLabels, Counter>,
    pub duration: Histogram,
    pub in_flight: Gauge,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("scraperx_worker");
        let jobs = Family::<JobLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        let in_flight = Gauge::default();
        registry.register(
            "jobs",
            "Leases finished, by queue and outcome",
            jobs.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time from lease to outcome",
            duration.clone(),
        );
        registry.register("jobs_in_flight", "Jobs running now", in_flight.clone());
        Self {
            registry,
            jobs,
            duration,
            in_flight,
        }
    }
}

impl WorkerMetrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn started(&self) {
        self.in_flight.inc();
    }

    pub fn finished(&self, queue: &str, outcome: &str, took: Duration) {
        self.in_flight.dec();
        self.duration.observe(took.as_secs_f64());
        self.jobs
            .get_or_create(&JobLabels {
                queue: queue.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

pub fn router(metrics: Arc<WorkerMetrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(|State(m): State<Arc<WorkerMetrics>>| async move { m.render() }),
        )
        .with_state(metrics)
}

/// Who this worker is, for heartbeats and status messages.
#[derive(Clone)]
pub struct Identity {
    pub worker_id: String,
    pub pool: String,
    pub region: String,
}

pub async fn announce(publisher: &Publisher, id: &Identity, state: WorkerState, current: usize) {
    let message = WorkerStatusMessage {
        worker_id: id.worker_id.clone(),
        pool: id.pool.clone(),
        status: state,
        current_jobs: u32::try_from(current).unwrap_or(u32::MAX),
        at: Utc::now(),
    };
    if let Err(err) = publisher.publish(&message).await {
        tracing::warn!(error = %err, "worker status not published");
    }
}

/// Beats every `every` (and at once when the worker starts draining) until the task is
/// aborted; the status says `active`, or `draining` once `stop` turned true.
pub async fn heartbeats(
    hot: HotMetrics,
    id: Identity,
    metrics: Arc<WorkerMetrics>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    // The sender is gone: keep beating on the clock alone.
                    tick.tick().await;
                }
            }
        }
        // A dropped sender stops the worker too.
        let draining = *stop.borrow() || stop.has_changed().is_err();
        let beat = WorkerHeartbeat {
            worker_id: id.worker_id.clone(),
            pool: id.pool.clone(),
            region: id.region.clone(),
            status: if draining { "draining" } else { "active" }.into(),
            current_jobs: u32::try_from(metrics.in_flight.get()).unwrap_or(u32::MAX),
            last_heartbeat: Utc::now().timestamp(),
        };
        if let Err(err) = hot.heartbeat(&beat).await {
            tracing::warn!(error = %err, "heartbeat failed");
        }
    }
}

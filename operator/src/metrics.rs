//! The operator's Prometheus metrics: reconciles and errors (by controller and error kind),
//! reconcile durations, queue depth and scaling decisions per pool, and each backup's age,
//! size and verification (`backup::monitor`).

use std::time::Instant;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: String,
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub namespace: String,
    pub pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScaleLabels {
    pub namespace: String,
    pub pool: String,
    pub direction: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ControllerLabel, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub duration: Family<ControllerLabel, Histogram>,
    pub queue_depth: Family<PoolLabels, Gauge>,
    pub desired_replicas: Family<PoolLabels, Gauge>,
    pub scaling: Family<ScaleLabels, Counter>,
    /// Each backup's age, size and verification (read from the backup target).
    pub backups: crate::backup::monitor::BackupGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("scraperx_operator");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let queue_depth = Family::<PoolLabels, Gauge>::default();
        let desired_replicas = Family::<PoolLabels, Gauge>::default();
        let scaling = Family::<ScaleLabels, Counter>::default();
        registry.register("reconciles", "Reconciliations run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciliations that failed",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile time",
            duration.clone(),
        );
        registry.register(
            "queue_depth",
            "Waiting plus in-flight jobs of a pool's queue",
            queue_depth.clone(),
        );
        registry.register(
            "desired_replicas",
            "Replicas a pool should run",
            desired_replicas.clone(),
        );
        registry.register(
            "scaling_decisions",
            "Replica changes, by direction",
            scaling.clone(),
        );
        let backups = crate::backup::monitor::BackupGauges::default();
        backups.register(&mut registry);
        Self {
            registry,
            reconciles,
            errors,
            duration,
            queue_depth,
            desired_replicas,
            scaling,
            backups,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts a reconcile and times it until the returned guard drops.
    pub fn reconcile(&self, controller: &str) -> Timer<'_> {
        let label = ControllerLabel {
            controller: controller.to_owned(),
        };
        self.reconciles.get_or_create(&label).inc();
        Timer {
            metrics: self,
            label,
            started: Instant::now(),
        }
    }
}

pub struct Timer<'a> {
    metrics: &'a Metrics,
    label: ControllerLabel,
    started: Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&self.label)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

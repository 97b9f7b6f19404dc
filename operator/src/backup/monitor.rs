//! Backup monitoring: the operator reads each component's `status/<component>.json` from the
//! backup target every minute and shows it as metrics (`scraperx_operator_backup_*`): the
//! age and size of the last good backup, the time it finished, and whether the last attempt
//! verified. The chart's PrometheusRule alerts on them. Reading the outcome from the target
//! (rather than from the job that wrote it) means the metrics show what the bucket holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{BackupStatus, BackupTarget, Component, plan};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabel {
    pub component: String,
}

/// The gauges, registered with the operator's other metrics.
#[derive(Clone, Default)]
pub struct BackupGauges {
    pub age_seconds: Family<ComponentLabel, Gauge>,
    pub last_success_timestamp: Family<ComponentLabel, Gauge>,
    pub size_bytes: Family<ComponentLabel, Gauge>,
    pub verified: Family<ComponentLabel, Gauge>,
    pub stale: Family<ComponentLabel, Gauge>,
    pub read_errors: Counter,
}

impl BackupGauges {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "backup_age_seconds",
            "Age of the last verified backup",
            self.age_seconds.clone(),
        );
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the last verified backup finished (Unix time)",
            self.last_success_timestamp.clone(),
        );
        registry.register(
            "backup_size_bytes",
            "Size of the last verified backup (bytes copied, for the mirror)",
            self.size_bytes.clone(),
        );
        registry.register(
            "backup_verified",
            "1 when the last backup attempt verified, else 0",
            self.verified.clone(),
        );
        registry.register(
            "backup_stale",
            "1 when the last verified backup is older than the seed's threshold",
            self.stale.clone(),
        );
        registry.register(
            "backup_status_read_errors",
            "Failed reads of the backup outcomes",
            self.read_errors.clone(),
        );
    }

    /// Shows what `status` says at `now` (nothing for a component never backed up: the
    /// alert on a missing series covers it).
    pub fn observe(&self, component: Component, status: &BackupStatus, now: DateTime<Utc>) {
        let label = ComponentLabel {
            component: component.name().to_owned(),
        };
        let seen = Observed::of(component, status, now);
        self.verified
            .get_or_create(&label)
            .set(i64::from(seen.verified));
        self.stale.get_or_create(&label).set(i64::from(seen.stale));
        if let Some((age, finished, size)) = seen.success {
            self.age_seconds.get_or_create(&label).set(age);
            self.last_success_timestamp
                .get_or_create(&label)
                .set(finished);
            self.size_bytes.get_or_create(&label).set(size);
        }
    }
}

/// The numbers one status gives.
#[derive(Debug, PartialEq, Eq)]
pub struct Observed {
    pub verified: bool,
    pub stale: bool,
    /// Age in seconds, finish time (Unix seconds), size in bytes.
    pub success: Option<(i64, i64, i64)>,
}

impl Observed {
    pub fn of(component: Component, status: &BackupStatus, now: DateTime<Utc>) -> Self {
        let last = status.last_success.as_ref();
        Self {
            verified: status.last_attempt.verification.ok,
            stale: plan::is_stale(component, last.map(|r| r.finished_at), now),
            success: last.map(|r| {
                (
                    (now - r.finished_at).num_seconds().max(0),
                    r.finished_at.timestamp(),
                    i64::try_from(r.size_bytes).unwrap_or(i64::MAX),
                )
            }),
        }
    }
}

/// Reads every component's status once into the gauges.
pub async fn refresh(target: &BackupTarget, gauges: &BackupGauges) {
    for component in Component::ALL {
        match target
            .get_json::<BackupStatus>(&plan::status_key(component))
            .await
        {
            Ok(Some(status)) => gauges.observe(component, &status, Utc::now()),
            Ok(None) => {}
            Err(e) => {
                gauges.read_errors.inc();
                tracing::warn!(component = component.name(), error = %e, "reading the backup status");
            }
        }
    }
}

/// Refreshes the gauges every `every` until the process ends.
pub async fn watch(target: BackupTarget, gauges: BackupGauges, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        refresh(&target, &gauges).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::{BackupRecord, plan::Verification};

    fn record(hours_ago: i64, ok: bool, now: DateTime<Utc>) -> BackupRecord {
        let at = now - chrono::TimeDelta::hours(hours_ago);
        BackupRecord {
            component: Component::Redis,
            started_at: at,
            finished_at: at,
            key: None,
            size_bytes: 42,
            sha256: None,
            verification: Verification {
                ok,
                detail: String::new(),
            },
            mirror: None,
        }
    }

    #[test]
    fn a_failed_attempt_after_an_old_success_shows_unverified_and_stale() {
        let now = Utc::now();
        let ok = BackupStatus::next(None, record(3, true, now));
        let status = BackupStatus::next(Some(ok), record(0, false, now));
        let seen = Observed::of(Component::Redis, &status, now);
        assert_eq!(
            seen,
            Observed {
                verified: false,
                stale: true,
                success: Some((
                    3 * 3600,
                    (now - chrono::TimeDelta::hours(3)).timestamp(),
                    42
                )),
            }
        );
    }

    #[test]
    fn a_fresh_verified_backup_is_neither_stale_nor_unverified_and_is_rendered() {
        let now = Utc::now();
        let status = BackupStatus::next(None, record(1, true, now));
        let gauges = BackupGauges::default();
        let mut registry = Registry::with_prefix("scraperx_operator");
        gauges.register(&mut registry);
        gauges.observe(Component::Redis, &status, now);
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        for line in [
            "scraperx_operator_backup_verified{component=\"redis\"} 1",
            "scraperx_operator_backup_stale{component=\"redis\"} 0",
            "scraperx_operator_backup_age_seconds{component=\"redis\"} 3600",
            "scraperx_operator_backup_size_bytes{component=\"redis\"} 42",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}

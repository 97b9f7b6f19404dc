//! Backups and restores of the three stores (seed 001 §7), run by `scraperx-operator backup`
//! and `restore` from the chart's CronJobs: PostgreSQL as a custom-format dump, Redis as a
//! compressed RDB snapshot, both verified and stored with their SHA-256 in a bucket on a
//! second S3 target; MinIO's content buckets mirrored to that target. Every run, good or
//! not, leaves its outcome in `status/<component>.json` there; the operator reads those into
//! its metrics ([`monitor`]). The decisions are pure ([`plan`], [`record`]); the rest runs
//! the tools and moves bytes.

pub mod minio;
pub mod monitor;
pub mod plan;
pub mod postgres;
pub mod record;
pub mod redis;
pub mod runs;
pub mod settings;
pub mod target;
mod tool;

use chrono::TimeDelta;

pub use record::{BackupRecord, BackupStatus};
pub use settings::BackupConfig;
pub use target::BackupTarget;

/// What is backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Postgres,
    Redis,
    Minio,
}

impl Component {
    pub const ALL: [Component; 3] = [Component::Postgres, Component::Redis, Component::Minio];

    pub fn name(self) -> &'static str {
        match self {
            Component::Postgres => "postgres",
            Component::Redis => "redis",
            Component::Minio => "minio",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Seed §7.6's freshness thresholds: a good backup older than this is an alert.
    pub fn max_age(self) -> TimeDelta {
        match self {
            Component::Postgres | Component::Redis => TimeDelta::hours(2),
            Component::Minio => TimeDelta::hours(12),
        }
    }
}

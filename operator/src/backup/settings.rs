//! The backup commands' settings, declared once: the backup target (a second S3, never the
//! MinIO it backs up), its bucket, the retention, the tools and the scratch folder. Every
//! problem is reported together (as core's configuration error: exit status 2).

use std::path::PathBuf;

use chrono::TimeDelta;
use scraperx_core::{
    cli::Setting,
    config::{DEFAULT_S3_REGION, S3Config, parse},
};

use scraperx_core::{Error, Result};

/// A configuration problem (exit status 2), every one listed.
fn config_error(problems: String) -> Error {
    Error::Config(problems)
}

pub const ENV_ENDPOINT: &str = "SCRX_BACKUP_S3_ENDPOINT";
pub const ENV_REGION: &str = "SCRX_BACKUP_S3_REGION";
pub const ENV_ACCESS_KEY: &str = "SCRX_BACKUP_S3_ACCESS_KEY";
pub const ENV_SECRET_KEY: &str = "SCRX_BACKUP_S3_SECRET_KEY";
pub const ENV_BUCKET: &str = "SCRX_BACKUP_BUCKET";
pub const DEFAULT_BUCKET: &str = "scraperx-backups";
pub const ENV_MIRROR_PREFIX: &str = "SCRX_BACKUP_MIRROR_PREFIX";
pub const DEFAULT_MIRROR_PREFIX: &str = "scraperx-backup-";
pub const ENV_RETENTION_DAYS: &str = "SCRX_BACKUP_RETENTION_DAYS";
pub const DEFAULT_RETENTION_DAYS: i64 = 30;
pub const ENV_KEEP_AT_LEAST: &str = "SCRX_BACKUP_KEEP_AT_LEAST";
pub const DEFAULT_KEEP_AT_LEAST: usize = 3;
pub const ENV_WORK_DIR: &str = "SCRX_BACKUP_WORK_DIR";
pub const DEFAULT_WORK_DIR: &str = "/tmp";
pub const ENV_PG_BIN_DIR: &str = "SCRX_PG_BIN_DIR";
pub const ENV_REDIS_CLI: &str = "SCRX_REDIS_CLI";
pub const DEFAULT_REDIS_CLI: &str = "redis-cli";
pub const ENV_REDIS_CHECK_RDB: &str = "SCRX_REDIS_CHECK_RDB";
pub const DEFAULT_REDIS_CHECK_RDB: &str = "redis-check-rdb";
pub const ENV_REDIS_SAVE_TIMEOUT_SECS: &str = "SCRX_BACKUP_REDIS_SAVE_TIMEOUT_SECS";
pub const DEFAULT_REDIS_SAVE_TIMEOUT_SECS: u64 = 600;

/// The backup target alone: what the operator reads the outcomes from.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub s3: S3Config,
    pub bucket: String,
    pub mirror_prefix: String,
}

/// Everything a backup or restore command reads besides the stores it backs up.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    pub target: TargetConfig,
    pub retention: TimeDelta,
    pub keep_at_least: usize,
    pub work_dir: PathBuf,
    /// Folder of pg_dump and pg_restore (empty: from PATH).
    pub pg_bin_dir: Option<PathBuf>,
    pub redis_cli: String,
    pub redis_check_rdb: String,
    pub redis_save_timeout: std::time::Duration,
}

impl TargetConfig {
    pub fn settings() -> Vec<Setting> {
        vec![
            Setting::new(
                ENV_ENDPOINT,
                "S3 endpoint of the backup target (a second S3, not the MinIO backed up)",
            ),
            Setting::new(ENV_REGION, "region of the backup target")
                .default_value(DEFAULT_S3_REGION),
            Setting::new(ENV_ACCESS_KEY, "access key on the backup target"),
            Setting::new(ENV_SECRET_KEY, "secret key on the backup target").secret(),
            Setting::new(
                ENV_BUCKET,
                "bucket of the PostgreSQL and Redis backups and of every run's outcome",
            )
            .default_value(DEFAULT_BUCKET),
            Setting::new(
                ENV_MIRROR_PREFIX,
                "MinIO bucket <b> is mirrored to <prefix><b> on the target",
            )
            .default_value(DEFAULT_MIRROR_PREFIX),
        ]
    }

    /// The target when its endpoint is set; `Ok(None)` when backups are not configured.
    pub fn from_lookup_optional(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        if lookup(ENV_ENDPOINT).is_none() {
            return Ok(None);
        }
        Self::from_lookup(lookup).map(Some)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut errors = Vec::new();
        let mut required = |name: &str| {
            lookup(name).unwrap_or_else(|| {
                errors.push(format!("{name} is not set"));
                String::new()
            })
        };
        let endpoint = required(ENV_ENDPOINT);
        let access_key = required(ENV_ACCESS_KEY);
        let secret_key = required(ENV_SECRET_KEY);
        if !errors.is_empty() {
            return Err(config_error(errors.join("\n")));
        }
        let s3 = S3Config::from_lookup(|name| match name {
            "S3_ENDPOINT" => Some(endpoint.clone()),
            "S3_REGION" => lookup(ENV_REGION),
            "S3_ACCESS_KEY" => Some(access_key.clone()),
            "S3_SECRET_KEY" => Some(secret_key.clone()),
            _ => None,
        })?;
        Ok(Self {
            s3,
            bucket: lookup(ENV_BUCKET).unwrap_or_else(|| DEFAULT_BUCKET.into()),
            mirror_prefix: lookup(ENV_MIRROR_PREFIX)
                .unwrap_or_else(|| DEFAULT_MIRROR_PREFIX.into()),
        })
    }
}

impl BackupConfig {
    pub fn settings() -> Vec<Setting> {
        let mut settings = TargetConfig::settings();
        settings.extend([
            Setting::new(
                ENV_RETENTION_DAYS,
                "runs older than this many days are pruned",
            )
            .default_value(DEFAULT_RETENTION_DAYS),
            Setting::new(ENV_KEEP_AT_LEAST, "the newest runs kept whatever their age")
                .default_value(DEFAULT_KEEP_AT_LEAST),
            Setting::new(
                ENV_WORK_DIR,
                "scratch folder for dumps and snapshots on their way",
            )
            .default_value(DEFAULT_WORK_DIR),
            Setting::new(
                ENV_PG_BIN_DIR,
                "folder of pg_dump and pg_restore (unset: from PATH)",
            ),
            Setting::new(
                ENV_REDIS_CLI,
                "redis-cli, which fetches the snapshot (--rdb)",
            )
            .default_value(DEFAULT_REDIS_CLI),
            Setting::new(ENV_REDIS_CHECK_RDB, "redis-check-rdb, which verifies it")
                .default_value(DEFAULT_REDIS_CHECK_RDB),
            Setting::new(ENV_REDIS_SAVE_TIMEOUT_SECS, "how long to wait for BGSAVE")
                .default_value(DEFAULT_REDIS_SAVE_TIMEOUT_SECS),
        ]);
        settings
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let target = TargetConfig::from_lookup(&lookup);
        let mut errors = Vec::new();
        let days: i64 = parse(
            &lookup,
            ENV_RETENTION_DAYS,
            DEFAULT_RETENTION_DAYS,
            &mut errors,
        );
        if days < 1 {
            errors.push(format!("{ENV_RETENTION_DAYS} must be at least 1"));
        }
        let keep_at_least = parse(
            &lookup,
            ENV_KEEP_AT_LEAST,
            DEFAULT_KEEP_AT_LEAST,
            &mut errors,
        );
        let wait: u64 = parse(
            &lookup,
            ENV_REDIS_SAVE_TIMEOUT_SECS,
            DEFAULT_REDIS_SAVE_TIMEOUT_SECS,
            &mut errors,
        );
        let target = match target {
            Ok(t) => Some(t),
            Err(Error::Config(problems)) => {
                errors.insert(0, problems);
                None
            }
            Err(other) => return Err(other),
        };
        let Some(target) = target.filter(|_| errors.is_empty()) else {
            return Err(config_error(errors.join("\n")));
        };
        Ok(Self {
            target,
            retention: TimeDelta::days(days),
            keep_at_least,
            work_dir: lookup(ENV_WORK_DIR)
                .unwrap_or_else(|| DEFAULT_WORK_DIR.into())
                .into(),
            pg_bin_dir: lookup(ENV_PG_BIN_DIR).map(PathBuf::from),
            redis_cli: lookup(ENV_REDIS_CLI).unwrap_or_else(|| DEFAULT_REDIS_CLI.into()),
            redis_check_rdb: lookup(ENV_REDIS_CHECK_RDB)
                .unwrap_or_else(|| DEFAULT_REDIS_CHECK_RDB.into()),
            redis_save_timeout: std::time::Duration::from_secs(wait),
        })
    }

    /// A PostgreSQL tool by name, from the configured folder or PATH.
    pub fn pg_tool(&self, tool: &str) -> PathBuf {
        match &self.pg_bin_dir {
            Some(dir) => dir.join(tool),
            None => PathBuf::from(tool),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_backup_setting_is_reported_together() {
        let err = BackupConfig::from_lookup(|name| match name {
            ENV_RETENTION_DAYS => Some("0".into()),
            _ => None,
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        for name in [
            ENV_ENDPOINT,
            ENV_ACCESS_KEY,
            ENV_SECRET_KEY,
            ENV_RETENTION_DAYS,
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }

    #[test]
    fn backups_are_off_without_a_target_endpoint() {
        assert!(matches!(
            TargetConfig::from_lookup_optional(|_| None),
            Ok(None)
        ));
    }

    #[test]
    fn defaults_fill_what_is_not_set() {
        let config = BackupConfig::from_lookup(|name| match name {
            ENV_ENDPOINT => Some("http://127.0.0.1:9100".into()),
            ENV_ACCESS_KEY | ENV_SECRET_KEY => Some("k".into()),
            _ => None,
        });
        let config = config.expect("defaults fill the rest");
        assert_eq!(config.target.bucket, DEFAULT_BUCKET);
        assert_eq!(config.retention, TimeDelta::days(30));
        assert_eq!(config.keep_at_least, 3);
        assert_eq!(config.pg_tool("pg_dump"), PathBuf::from("pg_dump"));
    }
}

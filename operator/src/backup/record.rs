//! What a backup run leaves behind: its [`BackupRecord`] (the manifest beside its artifact)
//! and the component's [`BackupStatus`] (the last attempt, and the last good run, which a
//! failed attempt never replaces), which monitoring reads.

use chrono::{DateTime, Utc};

use super::{Component, plan::Verification};

/// One run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupRecord {
    pub component: Component,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The artifact's key in the backups bucket (none for the MinIO mirror).
    pub key: Option<String>,
    /// The artifact's bytes, or the bytes mirrored objects hold in all.
    pub size_bytes: u64,
    pub sha256: Option<String>,
    pub verification: Verification,
    /// What the mirror counted (MinIO only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorCounts>,
}

/// A mirror pass over every content bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MirrorCounts {
    pub buckets: usize,
    pub objects: usize,
    pub copied: usize,
    pub unchanged: usize,
    pub extra_on_target: usize,
    pub bytes_copied: u64,
}

impl MirrorCounts {
    pub fn add(&mut self, other: &MirrorCounts) {
        self.buckets += other.buckets;
        self.objects += other.objects;
        self.copied += other.copied;
        self.unchanged += other.unchanged;
        self.extra_on_target += other.extra_on_target;
        self.bytes_copied += other.bytes_copied;
    }
}

/// A component's latest outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupStatus {
    pub component: Component,
    pub last_attempt: BackupRecord,
    pub last_success: Option<BackupRecord>,
}

impl BackupStatus {
    /// The status after `attempt`: a verified run becomes the last success too; a failed one
    /// keeps the previous success, so the backup's age keeps growing until a good run.
    pub fn next(previous: Option<BackupStatus>, attempt: BackupRecord) -> BackupStatus {
        let last_success = if attempt.verification.ok {
            Some(attempt.clone())
        } else {
            previous.and_then(|p| p.last_success)
        };
        BackupStatus {
            component: attempt.component,
            last_attempt: attempt,
            last_success,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(minute: u32, ok: bool) -> BackupRecord {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 2, 14, minute, 0)
            .single()
            .unwrap_or_default();
        BackupRecord {
            component: Component::Postgres,
            started_at: at,
            finished_at: at,
            key: None,
            size_bytes: u64::from(minute),
            sha256: None,
            verification: Verification {
                ok,
                detail: String::new(),
            },
            mirror: None,
        }
    }

    #[test]
    fn a_failed_attempt_keeps_the_last_good_run_as_the_last_success() {
        let first = BackupStatus::next(None, record(1, true));
        assert_eq!(first.last_success, Some(record(1, true)));
        let failed = BackupStatus::next(Some(first), record(2, false));
        assert_eq!(failed.last_attempt, record(2, false));
        assert_eq!(failed.last_success, Some(record(1, true)));
        let good = BackupStatus::next(Some(failed), record(3, true));
        assert_eq!(good.last_success, Some(record(3, true)));
    }

    #[test]
    fn a_first_attempt_that_fails_leaves_no_success() {
        let status = BackupStatus::next(None, record(1, false));
        assert_eq!(status.last_success, None);
        assert!(!status.last_attempt.verification.ok);
    }

    #[test]
    fn a_status_reads_back_from_its_json() {
        let status = BackupStatus::next(None, record(1, true));
        let json = serde_json::to_string(&status).unwrap_or_default();
        assert!(json.contains("\"component\":\"postgres\""), "{json}");
        let back: Option<BackupStatus> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(status));
    }
}

//! MinIO: every content bucket mirrored to `<prefix><bucket>` on the backup target, one
//! pass copying what is missing or different there (by size and ETag, [`plan::plan_mirror`])
//! and keeping what only the target has; verified by listing both sides again. A restore is
//! the same mirror the other way, into the content buckets (created with their lifecycle
//! rules when missing).

use aws_sdk_s3::Client;
use chrono::Utc;
use scraperx_core::content::{Bucket, ensure_buckets};

use super::{
    BackupConfig, BackupRecord, BackupTarget, Component,
    plan::{self, Verification},
    record::MirrorCounts,
    runs,
    target::{copy_object, ensure_bucket, list},
};
use crate::{Error, Result};

/// The buckets that hold the platform's content (`scrx-temp` is scratch space).
pub const MIRRORED: [Bucket; 4] = [
    Bucket::Content,
    Bucket::Screenshots,
    Bucket::Pdfs,
    Bucket::Archives,
];

/// One bucket, source to target; returns the counts and the copies still missing after it.
async fn mirror_bucket(
    from: (&Client, &str),
    to: (&Client, &str),
) -> Result<(MirrorCounts, usize)> {
    let source = list(from.0, from.1, "").await?;
    let target = list(to.0, to.1, "").await?;
    let planned = plan::plan_mirror(&source, &target);
    let mut counts = MirrorCounts {
        buckets: 1,
        objects: source.len(),
        unchanged: planned.unchanged,
        extra_on_target: planned.extra,
        ..MirrorCounts::default()
    };
    for key in &planned.copy {
        counts.bytes_copied += copy_object(from, to, key).await?;
        counts.copied += 1;
    }
    let after = plan::plan_mirror(&source, &list(to.0, to.1, "").await?);
    Ok((counts, after.copy.len()))
}

/// Mirrors every content bucket of `source` (the MinIO with the admin's keys) to the target
/// and records the run.
pub async fn backup(
    config: &BackupConfig,
    target: &BackupTarget,
    source: &Client,
) -> Result<BackupRecord> {
    target.ensure().await?;
    let started_at = Utc::now();
    let mut total = MirrorCounts::default();
    let mut missing = Vec::new();
    for bucket in MIRRORED {
        let mirror = plan::mirror_bucket(&target.mirror_prefix, bucket.name());
        ensure_bucket(&target.client, &mirror).await?;
        let (counts, left) =
            mirror_bucket((source, bucket.name()), (&target.client, &mirror)).await?;
        tracing::info!(bucket = bucket.name(), ?counts, "mirrored");
        total.add(&counts);
        if left > 0 {
            missing.push(format!("{left} in {mirror}"));
        }
    }
    let verification = if missing.is_empty() {
        Verification {
            ok: true,
            detail: format!("{} objects on both sides", total.objects),
        }
    } else {
        Verification {
            ok: false,
            detail: format!(
                "objects still differing after the pass: {}",
                missing.join(", ")
            ),
        }
    };
    let record = BackupRecord {
        component: Component::Minio,
        started_at,
        finished_at: Utc::now(),
        key: None,
        size_bytes: total.bytes_copied,
        sha256: None,
        verification,
        mirror: Some(total),
    };
    runs::conclude(target, config, record).await
}

/// Mirrors the target's copies back into the content buckets of `dest`.
pub async fn restore(target: &BackupTarget, dest: &Client) -> Result<MirrorCounts> {
    ensure_buckets(dest).await?;
    let mut total = MirrorCounts::default();
    for bucket in MIRRORED {
        let mirror = plan::mirror_bucket(&target.mirror_prefix, bucket.name());
        let (counts, left) =
            mirror_bucket((&target.client, &mirror), (dest, bucket.name())).await?;
        if left > 0 {
            return Err(Error::Backup(format!(
                "{left} objects of {mirror} did not restore"
            )));
        }
        total.add(&counts);
    }
    Ok(total)
}

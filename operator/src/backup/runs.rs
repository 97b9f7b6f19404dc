//! What every backup command does after its run, and every restore before: the run's
//! manifest and the component's status written, the retention applied, a run chosen.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{
    BackupConfig, BackupRecord, BackupStatus, BackupTarget, Component,
    plan::{self, Verification},
};
use crate::{Error, Result};

/// Records `record`: its manifest when it verified, the component's status either way, then
/// prunes the runs past the retention. A run that did not verify is an error after that, so
/// the CronJob fails too.
pub async fn conclude(
    target: &BackupTarget,
    config: &BackupConfig,
    record: BackupRecord,
) -> Result<BackupRecord> {
    let component = record.component;
    if record.verification.ok {
        target
            .put_json(&plan::manifest_key(component, record.started_at), &record)
            .await?;
    }
    let status_key = plan::status_key(component);
    let previous = target
        .get_json::<BackupStatus>(&status_key)
        .await
        .ok()
        .flatten();
    let status = BackupStatus::next(previous, record.clone());
    target.put_json(&status_key, &status).await?;
    let runs = plan::runs_in(
        component,
        &target.keys(&format!("{}/", component.name())).await?,
    );
    for old in plan::to_prune(&runs, Utc::now(), config.retention, config.keep_at_least) {
        let removed = target
            .delete_prefix(&plan::run_prefix(component, old))
            .await?;
        tracing::info!(component = component.name(), run = %plan::stamp(old), removed, "pruned");
    }
    if !record.verification.ok {
        return Err(Error::Backup(format!(
            "{} backup did not verify: {}",
            component.name(),
            record.verification.detail
        )));
    }
    Ok(record)
}

/// Ends a run whose artifact is at `path`: its size and SHA-256, the upload with the checksum
/// beside it when it verified, then [`conclude`].
pub async fn finish_artifact(
    target: &BackupTarget,
    config: &BackupConfig,
    component: Component,
    started_at: DateTime<Utc>,
    path: &std::path::Path,
    verification: Verification,
) -> Result<BackupRecord> {
    let size_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let sha256 = sha256_file(path).await?;
    let key = plan::artifact_key(component, started_at).filter(|_| verification.ok);
    if let Some(key) = &key {
        upload_with_checksum(target, key, path, &sha256).await?;
    }
    let record = BackupRecord {
        component,
        started_at,
        finished_at: Utc::now(),
        key,
        size_bytes,
        sha256: Some(sha256),
        verification,
        mirror: None,
    };
    conclude(target, config, record).await
}

/// The run a restore takes (see [`plan::choose_run`]).
pub async fn choose(
    target: &BackupTarget,
    component: Component,
    at: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>> {
    let keys = target.keys(&format!("{}/", component.name())).await?;
    // Only runs with a manifest are complete (a run stopped midway has none).
    let complete: Vec<String> = keys
        .iter()
        .filter(|k| k.ends_with("/manifest.json"))
        .cloned()
        .collect();
    plan::choose_run(&plan::runs_in(component, &complete), at).ok_or_else(|| {
        Error::Backup(format!(
            "no {} backup in {} at or before {}",
            component.name(),
            target.bucket,
            at.map_or_else(|| "now".to_owned(), |t| t.to_rfc3339())
        ))
    })
}

/// Downloads a run's artifact into `path` and checks it against the checksum beside it.
pub async fn fetch_verified(
    target: &BackupTarget,
    artifact: &str,
    path: &std::path::Path,
) -> Result<String> {
    target.download(artifact, path).await?;
    let stored = target
        .get(&plan::checksum_key(artifact))
        .await?
        .ok_or_else(|| Error::Backup(format!("{artifact} has no checksum beside it")))?;
    let actual = sha256_file(path).await?;
    let verification: Verification =
        plan::verify_checksum(&String::from_utf8_lossy(&stored), &actual);
    if !verification.ok {
        return Err(Error::Backup(format!(
            "{artifact}: {}",
            verification.detail
        )));
    }
    Ok(actual)
}

/// The SHA-256 of a file, read in pieces.
pub async fn sha256_file(path: &std::path::Path) -> Result<String> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::Backup(format!("reading {}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| Error::Backup(format!("reading {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Uploads an artifact with its checksum line beside it.
pub async fn upload_with_checksum(
    target: &BackupTarget,
    key: &str,
    path: &std::path::Path,
    sha256: &str,
) -> Result<()> {
    target.put_file(key, path).await?;
    let file = key.rsplit('/').next().unwrap_or(key);
    target
        .put_bytes(
            &plan::checksum_key(key),
            plan::checksum_line(sha256, file).into(),
            "text/plain",
        )
        .await
}

/// A scratch file removed when dropped.
pub struct Scratch(pub std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

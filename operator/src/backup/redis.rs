//! Redis: BGSAVE, waited for until LASTSAVE moves with status ok; the snapshot fetched over
//! the replication protocol (`redis-cli --rdb`, so the job needs no access to Redis's disk),
//! checked by `redis-check-rdb`, gzipped and uploaded with its SHA-256. A restore writes the
//! checked snapshot where a stopped Redis will load it at start (its `dir`/`dbfilename`).

use std::{path::Path, time::Instant};

use chrono::{DateTime, Utc};

use super::{
    BackupConfig, BackupRecord, BackupTarget, Component,
    plan::{self, SaveState},
    postgres::Restored,
    runs::{self, Scratch},
    tool,
};
use crate::{Error, Result};

fn redis_error(what: &'static str) -> impl FnOnce(redis::RedisError) -> Error {
    move |e| Error::Backup(format!("redis {what}: {e}"))
}

/// Runs BGSAVE and waits until it is done (see [`plan::bgsave_state`]).
async fn bgsave(url: &str, timeout: std::time::Duration) -> Result<()> {
    let client = redis::Client::open(url).map_err(redis_error("url"))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(redis_error("connect"))?;
    let before: i64 = redis::cmd("LASTSAVE")
        .query_async(&mut conn)
        .await
        .map_err(redis_error("LASTSAVE"))?;
    let started: redis::RedisResult<String> = redis::cmd("BGSAVE").query_async(&mut conn).await;
    if let Err(e) = started
        && !e.to_string().contains("already in progress")
    {
        return Err(redis_error("BGSAVE")(e));
    }
    let deadline = Instant::now() + timeout;
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(&mut conn)
            .await
            .map_err(redis_error("INFO"))?;
        let now: i64 = redis::cmd("LASTSAVE")
            .query_async(&mut conn)
            .await
            .map_err(redis_error("LASTSAVE"))?;
        match plan::bgsave_state(&info, before, now) {
            SaveState::Done => return Ok(()),
            SaveState::Failed(why) => return Err(Error::Backup(format!("BGSAVE failed: {why}"))),
            SaveState::Running if Instant::now() > deadline => {
                return Err(Error::Backup(format!("BGSAVE not done after {timeout:?}")));
            }
            SaveState::Running => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

fn gzip(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut input = std::fs::File::open(from)?;
    let output = std::fs::File::create(to)?;
    let mut encoder = flate2::write::GzEncoder::new(output, flate2::Compression::default());
    std::io::copy(&mut input, &mut encoder)?;
    encoder.finish()?.sync_all()
}

fn gunzip(from: &Path, to: &Path) -> std::io::Result<()> {
    let input = std::fs::File::open(from)?;
    let mut decoder = flate2::read::GzDecoder::new(input);
    let mut output = std::fs::File::create(to)?;
    std::io::copy(&mut decoder, &mut output)?;
    output.sync_all()
}

async fn blocking(
    what: &'static str,
    job: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> Result<()> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| Error::Backup(format!("{what}: {e}")))?
        .map_err(|e| Error::Backup(format!("{what}: {e}")))
}

/// Snapshots the Redis at `url`, verifies, compresses, uploads and records the run.
pub async fn backup(
    config: &BackupConfig,
    target: &BackupTarget,
    url: &str,
) -> Result<BackupRecord> {
    target.ensure().await?;
    let started_at = Utc::now();
    bgsave(url, config.redis_save_timeout).await?;
    let stamp = plan::stamp(started_at);
    let rdb = Scratch(config.work_dir.join(format!("redis-{stamp}.rdb")));
    let gz = Scratch(config.work_dir.join(format!("redis-{stamp}.rdb.gz")));
    let cli = Path::new(&config.redis_cli);
    let rdb_path = rdb.0.to_string_lossy().into_owned();
    tool::run(cli, ["-u", url, "--rdb", rdb_path.as_str()])
        .await?
        .check(cli)?;
    let checked = tool::run(Path::new(&config.redis_check_rdb), [&rdb_path]).await?;
    let verification =
        plan::verify_rdb(checked.ok, &format!("{}{}", checked.stdout, checked.stderr));
    let (from, to) = (rdb.0.clone(), gz.0.clone());
    blocking("compressing the snapshot", move || gzip(&from, &to)).await?;
    runs::finish_artifact(
        target,
        config,
        Component::Redis,
        started_at,
        &gz.0,
        verification,
    )
    .await
}

/// Writes the newest snapshot at or before `at` to `rdb_out` (the stopped Redis's
/// `dir/dbfilename`), checked against its checksum and by `redis-check-rdb`.
pub async fn restore(
    config: &BackupConfig,
    target: &BackupTarget,
    rdb_out: &Path,
    at: Option<DateTime<Utc>>,
) -> Result<Restored> {
    let run = runs::choose(target, Component::Redis, at).await?;
    let key = plan::artifact_key(Component::Redis, run)
        .ok_or_else(|| Error::Backup("no snapshot key".into()))?;
    let gz = Scratch(
        config
            .work_dir
            .join(format!("restore-{}.rdb.gz", plan::stamp(run))),
    );
    let sha256 = runs::fetch_verified(target, &key, &gz.0).await?;
    let partial = rdb_out.with_extension("restoring");
    let (from, to) = (gz.0.clone(), partial.clone());
    blocking("decompressing the snapshot", move || gunzip(&from, &to)).await?;
    let checked = tool::run(Path::new(&config.redis_check_rdb), [&partial]).await?;
    let verification =
        plan::verify_rdb(checked.ok, &format!("{}{}", checked.stdout, checked.stderr));
    if !verification.ok {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Backup(format!("{key}: {}", verification.detail)));
    }
    std::fs::rename(&partial, rdb_out)
        .map_err(|e| Error::Backup(format!("moving the snapshot to {}: {e}", rdb_out.display())))?;
    Ok(Restored {
        component: Component::Redis,
        run,
        key,
        sha256,
        detail: verification.detail,
    })
}

//! PostgreSQL: a custom-format dump (`pg_dump -Fc`), verified by `pg_restore --list`,
//! uploaded with its SHA-256 beside it; and its restore into an empty database, which is
//! refused when the database already holds tables (a restore never mixes with live data).

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;

use super::{
    BackupConfig, BackupRecord, BackupTarget, Component, plan,
    runs::{self, Scratch},
    tool,
};
use crate::{Error, Result};

/// Dumps the database at `url`, verifies, uploads and records the run.
pub async fn backup(
    config: &BackupConfig,
    target: &BackupTarget,
    url: &str,
) -> Result<BackupRecord> {
    target.ensure().await?;
    let started_at = Utc::now();
    let file = Scratch(
        config
            .work_dir
            .join(format!("scraperx-{}.dump", plan::stamp(started_at))),
    );
    let path = file.0.to_string_lossy().into_owned();
    let pg_dump = config.pg_tool("pg_dump");
    tool::run(
        &pg_dump,
        [
            "--format=custom",
            "--compress=9",
            "--no-password",
            "--file",
            path.as_str(),
            "--dbname",
            url,
        ],
    )
    .await?
    .check(&pg_dump)?;
    let listed = tool::run(&config.pg_tool("pg_restore"), ["--list", path.as_str()]).await?;
    let verification = plan::verify_dump(listed.ok, &listed.stdout);
    runs::finish_artifact(
        target,
        config,
        Component::Postgres,
        started_at,
        &file.0,
        verification,
    )
    .await
}

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub component: Component,
    pub run: DateTime<Utc>,
    pub key: String,
    pub sha256: String,
    pub detail: String,
}

/// Restores the newest dump at or before `at` into the empty database at `url`.
pub async fn restore(
    config: &BackupConfig,
    target: &BackupTarget,
    url: &str,
    at: Option<DateTime<Utc>>,
) -> Result<Restored> {
    refuse_unless_empty(url).await?;
    let run = runs::choose(target, Component::Postgres, at).await?;
    let key = plan::artifact_key(Component::Postgres, run)
        .ok_or_else(|| Error::Backup("no dump key".into()))?;
    let file = Scratch(
        config
            .work_dir
            .join(format!("restore-{}.dump", plan::stamp(run))),
    );
    let sha256 = runs::fetch_verified(target, &key, &file.0).await?;
    let path = file.0.to_string_lossy().into_owned();
    let pg_restore = config.pg_tool("pg_restore");
    let listed = tool::run(&pg_restore, ["--list", path.as_str()]).await?;
    let verification = plan::verify_dump(listed.ok, &listed.stdout);
    if !verification.ok {
        return Err(Error::Backup(format!("{key}: {}", verification.detail)));
    }
    tool::run(
        &pg_restore,
        [
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            "--no-password",
            "--dbname",
            url,
            path.as_str(),
        ],
    )
    .await?
    .check(&pg_restore)?;
    Ok(Restored {
        component: Component::Postgres,
        run,
        key,
        sha256,
        detail: verification.detail,
    })
}

/// A restore goes into a database without tables of its own.
async fn refuse_unless_empty(url: &str) -> Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(|e| Error::Backup(format!("connecting to the database to restore into: {e}")))?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg_toast%'",
    )
    .fetch_one(&pool)
    .await
    .map_err(|e| Error::Backup(format!("reading the database to restore into: {e}")))?;
    pool.close().await;
    if tables > 0 {
        return Err(Error::Backup(format!(
            "the database to restore into holds {tables} tables: restore into an empty one"
        )));
    }
    Ok(())
}

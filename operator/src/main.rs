//! `scraperx-operator`: the Kubernetes operator. Its controllers arrive with the operator
//! issue; the database maintenance they will schedule runs today as a command:
//!
//!   scraperx-operator maintenance      create partitions ahead, drop expired partitions,
//!                                      apply retention, delete expired results, aggregate
//!                                      yesterday's usage, grant monthly credits, delete the
//!                                      MinIO objects of deleted rows, give orphaned Redis
//!                                      keys a TTL; prints JSON

use anyhow::{Context, bail};
use chrono::{Days, Utc};
use scraperx_core::{
    config::{PgConfig, RedisConfig, S3Config},
    content, hot,
    pg::Db,
};

/// Months of partitions kept ready ahead of the current one.
const PARTITION_MONTHS_AHEAD: i32 = 3;
/// Outbox rows handled per page.
const OBJECT_DELETION_PAGE: i64 = 500;
/// Keys per SCAN page of the orphan sweep.
const ORPHAN_SCAN_PAGE: u32 = 1_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scraperx_core::telemetry::init();
    match std::env::args().nth(1).as_deref() {
        Some("maintenance") => maintenance().await,
        other => bail!("unknown command {other:?}; expected `maintenance`"),
    }
}

async fn maintenance() -> anyhow::Result<()> {
    let db = Db::connect(&PgConfig::from_env()?)
        .await
        .context("connecting to PostgreSQL")?;
    db.migrate().await.context("applying migrations")?;
    let partitions = db
        .ensure_partitions(PARTITION_MONTHS_AHEAD)
        .await
        .context("creating partitions")?;
    let dropped = db
        .drop_old_partitions()
        .await
        .context("dropping old partitions")?;
    let retention = db.apply_retention().await.context("applying retention")?;
    let expired = db
        .cleanup_expired_results()
        .await
        .context("deleting expired results")?;
    let yesterday = Utc::now().date_naive() - Days::new(1);
    let aggregated = db
        .aggregate_daily_usage(yesterday)
        .await
        .context("aggregating usage")?;
    let reset = db
        .reset_monthly_credits()
        .await
        .context("monthly credit reset")?;
    let store = content::ContentStore::new(&S3Config::from_env_for_role("ADMIN")?);
    let objects = content::drain_object_deletions(&db, &store, OBJECT_DELETION_PAGE)
        .await
        .context("deleting objects of deleted rows")?;
    let redis = hot::connect(&RedisConfig::from_env())
        .await
        .context("connecting to Redis")?;
    let orphans =
        hot::orphans::repair_orphans(&redis, &hot::TtlConfig::from_env()?, ORPHAN_SCAN_PAGE)
            .await
            .context("repairing orphaned Redis keys")?;
    let report = serde_json::json!({
        "partitions": partitions,
        "dropped_partitions": dropped,
        "retention": retention,
        "expired_results_deleted": expired,
        "usage_aggregated": { "day": yesterday, "organizations": aggregated },
        "credits_reset": reset,
        "objects_deleted": objects,
        "redis_orphans": { "scanned": orphans.scanned, "repaired": orphans.repaired },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

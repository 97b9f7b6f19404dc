//! `scraperx-worker`: takes jobs from the Redis queues and runs them (issue: scraping
//! workers). Today it carries the start-up check every worker runs before taking work:
//!
//!   scraperx-worker check      PostgreSQL reachable and its schema at this build's version

use anyhow::{Context, bail};
use scraperx_core::{config::PgConfig, pg::Db};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scraperx_core::telemetry::init();
    match std::env::args().nth(1).as_deref() {
        Some("check") => check().await,
        other => bail!("unknown command {other:?}; expected `check`"),
    }
}

/// Fails unless the database answers and has every migration this build embeds.
async fn check() -> anyhow::Result<()> {
    let db = Db::connect(&PgConfig::from_env()?)
        .await
        .context("connecting to PostgreSQL")?;
    db.ping().await.context("PostgreSQL did not answer")?;
    let missing = db
        .missing_migrations()
        .await
        .context("reading the migration history (run `scraperx-api migrate` first)")?;
    if !missing.is_empty() {
        bail!("schema is behind this build: migrations {missing:?} not applied");
    }
    println!("ok: PostgreSQL reachable, schema up to date");
    Ok(())
}

//! `scraperx-worker`: takes jobs from the Redis queues and runs them.
//!
//!   scraperx-worker run        run until SIGTERM or Ctrl-C, then drain (SCRX_WORKER_GRACE_SECS);
//!                              /healthz and /metrics on SCRX_WORKER_ADDR (default 0.0.0.0:8082)
//!   scraperx-worker check      PostgreSQL reachable and its schema at this build's version

use anyhow::{Context, bail};
use scraperx_core::{
    config::{PgConfig, RedisConfig, S3Config},
    content::ContentStore,
    hot,
    pg::Db,
};
use scraperx_worker::{Services, Worker, WorkerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scraperx_core::telemetry::init();
    match std::env::args().nth(1).as_deref() {
        Some("check") => check().await,
        Some("run") => run().await,
        other => bail!("unknown command {other:?}; expected `run` or `check`"),
    }
}

async fn run() -> anyhow::Result<()> {
    let config = WorkerConfig::from_env()?;
    let db = Db::connect(&PgConfig::from_env()?)
        .await
        .context("connecting to PostgreSQL")?;
    let redis = hot::connect(&RedisConfig::from_env())
        .await
        .context("connecting to Redis")?;
    let worker = Worker::new(
        config,
        Services {
            db,
            redis,
            content: ContentStore::new(&S3Config::from_env()?),
        },
    )?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        scraperx_core::signal::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let addr = worker.config().addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let ops = scraperx_worker::ops::router(worker.metrics());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, ops).await {
            tracing::error!(error = %err, "health and metrics server stopped");
        }
    });
    tracing::info!(worker = %worker.config().worker_id, engines = ?worker.config().engines, "worker running");
    worker.run(stop).await;
    Ok(())
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

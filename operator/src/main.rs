//! `scraperx-operator`: the Kubernetes operator.
//!
//!   scraperx-operator run            the ScrapeBatch and WorkerPool controllers, maintenance
//!                                    while holding its Lease, and /healthz, /readyz, /metrics
//!                                    on SCRX_OPERATOR_ADDR (default 0.0.0.0:8081)
//!   scraperx-operator maintenance    every maintenance task once, now; prints JSON

use std::sync::Arc;

use anyhow::{Context as _, bail};
use scraperx_core::{
    config::{PgConfig, RedisConfig, S3Config},
    content::ContentStore,
    dispatch::QueueSet,
    hot,
    pg::Db,
};
use scraperx_operator::{Context, maintenance::Maintenance, metrics::Metrics};

const ENV_ADDR: &str = "SCRX_OPERATOR_ADDR";
const DEFAULT_ADDR: &str = "0.0.0.0:8081";
const ENV_NAMESPACE: &str = "POD_NAMESPACE";
const DEFAULT_NAMESPACE: &str = "default";
use scraperx_core::config::ENV_QUEUE_NAMESPACE;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scraperx_core::telemetry::init();
    match std::env::args().nth(1).as_deref() {
        Some("run") => run().await,
        Some("maintenance") => maintenance_once().await,
        other => bail!("unknown command {other:?}; expected `run` or `maintenance`"),
    }
}

async fn maintenance_parts() -> anyhow::Result<Maintenance> {
    let db = Db::connect(&PgConfig::from_env()?)
        .await
        .context("connecting to PostgreSQL")?;
    db.migrate().await.context("applying migrations")?;
    let redis = hot::connect(&RedisConfig::from_env())
        .await
        .context("connecting to Redis")?;
    let store = ContentStore::new(&S3Config::from_env_for_role("ADMIN")?);
    Ok(Maintenance { db, redis, store })
}

async fn maintenance_once() -> anyhow::Result<()> {
    let maintenance = maintenance_parts().await?;
    let report = maintenance.run_all().await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let maintenance = maintenance_parts().await?;
    let queues = QueueSet::new(
        maintenance.redis.clone(),
        &std::env::var(ENV_QUEUE_NAMESPACE).unwrap_or_default(),
    );
    let db = maintenance.db.clone();
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let ctx = Context::new(client.clone(), db, queues, Arc::new(Metrics::default()));
    let ns = std::env::var(ENV_NAMESPACE).unwrap_or_else(|_| DEFAULT_NAMESPACE.into());
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("scraperx-operator-{}", uuid::Uuid::new_v4().simple()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let leader = tokio::spawn(scraperx_operator::maintenance::lead(
        maintenance,
        client,
        ns,
        identity,
        stop,
    ));
    let addr = std::env::var(ENV_ADDR).unwrap_or_else(|_| DEFAULT_ADDR.into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let server = axum::serve(listener, scraperx_operator::server::router(ctx.clone()))
        .with_graceful_shutdown(scraperx_core::signal::shutdown_signal());
    tokio::select! {
        () = scraperx_operator::run_controllers(ctx, None) => {}
        served = server => served?,
    }
    let _ = stop_tx.send(true);
    let _ = leader.await;
    Ok(())
}

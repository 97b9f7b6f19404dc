//! `scraperx-worker`: takes jobs from the Redis queues and runs them.
//!
//!   scraperx-worker run        run until SIGTERM or Ctrl-C, then drain (SCRX_WORKER_GRACE_SECS);
//!                              /healthz and /metrics on SCRX_WORKER_ADDR (default 0.0.0.0:8082)
//!   scraperx-worker check      PostgreSQL reachable and its schema at this build's version

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgMatches, Command};
use scraperx_core::{
    cli::{self, Setting, Values},
    config::{PgConfig, RedisConfig, S3Config},
    content::ContentStore,
    hot,
    pg::Db,
    telemetry::{self, LogConfig},
};
use scraperx_worker::{Services, Worker, WorkerConfig};

/// The settings of `run`: the worker's own, its MinIO role's keys, and the shared ones.
fn run_settings() -> Vec<Setting> {
    [
        WorkerConfig::settings(),
        PgConfig::settings(),
        RedisConfig::settings(),
        S3Config::settings("WORKER"),
        LogConfig::settings(),
    ]
    .concat()
}

fn check_settings() -> Vec<Setting> {
    [PgConfig::settings(), LogConfig::settings()].concat()
}

fn command() -> Command {
    Command::new("scraperx-worker")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Takes scrape jobs from the Redis queues and runs them")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("run")
                .about("Run jobs until SIGTERM or Ctrl-C, then drain; /healthz and /metrics on SCRX_WORKER_ADDR")
                .args(cli::args(&run_settings())),
        )
        .subcommand(
            Command::new("check")
                .about("Check that PostgreSQL answers and its schema is at this build's version")
                .args(cli::args(&check_settings())),
        )
}

fn main() -> ExitCode {
    cli::main(command(), dispatch)
}

async fn dispatch(matches: ArgMatches) -> anyhow::Result<()> {
    match matches.subcommand() {
        Some(("run", sub)) => run(&Values::new(sub, &run_settings())).await,
        Some(("check", sub)) => check(&Values::new(sub, &check_settings())).await,
        _ => bail!("a command is required (see --help)"),
    }
}

async fn run(values: &Values) -> anyhow::Result<()> {
    let get = |n: &str| values.get(n);
    let (((config, pg), s3), log) = cli::both(
        cli::both(
            cli::both(WorkerConfig::from_lookup(get), PgConfig::from_lookup(get)),
            S3Config::from_lookup_for_role(get, "WORKER"),
        ),
        LogConfig::from_lookup(get),
    )?;
    telemetry::init(&log);
    let db = Db::connect(&pg).await.context("connecting to PostgreSQL")?;
    // Values stored before sealing bound them to their rows are brought to that form.
    db.reseal_at_start(config.secrets.as_ref())
        .await
        .context("re-sealing secrets")?;
    let redis_config = RedisConfig::from_lookup(get)?;
    let redis = hot::connect(&redis_config)
        .await
        .context("connecting to Redis")?;
    let worker = Worker::new(
        config,
        Services {
            db,
            redis,
            content: ContentStore::new(&s3),
        },
    )?
    .with_wake_ups(redis_config);
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
async fn check(values: &Values) -> anyhow::Result<()> {
    let get = |n: &str| values.get(n);
    let (pg, log) = cli::both(PgConfig::from_lookup(get), LogConfig::from_lookup(get))?;
    telemetry::init(&log);
    let db = Db::connect(&pg).await.context("connecting to PostgreSQL")?;
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

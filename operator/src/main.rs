//! `scraperx-operator`: the Kubernetes operator.
//!
//!   scraperx-operator run            the ScrapeBatch and WorkerPool controllers, maintenance
//!                                    while holding its Lease, and /healthz, /readyz, /metrics
//!                                    on SCRX_OPERATOR_ADDR (default 0.0.0.0:8081)
//!   scraperx-operator maintenance    every maintenance task once, now; prints JSON
//!   scraperx-operator backup <store> one backup of postgres, redis or minio (backup_cmd.rs)
//!   scraperx-operator restore <store> its restore (docs/runbook.md)

mod backup_cmd;

use std::{process::ExitCode, sync::Arc};

use anyhow::{Context as _, bail};
use clap::{ArgMatches, Command};
use scraperx_core::{
    cli::{self, Setting, Values},
    config::{ENV_QUEUE_NAMESPACE, PgConfig, RedisConfig, S3Config},
    content::ContentStore,
    dispatch::QueueSet,
    hot,
    pg::Db,
    telemetry::{self, LogConfig},
};
use scraperx_operator::{Context, maintenance::Maintenance, metrics::Metrics};

const ENV_ADDR: &str = "SCRX_OPERATOR_ADDR";
const DEFAULT_ADDR: &str = "0.0.0.0:8081";
const ENV_NAMESPACE: &str = "POD_NAMESPACE";
const DEFAULT_NAMESPACE: &str = "default";
const ENV_POD_NAME: &str = "POD_NAME";
const ENV_KUBECONFIG: &str = "KUBECONFIG";

/// What maintenance reads: the stores (MinIO with the admin's keys) and the expiries.
fn maintenance_settings() -> Vec<Setting> {
    [
        PgConfig::settings(),
        RedisConfig::settings(),
        S3Config::settings("ADMIN"),
        hot::TtlConfig::settings(),
        LogConfig::settings(),
    ]
    .concat()
}

fn run_settings() -> Vec<Setting> {
    [
        maintenance_settings(),
        vec![
            Setting::new(
                ENV_QUEUE_NAMESPACE,
                "prefix of the Redis queue names (the API and workers must use the same)",
            )
            .default_value(""),
            Setting::new(ENV_ADDR, "where /healthz, /readyz and /metrics are served")
                .default_value(DEFAULT_ADDR),
            Setting::new(
                ENV_NAMESPACE,
                "namespace of the maintenance Lease and ConfigMap",
            )
            .default_value(DEFAULT_NAMESPACE),
            Setting::new(
                ENV_POD_NAME,
                "this replica's identity for leader election (default: a random one)",
            ),
            Setting::new(
                ENV_KUBECONFIG,
                "kubeconfig file (unset: in-cluster configuration, else ~/.kube/config)",
            ),
        ],
        scraperx_operator::backup::settings::TargetConfig::settings(),
    ]
    .concat()
}

fn command() -> Command {
    Command::new("scraperx-operator")
        .version(env!("CARGO_PKG_VERSION"))
        .about("The ScraperX Kubernetes operator: ScrapeBatch, WorkerPool and maintenance")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("run")
                .about("Run the ScrapeBatch and WorkerPool controllers, and maintenance while holding its Lease")
                .args(cli::args(&run_settings())),
        )
        .subcommand(
            Command::new("maintenance")
                .about("Run every maintenance task once, now, and print what each did as JSON")
                .args(cli::args(&maintenance_settings())),
        )
        .subcommands(backup_cmd::commands())
}

fn main() -> ExitCode {
    cli::main(command(), dispatch)
}

async fn dispatch(matches: ArgMatches) -> anyhow::Result<()> {
    match matches.subcommand() {
        Some(("run", sub)) => run(&Values::new(sub, &run_settings())).await,
        Some(("maintenance", sub)) => {
            maintenance_once(&Values::new(sub, &maintenance_settings())).await
        }
        Some(("backup", sub)) => backup_cmd::dispatch(sub, false).await,
        Some(("restore", sub)) => backup_cmd::dispatch(sub, true).await,
        _ => bail!("a command is required (see --help)"),
    }
}

async fn maintenance_parts(values: &Values) -> anyhow::Result<Maintenance> {
    let get = |n: &str| values.get(n);
    let ((pg, s3), (ttl, log)) = cli::both(
        cli::both(
            PgConfig::from_lookup(get),
            S3Config::from_lookup_for_role(get, "ADMIN"),
        ),
        cli::both(
            hot::TtlConfig::from_lookup(get),
            LogConfig::from_lookup(get),
        ),
    )?;
    telemetry::init(&log);
    let db = Db::connect(&pg).await.context("connecting to PostgreSQL")?;
    db.migrate().await.context("applying migrations")?;
    let redis = hot::connect(&RedisConfig::from_lookup(get)?)
        .await
        .context("connecting to Redis")?;
    Ok(Maintenance {
        db,
        redis,
        store: ContentStore::new(&s3),
        ttl,
    })
}

async fn maintenance_once(values: &Values) -> anyhow::Result<()> {
    let maintenance = maintenance_parts(values).await?;
    let report = maintenance.run_all().await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn run(values: &Values) -> anyhow::Result<()> {
    let maintenance = maintenance_parts(values).await?;
    let queues = QueueSet::new(
        maintenance.redis.clone(),
        &values.get(ENV_QUEUE_NAMESPACE).unwrap_or_default(),
    );
    let db = maintenance.db.clone();
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let ctx = Context::new(client.clone(), db, queues, Arc::new(Metrics::default()));
    let ns = values
        .get(ENV_NAMESPACE)
        .unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    let identity = values
        .get(ENV_POD_NAME)
        .unwrap_or_else(|| format!("scraperx-operator-{}", uuid::Uuid::new_v4().simple()));
    if let Some(target) =
        scraperx_operator::backup::settings::TargetConfig::from_lookup_optional(|n| values.get(n))?
    {
        tokio::spawn(scraperx_operator::backup::monitor::watch(
            scraperx_operator::backup::BackupTarget::new(&target),
            ctx.metrics.backups.clone(),
            std::time::Duration::from_secs(60),
        ));
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let leader = tokio::spawn(scraperx_operator::maintenance::lead(
        maintenance,
        client,
        ns,
        identity,
        stop,
    ));
    let addr = values.get(ENV_ADDR).unwrap_or_else(|| DEFAULT_ADDR.into());
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

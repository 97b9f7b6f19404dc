//! The `backup` and `restore` commands of `scraperx-operator` (the chart's CronJobs run the
//! first; the runbook the second): one subcommand per store, each declaring the settings it
//! reads, printing what it did as JSON.
//!
//!   backup postgres|redis|minio     one backup run, verified and recorded on the target
//!   restore postgres                the newest dump (or the newest at SCRX_RESTORE_AT) into
//!                                   the empty database at DATABASE_URL
//!   restore redis                   the snapshot to SCRX_RESTORE_RDB_PATH, for a stopped Redis
//!   restore minio                   the mirror back into the content buckets

use anyhow::{Context as _, bail};
use clap::{ArgMatches, Command};
use scraperx_core::{
    cli::{self, Setting, Values},
    config::{ENV_REDIS_CLUSTER, ENV_REDIS_URL, PgConfig, RedisConfig, RedisTopology, S3Config},
    telemetry::{self, LogConfig},
};
use scraperx_operator::backup::{self, BackupConfig, BackupTarget, Component, plan};

const ENV_RESTORE_AT: &str = "SCRX_RESTORE_AT";
const ENV_RESTORE_RDB_PATH: &str = "SCRX_RESTORE_RDB_PATH";
const DEFAULT_RESTORE_RDB_PATH: &str = "/data/dump.rdb";

/// The settings of one store's command: the store's own, the backup target's, logging.
fn settings(component: Component, restore: bool) -> Vec<Setting> {
    let store = match component {
        Component::Postgres => PgConfig::settings(),
        Component::Redis => RedisConfig::settings(),
        Component::Minio => S3Config::settings("ADMIN"),
    };
    let mut all = [store, BackupConfig::settings(), LogConfig::settings()].concat();
    if restore && component != Component::Minio {
        all.push(Setting::new(
            ENV_RESTORE_AT,
            "restore the newest run at or before this time (YYYYMMDDTHHMMSSZ; unset: the newest)",
        ));
    }
    if restore && component == Component::Redis {
        all.push(
            Setting::new(
                ENV_RESTORE_RDB_PATH,
                "where the stopped Redis loads its snapshot from",
            )
            .default_value(DEFAULT_RESTORE_RDB_PATH),
        );
    }
    all
}

fn store_commands(restore: bool) -> Vec<Command> {
    Component::ALL
        .into_iter()
        .map(|c| {
            let about = match (restore, c) {
                (false, Component::Postgres) => {
                    "Dump PostgreSQL (pg_dump -Fc), verify, upload with its SHA-256, prune"
                }
                (false, Component::Redis) => {
                    "BGSAVE, fetch and check the snapshot, gzip, upload with its SHA-256, prune"
                }
                (false, Component::Minio) => "Mirror every content bucket to the backup target",
                (true, Component::Postgres) => "Restore a dump into an empty database",
                (true, Component::Redis) => "Write a snapshot where a stopped Redis loads it",
                (true, Component::Minio) => {
                    "Mirror the backup target's copies back into the content buckets"
                }
            };
            Command::new(c.name())
                .about(about)
                .args(cli::args(&settings(c, restore)))
        })
        .collect()
}

pub fn commands() -> [Command; 2] {
    [
        Command::new("backup")
            .about("Back up one store (PostgreSQL, Redis or MinIO) to the backup target")
            .subcommand_required(true)
            .subcommands(store_commands(false)),
        Command::new("restore")
            .about("Restore one store from the backup target (see docs/runbook.md)")
            .subcommand_required(true)
            .subcommands(store_commands(true)),
    ]
}

/// Runs `backup <store>` (`restore` false) or `restore <store>`.
pub async fn dispatch(matches: &ArgMatches, restore: bool) -> anyhow::Result<()> {
    let Some((name, sub)) = matches.subcommand() else {
        bail!("a store is required: postgres, redis or minio");
    };
    let component = Component::from_name(name).context("unknown store")?;
    let values = Values::new(sub, &settings(component, restore));
    let get = |n: &str| values.get(n);
    let (config, log) = cli::both(BackupConfig::from_lookup(get), LogConfig::from_lookup(get))?;
    telemetry::init(&log);
    let target = BackupTarget::new(&config.target);
    let at = match get(ENV_RESTORE_AT) {
        None => None,
        Some(text) => Some(plan::parse_stamp(&text).ok_or_else(|| {
            scraperx_core::Error::Config(format!(
                "{ENV_RESTORE_AT}={text:?} is not YYYYMMDDTHHMMSSZ"
            ))
        })?),
    };
    let report = match (component, restore) {
        (Component::Postgres, false) => {
            let pg = PgConfig::from_lookup(get)?;
            json(&backup::postgres::backup(&config, &target, pg.session_url()).await?)?
        }
        (Component::Redis, false) => {
            let redis = RedisConfig::from_lookup(get)?;
            if redis.topology == RedisTopology::Cluster {
                // Seed 001 §7.5's choice: a snapshot per master, each its own run.
                return Err(scraperx_core::Error::Config(format!(
                    "{ENV_REDIS_CLUSTER}: a Redis Cluster is backed up master by master: run \
                     `backup redis` once per master, with {ENV_REDIS_URL} set to that master \
                     alone (the queues need no backup: the workers' sweep rebuilds them)"
                ))
                .into());
            }
            json(&backup::redis::backup(&config, &target, &redis.url).await?)?
        }
        (Component::Minio, false) => {
            let s3 = S3Config::from_lookup_for_role(get, "ADMIN")?;
            let source = scraperx_core::content::client(&s3);
            json(&backup::minio::backup(&config, &target, &source).await?)?
        }
        (Component::Postgres, true) => {
            let pg = PgConfig::from_lookup(get)?;
            json(&backup::postgres::restore(&config, &target, pg.session_url(), at).await?)?
        }
        (Component::Redis, true) => {
            let out = get(ENV_RESTORE_RDB_PATH).unwrap_or_else(|| DEFAULT_RESTORE_RDB_PATH.into());
            json(&backup::redis::restore(&config, &target, out.as_ref(), at).await?)?
        }
        (Component::Minio, true) => {
            let s3 = S3Config::from_lookup_for_role(get, "ADMIN")?;
            let dest = scraperx_core::content::client(&s3);
            json(&backup::minio::restore(&target, &dest).await?)?
        }
    };
    println!("{report}");
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)?)
}

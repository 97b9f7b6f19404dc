//! `scraperx-api`: the customer REST API, and the administrative commands the set-up needs:
//!
//!   scraperx-api serve                 serve the API on SCRX_API_ADDR (default 0.0.0.0:8080)
//!   scraperx-api migrate               apply the schema migrations and create the MinIO
//!                                      buckets with their lifecycle rules (idempotent)
//!   scraperx-api bootstrap [SLUG]      migrate, then create (or reuse) an organization and
//!                                      print a new API key for it, once

use std::process::ExitCode;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};
use scraperx_api::{AppState, Services, config::ApiConfig};
use scraperx_core::{
    cli::{self, Setting, Values},
    config::{PgConfig, RedisConfig, S3Config},
    content, hot,
    pg::{Db, NewApiKey, NewOrganization},
    telemetry::{self, LogConfig},
};

const DEFAULT_DEMO_SLUG: &str = "demo";
const DEMO_CREDITS: i64 = 10_000;

/// The settings of `serve`: the API's own, its MinIO role's keys, and the shared ones.
fn serve_settings() -> Vec<Setting> {
    [
        ApiConfig::settings(),
        PgConfig::settings(),
        RedisConfig::settings(),
        S3Config::settings("API"),
        hot::TtlConfig::settings(),
        LogConfig::settings(),
    ]
    .concat()
}

/// The settings of `migrate` and `bootstrap`: the database and the admin's MinIO keys.
fn admin_settings() -> Vec<Setting> {
    [
        PgConfig::settings(),
        S3Config::settings("ADMIN"),
        LogConfig::settings(),
    ]
    .concat()
}

fn command() -> Command {
    Command::new("scraperx-api")
        .version(env!("CARGO_PKG_VERSION"))
        .about("The ScraperX REST API, and the commands that prepare its storage")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("serve")
                .about("Serve the API until SIGTERM or Ctrl-C")
                .args(cli::args(&serve_settings())),
        )
        .subcommand(
            Command::new("migrate")
                .about("Apply the schema migrations and create the MinIO buckets (idempotent)")
                .args(cli::args(&admin_settings())),
        )
        .subcommand(
            Command::new("bootstrap")
                .about("Migrate, then create (or reuse) an organization and print a new API key for it")
                .arg(
                    Arg::new("slug")
                        .help("the organization's slug")
                        .default_value(DEFAULT_DEMO_SLUG),
                )
                .args(cli::args(&admin_settings())),
        )
}

fn main() -> ExitCode {
    cli::main(command(), run)
}

async fn run(matches: ArgMatches) -> anyhow::Result<()> {
    let Some((name, sub)) = matches.subcommand() else {
        anyhow::bail!("a command is required (see --help)");
    };
    if name == "serve" {
        let values = Values::new(sub, &serve_settings());
        return serve(&values).await;
    }
    let values = Values::new(sub, &admin_settings());
    let get = |n: &str| values.get(n);
    let ((pg, s3), log) = cli::both(
        cli::both(
            PgConfig::from_lookup(get),
            S3Config::from_lookup_for_role(get, "ADMIN"),
        ),
        LogConfig::from_lookup(get),
    )?;
    telemetry::init(&log);
    let db = Db::connect(&pg).await.context("connecting to PostgreSQL")?;
    db.migrate().await.context("applying migrations")?;
    tracing::info!("schema up to date");
    prepare_buckets(&s3).await?;
    if name == "bootstrap" {
        let slug = sub
            .get_one::<String>("slug")
            .map_or(DEFAULT_DEMO_SLUG, String::as_str);
        bootstrap(&db, slug).await?;
    }
    Ok(())
}

/// Serves the API until SIGTERM or Ctrl-C, then finishes in-flight requests and writes the
/// pending key usage.
async fn serve(values: &Values) -> anyhow::Result<()> {
    let get = |n: &str| values.get(n);
    let (((config, pg), (s3, ttl)), log) = cli::both(
        cli::both(
            cli::both(ApiConfig::from_lookup(get), PgConfig::from_lookup(get)),
            cli::both(
                S3Config::from_lookup_for_role(get, "API"),
                hot::TtlConfig::from_lookup(get),
            ),
        ),
        LogConfig::from_lookup(get),
    )?;
    let redis_config = RedisConfig::from_lookup(get)?;
    telemetry::init(&log);
    let db = Db::connect(&pg).await.context("connecting to PostgreSQL")?;
    // Values stored before sealing bound them to their rows are brought to that form.
    db.reseal_at_start(config.secrets.as_ref())
        .await
        .context("re-sealing secrets")?;
    let redis = hot::connect(&redis_config)
        .await
        .context("connecting to Redis")?;
    let state = AppState::new(
        config.clone(),
        Services {
            db: db.clone(),
            redis,
            redis_config,
            content: content::ContentStore::new(&s3),
            ttl,
        },
    );
    let flusher = state.usage.spawn_flusher(db.clone(), config.usage_flush);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(addr = %config.addr, "serving");
    axum::serve(
        listener,
        scraperx_api::app(state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(scraperx_core::signal::shutdown_signal())
    .await?;
    flusher.abort();
    state.usage.flush(&db).await?;
    Ok(())
}

/// Creates the missing buckets and applies lifecycle and versioning, with the admin keys
/// (`S3_ADMIN_ACCESS_KEY`, else `S3_ACCESS_KEY`).
async fn prepare_buckets(s3: &S3Config) -> anyhow::Result<()> {
    let store = content::ContentStore::new(s3);
    for setup in content::ensure_buckets(store.client())
        .await
        .context("preparing the MinIO buckets")?
    {
        tracing::info!(
            bucket = setup.bucket.name(),
            created = setup.created,
            versioned = setup.versioned,
            transition = setup.transition_applied,
            "bucket ready"
        );
    }
    Ok(())
}

/// Creates the organization when missing and prints a fresh API key for it.
async fn bootstrap(db: &Db, slug: &str) -> anyhow::Result<()> {
    let org = match db.get_organization_by_slug(slug).await {
        Ok(org) => org,
        Err(scraperx_core::Error::NotFound { .. }) => {
            let mut new = NewOrganization::new(
                &format!("{slug} organization"),
                slug,
                &format!("admin@{slug}.local"),
            );
            new.credits_balance = DEMO_CREDITS;
            db.create_organization(&new)
                .await
                .context("creating the organization")?
        }
        Err(err) => return Err(err).context("looking up the organization"),
    };
    let (key, secret) = db
        .create_api_key(org.id, &NewApiKey::named("bootstrap"))
        .await
        .context("creating the API key")?;
    println!("organization: {} ({})", org.slug, org.id);
    println!("credits:      {}", db.credit_balance(org.id).await?);
    println!("api key id:   {}", key.id);
    println!("api key:      {}", secret.expose());
    println!("(the key is shown once; only its SHA-256 is stored)");
    Ok(())
}

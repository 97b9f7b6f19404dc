//! `scraperx-api`: the customer REST API, and the administrative commands the set-up needs:
//!
//!   scraperx-api serve                 serve the API on SCRX_API_ADDR (default 0.0.0.0:8080)
//!   scraperx-api migrate               apply the schema migrations and create the MinIO
//!                                      buckets with their lifecycle rules (idempotent)
//!   scraperx-api bootstrap [SLUG]      migrate, then create (or reuse) an organization and
//!                                      print a new API key for it, once

use anyhow::{Context, bail};
use scraperx_api::{AppState, Services, config::ApiConfig};
use scraperx_core::{
    config::{PgConfig, RedisConfig, S3Config},
    content, hot,
    pg::{Db, NewApiKey, NewOrganization},
};

const DEFAULT_DEMO_SLUG: &str = "demo";
const DEMO_CREDITS: i64 = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scraperx_core::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let db = Db::connect(&PgConfig::from_env()?)
        .await
        .context("connecting to PostgreSQL")?;
    match args.first().map(String::as_str) {
        Some("serve") => serve(db).await?,
        Some("migrate") => {
            db.migrate().await.context("applying migrations")?;
            tracing::info!("schema up to date");
            prepare_buckets().await?;
        }
        Some("bootstrap") => {
            db.migrate().await.context("applying migrations")?;
            prepare_buckets().await?;
            let slug = args.get(1).map_or(DEFAULT_DEMO_SLUG, String::as_str);
            bootstrap(&db, slug).await?;
        }
        other => {
            bail!("unknown command {other:?}; expected `serve`, `migrate` or `bootstrap [SLUG]`")
        }
    }
    Ok(())
}

/// Serves the API until SIGTERM or Ctrl-C, then finishes in-flight requests and writes the
/// pending key usage.
async fn serve(db: Db) -> anyhow::Result<()> {
    let config = ApiConfig::from_env()?;
    let redis_config = RedisConfig::from_env();
    let redis = hot::connect(&redis_config)
        .await
        .context("connecting to Redis")?;
    let state = AppState::new(
        config.clone(),
        Services {
            db: db.clone(),
            redis,
            redis_config,
            content: content::ContentStore::new(&S3Config::from_env()?),
            ttl: hot::TtlConfig::from_env()?,
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
async fn prepare_buckets() -> anyhow::Result<()> {
    let store = content::ContentStore::new(&S3Config::from_env_for_role("ADMIN")?);
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

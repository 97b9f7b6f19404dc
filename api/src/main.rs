//! `scraperx-api`: the customer REST API. Until the HTTP server lands (issue: the customer
//! REST API) it carries the administrative commands the set-up needs:
//!
//!   scraperx-api migrate               apply the schema migrations and create the MinIO
//!                                      buckets with their lifecycle rules (idempotent)
//!   scraperx-api bootstrap [SLUG]      migrate, then create (or reuse) an organization and
//!                                      print a new API key for it, once

use anyhow::{Context, bail};
use scraperx_core::{
    config::{PgConfig, S3Config},
    content,
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
        other => bail!("unknown command {other:?}; expected `migrate` or `bootstrap [SLUG]`"),
    }
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

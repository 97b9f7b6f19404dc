//! The PostgreSQL repository. [`Db`] wraps a pool; each submodule adds the queries of one
//! aggregate. Every query that reads or changes customer data is scoped by organization.

mod api_keys;
mod batches;
mod billing;
mod completion;
mod crawls;
mod credits;
mod domains;
mod events;
mod fingerprints;
mod jobs;
mod maintenance;
mod new_job;
mod object_deletions;
mod organizations;
mod proxies;
mod results;
mod sweep;
mod webhooks;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{Result, config::PgConfig};

pub use api_keys::{ApiKey, ApiKeyAuth, NewApiKey};
pub use batches::BatchCounts;
pub use billing::{Invoice, UsageRecord};
pub use crawls::{
    CANONICAL_RULE, Claimed, Crawl, CrawlPage, NewCrawl, NewPage, PageCursor, PageRow,
    PageTemplate, Recovery, page_idempotency_key,
};
pub use credits::Settlement;
pub use domains::{DomainIntel, DomainOutcome};
pub use events::{JobEvent, NewJobEvent};
pub use fingerprints::FingerprintRow;
pub use jobs::{Job, JobCursor, JobFilter, JobPage, StatusChange, Submission};
pub use maintenance::{RetentionSummary, UsageSummary};
pub use new_job::NewJob;
pub use object_deletions::ObjectDeletion;
pub use organizations::{NewOrganization, NewUser, Organization, User};
pub use proxies::{NewProxyProvider, PROBE_AFTER_SECS, ProxyProvider, ProxyUse, UNHEALTHY_AFTER};
pub use results::{CacheMatch, JobResult, NewJobResult};
pub use sweep::{SweepRow, SweepState};
pub use webhooks::{
    DEFAULT_ROTATION_OVERLAP, MAX_CONCURRENT_DELIVERIES_PER_ORG, MAX_ROTATION_OVERLAP,
    MAX_WEBHOOKS_PER_ORG, ResealReport, WEBHOOK_EVENTS, Webhook, WebhookSettings, WebhookTarget,
};

/// The schema, embedded from `migrations/` at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The repository: a connection pool and the queries over it, and the key that seals the
/// secrets written with a row (a job's own webhook secret), when the component holds one.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    secrets: Option<crate::secrets::SecretBox>,
}

impl Db {
    /// Connects with the configured pool settings.
    pub async fn connect(config: &PgConfig) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect(&config.url)
            .await?;
        Ok(Self {
            pool,
            secrets: None,
        })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            secrets: None,
        }
    }

    /// The same repository, sealing and opening row secrets with `secrets` (the component's
    /// `SCRX_SECRETS_KEY`); without one, a job with its own webhook secret is refused.
    pub fn with_secrets(mut self, secrets: Option<crate::secrets::SecretBox>) -> Self {
        self.secrets = secrets;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies any migration not yet applied; a no-op on an up-to-date database.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Versions of the migrations this build embeds that the database has not applied:
    /// empty when the schema is current. Fails when the database was never migrated.
    pub async fn missing_migrations(&self) -> Result<Vec<i64>> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        Ok(MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

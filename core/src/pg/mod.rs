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
mod scrape_request;
pub mod sql;
mod sweep;
mod webhooks;

use sqlx::{
    Connection,
    postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions},
};

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
pub use new_job::{NewJob, check_batch_size};
pub use object_deletions::ObjectDeletion;
pub use organizations::{NewOrganization, NewUser, Organization, User};
pub use proxies::{NewProxyProvider, PROBE_AFTER_SECS, ProxyProvider, ProxyUse, UNHEALTHY_AFTER};
pub use results::{CacheMatch, JobResult, NewJobResult};
pub use scrape_request::ScrapeRequest;
pub use sql::{Exec, PoolMode};
pub use sweep::{SweepRow, SweepState};
pub use webhooks::{
    DEFAULT_ROTATION_OVERLAP, MAX_CONCURRENT_DELIVERIES_PER_ORG, MAX_ROTATION_OVERLAP,
    MAX_WEBHOOKS_PER_ORG, ResealReport, WEBHOOK_EVENTS, Webhook, WebhookSettings, WebhookTarget,
};

/// The schema, embedded from `migrations/` at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The repository: a connection pool and the queries over it, and the key that seals the
/// secrets written with a row (a job's or a crawl's webhook secret), when the component holds
/// one. Through a transaction pooler it also keeps the direct address, for what needs a
/// session (migrations' lock).
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    mode: PoolMode,
    direct: Option<PgConnectOptions>,
    secrets: Option<crate::secrets::SecretBox>,
}

impl Db {
    /// Connects with the configured pool settings. With a direct URL, `url` is taken for a
    /// transaction pooler: statements are unnamed and wrapped (see [`sql`]).
    pub async fn connect(config: &PgConfig) -> Result<Self> {
        let mode = PoolMode::of(config.direct_url.as_deref());
        let mut options: PgConnectOptions = config.url.parse()?;
        if !mode.names_statements() {
            options = options.statement_cache_capacity(0);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        let direct = match &config.direct_url {
            Some(url) => Some(url.parse()?),
            None => None,
        };
        sql::use_mode(mode);
        Ok(Self {
            pool,
            mode,
            direct,
            secrets: None,
        })
    }

    /// A repository over a pool that reaches PostgreSQL directly.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            mode: PoolMode::Session,
            direct: None,
            secrets: None,
        }
    }

    /// The same repository, sealing and opening row secrets with `secrets` (the component's
    /// `SCRX_SECRETS_KEY`); without one, a job with its own webhook secret is refused.
    pub fn with_secrets(mut self, secrets: Option<crate::secrets::SecretBox>) -> Self {
        self.secrets = secrets;
        self
    }

    /// A repository over a pool that goes through a transaction pooler, `direct` being
    /// the database itself.
    pub fn behind_pooler(pool: PgPool, direct: PgConnectOptions) -> Self {
        sql::use_mode(PoolMode::Transaction);
        Self {
            pool,
            mode: PoolMode::Transaction,
            direct: Some(direct),
            secrets: None,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    /// The pool as an executor of single statements, in the pool's mode.
    pub fn exec(&self) -> Exec<'_> {
        Exec {
            pool: &self.pool,
            mode: self.mode,
        }
    }

    /// Applies any migration not yet applied; a no-op on an up-to-date database. The
    /// migrator holds a session-level advisory lock, so behind a pooler it runs on a
    /// connection of its own to the direct URL.
    pub async fn migrate(&self) -> Result<()> {
        match &self.direct {
            Some(direct) => {
                let mut conn = PgConnection::connect_with(direct).await?;
                MIGRATOR.run(&mut conn).await?;
                conn.close().await?;
            }
            None => MIGRATOR.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Versions of the migrations this build embeds that the database has not applied:
    /// empty when the schema is current. Fails when the database was never migrated.
    pub async fn missing_migrations(&self) -> Result<Vec<i64>> {
        let applied: Vec<i64> =
            sql::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(self.exec())
                .await?;
        Ok(MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sql::query("SELECT 1").execute(self.exec()).await?;
        Ok(())
    }
}

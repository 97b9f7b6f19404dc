//! Crawls: the crawl row (its options, the template of its pages' jobs, its typed status
//! moved only by [`Db::move_crawl`], whose guard is [`CrawlStatus::sources`]) and its
//! frontier ([`frontier`]). A crawl's id is also the batch id of its pages' jobs.

mod frontier;
mod pages;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use super::{Db, NewJob};
use crate::{
    Error, Result,
    domain::{
        ApiKeyId, BatchId, CrawlId, Engine, ExtractRule, HttpMethod, JobOptions, OrgId, ProxyTier,
        RequestHeaders,
        crawl::{CrawlOptions, CrawlReason, CrawlStatus, normalize},
    },
    secrets::Binding,
};

pub use frontier::{Claimed, NewPage, Recovery};
pub use pages::{CrawlPage, PageCursor, PageRow};

/// The extraction rule a crawl adds to its pages' jobs: the page's `<link rel=canonical>`,
/// read back from `extracted_data` when the page is expanded.
pub const CANONICAL_RULE: &str = "crawl_canonical";

/// What every page of a crawl is scraped with (`crawls.page`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageTemplate {
    pub engine: Engine,
    pub options: JobOptions,
    pub proxy_tier: ProxyTier,
    pub proxy_country: Option<String>,
    pub headers: RequestHeaders,
    pub priority: i32,
    pub max_attempts: i32,
    /// Each page's own webhook (its job's `webhook_url`).
    pub webhook_url: Option<String>,
    /// Fields added to each page's job metadata (the formats a Firecrawl crawl asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Default for PageTemplate {
    fn default() -> Self {
        let job = NewJob::get("http://x.invalid/");
        Self {
            engine: job.engine,
            options: job.options,
            proxy_tier: job.proxy_tier,
            proxy_country: None,
            headers: RequestHeaders::default(),
            priority: job.priority,
            max_attempts: job.max_attempts,
            webhook_url: None,
            metadata: None,
        }
    }
}

impl PageTemplate {
    /// What every page of a crawl is scraped with, from a checked job for its start page.
    pub fn from_job(job: NewJob) -> Self {
        Self {
            engine: job.engine,
            options: job.options,
            proxy_tier: job.proxy_tier,
            proxy_country: job.proxy_country,
            headers: job.headers,
            priority: job.priority,
            max_attempts: job.max_attempts,
            webhook_url: job.webhook_url,
            metadata: None,
        }
    }

    /// The job of the page at `url`, whose idempotency key makes its submission safe to
    /// repeat: a page gets one job whatever crashes in between.
    pub fn job(&self, crawl: CrawlId, page_id: i64, url: &str) -> NewJob {
        let mut options = self.options.clone();
        options.extract.get_or_insert_with(BTreeMap::new).insert(
            CANONICAL_RULE.to_owned(),
            ExtractRule {
                selector: "link[rel=canonical]".to_owned(),
                attribute: Some("href".to_owned()),
                all: false,
            },
        );
        NewJob {
            url: url.to_owned(),
            method: HttpMethod::Get,
            headers: self.headers.clone(),
            body: None,
            engine: self.engine,
            options,
            proxy_tier: self.proxy_tier,
            proxy_country: self.proxy_country.clone(),
            proxy_session_id: None,
            priority: self.priority,
            max_attempts: self.max_attempts,
            webhook_url: self.webhook_url.clone(),
            webhook_secret: None,
            client_reference: None,
            idempotency_key: Some(page_idempotency_key(crawl, page_id)),
            metadata: self.page_metadata(crawl, page_id),
        }
    }

    /// A page's job metadata: the template's fields, then its crawl and page.
    fn page_metadata(&self, crawl: CrawlId, page_id: i64) -> serde_json::Value {
        let mut m = self.metadata.clone().unwrap_or_default();
        m.insert("crawl_id".into(), serde_json::json!(crawl));
        m.insert("crawl_page".into(), serde_json::json!(page_id));
        serde_json::Value::Object(m)
    }
}

/// The idempotency key of a page's job.
pub fn page_idempotency_key(crawl: CrawlId, page_id: i64) -> String {
    format!("crawl:{}:{page_id}", crawl.as_uuid().simple())
}

/// A crawl to create.
#[derive(Debug, Clone)]
pub struct NewCrawl {
    pub url: String,
    pub options: CrawlOptions,
    pub page: PageTemplate,
    /// Called once when the crawl ends.
    pub webhook_url: Option<String>,
    /// Signs the crawl's end and every page's delivery; sealed at rest.
    pub webhook_secret: Option<String>,
}

impl NewCrawl {
    /// The options' ranges and patterns, and the start page as a job would be checked.
    pub fn validate(&self) -> Result<()> {
        self.options.validate()?;
        let mut job = self.page.job(CrawlId::new(), 0, &self.url);
        job.webhook_url = self.webhook_url.clone().or(job.webhook_url);
        job.webhook_secret = self.webhook_secret.clone();
        job.validate()?;
        if self
            .page
            .options
            .extract
            .as_ref()
            .is_some_and(|r| r.contains_key(CANONICAL_RULE))
        {
            return Err(Error::validation(
                "extract",
                format!("the rule name {CANONICAL_RULE} is the crawl's own"),
            ));
        }
        Ok(())
    }
}

/// A stored crawl.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Crawl {
    pub id: CrawlId,
    pub organization_id: OrgId,
    pub api_key_id: Option<ApiKeyId>,
    pub url: String,
    pub options: Json<CrawlOptions>,
    pub page: Json<PageTemplate>,
    pub status: CrawlStatus,
    pub status_reason: Option<CrawlReason>,
    pub webhook_url: Option<String>,
    pub sitemaps_read_at: Option<DateTime<Utc>>,
    pub next_submit_at: Option<DateTime<Utc>>,
    pub announced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Crawl {
    /// The batch its pages' jobs belong to.
    pub fn batch(&self) -> BatchId {
        BatchId(self.id.as_uuid())
    }

    pub fn start_url(&self) -> Result<url::Url> {
        url::Url::parse(&self.url).map_err(|e| Error::validation("url", e.to_string()))
    }
}

pub(crate) const CRAWL_COLUMNS: &str = "id, organization_id, api_key_id, url, options, page, \
    status, status_reason, webhook_url, sitemaps_read_at, next_submit_at, announced_at, \
    created_at, updated_at, finished_at";

/// The SHA-256 of a URL key, which the frontier's uniqueness is on.
pub(crate) fn key_digest(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

impl Db {
    /// Stores a crawl, running, with its start page waiting in its frontier, in one
    /// transaction. The caller then submits the start page ([`crate::crawl::top_up`]).
    pub async fn create_crawl(
        &self,
        org: OrgId,
        api_key: Option<ApiKeyId>,
        new: &NewCrawl,
    ) -> Result<Crawl> {
        self.create_crawl_as(CrawlId(uuid::Uuid::now_v7()), org, api_key, new)
            .await
    }

    /// [`Db::create_crawl`] under an id the caller derives (the operator's, from its
    /// resource's UID): a second creation under the same id is a conflict
    /// (`crawls_pkey`), never a second crawl.
    pub async fn create_crawl_as(
        &self,
        id: CrawlId,
        org: OrgId,
        api_key: Option<ApiKeyId>,
        new: &NewCrawl,
    ) -> Result<Crawl> {
        new.validate()?;
        let start = url::Url::parse(&new.url)
            .ok()
            .and_then(|u| normalize(&u, new.options.ignore_query))
            .ok_or_else(|| Error::validation("url", "must be an http or https URL with a host"))?;
        let options = serde_json::to_value(&new.options)
            .map_err(|e| Error::validation("options", e.to_string()))?;
        let page = serde_json::to_value(&new.page)
            .map_err(|e| Error::validation("page", e.to_string()))?;
        let secret = new
            .webhook_secret
            .as_ref()
            .map(|s| {
                self.secret_box("a crawl's webhook secret")?
                    .seal(s.as_bytes(), &Binding::crawl(id))
            })
            .transpose()?;
        let mut tx = self.pool.begin().await?;
        let crawl: Crawl = crate::pg::sql::query_as(&format!(
            "INSERT INTO crawls (id, organization_id, api_key_id, url, options, page, webhook_url, \
                 webhook_secret_sealed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CRAWL_COLUMNS}"
        ))
        .bind(id)
        .bind(org)
        .bind(api_key)
        .bind(&new.url)
        .bind(&options)
        .bind(&page)
        .bind(&new.webhook_url)
        .bind(&secret)
        .fetch_one(&mut *tx)
        .await?;
        crate::pg::sql::query(
            "INSERT INTO crawl_pages (crawl_id, url, url_key, url_key_sha256, depth, source) \
             VALUES ($1, $2, $3, $4, 0, 'start')",
        )
        .bind(crawl.id)
        .bind(&new.url)
        .bind(start.as_str())
        .bind(key_digest(start.as_str()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(crawl)
    }

    /// The organization's crawl.
    pub async fn get_crawl(&self, org: OrgId, id: CrawlId) -> Result<Crawl> {
        crate::pg::sql::query_as(&format!(
            "SELECT {CRAWL_COLUMNS} FROM crawls WHERE id = $1 AND organization_id = $2"
        ))
        .bind(id)
        .bind(org)
        .fetch_optional(self.exec())
        .await?
        .ok_or(Error::NotFound { entity: "crawl" })
    }

    /// A crawl by id alone (workers and the sweep, which act for every organization).
    pub async fn get_crawl_unscoped(&self, id: CrawlId) -> Result<Crawl> {
        crate::pg::sql::query_as(&format!("SELECT {CRAWL_COLUMNS} FROM crawls WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound { entity: "crawl" })
    }

    /// The organization's crawls, newest first, `limit` after the crawl `before` (a
    /// previous page's last id).
    pub async fn list_crawls(
        &self,
        org: OrgId,
        before: Option<CrawlId>,
        limit: i64,
    ) -> Result<Vec<Crawl>> {
        Ok(crate::pg::sql::query_as(&format!(
            "SELECT {CRAWL_COLUMNS} FROM crawls WHERE organization_id = $1 \
               AND ($2::uuid IS NULL OR (created_at, id) < \
                    (SELECT created_at, id FROM crawls WHERE id = $2 AND organization_id = $1)) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(org)
        .bind(before)
        .bind(limit)
        .fetch_all(self.exec())
        .await?)
    }

    /// Moves a crawl to `to` (with `reason`), when [`CrawlStatus::can_transition_to`]
    /// allows it from where it is; a final state sets `finished_at`. A crawl in another
    /// state is a conflict (`crawls_valid_transition`).
    pub async fn move_crawl(
        &self,
        id: CrawlId,
        to: CrawlStatus,
        reason: Option<CrawlReason>,
    ) -> Result<Crawl> {
        crate::pg::sql::query_as(&format!(
            "UPDATE crawls SET status = $2, status_reason = COALESCE($3, status_reason), \
                 finished_at = CASE WHEN $4 THEN NOW() ELSE finished_at END \
             WHERE id = $1 AND status = ANY($5) RETURNING {CRAWL_COLUMNS}"
        ))
        .bind(id)
        .bind(to)
        .bind(reason)
        .bind(to.is_terminal())
        .bind(to.sources())
        .fetch_optional(self.exec())
        .await?
        .ok_or(Error::Conflict {
            constraint: "crawls_valid_transition".into(),
        })
    }

    /// Active crawls (running), oldest first: the sweep tops each one up.
    pub async fn running_crawls(&self, limit: i64) -> Result<Vec<CrawlId>> {
        Ok(crate::pg::sql::query_scalar(
            "SELECT id FROM crawls WHERE status = 'running' ORDER BY created_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.exec())
        .await?)
    }

    /// Ended crawls whose completion webhook is still to be queued.
    pub async fn unannounced_crawls(&self, limit: i64) -> Result<Vec<Crawl>> {
        Ok(crate::pg::sql::query_as(&format!(
            "SELECT {CRAWL_COLUMNS} FROM crawls \
             WHERE finished_at IS NOT NULL AND announced_at IS NULL AND webhook_url IS NOT NULL \
             ORDER BY finished_at LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.exec())
        .await?)
    }

    /// The job of the crawl's start page, once it has one.
    pub async fn start_page_job(&self, id: CrawlId) -> Result<Option<crate::domain::JobId>> {
        Ok(crate::pg::sql::query_scalar(
            "SELECT job_id FROM crawl_pages WHERE crawl_id = $1 AND source = 'start'",
        )
        .bind(id)
        .fetch_optional(self.exec())
        .await?
        .flatten())
    }

    /// Records that the crawl's completion webhook was queued.
    pub async fn mark_crawl_announced(&self, id: CrawlId) -> Result<()> {
        crate::pg::sql::query("UPDATE crawls SET announced_at = NOW() WHERE id = $1")
            .bind(id)
            .execute(self.exec())
            .await?;
        Ok(())
    }
}

//! A crawl's part in the worker: when a page's job reaches a final state, the page is
//! expanded (its links, already extracted with the page, are turned into frontier pages:
//! core's pure candidates, then robots.txt and the address rule, which need the network)
//! and the crawl topped up (core's [`crawl::top_up`]). The start page's expansion also reads
//! the site's sitemaps ([`sitemaps`]).
//!
//! Invariant: expanding is idempotent (the page moves `submitted → done` in the same
//! transaction that adds its links) and may be interrupted anywhere: a page whose job
//! finished and whose expansion did not commit is found by [`Crawler::sweep`] and expanded
//! then, so a worker killed between the two loses nothing and adds nothing twice.

mod sitemaps;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use scraperx_core::{
    Error,
    crawl::{self, Repair},
    dispatch::QueueSet,
    domain::{
        BatchId, CrawlId, JobStatus,
        crawl::{PageSource, Scope, SitemapMode, SkipReason, links},
    },
    net::{Unreachable, resolve_public},
    pg::{CANONICAL_RULE, Crawl, Db, Job, NewPage},
};
use url::Url;

use crate::{fetch::http::HttpFetcher, politeness::Politeness};

/// Submitted pages untouched for this long are looked at again by the sweep.
pub const RECOVER_AFTER: Duration = Duration::from_secs(10);
/// Hosts whose address verdict is remembered, at most (then the memory starts over).
const ADDRESS_MEMORY: usize = 4_096;

/// What a crawl's end webhook carries.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CrawlEnded {
    pub id: CrawlId,
    pub url: String,
    pub status: scraperx_core::domain::crawl::CrawlStatus,
    pub status_reason: Option<scraperx_core::domain::crawl::CrawlReason>,
    pub discovered: i64,
    pub done: i64,
    pub skipped: i64,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Where it is sent (the crawl's `webhook_url`).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub webhook_url: String,
}

/// Expands crawl pages and tops crawls up.
#[derive(Clone)]
pub struct Crawler {
    db: Db,
    queues: QueueSet,
    http: HttpFetcher,
    politeness: Politeness,
    allow_private: bool,
    /// host:port → whether a crawl may follow a link there (the address rule).
    addresses: Arc<Mutex<HashMap<String, bool>>>,
}

impl Crawler {
    pub fn new(
        db: Db,
        queues: QueueSet,
        http: HttpFetcher,
        politeness: Politeness,
        allow_private: bool,
    ) -> Self {
        Self {
            db,
            queues,
            http,
            politeness,
            allow_private,
            addresses: Arc::default(),
        }
    }

    /// Called after every final move of a job: a crawl page is expanded and its crawl
    /// topped up. Failures are logged; the sweep does it again.
    pub async fn page_finished(&self, job: &Job) {
        let Some(batch) = job.batch_id else { return };
        if !job.is_final() {
            return;
        }
        if let Err(err) = self.expand_and_top_up(batch, job).await {
            tracing::warn!(job = %job.id, error = %err, "crawl page not expanded; the sweep will");
        }
    }

    async fn expand_and_top_up(&self, batch: BatchId, job: &Job) -> scraperx_core::Result<()> {
        let crawl = match self.db.get_crawl_unscoped(CrawlId(batch.as_uuid())).await {
            Ok(crawl) => crawl,
            // An ordinary batch.
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.expand(&crawl, job).await?;
        crawl::top_up(&self.db, &self.queues, crawl.id).await?;
        Ok(())
    }

    /// Adds the page's links to the frontier (and, for the start page, the sitemaps'
    /// pages), then marks it done; a page expanded before is left alone.
    async fn expand(&self, crawl: &Crawl, job: &Job) -> scraperx_core::Result<()> {
        let Some(depth) = self.db.unexpanded_page_depth(crawl.id, job.id).await? else {
            return Ok(());
        };
        let found = if job.status == JobStatus::Completed {
            self.links_of(crawl, job, depth).await?
        } else {
            Vec::new()
        };
        let start = depth == 0 && crawl.sitemaps_read_at.is_none();
        if start && crawl.options.0.sitemap != SitemapMode::Skip {
            let pages = sitemaps::pages(self, crawl).await;
            let pages = self.admissible(crawl, pages, 1, PageSource::Sitemap).await;
            self.db.seed_sitemap_pages(crawl.id, &pages).await?;
        }
        self.db.expand_page(crawl.id, job.id, &found).await?;
        Ok(())
    }

    /// The pages a completed page adds: its final URL and canonical URL first, as
    /// duplicates of itself (never scraped again), then its links, unless the crawl reads
    /// sitemaps only.
    async fn links_of(
        &self,
        crawl: &Crawl,
        job: &Job,
        depth: i32,
    ) -> scraperx_core::Result<Vec<NewPage>> {
        let result = match self.db.get_result(job.organization_id, job.id).await {
            Ok(r) => r,
            Err(Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let options = &crawl.options.0;
        let mut found = Vec::new();
        let canonical = result
            .extracted_data
            .as_ref()
            .and_then(|d| d.0.get(CANONICAL_RULE))
            .and_then(|v| v.as_str())
            .and_then(|href| {
                Url::parse(result.final_url.as_deref().unwrap_or(&job.url))
                    .ok()?
                    .join(href)
                    .ok()
            });
        let aliases = [result.final_url.clone(), canonical.map(String::from)];
        for alias in aliases.into_iter().flatten() {
            if let Some(c) = links::candidate(&alias, options) {
                found.push(NewPage {
                    url: c.url.into(),
                    key: c.key,
                    depth,
                    source: PageSource::Link,
                    skip: Some(SkipReason::Duplicate),
                });
            }
        }
        if options.sitemap == SitemapMode::Only {
            return Ok(found);
        }
        let hrefs: Vec<String> = result
            .extracted_links
            .as_ref()
            .and_then(|l| serde_json::from_value(l.0.clone()).ok())
            .unwrap_or_default();
        let scope = Scope::new(&crawl.start_url()?, options)?;
        let candidates = links::candidates(&hrefs, depth, &scope, options);
        found.extend(
            self.admissible(crawl, candidates, depth + 1, PageSource::Link)
                .await,
        );
        Ok(found)
    }

    /// The candidates as frontier pages, those the address rule or robots.txt refuse
    /// marked skipped with their reason.
    async fn admissible(
        &self,
        crawl: &Crawl,
        candidates: Vec<links::Candidate>,
        depth: i32,
        source: PageSource,
    ) -> Vec<NewPage> {
        let start_host = crawl
            .start_url()
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        let mut pages = Vec::with_capacity(candidates.len());
        for c in candidates {
            let skip = if !self.address_allowed(&c.url, start_host.as_deref()).await {
                Some(SkipReason::PrivateAddress)
            } else if !crawl.options.0.ignore_robots_txt
                && self.politeness.robots_disallow(&c.url, &self.http).await
            {
                Some(SkipReason::Robots)
            } else {
                None
            };
            pages.push(NewPage {
                url: c.url.into(),
                key: c.key,
                depth,
                source,
                skip,
            });
        }
        pages
    }

    /// The address rule for links: a host that is, or resolves to, a private, loopback or
    /// link-local address is refused. A deployment allowing private targets lets a crawl
    /// reach its own start host there, never another private host a page points to. A
    /// name that does not resolve is let through (its job fails with the DNS error).
    async fn address_allowed(&self, url: &Url, start_host: Option<&str>) -> bool {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        let allow = self.allow_private && Some(host) == start_host;
        let memo = format!("{host}:{port}:{allow}");
        if let Some(&known) = self
            .addresses
            .lock()
            .ok()
            .and_then(|m| m.get(&memo).copied())
            .as_ref()
        {
            return known;
        }
        let allowed = !matches!(
            resolve_public(host, port, allow).await,
            Err(Unreachable::NotPublic { .. })
        );
        if let Ok(mut m) = self.addresses.lock() {
            if m.len() >= ADDRESS_MEMORY {
                m.clear();
            }
            m.insert(memo, allowed);
        }
        allowed
    }

    /// The sweep's part for crawls (run by the worker holding the sweep lock): pages a crash
    /// left half-way are repaired (jobs created or queued, finished pages expanded), then
    /// every running crawl is topped up (or ended when its frontier is exhausted).
    pub async fn sweep(&self) -> scraperx_core::Result<()> {
        for r in self.db.pages_to_recover(RECOVER_AFTER, 500).await? {
            match crawl::recover(&self.db, &self.queues, &r).await? {
                Repair::Expand => {
                    if let Some(job) = r.job_id {
                        let job = self.db.get_job_unscoped(job).await?;
                        let crawl = self.db.get_crawl_unscoped(r.crawl_id).await?;
                        self.expand(&crawl, &job).await?;
                    }
                }
                Repair::Submitted | Repair::Dispatched => {}
            }
        }
        for id in self.db.running_crawls(1_000).await? {
            crawl::top_up(&self.db, &self.queues, id).await?;
        }
        for ended in self.db.unannounced_crawls(100).await? {
            self.announce(&ended).await?;
        }
        Ok(())
    }

    /// Queues the webhook of a crawl that ended (`crawl.completed`, `crawl.failed` or
    /// `crawl.canceled`) on the webhooks queue, once: its delivery id is fixed by the crawl,
    /// so announcing again queues nothing new. A crawl whose start page never got a job (no
    /// credits at creation) has nothing to deliver it with and is only marked.
    async fn announce(&self, c: &Crawl) -> scraperx_core::Result<()> {
        let (Some(url), Some(start)) = (&c.webhook_url, self.db.start_page_job(c.id).await?) else {
            return self.db.mark_crawl_announced(c.id).await;
        };
        let event = format!("crawl.{}", c.status);
        let counts = self.db.frontier_counts(c.id).await?;
        let d = crate::webhooks::Delivery {
            id: uuid::Uuid::new_v5(&c.id.as_uuid(), event.as_bytes()),
            event,
            job_id: start,
            webhook_id: None,
            created_at: chrono::Utc::now(),
            crawl: Some(CrawlEnded {
                id: c.id,
                url: c.url.clone(),
                status: c.status,
                status_reason: c.status_reason,
                discovered: counts.discovered,
                done: counts.done,
                skipped: counts.skipped,
                finished_at: c.finished_at,
                webhook_url: url.clone(),
            }),
        };
        let payload = serde_json::to_string(&d).unwrap_or_default();
        self.queues
            .webhooks()
            .enqueue(&d.id.to_string(), &payload, 5, Duration::ZERO)
            .await?;
        self.db.mark_crawl_announced(c.id).await
    }
}

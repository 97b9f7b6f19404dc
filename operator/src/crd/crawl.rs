//! [`ScrapeCrawl`]: a crawl from a start URL, as a resource. Its own kind, not a section of
//! ScrapeBatch: a batch is a fixed list of URLs whose jobs exist from the start, a crawl an
//! open-ended frontier its workers grow (counts of pages discovered rather than a total).
//! Invariant: the crawl options are core's (`CrawlOptions`, camel-cased), with core's limits
//! as schema bounds, and the page options ScrapeBatch's ([`BatchOptions`]), so both kinds
//! scrape a page alike; what the API server cannot judge, core's `validate` does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use scraperx_core::{
    domain::{
        Engine,
        crawl::{CrawlOptions, SitemapMode},
    },
    pg::NewJob,
};
use serde::{Deserialize, Serialize};

use super::{BatchOptions, SecretKeyRef};
use crate::rules;

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "scraperx.io",
    version = "v1alpha1",
    kind = "ScrapeCrawl",
    namespaced,
    status = "ScrapeCrawlStatus",
    shortname = "sc",
    category = "scraperx",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Discovered","type":"integer","jsonPath":".status.discovered"}"#,
    printcolumn = r#"{"name":"Completed","type":"integer","jsonPath":".status.completed"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.reason","priority":1}"#,
    printcolumn = r#"{"name":"Crawl","type":"string","jsonPath":".status.crawlId","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::scrape_crawl)]
pub struct ScrapeCrawlSpec {
    /// Where the crawl starts (http or https).
    #[schemars(length(min = 1, max = NewJob::MAX_URL_LEN), pattern(rules::HTTP_URL))]
    pub url: String,
    /// The organization, by a Secret holding one of its API keys.
    pub organization_ref: SecretKeyRef,
    /// What the crawl follows and how fast.
    #[serde(default)]
    pub crawl: CrawlSettings,
    #[serde(default = "super::default_engine")]
    pub engine: Engine,
    /// How every page is scraped (a ScrapeBatch's options).
    #[serde(default)]
    pub options: BatchOptions,
    /// 1 (lowest) to 10 (highest).
    #[schemars(range(min = NewJob::MIN_PRIORITY, max = NewJob::MAX_PRIORITY))]
    pub priority: Option<i32>,
    /// Called as each page finishes (http or https).
    #[schemars(length(max = NewJob::MAX_WEBHOOK_URL_LEN), pattern(rules::HTTP_URL))]
    pub webhook: Option<String>,
    /// Attempts per page before it fails.
    #[schemars(range(min = 1, max = NewJob::MAX_ATTEMPTS))]
    pub max_attempts: Option<i32>,
    /// Pause the crawl: pages submitted finish, no new page starts until this is cleared.
    #[serde(default)]
    pub suspend: bool,
    /// Fail the crawl (canceling it) this long after it started.
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// Delete the resource this long after the crawl finished.
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// Core's crawl options, camel-cased; an absent bound is core's default.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrawlSettings {
    /// Links followed from the start page, at most (0: the start page alone; default 10).
    #[schemars(range(max = CrawlOptions::MAX_DEPTH))]
    pub max_depth: Option<u32>,
    /// Pages scraped, at most (default 1,000).
    #[schemars(range(min = 1, max = CrawlOptions::MAX_LIMIT))]
    pub limit: Option<u32>,
    /// Regexes: when any is given, a link is followed only when one matches its path (or
    /// its full URL with matchFullUrl).
    #[serde(default)]
    #[schemars(
        length(max = CrawlOptions::MAX_PATTERNS),
        inner(length(min = 1, max = CrawlOptions::MAX_PATTERN_LEN))
    )]
    pub include_paths: Vec<String>,
    /// Regexes: a link matching any is not followed.
    #[serde(default)]
    #[schemars(
        length(max = CrawlOptions::MAX_PATTERNS),
        inner(length(min = 1, max = CrawlOptions::MAX_PATTERN_LEN))
    )]
    pub exclude_paths: Vec<String>,
    /// Match includePaths and excludePaths against the full URL instead of the path.
    #[serde(default)]
    pub match_full_url: bool,
    /// Follow links to subdomains of the start host.
    #[serde(default)]
    pub allow_subdomains: bool,
    /// Follow links to other hosts.
    #[serde(default)]
    pub allow_external_links: bool,
    /// Treat URLs differing only in their query as one page.
    #[serde(default)]
    pub ignore_query: bool,
    /// Sitemaps (robots.txt `Sitemap:` lines and /sitemap.xml): skip, include or only.
    #[serde(default)]
    pub sitemap: SitemapMode,
    /// Follow links robots.txt disallows (it is obeyed by default).
    #[serde(default)]
    pub ignore_robots_txt: bool,
    /// Pages of this crawl scraped at once, at most (default 10).
    #[schemars(range(min = 1, max = CrawlOptions::MAX_CONCURRENCY))]
    pub max_concurrency: Option<u32>,
    /// Milliseconds between two page submissions (one page at a time while set).
    #[schemars(range(max = CrawlOptions::MAX_DELAY_MS))]
    pub delay_ms: Option<u32>,
}

impl CrawlSettings {
    /// Core's options: these settings over core's defaults (checked by core's `validate`).
    pub fn options(&self) -> CrawlOptions {
        let d = CrawlOptions::default();
        CrawlOptions {
            max_depth: self.max_depth.unwrap_or(d.max_depth),
            limit: self.limit.unwrap_or(d.limit),
            include_paths: self.include_paths.clone(),
            exclude_paths: self.exclude_paths.clone(),
            match_full_url: self.match_full_url,
            allow_subdomains: self.allow_subdomains,
            allow_external_links: self.allow_external_links,
            ignore_query: self.ignore_query,
            sitemap: self.sitemap,
            ignore_robots_txt: self.ignore_robots_txt,
            max_concurrency: self.max_concurrency.unwrap_or(d.max_concurrency),
            delay_ms: self.delay_ms.unwrap_or(d.delay_ms),
            ..d
        }
    }
}

/// Where a ScrapeCrawl is: Pending before its crawl exists, then its crawl's status
/// (core's `CrawlStatus`: paused is Suspended), except that a crawl canceled for the
/// deadline is Failed.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum CrawlPhase {
    #[default]
    Pending,
    Running,
    Suspended,
    Completed,
    Failed,
    Canceled,
}

impl CrawlPhase {
    pub fn is_done(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeCrawlStatus {
    pub phase: CrawlPhase,
    /// Pages found that count toward the limit.
    pub discovered: i64,
    /// Waiting for a place, or queued for a worker.
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    /// Failed or timed out.
    pub failed: i64,
    /// Found and not scraped: robots.txt, a private address, a duplicate.
    pub skipped: i64,
    /// Why the crawl ended (core's reason: frontier_exhausted, limit_reached,
    /// insufficient_credits, start_page_failed, canceled; or deadline_exceeded).
    pub reason: Option<String>,
    pub start_time: Option<Time>,
    pub completion_time: Option<Time>,
    pub crawl_id: Option<String>,
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

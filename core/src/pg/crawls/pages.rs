//! Reading a crawl's pages for its owner: the frontier joined with each page's job, in
//! keyset pages by page id (discovery order), all of them or only those that failed.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    Error, Result,
    domain::{
        CrawlId, JobId, JobStatus, OrgId,
        crawl::{PageSource, PageState, SkipReason},
    },
    pg::Db,
};

/// A page of a crawl with its job's outcome.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CrawlPage {
    pub id: i64,
    pub url: String,
    pub depth: i32,
    pub source: PageSource,
    pub state: PageState,
    pub skip_reason: Option<SkipReason>,
    pub job_id: Option<JobId>,
    pub job_status: Option<JobStatus>,
    pub status_code: Option<i32>,
    pub title: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which pages a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRow {
    /// Every page of the frontier.
    All,
    /// Pages whose job failed or timed out, and pages skipped.
    Errors,
}

/// Where a listing of pages goes on: after this page id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor(pub i64);

impl PageCursor {
    pub fn encode(self) -> String {
        format!("p{}", self.0)
    }

    pub fn decode(token: &str) -> Result<Self> {
        token
            .strip_prefix('p')
            .and_then(|n| n.parse().ok())
            .map(Self)
            .ok_or_else(|| Error::validation("cursor", "not a cursor returned by this API"))
    }
}

impl Db {
    /// Up to `limit` pages of the organization's crawl after `after`, in discovery order.
    pub async fn crawl_pages(
        &self,
        org: OrgId,
        crawl: CrawlId,
        rows: PageRow,
        after: Option<PageCursor>,
        limit: i64,
    ) -> Result<Vec<CrawlPage>> {
        let only_errors = rows == PageRow::Errors;
        Ok(crate::pg::sql::query_as(
            "SELECT p.id, p.url, p.depth, p.source, p.state, p.skip_reason, p.job_id, \
                    j.status AS job_status, r.status_code, r.extracted_title AS title, \
                    j.error_code, j.error_message, p.created_at \
             FROM crawl_pages p \
             JOIN crawls c ON c.id = p.crawl_id AND c.organization_id = $1 \
             LEFT JOIN scrape_jobs j ON j.id = p.job_id \
             LEFT JOIN job_results r ON r.id = j.result_id \
             WHERE p.crawl_id = $2 AND p.id > $3 \
               AND (NOT $4 OR p.state = 'skipped' OR j.status IN ('failed', 'timeout')) \
             ORDER BY p.id LIMIT $5",
        )
        .bind(org)
        .bind(crawl)
        .bind(after.map_or(0, |c| c.0))
        .bind(only_errors)
        .bind(limit)
        .fetch_all(self.exec())
        .await?)
    }
}

//! The status of a Firecrawl batch scrape or crawl (both are ScraperX batches): Firecrawl's
//! status word from ScraperX's typed states, the counts, the credits, and the completed
//! pages' documents in pages with a `next` link (carrying the public host) while more follow.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use scraperx_core::{
    domain::{BatchId, JobStatus, crawl::CrawlStatus},
    pg::{BatchCounts, JobCursor, JobFilter},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{document, llm, public_base};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Firecrawl's word for where a batch or crawl is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FcStatus {
    Scraping,
    Completed,
    Failed,
    Cancelled,
}

impl FcStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scraping => "scraping",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// A batch: scraping until every job has finished; cancelled when any was canceled.
    pub fn of_batch(c: &BatchCounts) -> Self {
        if !c.is_done() {
            Self::Scraping
        } else if c.canceled > 0 {
            Self::Cancelled
        } else {
            Self::Completed
        }
    }

    /// A crawl: its own status (a paused crawl is still scraping, for Firecrawl).
    pub fn of_crawl(s: CrawlStatus) -> Self {
        match s {
            CrawlStatus::Running | CrawlStatus::Paused => Self::Scraping,
            CrawlStatus::Completed => Self::Completed,
            CrawlStatus::Failed => Self::Failed,
            CrawlStatus::Canceled => Self::Cancelled,
        }
    }
}

/// `GET` status query: only the cursor of a `next` link.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    pub cursor: Option<String>,
}

/// What a status answer counts.
#[derive(Debug)]
pub struct Progress {
    pub status: FcStatus,
    pub total: i64,
    pub completed: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The whole status body: progress, credits, one page of documents, and `next`.
pub async fn body(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    path: &str,
    batch: BatchId,
    progress: Progress,
    q: StatusQuery,
) -> ApiResult<Value> {
    let after = q
        .cursor
        .as_deref()
        .map(JobCursor::decode)
        .transpose()
        .map_err(|_| ApiError::BadRequest("cursor: not a cursor from this API".into()))?;
    let filter = JobFilter {
        status: Some(JobStatus::Completed),
        batch_id: Some(batch),
        ..JobFilter::default()
    };
    let page = state
        .db
        .list_jobs(
            auth.org_id,
            &filter,
            after,
            state.config.firecrawl_page_size,
        )
        .await?;
    let mut data = Vec::with_capacity(page.jobs.len());
    for job in &page.jobs {
        let formats = document::formats_of(job);
        let mut doc = document::of_job(state, job, &formats).await?;
        if let Some(ask) = &formats.llm {
            llm::fill(state, job, ask, &mut doc).await?;
        }
        data.push(doc);
    }
    let next = page.next.map(|c| {
        format!(
            "{}{path}?cursor={}",
            public_base(state, headers),
            c.encode()
        )
    });
    let credits = state.db.batch_credits_charged(auth.org_id, batch).await?;
    Ok(json!({
        "status": progress.status.as_str(),
        "total": progress.total,
        "completed": progress.completed,
        "creditsUsed": credits,
        "expiresAt": progress.expires_at,
        "next": next,
        "data": data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_scraping_until_every_job_finished() {
        let mut c = BatchCounts {
            total: 2,
            completed: 1,
            running: 1,
            ..BatchCounts::default()
        };
        assert_eq!(FcStatus::of_batch(&c), FcStatus::Scraping);
        c.running = 0;
        c.failed = 1;
        assert_eq!(FcStatus::of_batch(&c), FcStatus::Completed);
        c.failed = 0;
        c.canceled = 1;
        assert_eq!(FcStatus::of_batch(&c), FcStatus::Cancelled);
    }

    #[test]
    fn a_paused_crawl_is_still_scraping_and_a_canceled_one_cancelled() {
        assert_eq!(FcStatus::of_crawl(CrawlStatus::Paused), FcStatus::Scraping);
        assert_eq!(
            FcStatus::of_crawl(CrawlStatus::Canceled).as_str(),
            "cancelled"
        );
    }
}

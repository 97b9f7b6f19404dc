//! A crawl's frontier in Postgres. The moves of a page are [`PageState`]'s, each an UPDATE
//! guarded by its source states, and the crawl's row is locked (`FOR UPDATE`) by every
//! change that reads its counts (expanding a page, claiming pages to submit), so two workers
//! finishing pages of one crawl at once neither pass the limit nor the concurrency cap.
//! A URL key is stored once per crawl (`crawl_pages_one_per_url`): inserting a page found
//! twice is a no-op, so a page is scraped at most once and expanding again adds nothing.

use chrono::{DateTime, Utc};

use super::{CRAWL_COLUMNS, Crawl, key_digest};
use crate::{
    Result,
    domain::{
        CrawlId, JobId,
        crawl::{
            CrawlStatus, PageSource, PageState, SkipReason,
            frontier::{self, FrontierCounts},
        },
    },
    pg::Db,
};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// A page found, to add to the frontier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPage {
    pub url: String,
    /// Its [`crate::domain::crawl::normalize`]d form.
    pub key: String,
    pub depth: i32,
    pub source: PageSource,
    /// Set for a page found but never to be scraped.
    pub skip: Option<SkipReason>,
}

/// Pages claimed for submission: moved to `submitted`, their jobs still to create.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub crawl: Crawl,
    /// (page id, URL), breadth first.
    pub pages: Vec<(i64, String)>,
    pub counts: FrontierCounts,
}

/// A submitted page the sweep looks at again: its job never created, never dispatched, or
/// finished without its page being expanded (its worker died in between).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recovery {
    pub crawl_id: CrawlId,
    pub page_id: i64,
    pub url: String,
    pub job_id: Option<JobId>,
    /// The job's status, when it exists.
    pub job_status: Option<crate::domain::JobStatus>,
}

impl Db {
    /// Counts of the crawl's frontier by state.
    pub async fn frontier_counts(&self, id: CrawlId) -> Result<FrontierCounts> {
        // One transaction, not a bare connection: behind a transaction pooler only a
        // transaction keeps its server connection.
        let mut tx = self.pool.begin().await?;
        let counts = counts_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Expands the finished page whose job is `job`: the page becomes `done` and `found`
    /// joins the frontier (those to scrape up to the crawl's limit; duplicates of pages
    /// already there are dropped), in one transaction. None when the page was expanded
    /// before (nothing changes), else the number of new pages to scrape. A crawl that has
    /// ended takes no new page.
    pub async fn expand_page(
        &self,
        crawl: CrawlId,
        job: JobId,
        found: &[NewPage],
    ) -> Result<Option<usize>> {
        let mut tx = self.pool.begin().await?;
        let Some(c) = lock_crawl(&mut tx, crawl).await? else {
            return Ok(None);
        };
        let moved: Option<i64> = crate::pg::sql::query_scalar(
            "UPDATE crawl_pages SET state = 'done' \
             WHERE crawl_id = $1 AND job_id = $2 AND state = ANY($3) RETURNING id",
        )
        .bind(crawl)
        .bind(job)
        .bind(PageState::Done.sources())
        .fetch_optional(&mut *tx)
        .await?;
        if moved.is_none() {
            return Ok(None);
        }
        let mut added = 0;
        if !c.status.is_terminal() {
            let counts = counts_in(&mut tx, crawl).await?;
            let room = frontier::room(&counts, &c.options.0);
            let found = unknown_in(&mut tx, crawl, found).await?;
            let (skipped, to_scrape): (Vec<&NewPage>, Vec<&NewPage>) =
                found.into_iter().partition(|p| p.skip.is_some());
            added = insert_pages(&mut tx, crawl, to_scrape.into_iter().take(room)).await?;
            insert_pages(&mut tx, crawl, skipped.into_iter()).await?;
        }
        tx.commit().await?;
        Ok(Some(added))
    }

    /// The depth of the page whose job is `job`, while it is still to be expanded.
    pub async fn unexpanded_page_depth(&self, crawl: CrawlId, job: JobId) -> Result<Option<i32>> {
        Ok(crate::pg::sql::query_scalar(
            "SELECT depth FROM crawl_pages \
             WHERE crawl_id = $1 AND job_id = $2 AND state = 'submitted'",
        )
        .bind(crawl)
        .bind(job)
        .fetch_optional(self.exec())
        .await?)
    }

    /// Adds pages found elsewhere than on a page (the sitemaps) once per crawl, up to its
    /// limit; returns the new pages to scrape. A second call adds nothing.
    pub async fn seed_sitemap_pages(&self, crawl: CrawlId, found: &[NewPage]) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let Some(c) = lock_crawl(&mut tx, crawl).await? else {
            return Ok(0);
        };
        if c.sitemaps_read_at.is_some() || c.status.is_terminal() {
            return Ok(0);
        }
        let counts = counts_in(&mut tx, crawl).await?;
        let room = frontier::room(&counts, &c.options.0);
        let found = unknown_in(&mut tx, crawl, found).await?;
        let added = insert_pages(&mut tx, crawl, found.into_iter().take(room)).await?;
        crate::pg::sql::query("UPDATE crawls SET sitemaps_read_at = NOW() WHERE id = $1")
            .bind(crawl)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Claims the waiting pages the crawl may submit now ([`frontier::to_submit`]):
    /// breadth first, moved to `submitted`, the delay's next slot set. Nothing for a
    /// crawl not running. The caller creates their jobs ([`crate::crawl::top_up`]).
    pub async fn claim_pages(&self, crawl: CrawlId) -> Result<Option<Claimed>> {
        let mut tx = self.pool.begin().await?;
        let Some(c) = lock_crawl(&mut tx, crawl).await? else {
            return Ok(None);
        };
        let counts = counts_in(&mut tx, crawl).await?;
        if c.status != CrawlStatus::Running {
            return Ok(Some(Claimed {
                crawl: c,
                pages: Vec::new(),
                counts,
            }));
        }
        let now: DateTime<Utc> = crate::pg::sql::query_scalar("SELECT NOW()")
            .fetch_one(&mut *tx)
            .await?;
        let passed = c.next_submit_at.is_none_or(|at| at <= now);
        let n = frontier::to_submit(&counts, &c.options.0, passed);
        let pages: Vec<(i64, String)> = if n == 0 {
            Vec::new()
        } else {
            crate::pg::sql::query_as(
                "UPDATE crawl_pages SET state = 'submitted' WHERE id IN ( \
                     SELECT id FROM crawl_pages WHERE crawl_id = $1 AND state = 'waiting' \
                     ORDER BY depth, id LIMIT $2) \
                 RETURNING id, url",
            )
            .bind(crawl)
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await?
        };
        let mut pages = pages;
        pages.sort_by_key(|(id, _)| *id);
        if !pages.is_empty() && c.options.0.delay_ms > 0 {
            crate::pg::sql::query(
                "UPDATE crawls SET next_submit_at = NOW() + make_interval(secs => $2) WHERE id = $1",
            )
            .bind(crawl)
            .bind(f64::from(c.options.0.delay_ms) / 1000.0)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(Claimed {
            crawl: c,
            pages,
            counts,
        }))
    }

    /// Records each page's job.
    pub async fn attach_jobs(&self, pages: &[(i64, JobId)]) -> Result<()> {
        let (ids, jobs): (Vec<i64>, Vec<JobId>) = pages.iter().copied().unzip();
        let jobs: Vec<uuid::Uuid> = jobs.iter().map(JobId::as_uuid).collect();
        crate::pg::sql::query(
            "UPDATE crawl_pages p SET job_id = v.job FROM UNNEST($1::bigint[], $2::uuid[]) \
                 AS v(id, job) WHERE p.id = v.id AND p.job_id IS NULL",
        )
        .bind(&ids)
        .bind(&jobs)
        .execute(self.exec())
        .await?;
        Ok(())
    }

    /// Puts claimed pages whose jobs could not be created back to `waiting`.
    pub async fn release_pages(&self, crawl: CrawlId, pages: &[i64]) -> Result<()> {
        crate::pg::sql::query(
            "UPDATE crawl_pages SET state = 'waiting' \
             WHERE crawl_id = $1 AND id = ANY($2) AND state = ANY($3) AND job_id IS NULL",
        )
        .bind(crawl)
        .bind(pages)
        .bind(PageState::Waiting.sources())
        .execute(self.exec())
        .await?;
        Ok(())
    }

    /// Submitted pages of active crawls untouched for `older_than` whose job is missing,
    /// still pending, or final (finished but not expanded): what the sweep repairs.
    pub async fn pages_to_recover(
        &self,
        older_than: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<Recovery>> {
        Ok(crate::pg::sql::query_as(
            "SELECT p.crawl_id, p.id AS page_id, p.url, p.job_id, j.status AS job_status \
             FROM crawl_pages p LEFT JOIN scrape_jobs j ON j.id = p.job_id \
             WHERE p.state = 'submitted' \
               AND p.updated_at < NOW() - make_interval(secs => $1) \
               AND (j.id IS NULL OR j.status IN ('pending', 'completed', 'failed', 'canceled', 'timeout')) \
             ORDER BY p.updated_at LIMIT $2",
        )
        .bind(older_than.as_secs_f64())
        .bind(limit)
        .fetch_all(self.exec())
        .await?)
    }
}

/// The crawl's row, locked for the transaction.
async fn lock_crawl(tx: &mut Tx<'_>, crawl: CrawlId) -> Result<Option<Crawl>> {
    Ok(crate::pg::sql::query_as(&format!(
        "SELECT {CRAWL_COLUMNS} FROM crawls WHERE id = $1 FOR UPDATE"
    ))
    .bind(crawl)
    .fetch_optional(&mut **tx)
    .await?)
}

async fn counts_in(conn: &mut sqlx::PgConnection, crawl: CrawlId) -> Result<FrontierCounts> {
    let rows: Vec<(PageState, i64)> = crate::pg::sql::query_as(
        "SELECT state, COUNT(*) FROM crawl_pages WHERE crawl_id = $1 GROUP BY state",
    )
    .bind(crawl)
    .fetch_all(&mut *conn)
    .await?;
    let mut c = FrontierCounts::default();
    for (state, n) in rows {
        match state {
            PageState::Waiting => c.waiting = n,
            PageState::Submitted => c.in_flight = n,
            PageState::Done => c.done = n,
            PageState::Skipped => c.skipped = n,
        }
    }
    c.discovered = c.waiting + c.in_flight + c.done;
    Ok(c)
}

/// The pages of `found` whose keys the frontier does not hold yet, each key once, in order:
/// so the room left under the limit goes to new pages only.
async fn unknown_in<'p>(
    tx: &mut Tx<'_>,
    crawl: CrawlId,
    found: &'p [NewPage],
) -> Result<Vec<&'p NewPage>> {
    let digests: Vec<Vec<u8>> = found.iter().map(|p| key_digest(&p.key)).collect();
    let known: std::collections::HashSet<Vec<u8>> = crate::pg::sql::query_scalar(
        "SELECT url_key_sha256 FROM crawl_pages WHERE crawl_id = $1 AND url_key_sha256 = ANY($2)",
    )
    .bind(crawl)
    .bind(&digests)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let mut seen = std::collections::HashSet::new();
    Ok(found
        .iter()
        .zip(digests)
        .filter(|(_, d)| !known.contains(d) && seen.insert(d.clone()))
        .map(|(p, _)| p)
        .collect())
}

/// Inserts pages not yet in the frontier; returns how many were new.
async fn insert_pages<'p>(
    tx: &mut Tx<'_>,
    crawl: CrawlId,
    pages: impl Iterator<Item = &'p NewPage>,
) -> Result<usize> {
    let pages: Vec<&NewPage> = pages.collect();
    if pages.is_empty() {
        return Ok(0);
    }
    let urls: Vec<&str> = pages.iter().map(|p| p.url.as_str()).collect();
    let keys: Vec<&str> = pages.iter().map(|p| p.key.as_str()).collect();
    let digests: Vec<Vec<u8>> = pages.iter().map(|p| key_digest(&p.key)).collect();
    let depths: Vec<i32> = pages.iter().map(|p| p.depth).collect();
    let sources: Vec<&str> = pages.iter().map(|p| p.source.as_str()).collect();
    let skips: Vec<Option<&str>> = pages.iter().map(|p| p.skip.map(|s| s.as_str())).collect();
    let inserted = crate::pg::sql::query(
        "INSERT INTO crawl_pages (crawl_id, url, url_key, url_key_sha256, depth, source, state, skip_reason) \
         SELECT $1, v.url, v.key, v.digest, v.depth, v.source, \
                CASE WHEN v.skip IS NULL THEN 'waiting' ELSE 'skipped' END, v.skip \
         FROM UNNEST($2::text[], $3::text[], $4::bytea[], $5::int[], $6::text[], $7::text[]) \
              WITH ORDINALITY AS v(url, key, digest, depth, source, skip, n) \
         ORDER BY v.n \
         ON CONFLICT (crawl_id, url_key_sha256) DO NOTHING",
    )
    .bind(crawl)
    .bind(&urls)
    .bind(&keys)
    .bind(&digests)
    .bind(&depths)
    .bind(&sources)
    .bind(&skips)
    .execute(&mut **tx)
    .await?;
    Ok(usize::try_from(inserted.rows_affected()).unwrap_or(0))
}

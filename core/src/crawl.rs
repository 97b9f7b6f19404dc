//! Driving a crawl, the thin part shared by the API, the workers and the sweep: submitting
//! the pages the frontier allows ([`top_up`]: claimed in Postgres, jobs created through
//! `Db::submit_jobs` with credits reserved as for any job, each under its page's
//! idempotency key, then dispatched), ending a crawl whose frontier is exhausted, and the
//! sweep's repair of pages a crash left half-way ([`recover`]). Every decision is
//! `domain::crawl`'s; a page gets one job whatever fails between two steps, because its job's
//! idempotency key is its page's.

use crate::{
    Error, Result,
    dispatch::{QueueSet, dispatch},
    domain::{
        CrawlId, JobStatus,
        crawl::{CrawlReason, CrawlStatus, frontier},
    },
    pg::{BatchCounts, Crawl, Db, Job, NewJob, Recovery, Submission},
};

/// A crawl's progress: its frontier and its pages' jobs, counted once for every reader
/// (the API's view, the operator's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Pages found that count toward the limit.
    pub discovered: i64,
    /// Waiting for a place, or queued for a worker.
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    /// Failed or timed out.
    pub failed: i64,
    pub canceled: i64,
    /// Found and not scraped: robots.txt, a private address, a duplicate.
    pub skipped: i64,
}

impl Progress {
    /// The counts of a crawl's frontier and of its pages' jobs, as one progress.
    pub fn of(frontier: &frontier::FrontierCounts, jobs: &BatchCounts) -> Self {
        Self {
            discovered: frontier.discovered,
            queued: frontier.waiting + jobs.pending + jobs.queued,
            running: jobs.running,
            completed: jobs.completed,
            failed: jobs.failed + jobs.timeout,
            canceled: jobs.canceled,
            skipped: frontier.skipped,
        }
    }
}

/// Reads a crawl's progress (no job yet counts as none).
pub async fn progress(db: &Db, crawl: &Crawl) -> Result<Progress> {
    let frontier = db.frontier_counts(crawl.id).await?;
    let jobs = match db.batch_counts(crawl.organization_id, crawl.batch()).await {
        Ok(c) => c,
        Err(Error::NotFound { .. }) => BatchCounts::default(),
        Err(e) => return Err(e),
    };
    Ok(Progress::of(&frontier, &jobs))
}

/// What a top-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopUp {
    /// Pages whose jobs were created now.
    pub submitted: usize,
    /// The crawl ended now (frontier exhausted, or out of credits).
    pub ended: Option<CrawlStatus>,
}

/// Submits the pages the crawl may start now, or ends it when nothing is left. Safe to
/// call at any time from anywhere, as often as wished.
pub async fn top_up(db: &Db, queues: &QueueSet, id: CrawlId) -> Result<TopUp> {
    let Some(claimed) = db.claim_pages(id).await? else {
        return Ok(TopUp::default());
    };
    let crawl = &claimed.crawl;
    if claimed.pages.is_empty() {
        let ended = if crawl.status == CrawlStatus::Running
            && frontier::is_finished(&claimed.counts, &crawl.options.0)
        {
            Some(finish(db, crawl, &claimed.counts).await?)
        } else {
            None
        };
        return Ok(TopUp {
            submitted: 0,
            ended,
        });
    }
    let ids: Vec<i64> = claimed.pages.iter().map(|(p, _)| *p).collect();
    let jobs = match page_jobs(db, crawl, &claimed.pages).await {
        Ok(jobs) => jobs,
        Err(err) => {
            db.release_pages(id, &ids).await?;
            return Err(err);
        }
    };
    let submitted = submit_affordable(db, queues, crawl, &ids, &jobs).await?;
    if submitted > 0 {
        return Ok(TopUp {
            submitted,
            ended: None,
        });
    }
    let stopped = db
        .move_crawl(
            id,
            CrawlStatus::Failed,
            Some(CrawlReason::InsufficientCredits),
        )
        .await;
    tracing::info!(crawl = %id, "crawl stopped: the organization's credits ran out");
    Ok(TopUp {
        submitted: 0,
        ended: stopped.ok().map(|c| c.status),
    })
}

/// Creates and queues the jobs of the claimed pages `ids`, as many as the balance pays
/// for: all at once, or, when the balance cannot cover them all, one by one in the
/// frontier's order until one is refused. The pages left are released to wait. Returns
/// how many were submitted; 0 means the balance could not pay for even one.
async fn submit_affordable(
    db: &Db,
    queues: &QueueSet,
    crawl: &Crawl,
    ids: &[i64],
    jobs: &[NewJob],
) -> Result<usize> {
    let groups: Vec<(&[i64], &[NewJob])> = match submit(db, crawl, jobs).await {
        Ok(submissions) => {
            attach_and_dispatch(db, queues, crawl, ids, submissions).await?;
            return Ok(ids.len());
        }
        Err(Error::InsufficientCredits { .. }) if ids.len() > 1 => {
            ids.chunks(1).zip(jobs.chunks(1)).collect()
        }
        Err(Error::InsufficientCredits { .. }) => Vec::new(),
        Err(err) => {
            db.release_pages(crawl.id, ids).await?;
            return Err(err);
        }
    };
    let mut submitted = 0;
    for (page, job) in groups {
        match submit(db, crawl, job).await {
            Ok(submissions) => {
                attach_and_dispatch(db, queues, crawl, page, submissions).await?;
                submitted += 1;
            }
            Err(Error::InsufficientCredits { .. }) => break,
            Err(err) => {
                db.release_pages(crawl.id, &ids[submitted..]).await?;
                return Err(err);
            }
        }
    }
    db.release_pages(crawl.id, &ids[submitted..]).await?;
    Ok(submitted)
}

/// Creates `jobs` in the crawl's batch, credits reserved, each under its page's key.
async fn submit(db: &Db, crawl: &Crawl, jobs: &[NewJob]) -> Result<Vec<Submission>> {
    db.submit_jobs(
        crawl.organization_id,
        crawl.api_key_id,
        Some(crawl.batch()),
        jobs,
    )
    .await
}

/// The jobs of `pages`, each signing its deliveries with the crawl's webhook secret (opened
/// here, sealed again to the job's own row by `submit_jobs`).
async fn page_jobs(db: &Db, crawl: &Crawl, pages: &[(i64, String)]) -> Result<Vec<NewJob>> {
    let secret = db.crawl_webhook_secret(crawl.id).await?;
    Ok(pages
        .iter()
        .map(|(page, url)| {
            let mut job = crawl.page.0.job(crawl.id, *page, url);
            if job.webhook_url.is_some() {
                job.webhook_secret = secret.clone();
            }
            job
        })
        .collect())
}

/// Records each page's job, and queues those still pending; when the crawl was canceled
/// meanwhile, cancels them instead.
///
/// The race with [`cancel`]: a cancel moves the crawl, then cancels its batch's jobs. Jobs
/// created before that batch cancel are canceled by it. Jobs created after it were created
/// after the crawl's move committed, so the status read here, after they were created,
/// sees `canceled`, and they are canceled here (refunded, never queued). Either way no job
/// of a canceled crawl runs, and none is charged.
async fn attach_and_dispatch(
    db: &Db,
    queues: &QueueSet,
    crawl: &Crawl,
    pages: &[i64],
    submissions: Vec<Submission>,
) -> Result<()> {
    let pairs: Vec<(i64, crate::domain::JobId)> = pages
        .iter()
        .zip(&submissions)
        .map(|(p, s)| (*p, s.job().id))
        .collect();
    db.attach_jobs(&pairs).await?;
    if db.get_crawl_unscoped(crawl.id).await?.status == CrawlStatus::Canceled {
        crate::dispatch::cancel_batch(db, queues, crawl.organization_id, crawl.batch()).await?;
        return Ok(());
    }
    let mut pending: Vec<Job> = submissions
        .into_iter()
        .map(Submission::into_job)
        .filter(|j| j.status == JobStatus::Pending)
        .collect();
    let mut refs: Vec<&mut Job> = pending.iter_mut().collect();
    dispatch(db, queues, &mut refs).await?;
    Ok(())
}

/// Ends a running crawl whose frontier is exhausted: completed (at its limit or not), or
/// failed when its start page, its only page, failed.
async fn finish(db: &Db, crawl: &Crawl, counts: &frontier::FrontierCounts) -> Result<CrawlStatus> {
    let (status, reason) = if counts.done <= 1 && !start_page_completed(db, crawl).await? {
        (CrawlStatus::Failed, CrawlReason::StartFailed)
    } else if counts.discovered >= i64::from(crawl.options.0.limit) {
        (CrawlStatus::Completed, CrawlReason::LimitReached)
    } else {
        (CrawlStatus::Completed, CrawlReason::Exhausted)
    };
    match db.move_crawl(crawl.id, status, Some(reason)).await {
        Ok(c) => Ok(c.status),
        // Ended meanwhile (canceled, or another worker finished it).
        Err(Error::Conflict { .. }) => Ok(db.get_crawl_unscoped(crawl.id).await?.status),
        Err(e) => Err(e),
    }
}

async fn start_page_completed(db: &Db, crawl: &Crawl) -> Result<bool> {
    let status: Option<Option<JobStatus>> = crate::pg::sql::query_scalar(
        "SELECT j.status FROM crawl_pages p LEFT JOIN scrape_jobs j ON j.id = p.job_id \
         WHERE p.crawl_id = $1 AND p.source = 'start'",
    )
    .bind(crawl.id)
    .fetch_optional(db.exec())
    .await?;
    Ok(status.flatten() == Some(JobStatus::Completed))
}

/// What the sweep did to one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Its job was created (or found under its key) and queued.
    Submitted,
    /// Its pending job was queued.
    Dispatched,
    /// Its job is final: the page is to be expanded (the worker's part: it needs the web).
    Expand,
}

/// Repairs a page left half-way by a crash: a job never created is created under the
/// page's key (the original if it was), a pending job is queued; a final job's page is left
/// to the caller to expand.
pub async fn recover(db: &Db, queues: &QueueSet, r: &Recovery) -> Result<Repair> {
    match (r.job_id, r.job_status) {
        (Some(_), Some(s)) if s.is_finished() => Ok(Repair::Expand),
        (Some(job), _) => {
            let mut job = db.get_job_unscoped(job).await?;
            dispatch(db, queues, &mut [&mut job]).await?;
            Ok(Repair::Dispatched)
        }
        (None, _) => {
            let crawl = db.get_crawl_unscoped(r.crawl_id).await?;
            let jobs = page_jobs(db, &crawl, &[(r.page_id, r.url.clone())]).await?;
            match submit(db, &crawl, &jobs).await {
                Ok(s) => {
                    attach_and_dispatch(db, queues, &crawl, &[r.page_id], s).await?;
                    Ok(Repair::Submitted)
                }
                Err(Error::InsufficientCredits { .. }) => {
                    db.release_pages(r.crawl_id, &[r.page_id]).await?;
                    let _ = db
                        .move_crawl(
                            r.crawl_id,
                            CrawlStatus::Failed,
                            Some(CrawlReason::InsufficientCredits),
                        )
                        .await;
                    Ok(Repair::Submitted)
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Cancels a crawl: the crawl `canceled`, then its pages' unfinished jobs through the batch
/// cancel path (refunded unless running; running ones are stopped by their workers).
pub async fn cancel(db: &Db, queues: &QueueSet, crawl: &Crawl) -> Result<Crawl> {
    let canceled = db
        .move_crawl(crawl.id, CrawlStatus::Canceled, Some(CrawlReason::Canceled))
        .await?;
    crate::dispatch::cancel_batch(db, queues, crawl.organization_id, crawl.batch()).await?;
    Ok(canceled)
}

//! Comparison (a): ScraperX's http engine and its whole durable pipeline against Scrapy,
//! on the pages of `bench-site`. For each concurrency:
//!
//! - `engine`: the bare http engine (`HttpFetcher`) fetching every page and extracting its
//!   links in this process, no queue, no database;
//! - `pipeline`: the pages submitted as one batch (`Db::submit_jobs` and `dispatch`, as the
//!   API and the operator do), then a `scraperx-worker run` process with that many slots
//!   takes them from Redis, fetches, extracts, records each result and settles its credits
//!   in Postgres. Pages/s is from the first job started to the last one completed and
//!   settled (Postgres's own timestamps); the worker's peak resident memory is its VmHWM.
//!
//! Usage:
//!
//! ```text
//! bench-pipeline --site http://127.0.0.1:PORT --worker target/release/scraperx-worker \
//!     [--pages 10000] [--concurrency 8,32]
//! ```

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context, bail};
use futures::StreamExt;
use scraperx_bench::{
    BenchDatabase, arg, arg_list, page_urls, peak_rss_mib, result, worker_command,
};
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::{self, ContentStore},
    dispatch::{QueueSet, dispatch},
    domain::{Engine, HttpMethod, Plan},
    hot,
    pg::{Db, Job, NewJob, NewOrganization, Submission},
};
use scraperx_worker::fetch::{FetchRequest, http::HttpFetcher};

const COMPARISON: &str = "pipeline";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let site = arg("site", "");
    if site.is_empty() {
        bail!("--site is required (the address bench-site printed)");
    }
    let pages: usize = arg("pages", "10000").parse()?;
    let worker_bin = arg("worker", "target/release/scraperx-worker");
    for c in arg_list("concurrency", "8,32")? {
        engine(&site, pages, c).await?;
        pipeline(&site, pages, c, &worker_bin).await?;
    }
    Ok(())
}

/// The bare http engine: fetch and extract links, `c` at a time.
async fn engine(site: &str, pages: usize, c: usize) -> anyhow::Result<()> {
    let fetcher = HttpFetcher::new("scraperx-bench", true, 1 << 24, &[])?;
    let started = std::time::Instant::now();
    let links: usize = futures::stream::iter(page_urls(site, pages))
        .map(|url| {
            let fetcher = fetcher.clone();
            async move {
                let request = FetchRequest {
                    url: url.parse().ok()?,
                    method: HttpMethod::Get,
                    headers: BTreeMap::new(),
                    body: None,
                    timeout: Duration::from_secs(30),
                };
                let page = fetcher.fetch(&request).await.ok()?;
                let html = String::from_utf8_lossy(&page.body).into_owned();
                let out = scraperx_worker::extract::extract_isolated(
                    html,
                    page.final_url,
                    None,
                    scraperx_worker::extract::Content::default(),
                )
                .await
                .ok()?;
                Some(out.links.len())
            }
        })
        .buffer_unordered(c)
        .map(|n| n.unwrap_or(0))
        .fold(0, |a, n| async move { a + n })
        .await;
    let secs = started.elapsed().as_secs_f64();
    if links < pages {
        bail!("the http engine extracted {links} links from {pages} pages");
    }
    result(
        COMPARISON,
        &format!("pages/s, c={c}"),
        "ScraperX http engine alone (fetch + links)",
        pages as f64 / secs,
        "pages/s",
    );
    Ok(())
}

async fn submit_all(
    db: &Db,
    queues: &QueueSet,
    org: &NewOrganization,
    urls: &[String],
) -> anyhow::Result<()> {
    let org = db.create_organization(org).await?;
    for chunk in urls.chunks(1000) {
        let jobs: Vec<NewJob> = chunk
            .iter()
            .map(|u| {
                let mut job = NewJob::get(u);
                job.engine = Engine::Http;
                job
            })
            .collect();
        let mut created: Vec<Job> = db
            .submit_jobs(org.id, None, None, &jobs)
            .await?
            .into_iter()
            .filter(Submission::is_created)
            .map(Submission::into_job)
            .collect();
        dispatch(db, queues, &mut created.iter_mut().collect::<Vec<_>>()).await?;
    }
    Ok(())
}

/// The whole pipeline with a worker process of `c` slots.
async fn pipeline(site: &str, pages: usize, c: usize, worker_bin: &str) -> anyhow::Result<()> {
    let database = BenchDatabase::create(8).await?;
    let db = Db::from_pool(database.pool.clone());
    let redis = hot::connect(&RedisConfig::from_env()?).await?;
    let admin = ContentStore::new(&S3Config::from_env_for_role("ADMIN")?);
    content::ensure_buckets(admin.client()).await?;
    let namespace = format!("bench{}-", uuid::Uuid::new_v4().simple());
    let queues = QueueSet::new(redis.clone(), &namespace);
    let mut org = NewOrganization::new(
        "Bench",
        &format!("bench-{}", uuid::Uuid::new_v4().simple()),
        "bench@bench.local",
    );
    org.plan = Plan::Enterprise;
    org.credits_balance = 100 * pages as i64;
    org.max_concurrent_jobs = 1000;
    org.max_batch_size = pages as i32;
    submit_all(&db, &queues, &org, &page_urls(site, pages)).await?;

    let mut worker = worker_command(worker_bin, &database.url, &namespace, c)
        .spawn()
        .with_context(|| format!("starting {worker_bin}"))?;
    let pid = worker.id().context("worker pid")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    let mut peak = 0.0f64;
    loop {
        peak = peak.max(peak_rss_mib(pid));
        let (done, failed): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE status = 'completed' AND credits_settled_at IS NOT NULL), \
                    COUNT(*) FILTER (WHERE status IN ('failed', 'timeout')) FROM scrape_jobs",
        )
        .fetch_one(&database.pool)
        .await?;
        if failed > 0 {
            bail!("{failed} jobs failed");
        }
        if done as usize >= pages {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!("only {done} of {pages} jobs done after 600 s");
        }
        if let Some(status) = worker.try_wait()? {
            bail!("the worker exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    peak = peak.max(peak_rss_mib(pid));
    let secs: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM MAX(completed_at) - MIN(started_at))::float8 FROM scrape_jobs",
    )
    .fetch_one(&database.pool)
    .await?;
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_events")
        .fetch_one(&database.pool)
        .await?;
    worker.start_kill()?;
    let _ = worker.wait().await;
    result(
        COMPARISON,
        &format!("pages/s, c={c}"),
        "ScraperX whole pipeline (queue, fetch, links, Postgres, settle)",
        pages as f64 / secs,
        "pages/s",
    );
    result(
        COMPARISON,
        &format!("peak RSS, c={c}"),
        "ScraperX worker process",
        peak,
        "MiB",
    );
    eprintln!(
        "pipeline c={c}: {pages} pages in {secs:.2} s, {:.1} job_events rows per job",
        events as f64 / pages as f64
    );
    for q in queues.jobs() {
        let _ = q.depth().await;
    }
    database.remove().await;
    Ok(())
}

//! Comparison (e): a whole-site crawl, ScraperX against Scrapy's CrawlSpider, on
//! `bench-site` (every page links to 20 others; all of them reachable from `/page/0`). For
//! each concurrency, a crawl from `/page/0` with `limit` = the site's pages and that many
//! pages in flight at most (`max_concurrency`) is created as the API creates one
//! (`Db::create_crawl`, its start page submitted by core's `crawl::top_up`), and a
//! `scraperx-worker run` process with that many slots scrapes it: each page a job through
//! the queue, its links extracted, normalised, deduplicated into the durable frontier and
//! the next pages submitted, results and credits in Postgres. Pages/s is from the first job
//! started to the crawl's end (Postgres's timestamps); the worker's peak resident memory is
//! its VmHWM.
//!
//! ```text
//! bench-crawl --site http://127.0.0.1:PORT --worker target/release/scraperx-worker \
//!     [--pages 10000] [--concurrency 8,32]
//! ```

use std::time::Duration;

use anyhow::{Context, bail};
use scraperx_bench::{BenchDatabase, arg, arg_list, peak_rss_mib, result, worker_command};
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::{self, ContentStore},
    crawl,
    dispatch::QueueSet,
    domain::{
        CrawlId, Plan,
        crawl::{CrawlOptions, CrawlStatus, SitemapMode},
    },
    hot,
    pg::{Db, NewCrawl, NewOrganization, PageTemplate},
};

const COMPARISON: &str = "crawl";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let site = arg("site", "");
    if site.is_empty() {
        bail!("--site is required (the address bench-site printed)");
    }
    let pages: u32 = arg("pages", "10000").parse()?;
    let worker_bin = arg("worker", "target/release/scraperx-worker");
    for c in arg_list("concurrency", "8,32")? {
        run(&site, pages, c, &worker_bin).await?;
    }
    Ok(())
}

/// A run's database, queues and crawl.
struct Run {
    database: BenchDatabase,
    db: Db,
    queues: QueueSet,
    namespace: String,
    crawl: CrawlId,
}

/// Creates the run's database and organization, and the crawl of the site at `site` with
/// `c` pages in flight, its start page queued.
async fn start(site: &str, pages: u32, c: usize) -> anyhow::Result<Run> {
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
    org.credits_balance = 100 * i64::from(pages);
    org.max_concurrent_jobs = 1000;
    let org = db.create_organization(&org).await?;
    let new = NewCrawl {
        url: format!("{site}/page/0"),
        options: CrawlOptions {
            limit: pages,
            max_depth: CrawlOptions::MAX_DEPTH,
            max_concurrency: u32::try_from(c)?,
            sitemap: SitemapMode::Skip,
            ..CrawlOptions::default()
        },
        page: PageTemplate::default(),
        webhook_url: None,
        webhook_secret: None,
    };
    let created = db.create_crawl(org.id, None, &new).await?;
    crawl::top_up(&db, &queues, created.id).await?;
    Ok(Run {
        database,
        db,
        queues,
        namespace,
        crawl: created.id,
    })
}

/// The crawl of the site at `site` with `c` pages in flight, on a database of its own.
async fn run(site: &str, pages: u32, c: usize, worker_bin: &str) -> anyhow::Result<()> {
    let Run {
        database,
        db,
        queues,
        namespace,
        crawl: id,
    } = start(site, pages, c).await?;
    let mut worker = worker_command(worker_bin, &database.url, &namespace, c)
        .spawn()
        .with_context(|| format!("starting {worker_bin}"))?;
    let pid = worker.id().context("worker pid")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    let mut peak = 0.0f64;
    let ended = loop {
        peak = peak.max(peak_rss_mib(pid));
        let c = db.get_crawl_unscoped(id).await?;
        if c.status.is_terminal() {
            break c;
        }
        if std::time::Instant::now() > deadline {
            let counts = db.frontier_counts(id).await?;
            bail!("the crawl is still {} after 900 s: {counts:?}", c.status);
        }
        if let Some(status) = worker.try_wait()? {
            bail!("the worker exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    peak = peak.max(peak_rss_mib(pid));
    worker.start_kill()?;
    let _ = worker.wait().await;
    if ended.status != CrawlStatus::Completed {
        bail!("the crawl ended {}", ended.status);
    }
    let (done, secs): (i64, f64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE status = 'completed'), \
                EXTRACT(EPOCH FROM $1 - MIN(started_at))::float8 FROM scrape_jobs",
    )
    .bind(ended.finished_at)
    .fetch_one(&database.pool)
    .await?;
    if done < i64::from(pages) {
        bail!("only {done} of {pages} pages were scraped");
    }
    result(
        COMPARISON,
        &format!("pages/s, c={c}"),
        "ScraperX crawl (frontier in Postgres, queue, fetch, links, settle)",
        done as f64 / secs,
        "pages/s",
    );
    result(
        COMPARISON,
        &format!("peak RSS, c={c}"),
        "ScraperX worker process",
        peak,
        "MiB",
    );
    eprintln!("crawl c={c}: {done} pages in {secs:.2} s");
    for q in queues.jobs() {
        let _ = q.depth().await;
    }
    database.remove().await;
    Ok(())
}

//! Comparison (d): batch submission through the REST API. A `scraperx-api serve` process
//! over a database of the run's own takes 100,000 URLs in one `POST /v1/batches`; the figure
//! is the time from the request until every job is queued in Postgres and waiting in Redis.
//! The ScrapeBatch path shares the same core calls (`submit_jobs`, `dispatch`).
//!
//!     bench-batch --api target/release/scraperx-api --site http://127.0.0.1:PORT [--urls 100000]

use std::time::{Duration, Instant};

use anyhow::bail;
use scraperx_bench::{BenchDatabase, arg, bench_organization, page_urls, result, start_api_over};
use scraperx_core::{config::RedisConfig, dispatch::QueueSet, hot};

const COMPARISON: &str = "batch";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api_bin = arg("api", "target/release/scraperx-api");
    let site = arg("site", "http://127.0.0.1:9");
    let n: usize = arg("urls", "100000").parse()?;
    let database = BenchDatabase::create(4).await?;
    let (_, secret) = bench_organization(&database, |new| {
        new.credits_balance = 100 * n as i64;
        new.max_batch_size = n as i32;
        new.max_concurrent_jobs = 1000;
        new.rate_limit_per_second = 1000;
    })
    .await?;
    let (mut api, base, namespace) = start_api_over(&api_bin, &database).await?;
    let http = reqwest::Client::new();
    let body = serde_json::to_vec(&serde_json::json!({ "urls": page_urls(&site, n) }))?;
    let queues = QueueSet::new(hot::connect(&RedisConfig::from_env()?).await?, &namespace);

    let started = Instant::now();
    let response = http
        .post(format!("{base}/v1/batches"))
        .bearer_auth(&secret)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let answered = started.elapsed();
    let status = response.status();
    if !status.is_success() {
        bail!("POST /v1/batches: {status}: {}", response.text().await?);
    }
    loop {
        let queued: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM scrape_jobs WHERE status = 'queued'")
                .fetch_one(&database.pool)
                .await?;
        let mut waiting = 0;
        for q in queues.jobs() {
            waiting += q.depth().await?.waiting;
        }
        if queued as usize >= n && waiting as usize >= n {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("{queued} queued in Postgres, {waiting} in Redis after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let side = "ScraperX REST, one POST";
    let measure = format!("{n} URLs until all queued");
    result(COMPARISON, &measure, side, took.as_secs_f64(), "s");
    result(
        COMPARISON,
        &format!("{n} URLs, rate"),
        side,
        n as f64 / took.as_secs_f64(),
        "URLs/s",
    );
    eprintln!("batch: answered in {answered:.2?}, all queued in {took:.2?}");
    for q in queues.jobs() {
        let mut conn = hot::connect(&RedisConfig::from_env()?).await?;
        let _: redis::RedisResult<()> =
            redis::cmd("DEL").arg(q.keys()).query_async(&mut conn).await;
    }
    api.start_kill()?;
    let _ = api.wait().await;
    database.remove().await;
    Ok(())
}

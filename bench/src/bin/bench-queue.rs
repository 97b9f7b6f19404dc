//! Comparison (b): ScraperX's job queue against BullMQ, on the same Redis
//! (`REDIS_URL`), with leases on (each dequeue takes a lease with an owner, as a worker's
//! does). Every figure is taken on a queue of its own, deleted after:
//!
//! - single enqueue at concurrency 1 and 100, bulk enqueue (`enqueue_many`, 1,000 a call);
//! - dequeue + ack of a filled queue at concurrency 1 and 100;
//! - enqueue-to-start latency: jobs enqueued one every 2 ms while 1 or 100 consumers wait,
//!   each waiting as the worker does when the queue is empty: woken by the queue's ready
//!   channel, its default idle poll at the longest (`queue::wake`).
//!
//!     bench-queue [--jobs 20000]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::join_all;
use scraperx_bench::{arg, ms, percentile, result};
use scraperx_core::{
    config::RedisConfig,
    domain::{JobId, OrgId},
    hot::{self, RedisConn},
    queue::{Entry, JobQueue, QueuedJob, Share, wake::Waker},
};

const COMPARISON: &str = "queue";
const SIDE: &str = "ScraperX JobQueue";
const LEASE: Duration = Duration::from_secs(30);

fn entry(share: Share) -> Entry {
    let id = JobId::new();
    Entry {
        id: id.to_string(),
        payload: QueuedJob { job_id: id }.to_payload(),
        priority: 5,
        share: Some(share),
    }
}

fn queue(conn: &RedisConn) -> JobQueue {
    JobQueue::named(
        conn.clone(),
        &format!("bench-{}", uuid::Uuid::new_v4().simple()),
    )
    .with_owner("bench-worker")
}

async fn clear(conn: &RedisConn, q: &JobQueue) {
    let mut c = conn.clone();
    let keys: Vec<String> = q.keys().to_vec();
    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query_async(&mut c).await;
}

async fn enqueue_single(conn: &RedisConn, share: Share, n: usize, c: usize) -> anyhow::Result<()> {
    let q = queue(conn);
    let started = Instant::now();
    let tasks = (0..c).map(|_| {
        let q = q.clone();
        tokio::spawn(async move {
            for _ in 0..n / c {
                let e = entry(share);
                q.enqueue_for(share, &e.id, &e.payload, e.priority, Duration::ZERO)
                    .await?;
            }
            anyhow::Ok(())
        })
    });
    for t in join_all(tasks).await {
        t??;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    result(
        COMPARISON,
        &format!("enqueue single, c={c}"),
        SIDE,
        rate,
        "jobs/s",
    );
    clear(conn, &q).await;
    Ok(())
}

async fn fill(q: &JobQueue, share: Share, n: usize) -> anyhow::Result<()> {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let entries: Vec<Entry> = chunk.iter().map(|_| entry(share)).collect();
        q.enqueue_many(&entries).await?;
    }
    Ok(())
}

async fn enqueue_bulk(conn: &RedisConn, share: Share, n: usize) -> anyhow::Result<()> {
    let q = queue(conn);
    let started = Instant::now();
    fill(&q, share, n).await?;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    result(
        COMPARISON,
        "enqueue bulk (1,000 a call)",
        SIDE,
        rate,
        "jobs/s",
    );
    clear(conn, &q).await;
    Ok(())
}

async fn dequeue_ack(conn: &RedisConn, share: Share, n: usize, c: usize) -> anyhow::Result<()> {
    let q = queue(conn);
    fill(&q, share, n).await?;
    let started = Instant::now();
    let tasks = (0..c).map(|_| {
        let q = q.clone();
        tokio::spawn(async move {
            let mut done = 0usize;
            while let Some(lease) = q.dequeue(LEASE).await? {
                q.ack(&lease).await?;
                done += 1;
            }
            anyhow::Ok(done)
        })
    });
    let mut done = 0;
    for t in join_all(tasks).await {
        done += t??;
    }
    let rate = done as f64 / started.elapsed().as_secs_f64();
    result(
        COMPARISON,
        &format!("dequeue + ack, c={c}"),
        SIDE,
        rate,
        "jobs/s",
    );
    clear(conn, &q).await;
    Ok(())
}

/// Jobs enqueued one every 2 ms with their time; `c` consumers record how long each waited.
async fn latency(
    conn: &RedisConn,
    redis: &RedisConfig,
    share: Share,
    n: usize,
    c: usize,
) -> anyhow::Result<()> {
    let q = queue(conn);
    let idle_poll = scraperx_worker::WorkerConfig::default().idle_poll;
    let waker = Waker::default();
    let following = waker.follow(redis, std::slice::from_ref(&q));
    // The subscription is made before the first job.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let epoch = Instant::now();
    let waits = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(n)));
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(n));
    let consumers = (0..c).map(|_| {
        let (q, waits, remaining) = (q.clone(), waits.clone(), remaining.clone());
        let waker = waker.clone();
        tokio::spawn(async move {
            while remaining.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                let seen = waker.generation();
                match q.dequeue(LEASE).await? {
                    Some(lease) => {
                        let at = epoch.elapsed();
                        let sent: u64 = lease.id.split(':').nth(1).unwrap_or("0").parse()?;
                        q.ack(&lease).await?;
                        waits
                            .lock()
                            .await
                            .push(at.saturating_sub(Duration::from_micros(sent)));
                        remaining.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    None => waker.idle(seen, idle_poll).await,
                }
            }
            anyhow::Ok(())
        })
    });
    let consumers: Vec<_> = consumers.collect();
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    for i in 0..n {
        tick.tick().await;
        let id = format!("{i}:{}", epoch.elapsed().as_micros());
        q.enqueue_for(share, &id, "{}", 5, Duration::ZERO).await?;
    }
    for t in join_all(consumers).await {
        t??;
    }
    following.iter().for_each(tokio::task::JoinHandle::abort);
    let mut waits = std::mem::take(&mut *waits.lock().await);
    waits.sort_unstable();
    let label = format!("enqueue-to-start, c={c}");
    result(
        COMPARISON,
        &format!("{label}, p50"),
        SIDE,
        ms(percentile(&waits, 0.5)),
        "ms",
    );
    result(
        COMPARISON,
        &format!("{label}, p99"),
        SIDE,
        ms(percentile(&waits, 0.99)),
        "ms",
    );
    clear(conn, &q).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = arg("jobs", "20000").parse()?;
    let redis = RedisConfig::from_env()?;
    let conn = hot::connect(&redis).await?;
    let share = Share::of_plan(OrgId::new(), 1_000_000);
    enqueue_single(&conn, share, n / 4, 1).await?;
    enqueue_single(&conn, share, n, 100).await?;
    enqueue_bulk(&conn, share, 5 * n).await?;
    dequeue_ack(&conn, share, n / 4, 1).await?;
    dequeue_ack(&conn, share, n, 100).await?;
    latency(&conn, &redis, share, 1000, 1).await?;
    latency(&conn, &redis, share, 1000, 100).await?;
    Ok(())
}

//! Comparison (f): the engines seed 001 names for scale-out, each against the plain setup.
//!
//! - Redis: the job queue (enqueue, and dequeue + ack, at concurrency 100, on one queue and
//!   spread over 8 queues) and the rate limiter (checks for 1,000 organizations at
//!   concurrency 100), on one Redis (`REDIS_URL`) and on the 3-master cluster
//!   (`SCRX_REDIS_CLUSTER_URL`), both from `scripts/services.sh`. One queue's keys share one
//!   hash tag, so one queue lives on one master: a cluster spreads queues (namespaces) and
//!   organizations, not one queue.
//! - PostgreSQL: `POST /v1/jobs` latency (p50, p99 at concurrency 8) of a `scraperx-api serve`
//!   over a database of the run's own, direct (`DATABASE_URL`) and through PgBouncer in
//!   transaction mode (`SCRX_PGBOUNCER_URL`).
//!
//!     bench-scale --api target/release/scraperx-api [--jobs 20000] [--requests 2000]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::future::join_all;
use scraperx_bench::{BenchDatabase, arg, ms, percentile, result, start_api};
use scraperx_core::{
    config::{RedisConfig, RedisTopology},
    domain::{OrgId, Plan},
    hot::{
        self, RedisConn, TtlConfig,
        rate_limit::{Limit, RateLimiter, Scope, Window},
    },
    pg::{Db, NewApiKey, NewOrganization},
    queue::{JobQueue, Share},
};

const COMPARISON: &str = "scale-out";
const SINGLE: &str = "peer: one Redis";
const CLUSTER: &str = "Redis Cluster, 3 masters";
const LEASE: Duration = Duration::from_secs(30);

fn queues(conn: &RedisConn, count: usize) -> Vec<JobQueue> {
    (0..count)
        .map(|_| {
            let name = format!("bench-{}", uuid::Uuid::new_v4().simple());
            JobQueue::named(conn.clone(), &name).with_owner("bench-worker")
        })
        .collect()
}

async fn clear(conn: &RedisConn, qs: &[JobQueue]) {
    for q in qs {
        // One queue's keys share a slot: one DEL each.
        let _: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(q.keys())
            .query_async(&mut conn.clone())
            .await;
    }
}

/// `n` jobs enqueued by 100 tasks over `qs`, then dequeued and acked by 100 tasks: rates.
async fn queue_rates(conn: &RedisConn, n: usize, qs: usize) -> anyhow::Result<(f64, f64)> {
    let qs = queues(conn, qs);
    let share = Share::of_plan(OrgId::new(), 1_000_000);
    let c = 100;
    let started = Instant::now();
    let tasks = (0..c).map(|t| {
        let q = qs[t % qs.len()].clone();
        tokio::spawn(async move {
            for i in 0..n / c {
                let id = format!("{t}-{i}");
                q.enqueue_for(share, &id, "{}", 5, Duration::ZERO).await?;
            }
            anyhow::Ok(())
        })
    });
    for t in join_all(tasks).await {
        t??;
    }
    let enqueue = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let tasks = (0..c).map(|t| {
        let q = qs[t % qs.len()].clone();
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
    let dequeue = done as f64 / started.elapsed().as_secs_f64();
    clear(conn, &qs).await;
    Ok((enqueue, dequeue))
}

/// `n` checks of the per-second and per-minute limits of 1,000 organizations, by 100 tasks.
async fn limiter_rate(conn: &RedisConn, n: usize) -> anyhow::Result<f64> {
    let limiter = RateLimiter::new(conn.clone(), TtlConfig::default());
    let orgs: Vec<OrgId> = (0..1000).map(|_| OrgId::new()).collect();
    let limits = [
        Limit {
            scope: Scope::Organization,
            window: Window::Second,
            max: 1_000_000,
        },
        Limit {
            scope: Scope::Organization,
            window: Window::Minute,
            max: 1_000_000,
        },
    ];
    let c = 100;
    let started = Instant::now();
    let tasks = (0..c).map(|t| {
        let (limiter, orgs) = (limiter.clone(), orgs.clone());
        tokio::spawn(async move {
            for i in 0..n / c {
                limiter
                    .check(orgs[(t * 7 + i) % orgs.len()], &limits)
                    .await?;
            }
            anyhow::Ok(())
        })
    });
    for t in join_all(tasks).await {
        t??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn redis_side(config: &RedisConfig, side: &str, n: usize) -> anyhow::Result<()> {
    let conn = hot::connect(config).await?;
    for qs in [1, 8] {
        let (enqueue, dequeue) = queue_rates(&conn, n, qs).await?;
        let on = if qs == 1 { "one queue" } else { "8 queues" };
        result(
            COMPARISON,
            &format!("enqueue, c=100, {on}"),
            side,
            enqueue,
            "jobs/s",
        );
        result(
            COMPARISON,
            &format!("dequeue + ack, c=100, {on}"),
            side,
            dequeue,
            "jobs/s",
        );
    }
    let checks = limiter_rate(&conn, n).await?;
    result(
        COMPARISON,
        "rate-limit checks, c=100, 1,000 orgs",
        side,
        checks,
        "checks/s",
    );
    Ok(())
}

/// `POST /v1/jobs` latencies of an API whose database is `envs`' (p50, p99).
async fn submit_latency(
    api_bin: &str,
    envs: &[(&str, String)],
    secret: &str,
    site: &str,
    requests: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let mut envs = envs.to_vec();
    let namespace = format!("bench{}-", uuid::Uuid::new_v4().simple());
    envs.push(("SCRX_QUEUE_NAMESPACE", namespace));
    let (mut api, base) = start_api(api_bin, &envs).await?;
    let http = reqwest::Client::new();
    let c = 8;
    let tasks = (0..c).map(|t| {
        let (http, base, secret) = (http.clone(), base.clone(), secret.to_owned());
        let site = site.to_owned();
        tokio::spawn(async move {
            let mut took = Vec::with_capacity(requests / c);
            for i in 0..requests / c {
                let started = Instant::now();
                let response = http
                    .post(format!("{base}/v1/jobs"))
                    .bearer_auth(&secret)
                    .header("content-type", "application/json")
                    .body(serde_json::json!({ "url": format!("{site}/page/{t}-{i}") }).to_string())
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!(
                        "POST /v1/jobs: {}: {}",
                        response.status(),
                        response.text().await?
                    );
                }
                took.push(started.elapsed());
            }
            anyhow::Ok(took)
        })
    });
    let mut took = Vec::with_capacity(requests);
    for t in join_all(tasks).await {
        took.extend(t??);
    }
    took.sort_unstable();
    api.start_kill()?;
    let _ = api.wait().await;
    Ok((percentile(&took, 0.5), percentile(&took, 0.99)))
}

async fn postgres_sides(api_bin: &str, requests: usize) -> anyhow::Result<()> {
    let bouncer = std::env::var("SCRX_PGBOUNCER_URL").context("SCRX_PGBOUNCER_URL")?;
    let database = BenchDatabase::create(4).await?;
    let db = Db::from_pool(database.pool.clone());
    let mut new = NewOrganization::new(
        "Bench",
        &format!("bench-{}", uuid::Uuid::new_v4().simple()),
        "bench@bench.local",
    );
    new.plan = Plan::Enterprise;
    new.credits_balance = 10 * requests as i64;
    new.max_concurrent_jobs = 1000;
    new.rate_limit_per_second = 10_000;
    let org = db.create_organization(&new).await?;
    let (_, secret) = db
        .create_api_key(org.id, &NewApiKey::named("bench"))
        .await?;
    let name = database.url.rsplit_once('/').map(|(_, n)| n.to_owned());
    let through = match (bouncer.rsplit_once('/'), name) {
        (Some((server, _)), Some(name)) => format!("{server}/{name}"),
        _ => bail!("SCRX_PGBOUNCER_URL has no database name"),
    };
    let site = "http://127.0.0.1:9";
    let direct = [("DATABASE_URL", database.url.clone())];
    let bounced = [
        ("DATABASE_URL", through),
        ("SCRX_DATABASE_DIRECT_URL", database.url.clone()),
    ];
    for (side, envs) in [
        ("peer: PostgreSQL direct", &direct[..]),
        ("through PgBouncer (transaction mode)", &bounced[..]),
    ] {
        let (p50, p99) = submit_latency(api_bin, envs, secret.expose(), site, requests).await?;
        result(COMPARISON, "POST /v1/jobs, c=8, p50", side, ms(p50), "ms");
        result(COMPARISON, "POST /v1/jobs, c=8, p99", side, ms(p99), "ms");
    }
    database.remove().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api_bin = arg("api", "target/release/scraperx-api");
    let n: usize = arg("jobs", "20000").parse()?;
    let requests: usize = arg("requests", "2000").parse()?;
    let single = RedisConfig::from_env()?;
    let cluster = RedisConfig {
        url: std::env::var("SCRX_REDIS_CLUSTER_URL")
            .context("SCRX_REDIS_CLUSTER_URL (scripts/services.sh env)")?,
        topology: RedisTopology::Cluster,
    };
    redis_side(&single, SINGLE, n).await?;
    redis_side(&cluster, CLUSTER, n).await?;
    postgres_sides(&api_bin, requests).await
}

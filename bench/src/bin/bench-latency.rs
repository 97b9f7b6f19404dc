//! Comparison: seed 001 §10.3's latency targets. A database of the run's own is filled with
//! 1,000,000 jobs (one organization in ten owns them, the bench's owns a tenth of them, over
//! thirty days), a `scraperx-api serve` process serves it, and each operation runs for a
//! few seconds at 1, 16 and 64 clients. The job operations twice: through the REST API
//! (`POST /v1/jobs`, which also queues the job on Redis; `GET /v1/jobs/{id}`; `GET /v1/jobs`,
//! the first page of 20), whose figure holds HTTP, the key's authentication and the rate
//! limit, and at the storage layer the seed's table describes (`Db::submit_job`, one
//! transaction with the credit reservation and the event; `Db::get_job`; `Db::list_jobs`,
//! over a pool of 16 connections). Then cache hit and cache miss + set (the response cache
//! on Redis, a 10 KB page), MinIO upload and download of 1 MB (the content store). Each
//! figure is printed beside the seed's target as the peer, so "vs peer" above 1 means the
//! target is met.
//!
//!     bench-latency --api target/release/scraperx-api --site http://127.0.0.1:PORT
//!         [--jobs 1000000] [--clients 1,16,64] [--seconds 4]

use std::{
    collections::BTreeMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use bytes::Bytes;
use chrono::Utc;
use scraperx_bench::{
    BenchDatabase, arg, arg_list, bench_organization, ms, percentile, result, start_api_over,
};
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::{Bucket, ContentStore, JobRef, ensure_buckets},
    dispatch::QueueSet,
    domain::{Engine, HttpMethod, JobId, JobOptions, OrgId, RequestHeaders},
    hot::{
        self, TtlConfig,
        cache::{CacheClass, CacheRequest, CachedResponse, ResponseCache},
    },
    pg::{Db, JobFilter, NewJob},
};

const COMPARISON: &str = "latency";

/// Seed 001 §10.3: operation, target in ms.
const TARGETS: [(&str, f64); 10] = [
    ("job insert (REST)", 10.0),
    ("job lookup by id (REST)", 5.0),
    ("job list by organization (REST)", 50.0),
    ("job insert (storage)", 10.0),
    ("job lookup by id (storage)", 5.0),
    ("job list by organization (storage)", 50.0),
    ("cache hit", 1.0),
    ("cache miss + set", 5.0),
    ("MinIO upload 1 MB", 100.0),
    ("MinIO download 1 MB", 100.0),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api_bin = arg("api", "target/release/scraperx-api");
    let site = arg("site", "http://127.0.0.1:9");
    let jobs: i64 = arg("jobs", "1000000").parse()?;
    let clients = arg_list("clients", "1,16,64")?;
    let seconds: u64 = arg("seconds", "4").parse()?;
    let database = BenchDatabase::create(4).await?;
    let (org, secret) = bench_organization(&database, |new| {
        new.credits_balance = 1_000_000_000;
        new.max_concurrent_jobs = 100_000;
        new.rate_limit_per_second = 1_000_000;
    })
    .await?;
    let started = Instant::now();
    seed_jobs(&database.pool, org, jobs).await?;
    eprintln!("latency: {jobs} jobs seeded in {:.1?}", started.elapsed());
    let ids: Arc<Vec<uuid::Uuid>> = Arc::new(
        sqlx::query_scalar(
            "SELECT id FROM scrape_jobs WHERE organization_id = $1 ORDER BY random() LIMIT 10000",
        )
        .bind(org)
        .fetch_all(&database.pool)
        .await?,
    );
    let (mut api, base, namespace) = start_api_over(&api_bin, &database).await?;
    let client = Client {
        http: reqwest::Client::new(),
        base,
        key: secret,
    };
    let run = Run {
        clients,
        window: Duration::from_secs(seconds),
    };
    api_operations(&run, &client, &site, ids.clone()).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&database.url)
        .await?;
    storage_operations(&run, Db::from_pool(pool), org, &site, ids).await?;
    cache_operations(&run).await?;
    minio_operations(&run).await?;
    api.start_kill()?;
    let _ = api.wait().await;
    let mut conn = hot::connect(&RedisConfig::from_env()?).await?;
    for q in QueueSet::new(conn.clone(), &namespace).jobs() {
        let _: redis::RedisResult<()> =
            redis::cmd("DEL").arg(q.keys()).query_async(&mut conn).await;
    }
    database.remove().await;
    Ok(())
}

/// `n` finished jobs over thirty days, in chunks of 100,000: one organization in ten owns
/// them (99 others made here), the bench's `org` a tenth of them; then ANALYZE.
async fn seed_jobs(pool: &sqlx::PgPool, org: OrgId, n: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO organizations (name, slug, billing_email) \
         SELECT 'Filler ' || g, 'filler-' || g || '-' || md5(random()::text), 'f@bench.local' \
         FROM generate_series(1, 99) g",
    )
    .execute(pool)
    .await?;
    let chunk = 100_000;
    let mut done = 0;
    while done < n {
        let upto = (done + chunk).min(n);
        sqlx::query(
            "WITH orgs AS (SELECT array_agg(id ORDER BY id) AS ids FROM organizations \
                 WHERE id <> $1) \
             INSERT INTO scrape_jobs (id, organization_id, url, url_hash, engine, status, \
                 attempts, created_at, queued_at, started_at, completed_at, credits_estimated, \
                 credits_charged, credits_settled_at) \
             SELECT gen_random_uuid(), \
                 CASE WHEN g % 10 = 0 THEN $1 ELSE orgs.ids[1 + g % array_length(orgs.ids, 1)] END, \
                 'https://site-' || (g % 5000) || '.example/page/' || g, '', 'http', \
                 CASE WHEN g % 20 = 0 THEN 'failed' ELSE 'completed' END, 1, at, at, at, \
                 at + interval '2 seconds', 1, 1, at + interval '2 seconds' \
             FROM generate_series($2::bigint, $3::bigint - 1) g, orgs, \
                 LATERAL (SELECT NOW() - (g::float8 / $3::float8) * interval '30 days' AS at) t",
        )
        .bind(org)
        .bind(done)
        .bind(upto)
        .execute(pool)
        .await
        .context("seeding jobs")?;
        done = upto;
    }
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

struct Run {
    clients: Vec<usize>,
    window: Duration,
}

impl Run {
    /// Runs `op` from each of `c` clients for the window, for every client count, and prints
    /// p50 and p99 beside the target of `name`.
    async fn measure<F, Fut>(&self, name: &str, op: F) -> anyhow::Result<()>
    where
        F: Fn(u64) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send,
    {
        let target = TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, t)| *t);
        for &c in &self.clients {
            let mut times = clients(c, self.window, op.clone()).await?;
            times.sort_unstable();
            for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
                let measure = format!("{name}, c={c}, {label}");
                result(
                    COMPARISON,
                    &measure,
                    "peer: seed 001 §10.3 target",
                    target,
                    "ms",
                );
                result(
                    COMPARISON,
                    &measure,
                    "ScraperX",
                    ms(percentile(&times, p)),
                    "ms",
                );
            }
            eprintln!("latency: {name}, c={c}: {} operations", times.len());
        }
        Ok(())
    }
}

/// `c` tasks each running `op` back to back for `window`; every operation's time.
async fn clients<F, Fut>(c: usize, window: Duration, op: F) -> anyhow::Result<Vec<Duration>>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let until = Instant::now() + window;
    let tasks: Vec<_> = (0..c)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut times = Vec::new();
                let mut i = t as u64 * 1_000_000_000;
                while Instant::now() < until {
                    let began = Instant::now();
                    op(i).await?;
                    times.push(began.elapsed());
                    i += 1;
                }
                anyhow::Ok(times)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

async fn api_operations(
    run: &Run,
    client: &Client,
    site: &str,
    ids: Arc<Vec<uuid::Uuid>>,
) -> anyhow::Result<()> {
    let (http, base, key) = (client.http.clone(), client.base.clone(), client.key.clone());
    let (h, b, k, s) = (http.clone(), base.clone(), key.clone(), site.to_owned());
    run.measure("job insert (REST)", move |i| {
        let request = h
            .post(format!("{b}/v1/jobs"))
            .bearer_auth(&k)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "url": format!("{s}/page/{}", i % 10_000) }).to_string());
        async move { ok(request.send().await?).await }
    })
    .await?;
    let (h, b, k) = (http.clone(), base.clone(), key.clone());
    run.measure("job lookup by id (REST)", move |i| {
        let id = ids[(i.wrapping_mul(7919) % ids.len() as u64) as usize];
        let request = h.get(format!("{b}/v1/jobs/{id}")).bearer_auth(&k);
        async move { ok(request.send().await?).await }
    })
    .await?;
    run.measure("job list by organization (REST)", move |_| {
        let request = http
            .get(format!("{base}/v1/jobs?limit=20"))
            .bearer_auth(&key);
        async move { ok(request.send().await?).await }
    })
    .await
}

/// The job operations on `Db`, as the API calls them.
async fn storage_operations(
    run: &Run,
    db: Db,
    org: OrgId,
    site: &str,
    ids: Arc<Vec<uuid::Uuid>>,
) -> anyhow::Result<()> {
    let (d, s) = (db.clone(), site.to_owned());
    run.measure("job insert (storage)", move |i| {
        let (d, job) = (d.clone(), NewJob::get(&format!("{s}/page/{}", i % 10_000)));
        async move {
            d.submit_job(org, None, &job).await?;
            Ok(())
        }
    })
    .await?;
    let d = db.clone();
    run.measure("job lookup by id (storage)", move |i| {
        let d = d.clone();
        let id = JobId::from(ids[(i.wrapping_mul(7919) % ids.len() as u64) as usize]);
        async move {
            d.get_job(org, id).await?;
            Ok(())
        }
    })
    .await?;
    run.measure("job list by organization (storage)", move |_| {
        let d = db.clone();
        async move {
            d.list_jobs(org, &JobFilter::default(), None, 20).await?;
            Ok(())
        }
    })
    .await
}

/// The response read to its end; an error unless it is a success.
async fn ok(response: reqwest::Response) -> anyhow::Result<()> {
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        anyhow::bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

async fn cache_operations(run: &Run) -> anyhow::Result<()> {
    let conn = hot::connect(&RedisConfig::from_env()?).await?;
    let cache = ResponseCache::new(conn, TtlConfig::default());
    let prefix = format!("https://bench-{}.example", uuid::Uuid::new_v4().simple());
    let page = Arc::new(CachedResponse {
        status_code: 200,
        final_url: format!("{prefix}/hit"),
        headers: BTreeMap::new(),
        content_type: Some("text/html".into()),
        body: Some("<p>a cached row of text</p>".repeat(380)),
        object: None,
        content_hash: "0".into(),
        extracted: None,
        cached_at: Utc::now().timestamp_millis(),
    });
    let hit = cache_key(&format!("{prefix}/hit"))?;
    cache.put(&hit, &page, CacheClass::Default).await?;
    let c = cache.clone();
    run.measure("cache hit", move |_| {
        let (c, key) = (c.clone(), hit.clone());
        async move {
            c.get(&key, None).await?.context("a hit")?;
            Ok(())
        }
    })
    .await?;
    let prefix = Arc::new(prefix);
    run.measure("cache miss + set", move |_| {
        let (c, page, prefix) = (cache.clone(), page.clone(), prefix.clone());
        async move {
            let key = cache_key(&format!("{prefix}/miss/{}", uuid::Uuid::new_v4()))?;
            anyhow::ensure!(c.get(&key, None).await?.is_none(), "a miss");
            c.put(&key, &page, CacheClass::Default).await?;
            Ok(())
        }
    })
    .await
}

fn cache_key(url: &str) -> anyhow::Result<scraperx_core::hot::cache::CacheKey> {
    Ok(CacheRequest {
        url,
        method: HttpMethod::Get,
        engine: Engine::Http,
        headers: &RequestHeaders::default(),
        body: None,
        options: &JobOptions::default(),
        country: None,
        organization: OrgId::from(uuid::Uuid::nil()),
    }
    .key()?)
}

async fn minio_operations(run: &Run) -> anyhow::Result<()> {
    let admin = ContentStore::new(&S3Config::from_env_for_role("ADMIN")?);
    ensure_buckets(admin.client()).await?;
    let store = ContentStore::new(&S3Config::from_env_for_role("WORKER")?);
    let org = OrgId::from(uuid::Uuid::new_v4());
    // Incompressible bytes: the store keeps a PDF as it is, so 1 MB goes over the wire.
    let mb: Bytes = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into();
    let job = move |_: u64| JobRef {
        org,
        job: JobId::from(uuid::Uuid::new_v4()),
        created_at: Utc::now(),
    };
    let (s, m) = (store.clone(), mb.clone());
    run.measure("MinIO upload 1 MB", move |i| {
        let (s, m) = (s.clone(), m.clone());
        async move {
            s.store_pdf(job(i), m).await?;
            Ok(())
        }
    })
    .await?;
    let stored = store.store_pdf(job(0), mb).await?;
    let key = Arc::new(stored.key);
    let s = store.clone();
    run.measure("MinIO download 1 MB", move |_| {
        let (s, key) = (s.clone(), key.clone());
        async move {
            s.get(Bucket::Pdfs, &key).await?;
            Ok(())
        }
    })
    .await?;
    let api = ContentStore::new(&S3Config::from_env_for_role("API")?);
    api.delete_prefix(Bucket::Pdfs, &format!("{org}/")).await?;
    Ok(())
}

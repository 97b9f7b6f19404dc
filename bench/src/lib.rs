//! Shared by the benchmark drivers of `bench/run.sh`: the figures they print, each on a
//! line `RESULT <comparison> <measure> <side> <value> <unit>` that `bench/report.py` pairs
//! with its peer's; the resident memory of processes read from `/proc`; percentiles; and a
//! database of the run's own, created and migrated on the server of `DATABASE_URL` and
//! dropped after, so a benchmark never reads or leaves anyone else's rows. Drivers print;
//! nothing here asserts a speed.

use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};

/// Prints one figure for the report.
pub fn result(comparison: &str, measure: &str, side: &str, value: f64, unit: &str) {
    println!("RESULT\t{comparison}\t{measure}\t{side}\t{value:.3}\t{unit}");
}

/// The `p`-th nearest-rank percentile of sorted `values`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[path = "../../core/benches/support/procfs.rs"]
mod procfs;
pub use procfs::{own_rss_mib, peak_rss_mib, tree_rss_mib, tree_rss_of_mib};

/// Samples [`tree_rss_of_mib`] every 200 ms until dropped; [`PeakSampler::peak`] is the
/// highest.
pub struct PeakSampler {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    /// Process `root` (e.g. a Chromium) and its descendants: only this run's processes.
    pub fn tree(root: u32) -> Self {
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                let kib = (tree_rss_of_mib(root) * 1024.0) as u64;
                seen.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { peak, task }
    }

    pub fn peak(&self) -> f64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A database of the run's own.
pub struct BenchDatabase {
    pub pool: PgPool,
    pub url: String,
    name: String,
    admin: PgConnection,
}

impl BenchDatabase {
    /// Creates and migrates the database, with a pool of `max_connections`.
    pub async fn create(max_connections: u32) -> anyhow::Result<Self> {
        let server =
            std::env::var("DATABASE_URL").context("DATABASE_URL (scripts/services.sh env)")?;
        let name = format!("scrx_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let url = match server.rsplit_once('/') {
            Some((host, _)) => format!("{host}/{name}"),
            None => anyhow::bail!("DATABASE_URL has no database name"),
        };
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&url)
            .await?;
        scraperx_core::pg::MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            url,
            name,
            admin,
        })
    }

    /// Closes the pool and drops the database.
    pub async fn remove(mut self) {
        self.pool.close().await;
        let _ = sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut self.admin)
            .await;
    }
}

/// The pages of the benchmark site at `site`: `/page/0` .. `/page/{n-1}`.
pub fn page_urls(site: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{site}/page/{i}")).collect()
}

/// The value of `--name` in the command line, or `default`.
pub fn arg(name: &str, default: &str) -> String {
    let flag = format!("--{name}");
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

/// A comma-separated list of numbers from `--name`.
pub fn arg_list(name: &str, default: &str) -> anyhow::Result<Vec<usize>> {
    arg(name, default)
        .split(',')
        .map(|s| s.trim().parse().with_context(|| format!("--{name}: {s:?}")))
        .collect()
}

/// `scraperx-worker run` at `bin`, http engine only, `c` slots (and as many per domain), on
/// the database at `database_url` and the queues of `namespace`, quiet, killed when dropped.
pub fn worker_command(
    bin: &str,
    database_url: &str,
    namespace: &str,
    c: usize,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(bin);
    command
        .arg("run")
        .env("DATABASE_URL", database_url)
        .env("SCRX_QUEUE_NAMESPACE", namespace)
        .env("SCRX_WORKER_ENGINES", "http")
        .env("SCRX_WORKER_CONCURRENCY", c.to_string())
        .env("SCRX_DOMAIN_CONCURRENCY", c.to_string())
        .env("SCRX_ALLOW_PRIVATE_TARGETS", "true")
        .env("SCRX_WORKER_ADDR", "127.0.0.1:0")
        .env("SCRX_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// `scraperx-api serve` at `bin` on a free loopback port, with `envs` (its database and queue
/// namespace among them), private targets allowed, quiet, killed when dropped; returned with
/// its base URL once `/healthz` answers (30 s at most).
pub async fn start_api(
    bin: &str,
    envs: &[(&str, String)],
) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut api = tokio::process::Command::new(bin)
        .arg("serve")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SCRX_API_ADDR", format!("127.0.0.1:{port}"))
        .env("SCRX_ALLOW_PRIVATE_TARGETS", "true")
        .env("SCRX_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("the API did not start");
        }
        if let Some(status) = api.try_wait()? {
            anyhow::bail!("the API exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((api, base))
}

/// An Enterprise organization in `database` (shaped by `shape`: credits, limits) and the
/// secret of an API key of its own.
pub async fn bench_organization(
    database: &BenchDatabase,
    shape: impl FnOnce(&mut scraperx_core::pg::NewOrganization),
) -> anyhow::Result<(scraperx_core::domain::OrgId, String)> {
    let db = scraperx_core::pg::Db::from_pool(database.pool.clone());
    let mut new = scraperx_core::pg::NewOrganization::new(
        "Bench",
        &format!("bench-{}", uuid::Uuid::new_v4().simple()),
        "bench@bench.local",
    );
    new.plan = scraperx_core::domain::Plan::Enterprise;
    shape(&mut new);
    let org = db.create_organization(&new).await?;
    let (_, secret) = db
        .create_api_key(org.id, &scraperx_core::pg::NewApiKey::named("bench"))
        .await?;
    Ok((org.id, secret.expose().to_owned()))
}

/// [`start_api`] over `database`, its jobs on queues of a namespace of their own (returned).
pub async fn start_api_over(
    bin: &str,
    database: &BenchDatabase,
) -> anyhow::Result<(tokio::process::Child, String, String)> {
    let namespace = format!("bench{}-", uuid::Uuid::new_v4().simple());
    let envs = [
        ("DATABASE_URL", database.url.clone()),
        ("SCRX_QUEUE_NAMESPACE", namespace.clone()),
    ];
    let (api, base) = start_api(bin, &envs).await?;
    Ok((api, base, namespace))
}

//! The fault drill: real worker processes over private Postgres, Redis and MinIO, loaded
//! with pages a local site serves, and each fault in turn (kill -9 of workers, Redis
//! restarting empty, Postgres crashing, MinIO stopping, a Redis Cluster master killed,
//! Chromium killed mid-page). For each it counts jobs submitted, completed, failed, lost and
//! charged twice, and how long the jobs in flight at the fault took to be taken up again.

pub mod faults;
pub mod report;
pub mod stack;
pub mod watch;

use std::time::Duration;

use axum::{Router, extract::Query, routing::get};
use sqlx::PgPool;

use stack::Stack;

/// Jobs of the largest fault (`SCRX_DRILL_JOBS`); the tests run a small drill, the
/// documented command (`scripts/drill.sh`) the full one of 2,000.
pub const ENV_JOBS: &str = "SCRX_DRILL_JOBS";
/// The faults to run, comma-separated (`kill,redis,postgres,minio,failover,chromium`; all by default).
pub const ENV_FAULTS: &str = "SCRX_DRILL_FAULTS";
/// The workers' log filter (`RUST_LOG` syntax; `warn` by default); logs go to
/// `$SCRX_SCRATCH/drill-logs/<worker>.log`.
pub const ENV_LOG: &str = "SCRX_DRILL_LOG";

pub struct Drill {
    pub stack: Stack,
    pub site: String,
    pub jobs: usize,
}

impl Drill {
    pub async fn start(default_jobs: usize) -> Self {
        let jobs = std::env::var(ENV_JOBS)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_jobs);
        let started = std::time::Instant::now();
        let stack = Stack::start().await;
        println!("drill services up in {:?}", started.elapsed());
        Self {
            stack,
            site: site().await,
            jobs,
        }
    }

    /// Whether the fault named `fault` is to run.
    pub fn runs(&self, fault: &str) -> bool {
        std::env::var(ENV_FAULTS)
            .map(|list| list.split(',').any(|f| f.trim() == fault))
            .unwrap_or(true)
    }

    pub fn pool(&self) -> &PgPool {
        self.stack.db.pool()
    }
}

#[derive(serde::Deserialize)]
struct Page {
    n: u64,
    delay: u64,
}

/// Pages of about 2 KB that answer after `delay` ms.
async fn site() -> String {
    let router = Router::new().route(
        "/page",
        get(|Query(page): Query<Page>| async move {
            tokio::time::sleep(Duration::from_millis(page.delay)).await;
            let para = "<p>Fault drill paragraph with a few words to carry.</p>".repeat(30);
            axum::response::Html(format!(
                "<html><head><title>page {}</title></head><body><h1>Page {}</h1>{para}</body></html>",
                page.n, page.n
            ))
        }),
    );
    format!("http://{}", crate::common::serve(router).await)
}

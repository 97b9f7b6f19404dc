//! Benchmark (issue 17): a batch of 100,000 URLs through a ScrapeBatch, from the resource's
//! creation until every job is queued in Postgres and waiting in Redis. The URLs come from a
//! ConfigMap key holding them gzipped in `binaryData` (100,000 URLs are more than a
//! ConfigMap's 1 MiB as text); the operator's controllers run against the real
//! kube-apiserver (`e2e/control-plane.sh`), Postgres and Redis, as in `e2e.rs`. No worker
//! runs: the URLs are never fetched. It prints; it asserts nothing about time. It runs in
//! a database of its own (`scraperx_bench::BenchDatabase`), dropped after; `bench/run.sh
//! batch` runs it beside the REST path (`bench-batch`):
//!
//!     cargo bench -p scraperx-operator --bench batch

#[path = "../tests/cluster/mod.rs"]
mod cluster;

use std::{
    io::Write,
    time::{Duration, Instant},
};

use k8s_openapi::{ByteString, api::core::v1::ConfigMap};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use scraperx_bench::BenchDatabase;
use scraperx_core::{
    domain::{Engine, Plan},
    pg::NewOrganization,
};
use scraperx_operator::crd::ScrapeBatch;

use cluster::cluster;

fn urls() -> usize {
    std::env::var("BENCH_BATCH_URLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// `n` URLs of a site that is never fetched, one per line, gzipped.
fn gzipped_list(n: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..n {
        writeln!(enc, "http://127.0.0.1:9/page/{i}").expect("gzip in memory");
    }
    enc.finish().expect("gzip in memory")
}

#[tokio::main]
async fn main() {
    let n = urls();
    let database = BenchDatabase::create(8)
        .await
        .expect("a database of its own");
    let pool = database.pool.clone();
    let c = cluster(pool.clone()).await;
    let mut new = NewOrganization::new(
        "bench",
        &format!("b-{}", uuid::Uuid::new_v4().simple()),
        "b@bench.test",
    );
    new.plan = Plan::Enterprise;
    new.credits_balance = 100 * n as i64;
    new.max_batch_size = n as i32;
    c.org_secret_of(&new).await;
    let list = gzipped_list(n);
    eprintln!("batch: {n} URLs, {} KiB gzipped", list.len() / 1024);
    Api::<ConfigMap>::namespaced(c.client.clone(), &c.ns)
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("urls".into()),
                    ..ObjectMeta::default()
                },
                binary_data: Some([("urls.gz".to_owned(), ByteString(list))].into()),
                ..ConfigMap::default()
            },
        )
        .await
        .expect("configmap");
    let _controllers = c.start();
    let sb: ScrapeBatch = serde_json::from_value(serde_json::json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeBatch",
        "metadata": { "name": "many" },
        "spec": { "organizationRef": { "name": "scraperx-key", "key": "apiKey" },
                  "urlsFrom": { "name": "urls", "key": "urls.gz" }, "engine": "http" },
    }))
    .expect("manifest");
    let started = Instant::now();
    Api::<ScrapeBatch>::namespaced(c.client.clone(), &c.ns)
        .create(&PostParams::default(), &sb)
        .await
        .expect("batch");
    let http = c.queues.for_engine(Engine::Http);
    // Redis first (a jobs' entries go on it after their rows commit), Postgres once it has
    // them all: counting 100,000 rows every poll would slow the run it measures.
    loop {
        let waiting = http.depth().await.expect("depth").waiting;
        if waiting as usize >= n {
            let queued: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM scrape_jobs WHERE status = 'queued'")
                    .fetch_one(&pool)
                    .await
                    .expect("count");
            if queued as usize >= n {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{waiting} of {n} in Redis after 600 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed().as_secs_f64();
    let side = "ScraperX ScrapeBatch (gzipped ConfigMap)";
    println!("RESULT\tbatch\t{n} URLs until all queued\t{side}\t{took:.3}\ts");
    println!(
        "RESULT\tbatch\t{n} URLs, rate\t{side}\t{:.1}\tURLs/s",
        n as f64 / took
    );
    let _: redis::RedisResult<()> = redis::cmd("DEL")
        .arg(http.keys())
        .query_async(&mut c.redis.clone())
        .await;
    database.remove().await;
}

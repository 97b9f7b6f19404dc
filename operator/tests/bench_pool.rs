//! Benchmark (issue 17): the WorkerPool's reaction, from a jump in its queue's depth to the
//! replica change on its Deployment, and back to zero when the queue empties. The operator's
//! controllers run against the real kube-apiserver (`e2e/control-plane.sh`) and Redis, as in
//! `e2e.rs`; each round puts a different number of jobs on the queue and times how long the
//! Deployment takes to show the replicas the scaler's rule asks for. It prints; it asserts
//! nothing about time. Each round starts well after the last one's reconciles and at its own
//! point of the poll, so the figure is the poll's and not an event's. Its command,
//! `bench/run.sh pool`, runs it with `--ignored`:
//!
//!     cargo test --release -p scraperx-operator --test bench_pool -- --ignored --nocapture

mod cluster;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use scraperx_core::{domain::Engine, queue::QueuedJob};
use sqlx::PgPool;

use cluster::cluster;

const ROUNDS: usize = 10;
/// Jobs per replica the pool asks for.
const TARGET: usize = 2;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn print(measure: &str, mut times: Vec<Duration>) {
    times.sort_unstable();
    for (label, p) in [("p50", 0.5), ("max", 1.0)] {
        println!(
            "RESULT\tpool\t{measure}, {label}\tScraperX operator (1 s depth poll)\t{:.0}\tms",
            percentile(&times, p).as_secs_f64() * 1_000.0
        );
    }
}

async fn replicas(deployments: &Api<Deployment>) -> Option<i32> {
    deployments
        .get_opt("scraperx-worker-http")
        .await
        .ok()
        .flatten()
        .and_then(|d| d.spec.and_then(|s| s.replicas))
}

/// Time until the Deployment shows `want` replicas (or 30 s).
async fn until(deployments: &Api<Deployment>, want: i32) -> Duration {
    let started = Instant::now();
    while replicas(deployments).await != Some(want) && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
#[ignore = "a benchmark: bench/run.sh pool"]
async fn worker_pool_reaction(pool: PgPool) {
    let c = cluster(pool).await;
    let _controllers = c.start();
    let deployments = c.http_pool(20, TARGET as u32).await;
    until(&deployments, 0).await;
    let http = c.queues.for_engine(Engine::Http);
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Past the reconciles the last round's changes set off, and at a different point of
        // the one-second poll each round: the jump is seen by the poll, not by an event.
        tokio::time::sleep(Duration::from_millis(1_500 + 97 * round as u64)).await;
        let jobs = TARGET * (round % 5 + 2) + 1;
        let want = jobs.div_ceil(TARGET) as i32;
        let mut ids = Vec::with_capacity(jobs);
        for _ in 0..jobs {
            let id = scraperx_core::domain::JobId::new();
            let payload = QueuedJob { job_id: id }.to_payload();
            http.enqueue(&id.to_string(), &payload, 5, Duration::ZERO)
                .await
                .expect("enqueue");
            ids.push(id);
        }
        up.push(until(&deployments, want).await);
        for id in &ids {
            http.remove(&id.to_string()).await.expect("remove");
        }
        down.push(until(&deployments, 0).await);
    }
    println!("\nWorkerPool reaction over {ROUNDS} rounds (3 to 11 replicas):");
    print("queue depth jump to replicas set", up);
    print("queue emptied to zero replicas", down);
}

//! Shared by the benchmarks: run an operation many times over tasks and print figures.

use std::time::{Duration, Instant};

use futures::future::join_all;

/// Runs `op` `n` times over `concurrency` tasks; prints ops/s and latency percentiles.
pub async fn measure<F, Fut>(name: &str, n: usize, concurrency: usize, op: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let per_task = n / concurrency;
    let tasks = (0..concurrency).map(|t| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let s = Instant::now();
                op(t * per_task + i).await;
                lat.push(s.elapsed());
            }
            lat
        })
    });
    let mut lat: Vec<Duration> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.expect("task"))
        .collect();
    let total = started.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{name:<44} {:>9.0} ops/s   p50 {:>8.2?}  p99 {:>8.2?}  ({} ops, {concurrency} tasks)",
        lat.len() as f64 / total.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        lat.len()
    );
}

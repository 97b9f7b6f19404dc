//! A batch canceled while one of its jobs runs: through the one cancel path, the waiting job
//! is refunded at once and the running one is stopped by its worker and settled without
//! charge, exactly as a job canceled alone.

mod common;

use std::time::Duration;

use axum::{Router, routing::get};
use common::{Harness, serve};
use scraperx_core::{
    dispatch::{cancel_batch, dispatch},
    domain::{BatchId, JobStatus},
    pg::{Job, NewJob},
    queue::QueueName,
};
use sqlx::PgPool;

/// A page that answers long after any test's patience.
fn slow_site() -> Router {
    Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    )
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_batch_canceled_mid_flight_stops_its_running_job_and_refunds_every_job_once(
    pool: PgPool,
) {
    let h = Harness::new(pool).await;
    let addr = serve(slow_site()).await;
    let org = h.org(10).await;
    let batch = BatchId::new();
    let new = NewJob::get(&format!("http://{addr}/slow"));
    let mut jobs: Vec<Job> =
        h.db.submit_jobs(org.id, None, Some(batch), &[new.clone(), new])
            .await
            .expect("submit")
            .into_iter()
            .map(|s| s.into_job())
            .collect();
    let mut refs: Vec<&mut Job> = jobs.iter_mut().collect();
    dispatch(&h.db, &h.queues(), &mut refs)
        .await
        .expect("dispatch");
    assert_eq!(h.balance(&org).await, 8, "one credit reserved per job");
    let ids: Vec<_> = jobs.iter().map(|j| j.id).collect();

    let mut config = h.config();
    config.concurrency = 1;
    let (_stop, _worker) = h.start(config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let running = loop {
        let mut running = None;
        for &id in &ids {
            if h.db.get_job_unscoped(id).await.expect("job").status == JobStatus::Running {
                running = Some(id);
            }
        }
        if let Some(id) = running {
            break id;
        }
        assert!(tokio::time::Instant::now() < deadline, "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let canceled = cancel_batch(&h.db, &h.queues(), org.id, batch)
        .await
        .expect("cancel");
    assert_eq!(
        canceled.len(),
        2,
        "the running job is canceled with the waiting one"
    );
    for &id in &ids {
        let done = h.finished(id, Duration::from_secs(10)).await;
        assert_eq!(
            (done.status, done.credits_charged),
            (JobStatus::Canceled, 0),
            "{}",
            if id == running { "running" } else { "waiting" }
        );
        let events = h.event_types(&org, id).await;
        assert_eq!(
            events.iter().filter(|e| *e == "job.canceled").count(),
            1,
            "{events:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let depth = h.queue(QueueName::Http).depth().await.expect("depth");
    assert_eq!(
        depth.total(),
        0,
        "the waiting job left its queue and the running one's lease was acknowledged"
    );
    assert_eq!(h.balance(&org).await, 10, "each job refunded once");
}

//! A Redis Cluster master killed (SIGKILL) under a queue load: the replica that takes its
//! place is found by the same connection, with nobody telling it, and every job enqueued on
//! it is there. Replication is asynchronous, so an enqueue the old master acknowledged just
//! before it died may be missing on its replica; Postgres is the truth, and the workers'
//! sweep puts such a job back. The whole platform under this fault, where no accepted job
//! may be lost, is a row of the worker's fault drill (`worker/tests/drill.rs`).

#[path = "support/redis_cluster.rs"]
mod redis_cluster;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use redis_cluster::PrivateCluster;
use scraperx_core::{
    domain::OrgId,
    hot,
    queue::{JobQueue, Share},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_s_replica_takes_over_and_no_enqueued_job_is_lost() {
    let mut cluster = tokio::task::block_in_place(PrivateCluster::start);
    let conn = hot::connect(&cluster.config()).await.expect("cluster");
    let name = format!("fo{}", uuid::Uuid::new_v4().simple());
    let queue = JobQueue::named(conn.clone(), &name).with_owner("failover-test");
    let share = Share::of_plan(OrgId::new(), 1_000_000);
    let mut accepted = HashSet::new();
    let mut after_failover = HashSet::new();
    let mut refused = 0;
    let mut killed_at = None;
    let mut back_after = None;
    let started = Instant::now();
    for n in 0..4_000u32 {
        if n == 500 {
            let master = cluster.master_of(&format!("{{queue:{name}}}"));
            tokio::task::block_in_place(|| cluster.kill(master));
            killed_at = Some(Instant::now());
        }
        let id = format!("job-{n}");
        match queue.enqueue_for(share, &id, "{}", 5, Duration::ZERO).await {
            Ok(_) => {
                if let (Some(at), None) = (killed_at, back_after) {
                    back_after = Some(at.elapsed());
                }
                if back_after.is_some() {
                    after_failover.insert(id.clone());
                }
                accepted.insert(id);
            }
            Err(err) => {
                refused += 1;
                assert!(
                    err.is_retryable(),
                    "a failover is a retryable error: {err:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let back_after = back_after.expect("enqueues succeeded again after the kill");
    println!(
        "failover: {} enqueues accepted, {refused} refused while the master was down; \
         enqueues succeeded again {back_after:.2?} after the kill",
        accepted.len()
    );
    assert!(back_after < Duration::from_secs(15), "{back_after:?}");
    // Dequeue everything, on the new master.
    let mut delivered = HashSet::new();
    while let Some(lease) = queue
        .dequeue(Duration::from_secs(30))
        .await
        .expect("dequeue")
    {
        queue.ack(&lease).await.expect("ack");
        delivered.insert(lease.id);
    }
    let lost = accepted.difference(&delivered).count();
    println!(
        "failover: {} delivered; {lost} acknowledged by the old master not replicated \
         (the sweep's to put back)",
        delivered.len()
    );
    let missing: Vec<_> = after_failover.difference(&delivered).collect();
    assert!(
        missing.is_empty(),
        "jobs enqueued on the new master lost: {missing:?}"
    );
    assert!(
        delivered.is_subset(&accepted),
        "a job delivered that was never enqueued"
    );
}

//! The fault drill at test scale: every fault (a Redis Cluster master killed among them)
//! loses no job and charges none twice, and
//! workers killed with SIGKILL have their jobs taken up again within 5 s. The full drill
//! (2,000 jobs) is `scripts/drill.sh`; both print the same table.

mod common;
mod fault_drill;
#[path = "../../core/tests/support/minio_server.rs"]
mod minio_server;
#[path = "../../core/tests/support/postgres_server.rs"]
mod postgres_server;
#[path = "../../core/tests/support/redis_cluster.rs"]
mod redis_cluster;
#[path = "../../core/tests/support/redis_server.rs"]
mod redis_server;
#[path = "../../core/tests/support/scratch.rs"]
mod scratch;

use std::time::Duration;

use fault_drill::{Drill, faults, report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fault_loses_a_job_or_charges_one_twice() {
    let mut drill = Drill::start(300).await;
    let mut rows = Vec::new();
    if drill.runs("kill") {
        rows.push(faults::kill_workers(&drill).await);
    }
    if drill.runs("redis") {
        rows.push(faults::restart_redis(&mut drill).await);
    }
    if drill.runs("postgres") {
        rows.push(faults::restart_postgres(&mut drill).await);
    }
    if drill.runs("minio") {
        rows.push(faults::stop_minio(&mut drill).await);
    }
    if drill.runs("failover") {
        rows.push(faults::fail_over_redis_master(&drill).await);
    }
    if drill.runs("chromium") {
        rows.push(faults::kill_chromium(&drill).await);
    }
    println!(
        "\nfault drill, {} jobs under kill -9:\n{}",
        drill.jobs,
        report::table(&rows)
    );
    for row in &rows {
        let t = row.tally;
        assert_eq!(
            (
                t.completed,
                t.failed,
                t.lost,
                t.charged_twice,
                row.stranded()
            ),
            (t.submitted, 0, 0, 0, 0),
            "{}: every job completes once, charged once, and every job in flight is taken up",
            row.fault
        );
    }
    let Some(kill) = rows.iter().find(|r| r.fault == faults::KILL) else {
        return;
    };
    assert!(
        !kill.reclaims.is_empty(),
        "no worker was killed holding a job"
    );
    assert!(
        kill.reclaim_max() < Some(Duration::from_secs(5)),
        "a killed worker's jobs were taken up only after {:?}",
        kill.reclaim_max()
    );
}

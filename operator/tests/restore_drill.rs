//! The restore drill (seed 001 §7, issue 19): a platform on private services is populated
//! (organizations, jobs in every state, results with MinIO content, a queue backlog), backed
//! up with the operator's `backup` commands to a second MinIO, wiped, and restored with its
//! `restore` commands into fresh services. Row counts, content checksums, balances and the
//! backlog match; then a real worker resumes: the backlog and the job that was running run,
//! and no credit is charged twice. It prints the measured restore time and data-loss window
//! beside the seed's RTO/RPO table. Nothing shared is touched.

#[path = "../../core/tests/support/minio_server.rs"]
mod minio_server;
#[path = "../../core/tests/support/postgres_server.rs"]
mod postgres_server;
#[path = "../../core/tests/support/redis_server.rs"]
mod redis_server;
mod restore_stack;
#[path = "../../core/tests/support/scratch.rs"]
mod scratch;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use restore_stack::{Platform, Target, exists, facts, folder, minio_env, pg_env, redis_env, site};
use scraperx_core::domain::JobStatus;
use scraperx_operator::{
    backup::{BackupStatus, monitor},
    metrics::Metrics,
};

use minio_server::PrivateMinio;
use postgres_server::PrivatePostgres;
use redis_server::PrivateRedis;

const CREDITS: [(&str, i64); 2] = [("drill-one", 10_000), ("drill-two", 5_000)];

/// Populates every job state: completed (by a real worker, content in MinIO), failed,
/// timeout, canceled, running (leased by a worker that is gone), pending, and a backlog.
/// Returns the organizations and the job left running.
async fn populate(
    platform: &Platform,
    site: &str,
) -> (
    Vec<scraperx_core::pg::Organization>,
    scraperx_core::domain::JobId,
) {
    let mut orgs = Vec::new();
    for (slug, credits) in CREDITS {
        orgs.push(platform.org(slug, credits).await);
    }
    let pages = |from: u32, n: u32| -> Vec<String> {
        (from..from + n)
            .map(|i| format!("{site}/page/{i}"))
            .collect()
    };
    platform.submit(&orgs[0], &pages(0, 6), false).await;
    platform.submit(&orgs[1], &pages(100, 4), false).await;
    let (stop, worker) = platform.worker();
    assert!(
        platform.settled(Duration::from_secs(60)).await,
        "the first jobs ran"
    );
    let _ = stop.send(true);
    let _ = worker.await;
    for end in [JobStatus::Failed, JobStatus::Timeout] {
        let id = platform.submit(&orgs[0], &pages(200, 1), false).await[0];
        platform.lease_as_gone_worker(id, Some(end)).await;
    }
    let running = platform.submit(&orgs[0], &pages(400, 1), false).await[0];
    platform.lease_as_gone_worker(running, None).await;
    // A canceled job stays in its queue until a worker leases and drops it.
    let canceled = platform.submit(&orgs[1], &pages(300, 1), false).await[0];
    platform
        .db
        .cancel_job(orgs[1].id, canceled)
        .await
        .expect("cancel");
    platform.submit(&orgs[1], &pages(500, 1), true).await;
    platform.submit(&orgs[0], &pages(600, 8), false).await;
    platform.submit(&orgs[1], &pages(700, 4), false).await;
    (orgs, running)
}

fn started(report: &serde_json::Value) -> DateTime<Utc> {
    report["started_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("started_at")
}

/// `1.2 s` or `3 min`.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(120) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.1} min", d.as_secs_f64() / 60.0)
    }
}

/// Restores the three stores into fresh services; the platform over them, the time each
/// restore took and all of them (fresh services started included), and the MinIO report.
async fn restore_all(target: &Target<'_>) -> (Platform, [Duration; 4], serde_json::Value) {
    let restore_started = Instant::now();
    let postgres = PrivatePostgres::start();
    let t = Instant::now();
    target.operator(&["restore", "postgres"], &pg_env(&postgres));
    let pg_restore = t.elapsed();
    let t = Instant::now();
    let redis_dir = folder("drill-redis-restored");
    let rdb = redis_dir.join("dump.rdb");
    target.operator(
        &["restore", "redis"],
        &[("SCRX_RESTORE_RDB_PATH", rdb.to_string_lossy().into_owned())],
    );
    assert!(exists(&rdb), "the snapshot is where Redis loads it");
    let redis = PrivateRedis::start_in(redis_dir);
    let redis_restore = t.elapsed();
    let t = Instant::now();
    let minio = PrivateMinio::start();
    let restored_objects = target.operator(&["restore", "minio"], &minio_env(&minio));
    let minio_restore = t.elapsed();
    let restored = Platform::restored(postgres, redis, minio).await;
    let times = [
        pg_restore,
        redis_restore,
        minio_restore,
        restore_started.elapsed(),
    ];
    (restored, times, restored_objects)
}

/// The backlog and the job that was running completed, the latter taken over once.
async fn assert_resumed(
    restored: &Platform,
    before: &facts::Facts,
    running: scraperx_core::domain::JobId,
) {
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scrape_jobs WHERE status = 'completed'")
            .fetch_one(restored.db.pool())
            .await
            .expect("completed");
    let retaken: (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM scrape_jobs WHERE id = $1")
            .bind(running.0)
            .fetch_one(restored.db.pool())
            .await
            .expect("the running job");
    let queued_before = before.statuses.get("queued").copied().unwrap_or(0);
    let completed_before = before.statuses.get("completed").copied().unwrap_or(0);
    assert_eq!(
        completed,
        completed_before + queued_before + 1,
        "the backlog and the running job completed"
    );
    assert_eq!(
        retaken,
        ("completed".to_owned(), 2),
        "the job running at the backup was taken over once"
    );
}

/// Every credit an organization spent is one job's charge or open reservation, once.
async fn assert_charged_once(pool: &sqlx::PgPool) {
    for (slug, credits) in CREDITS {
        let (balance, charged, held, over): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT o.credits_balance,
                    COALESCE(sum(j.credits_charged) FILTER (WHERE j.credits_settled_at IS NOT NULL), 0)::bigint,
                    COALESCE(sum(j.credits_estimated) FILTER (WHERE j.credits_settled_at IS NULL), 0)::bigint,
                    count(j.id) FILTER (WHERE j.credits_charged > j.credits_estimated)
               FROM organizations o LEFT JOIN scrape_jobs j ON j.organization_id = o.id
              WHERE o.slug = $1 GROUP BY o.credits_balance",
        )
        .bind(slug)
        .fetch_one(pool)
        .await
        .expect("credits");
        assert_eq!(over, 0, "{slug}: no job charged above its price");
        assert_eq!(
            credits - balance,
            charged + held,
            "{slug}: every credit spent is one job's charge or reservation, once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_platform_comes_back_from_its_backups_and_resumes_without_charging_twice() {
    let site = site().await;
    let source = Platform::start().await;
    let mirror = PrivateMinio::start();
    let target = Target {
        minio: &mirror,
        work: folder("drill-backup-work"),
    };
    let (orgs, running) = populate(&source, &site).await;
    let before = facts::read(source.db.pool(), &source.s3(), &source.queues).await;
    assert_eq!(
        before.statuses.len(),
        7,
        "every job state is present: {:?}",
        before.statuses
    );
    assert!(
        before.objects.len() >= 10,
        "results with MinIO content: {}",
        before.objects.len()
    );
    assert!(before.backlog >= 12, "a queue backlog: {}", before.backlog);

    // Back up, the way the CronJobs do.
    let pg_report = target.operator(&["backup", "postgres"], &pg_env(&source.postgres));
    let redis_report = target.operator(&["backup", "redis"], &redis_env(&source.redis));
    let minio_report = target.operator(&["backup", "minio"], &minio_env(&source.minio));
    for report in [&pg_report, &redis_report, &minio_report] {
        assert_eq!(report["verification"]["ok"], true, "{report}");
    }
    assert_eq!(
        minio_report["mirror"]["copied"].as_u64(),
        Some(before.objects.len() as u64),
        "{minio_report}"
    );
    // A second mirror pass is incremental: nothing left to copy.
    let again = target.operator(&["backup", "minio"], &minio_env(&source.minio));
    assert_eq!(
        (
            again["mirror"]["copied"].as_u64(),
            again["mirror"]["unchanged"].as_u64()
        ),
        (Some(0), Some(before.objects.len() as u64)),
        "{again}"
    );

    // Work accepted after the backups: the data-loss window.
    let lost = source
        .submit(&orgs[0], &[format!("{site}/page/900")], false)
        .await;
    let wiped_at = Utc::now();
    drop(source);

    // Restore into fresh services.
    let (restored, times, restored_objects) = restore_all(&target).await;
    let [pg_restore, redis_restore, minio_restore, restore_time] = times;
    let after = facts::read(restored.db.pool(), &restored.s3(), &restored.queues).await;
    assert_eq!(
        restored_objects["copied"].as_u64(),
        Some(before.objects.len() as u64)
    );
    assert_eq!(after.rows, before.rows, "row counts");
    assert_eq!(after.balances, before.balances, "credit balances");
    assert_eq!(after.objects, before.objects, "content object checksums");
    assert_eq!(after.backlog, before.backlog, "the queue backlog");
    assert_eq!(after.statuses, before.statuses, "jobs per state");
    let lost_found: i64 = sqlx::query_scalar("SELECT count(*) FROM scrape_jobs WHERE id = $1")
        .bind(lost[0].0)
        .fetch_one(restored.db.pool())
        .await
        .expect("lost job");
    assert_eq!(
        lost_found, 0,
        "a job accepted after the backup is the data-loss window"
    );

    // The platform resumes: a real worker runs the backlog and the job that was running.
    let resume = Instant::now();
    let (stop, worker) = restored.worker();
    assert!(
        restored.settled(Duration::from_secs(90)).await,
        "the restored backlog ran"
    );
    let resumed = resume.elapsed();
    let _ = stop.send(true);
    let _ = worker.await;
    assert_resumed(&restored, &before, running).await;
    assert_charged_once(restored.db.pool()).await;

    let window =
        |report: &serde_json::Value| (wiped_at - started(report)).to_std().unwrap_or_default();
    println!(
        "\nrestore drill: {} rows, {} content objects, {} jobs in the backlog\n\
         | store      | RTO (seed) | restore measured | RPO (seed)       | data-loss window measured |\n\
         |------------|------------|------------------|------------------|---------------------------|\n\
         | PostgreSQL | 30 min     | {:<16} | 1 h (WAL: 1 min) | {:<25} |\n\
         | Redis      | 15 min     | {:<16} | 1 h              | {:<25} |\n\
         | MinIO      | 2 h        | {:<16} | 6 h              | {:<25} |\n\
         | platform   | 4 h        | {:<16} |                  | 1 job accepted after the backup lost |\n\
         resumed (backlog and the running job settled) {} after the restore",
        before.rows.values().sum::<i64>(),
        before.objects.len(),
        before.backlog,
        human(pg_restore),
        human(window(&pg_report)),
        human(redis_restore),
        human(window(&redis_report)),
        human(minio_restore),
        human(window(&minio_report)),
        human(restore_time),
        human(resumed),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_without_the_platform_s_data_fails_verification_is_not_uploaded_and_shows_in_the_metrics()
 {
    let empty = PrivatePostgres::start();
    let mirror = PrivateMinio::start();
    let target = Target {
        minio: &mirror,
        work: folder("drill-failed-backup-work"),
    };
    let out = target.run(&["backup", "postgres"], &pg_env(&empty));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("did not verify") && stderr.contains("no data for"),
        "{stderr}"
    );

    let bucket = target.backup_target();
    let keys = bucket.keys("").await.expect("keys");
    assert_eq!(
        keys,
        vec!["status/postgres.json".to_owned()],
        "nothing but the outcome is stored"
    );
    let status: BackupStatus = bucket
        .get_json("status/postgres.json")
        .await
        .expect("status")
        .expect("a status");
    assert!(!status.last_attempt.verification.ok);
    assert_eq!(status.last_success, None);

    let metrics = Metrics::default();
    monitor::refresh(&bucket, &metrics.backups).await;
    let text = metrics.render();
    for line in [
        "scraperx_operator_backup_verified{component=\"postgres\"} 0",
        "scraperx_operator_backup_stale{component=\"postgres\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

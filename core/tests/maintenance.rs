//! The schema's maintenance and statistics functions: partitions, daily usage aggregation,
//! the monthly credit reset, usage and queue statistics, and pricing.

mod common;

use chrono::{Duration, Utc};
use common::{org, raw_job};
use scraperx_core::{domain::JobStatus, pg::Db};
use sqlx::PgPool;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_new_partition_takes_over_rows_from_the_default_partition(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "parts", 0).await;
    let job = raw_job(&pool, o.id, "completed", "1 minute").await;
    // Five years ahead has no partition yet: the rows land in the default partition.
    sqlx::query(
        "INSERT INTO job_events (job_id, organization_id, event_type, created_at) \
         SELECT $1, $2, 'job.created', date_trunc('month', NOW() + INTERVAL '5 years') + (g || ' hours')::interval \
         FROM generate_series(1, 3) g",
    )
    .bind(job)
    .bind(o.id)
    .execute(&pool)
    .await
    .expect("events");
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM job_events_default")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(in_default, 3);

    let month = (Utc::now() + Duration::days(5 * 366)).date_naive();
    let name: String = sqlx::query_scalar("SELECT create_monthly_partition('job_events', date_trunc('month', NOW() + INTERVAL '5 years')::date)")
        .fetch_one(&pool)
        .await
        .expect("create");
    assert_eq!(name, format!("job_events_{}", month.format("%Y_%m")));
    let moved: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {name}"))
        .fetch_one(&pool)
        .await
        .expect("count");
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM job_events_default")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!((moved, in_default), (3, 0));
    // Creating it again is a no-op, and ensure_partitions is idempotent.
    let again: String = sqlx::query_scalar("SELECT create_monthly_partition('job_events', date_trunc('month', NOW() + INTERVAL '5 years')::date)")
        .fetch_one(&pool)
        .await
        .expect("again");
    assert_eq!(again, name);
    let ensured = db.ensure_partitions(6).await.expect("ensure");
    assert_eq!(ensured.len(), 14, "7 months for each of the two tables");
    assert_eq!(
        db.ensure_partitions(6).await.expect("ensure again"),
        ensured
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn daily_usage_aggregates_finished_jobs_per_organization_and_reruns_idempotently(
    pool: PgPool,
) {
    let db = Db::from_pool(pool.clone());
    let a = org(&db, "usage-a", 0).await;
    let b = org(&db, "usage-b", 0).await;
    let yesterday = (Utc::now() - Duration::days(1)).date_naive();
    let at = format!("{yesterday} 12:00:00+00");
    sqlx::query(
        "INSERT INTO scrape_jobs (organization_id, url, url_hash, status, engine, proxy_tier, credits_charged, \
             created_at, started_at, completed_at) VALUES \
         ($1, 'https://a/1', '', 'completed', 'http', 'datacenter', 1, $3::timestamptz, $3::timestamptz, $3::timestamptz), \
         ($1, 'https://a/2', '', 'completed', 'browser', 'residential', 8, $3::timestamptz, $3::timestamptz, $3::timestamptz), \
         ($1, 'https://a/3', '', 'failed', 'stealth', 'mobile', 0, $3::timestamptz, $3::timestamptz, $3::timestamptz), \
         ($1, 'https://a/4', '', 'timeout', 'http', 'isp', 0, $3::timestamptz, $3::timestamptz, $3::timestamptz), \
         ($1, 'https://a/5', '', 'running', 'http', 'datacenter', 0, $3::timestamptz, $3::timestamptz, NULL), \
         ($2, 'https://b/1', '', 'completed', 'http', 'datacenter', 1, $3::timestamptz, $3::timestamptz, $3::timestamptz), \
         ($2, 'https://b/2', '', 'completed', 'http', 'datacenter', 1, NOW(), NOW(), NOW())",
    )
    .bind(a.id)
    .bind(b.id)
    .bind(&at)
    .execute(&pool)
    .await
    .expect("jobs");
    sqlx::query(
        "INSERT INTO job_results (job_id, organization_id, content_length, screenshot_minio_key, captcha_solved) \
         SELECT id, organization_id, 1000, CASE WHEN engine = 'browser' THEN 'shot.png' END, engine = 'browser' \
         FROM scrape_jobs WHERE status = 'completed'",
    )
    .execute(&pool)
    .await
    .expect("results");

    assert_eq!(
        db.aggregate_daily_usage(yesterday)
            .await
            .expect("aggregate"),
        2
    );
    type Row = (
        i64,
        i64,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let query = "SELECT total_requests, successful_requests, failed_requests, credits_used, http_requests, \
                 browser_requests, stealth_requests, residential_requests, screenshots_taken, captcha_solves, \
                 bandwidth_in_bytes FROM usage_records WHERE organization_id = $1 AND granularity = 'daily'";
    let row: Row = sqlx::query_as(query)
        .bind(a.id)
        .fetch_one(&pool)
        .await
        .expect("a");
    assert_eq!(
        row,
        (
            4,
            2,
            2,
            9,
            Some(2),
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(2000)
        )
    );
    let row: Row = sqlx::query_as(query)
        .bind(b.id)
        .fetch_one(&pool)
        .await
        .expect("b");
    assert_eq!((row.0, row.3), (1, 1), "today's job belongs to today");

    assert_eq!(db.aggregate_daily_usage(yesterday).await.expect("again"), 2);
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_records")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(records, 2, "a rerun overwrites, never duplicates");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn monthly_reset_grants_each_period_once(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let subscribed = org(&db, "subscribed", 5).await;
    let unsubscribed = org(&db, "self-hosted", 5).await;
    let canceled = org(&db, "canceled", 5).await;
    sqlx::query(
        "INSERT INTO subscriptions (organization_id, plan_id, plan_name, base_price_cents, credits_included, status, \
             current_period_start, current_period_end) VALUES \
         ($1, 'growth', 'Growth', 9900, 250000, 'active', NOW() - INTERVAL '3 days', NOW() + INTERVAL '27 days'), \
         ($2, 'starter', 'Starter', 2900, 50000, 'canceled', NOW() - INTERVAL '3 days', NOW() + INTERVAL '27 days')",
    )
    .bind(subscribed.id)
    .bind(canceled.id)
    .execute(&pool)
    .await
    .expect("subscriptions");

    assert_eq!(db.reset_monthly_credits().await.expect("reset"), 2);
    assert_eq!(common::balance(&pool, subscribed.id).await, 250_000);
    assert_eq!(
        common::balance(&pool, unsubscribed.id).await,
        100_000,
        "credits_included_monthly"
    );
    assert_eq!(common::balance(&pool, canceled.id).await, 5);

    assert!(db.deduct_credits(subscribed.id, 1000).await.expect("spend"));
    assert_eq!(
        db.reset_monthly_credits().await.expect("reset again"),
        0,
        "once per period"
    );
    assert_eq!(common::balance(&pool, subscribed.id).await, 249_000);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn usage_summary_and_queue_stats_count_by_status(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "stats", 0).await;
    for status in [
        "completed",
        "completed",
        "failed",
        "timeout",
        "pending",
        "queued",
        "queued",
        "running",
    ] {
        raw_job(&pool, o.id, status, "1 minute").await;
    }
    sqlx::query("UPDATE scrape_jobs SET credits_charged = 3, started_at = completed_at - INTERVAL '2 seconds' WHERE status = 'completed'")
        .execute(&pool)
        .await
        .expect("charges");
    let s = db
        .usage_summary(
            o.id,
            Utc::now() - Duration::hours(1),
            Utc::now() + Duration::hours(1),
        )
        .await
        .expect("summary");
    assert_eq!(
        (
            s.total_requests,
            s.successful_requests,
            s.failed_requests,
            s.credits_used
        ),
        (8, 2, 2, 6)
    );
    assert_eq!(s.success_rate, Some(25.0));
    assert_eq!(s.avg_response_time_ms, Some(2000.0));

    let stats: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT queue_name, pending_count, queued_count, running_count FROM get_queue_stats()",
    )
    .fetch_all(&pool)
    .await
    .expect("stats");
    assert_eq!(stats, [("default".to_owned(), 1, 2, 1)]);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn pricing_follows_engine_tier_and_features(pool: PgPool) {
    let cases = [
        ("http", "datacenter", r#"{}"#, 1),
        ("auto", "datacenter", r#"{}"#, 1),
        ("browser", "datacenter", r#"{"screenshot": true}"#, 7),
        ("stealth", "mobile", r#"{"pdf": true}"#, 23),
        ("http", "isp", r#"{"screenshot": true, "pdf": true}"#, 11),
        ("browser", "residential", r#"{"screenshot": false}"#, 8),
    ];
    for (engine, tier, options, expected) in cases {
        let credits: i64 = sqlx::query_scalar("SELECT calculate_job_credits($1, $2, $3::jsonb)")
            .bind(engine)
            .bind(tier)
            .bind(options)
            .fetch_one(&pool)
            .await
            .expect("price");
        assert_eq!(credits, expected, "{engine}/{tier}/{options}");
    }
    // The seed's row-typed signature agrees with the estimate stored at submission.
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "pricing", 100).await;
    let mut new = scraperx_core::pg::NewJob::get("https://example.com/");
    new.engine = scraperx_core::domain::Engine::Stealth;
    let j = db
        .submit_job(o.id, None, &new)
        .await
        .expect("submit")
        .into_job();
    let by_row: i64 =
        sqlx::query_scalar("SELECT calculate_job_credits(j) FROM scrape_jobs j WHERE id = $1")
            .bind(j.id)
            .fetch_one(&pool)
            .await
            .expect("row price");
    assert_eq!((by_row, j.credits_estimated), (10, 10));
    assert_eq!(j.status, JobStatus::Pending);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn utility_functions_and_triggers_do_their_job(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "utility", 0).await;

    // cleanup_old_jobs: finished jobs past the retention go, running ones stay.
    let old_done = raw_job(&pool, o.id, "completed", "100 days").await;
    let old_running = raw_job(&pool, o.id, "running", "100 days").await;
    let recent = raw_job(&pool, o.id, "completed", "10 days").await;
    let deleted: i32 = sqlx::query_scalar("SELECT cleanup_old_jobs(90)")
        .fetch_one(&pool)
        .await
        .expect("cleanup");
    assert_eq!(deleted, 1);
    let left: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM scrape_jobs ORDER BY created_at")
            .fetch_all(&pool)
            .await
            .expect("jobs");
    assert_eq!(left, [old_running, recent]);
    assert!(!left.contains(&old_done));

    // calculate_url_hash through the set_url_hash trigger, also on update.
    let (hash, expected): (String, String) = sqlx::query_as(
        "UPDATE scrape_jobs SET url = 'https://changed.test/' WHERE id = $1 \
         RETURNING url_hash, encode(digest('https://changed.test/', 'sha256'), 'hex')",
    )
    .bind(recent)
    .fetch_one(&pool)
    .await
    .expect("update");
    assert_eq!(hash, expected);

    // generate_api_key_prefix as the column default.
    let prefix: String = sqlx::query_scalar(
        "INSERT INTO api_keys (organization_id, key_hash, name) VALUES ($1, repeat('a', 64), 'raw') RETURNING key_prefix",
    )
    .bind(o.id)
    .fetch_one(&pool)
    .await
    .expect("key");
    assert!(prefix.starts_with("sk_") && prefix.len() == 11, "{prefix}");

    // update_modified_column moves updated_at forward.
    let (before, after): (chrono::DateTime<Utc>, chrono::DateTime<Utc>) = sqlx::query_as(
        "WITH old AS (SELECT updated_at FROM organizations WHERE id = $1) \
         UPDATE organizations SET name = 'renamed' WHERE id = $1 RETURNING (SELECT updated_at FROM old), updated_at",
    )
    .bind(o.id)
    .fetch_one(&pool)
    .await
    .expect("touch");
    assert!(after > before);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn unique_violations_are_typed_conflicts(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    org(&db, "taken", 0).await;
    let dup = scraperx_core::pg::NewOrganization::new("Other", "taken", "x@y.test");
    match db.create_organization(&dup).await {
        Err(scraperx_core::Error::Conflict { constraint }) => {
            assert_eq!(constraint, "organizations_slug_key")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let bad = scraperx_core::pg::NewOrganization::new("Bad", "Not A Slug", "x@y.test");
    assert!(matches!(
        db.create_organization(&bad).await,
        Err(scraperx_core::Error::Validation { .. })
    ));
}

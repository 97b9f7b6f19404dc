//! The schema as a whole: migrations are idempotent, partitions exist relative to today, and
//! every CHECK list and the job state machine agree with the Rust types.

mod common;

use scraperx_core::{
    domain::{
        ContentStorage, Engine, EventType, HttpMethod, JobStatus, Plan, ProxyTier, Role,
        SubscriptionStatus,
    },
    pg::MIGRATOR,
};
use sqlx::PgPool;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_second_migration_run_is_a_no_op(pool: PgPool) {
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let before = count().await;
    assert_eq!(before as usize, MIGRATOR.iter().count());
    MIGRATOR.run(&pool).await.expect("second run");
    let db = scraperx_core::pg::Db::from_pool(pool.clone());
    assert!(db.missing_migrations().await.expect("history").is_empty());
    assert_eq!(count().await, before);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn every_table_of_both_seeds_exists(pool: PgPool) {
    for table in [
        "organizations",
        "users",
        "api_keys",
        "scrape_jobs",
        "job_results",
        "job_events",
        "webhooks",
        "subscriptions",
        "usage_records",
        "invoices",
        "proxy_providers",
        "proxy_usage_logs",
        "fingerprints",
        "domain_intelligence",
        "scrape_jobs_archive",
        "system_logs",
        "invoice_number_counters",
        "object_deletions",
    ] {
        let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(table)
            .fetch_one(&pool)
            .await
            .expect("lookup");
        assert_eq!(found.as_deref(), Some(table), "table {table} missing");
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn partitions_exist_for_this_month_and_the_months_ahead(pool: PgPool) {
    for parent in ["job_events", "usage_records"] {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT $1 || '_' || to_char(date_trunc('month', NOW() AT TIME ZONE 'UTC') + make_interval(months => m), 'YYYY_MM') \
             FROM generate_series(0, 3) m",
        )
        .bind(parent)
        .fetch_all(&pool)
        .await
        .expect("names");
        for name in names
            .iter()
            .chain(std::iter::once(&format!("{parent}_default")))
        {
            let is_partition: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = $1::regclass AND c.relname = $2)",
            )
            .bind(parent)
            .bind(name)
            .fetch_one(&pool)
            .await
            .expect("catalog");
            assert!(is_partition, "{name} is not a partition of {parent}");
        }
    }
}

/// The values a CHECK constraint admits, read from the catalog.
async fn check_values(pool: &PgPool, constraint: &str) -> Vec<String> {
    let def: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
    )
    .bind(constraint)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("constraint {constraint}: {e}"));
    let mut values: Vec<String> = def
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    values.sort();
    values
}

fn sorted(values: impl IntoIterator<Item = &'static str>) -> Vec<String> {
    let mut v: Vec<String> = values.into_iter().map(str::to_owned).collect();
    v.sort();
    v
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn rust_enums_match_the_check_constraints(pool: PgPool) {
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "scrape_jobs_valid_status",
            sorted(JobStatus::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "scrape_jobs_valid_engine",
            sorted(Engine::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "scrape_jobs_valid_proxy_tier",
            sorted(ProxyTier::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "scrape_jobs_valid_method",
            sorted(HttpMethod::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "organizations_valid_plan",
            sorted(Plan::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "subscriptions_valid_plan",
            sorted(Plan::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "organizations_valid_status",
            sorted(SubscriptionStatus::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "subscriptions_valid_status",
            sorted(SubscriptionStatus::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "users_valid_role",
            sorted(Role::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "job_events_valid_type",
            sorted(EventType::ALL.iter().map(|v| v.as_str())),
        ),
        (
            "job_results_valid_storage",
            sorted(ContentStorage::ALL.iter().map(|v| v.as_str())),
        ),
    ];
    for (constraint, rust) in cases {
        assert_eq!(check_values(&pool, constraint).await, rust, "{constraint}");
    }
}

/// Every (from, to) pair, with attempts left and with none left, through the real trigger on
/// a real row: the database accepts exactly the moves JobStatus accepts.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_database_trigger_and_job_status_agree_on_every_move(pool: PgPool) {
    let db = scraperx_core::pg::Db::from_pool(pool.clone());
    let org = common::org(&db, "fsm", 0).await;
    for &(attempts, max_attempts) in &[(1, 3), (3, 3)] {
        for &from in JobStatus::ALL {
            for &to in JobStatus::ALL {
                if from == to {
                    continue;
                }
                let id: uuid::Uuid = sqlx::query_scalar(
                    "INSERT INTO scrape_jobs (organization_id, url, url_hash, status, attempts, max_attempts) \
                     VALUES ($1, 'https://example.com/', '', $2, $3, $4) RETURNING id",
                )
                .bind(org.id)
                .bind(from)
                .bind(attempts)
                .bind(max_attempts)
                .fetch_one(&pool)
                .await
                .expect("insert");
                let db_allows = sqlx::query("UPDATE scrape_jobs SET status = $2 WHERE id = $1")
                    .bind(id)
                    .bind(to)
                    .execute(&pool)
                    .await
                    .is_ok();
                let rust_allows = from.can_transition_to(to, attempts, max_attempts);
                assert_eq!(
                    db_allows, rust_allows,
                    "{from} -> {to} at attempt {attempts}/{max_attempts}"
                );
            }
        }
    }
}

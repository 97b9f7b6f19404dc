//! One test per seed defect listed in migrations/README.md. Each runs the seed's own SQL
//! where it can, to show the defect, then shows the fixed schema's behaviour.

mod common;

use common::{expect_sql_error, org, org_on_plan, raw_job};
use scraperx_core::{
    domain::{ApiKeySecret, Plan},
    pg::{Db, NewApiKey},
};
use sqlx::PgPool;

/// Defect 1: a BIGSERIAL primary key on a table partitioned by created_at.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_1_job_events_primary_key_contains_the_partition_key(pool: PgPool) {
    let msg = expect_sql_error(
        &pool,
        "CREATE SCHEMA seed; CREATE TABLE seed.job_events (id BIGSERIAL PRIMARY KEY, \
         job_id UUID NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()) PARTITION BY RANGE (created_at)",
    )
    .await;
    assert!(
        msg.contains("must include all partitioning columns"),
        "{msg}"
    );

    let key: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
         AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'job_events'::regclass AND i.indisprimary ORDER BY a.attname",
    )
    .fetch_all(&pool)
    .await
    .expect("primary key");
    assert_eq!(key, ["created_at", "id"]);
}

/// Defect 2: NOW() in an index predicate.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_2_api_key_indexes_have_no_now_and_expiry_is_still_enforced(pool: PgPool) {
    let msg = expect_sql_error(
        &pool,
        "CREATE INDEX seed_idx_api_keys_auth_lookup ON api_keys(key_hash, organization_id) \
         WHERE is_active = TRUE AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > NOW())",
    )
    .await;
    assert!(msg.contains("IMMUTABLE"), "{msg}");

    let db = Db::from_pool(pool.clone());
    let o = org(&db, "keys", 0).await;
    let mut expired = NewApiKey::named("expired");
    expired.expires_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
    let (_, expired_secret) = db.create_api_key(o.id, &expired).await.expect("key");
    let (live, live_secret) = db
        .create_api_key(o.id, &NewApiKey::named("live"))
        .await
        .expect("key");
    assert!(
        db.lookup_api_key(&expired_secret.hash())
            .await
            .expect("lookup")
            .is_none()
    );
    let auth = db
        .lookup_api_key(&live_secret.hash())
        .await
        .expect("lookup")
        .expect("live key found");
    assert_eq!(auth.key_id, live.id);
    assert!(auth.scopes.grants("scrape:write"));
    db.revoke_api_key(o.id, live.id, None, Some("test"))
        .await
        .expect("revoke");
    assert!(
        db.lookup_api_key(&live_secret.hash())
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        db.lookup_api_key(&ApiKeySecret::generate().hash())
            .await
            .expect("lookup")
            .is_none()
    );
}

/// Defect 3: SUBSTRING(invoice_number FROM 10) and duplicate numbers under concurrency.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_3_invoice_numbers_are_sequential_and_unique_under_concurrency(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE FUNCTION seed_generate_invoice_number() RETURNS VARCHAR(50) AS $$ \
         DECLARE year_month VARCHAR(6); sequence_num INTEGER; BEGIN \
           year_month := to_char(NOW(), 'YYYYMM'); \
           SELECT COALESCE(MAX(CAST(SUBSTRING(invoice_number FROM 10) AS INTEGER)), 0) + 1 INTO sequence_num \
           FROM invoices WHERE invoice_number LIKE 'INV-' || year_month || '-%'; \
           RETURN 'INV-' || year_month || '-' || LPAD(sequence_num::TEXT, 5, '0'); END; $$ LANGUAGE plpgsql",
    )
    .execute(&pool)
    .await
    .expect("seed function");
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "billing", 0).await;
    let ym = chrono::Utc::now().format("%Y%m").to_string();
    let first: String = sqlx::query_scalar(
        "INSERT INTO invoices (organization_id, subtotal_cents, total_cents, amount_due_cents, period_start, period_end) \
         VALUES ($1, 100, 100, 100, NOW() - INTERVAL '1 month', NOW()) RETURNING invoice_number",
    )
    .bind(o.id)
    .fetch_one(&pool)
    .await
    .expect("invoice");
    assert_eq!(first, format!("INV-{ym}-00001"));
    let msg = expect_sql_error(&pool, "SELECT seed_generate_invoice_number()").await;
    assert!(
        msg.contains("invalid input syntax for type integer"),
        "{msg}"
    );

    assert_eq!(
        db.next_invoice_number().await.expect("number"),
        format!("INV-{ym}-00002")
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.next_invoice_number().await.expect("number") })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.expect("join"));
    }
    numbers.sort();
    let expected: Vec<String> = (3..=22).map(|n| format!("INV-{ym}-{n:05}")).collect();
    assert_eq!(numbers, expected);
}

/// Defect 4: cleanup logged a job_events row with a random job_id and an unknown event type.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_4_cleanup_logs_to_system_logs(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE FUNCTION seed_cleanup_expired_results() RETURNS INTEGER AS $$ \
         DECLARE deleted_count INTEGER; BEGIN \
           DELETE FROM job_results WHERE expires_at < NOW(); GET DIAGNOSTICS deleted_count = ROW_COUNT; \
           INSERT INTO job_events (job_id, organization_id, event_type, event_data, created_at) \
           SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000000'::UUID, 'system.cleanup', \
                  jsonb_build_object('deleted_results', deleted_count), NOW(); \
           RETURN deleted_count; END; $$ LANGUAGE plpgsql",
    )
    .execute(&pool)
    .await
    .expect("seed function");
    let msg = expect_sql_error(&pool, "SELECT seed_cleanup_expired_results()").await;
    assert!(
        msg.contains("job_events_valid_type") || msg.contains("check constraint"),
        "{msg}"
    );

    let db = Db::from_pool(pool.clone());
    let o = org(&db, "cleanup", 0).await;
    let expired = raw_job(&pool, o.id, "completed", "1 hour").await;
    let fresh = raw_job(&pool, o.id, "completed", "1 hour").await;
    sqlx::query(
        "INSERT INTO job_results (job_id, organization_id, content_minio_bucket, content_minio_key, \
         content_storage_type, expires_at) VALUES ($1, $2, 'scrx-content', 'k1', 'minio', NOW() - INTERVAL '1 second'), \
         ($3, $2, NULL, NULL, 'none', NOW() + INTERVAL '1 day')",
    )
    .bind(expired)
    .bind(o.id)
    .bind(fresh)
    .execute(&pool)
    .await
    .expect("results");

    assert_eq!(db.cleanup_expired_results().await.expect("cleanup"), 1);
    let remaining: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT job_id FROM job_results")
        .fetch_all(&pool)
        .await
        .expect("rows");
    assert_eq!(remaining, [fresh]);
    let logged: serde_json::Value = sqlx::query_scalar(
        "SELECT event_data FROM system_logs WHERE event_type = 'cleanup.expired_results'",
    )
    .fetch_one(&pool)
    .await
    .expect("log");
    assert_eq!(logged["deleted_results"], 1);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM job_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(events, 0);
    // The deleted result's MinIO object is queued for deletion.
    let queued: Vec<String> = sqlx::query_scalar("SELECT object_key FROM object_deletions")
        .fetch_all(&pool)
        .await
        .expect("outbox");
    assert_eq!(queued, ["k1"]);
}

/// Defect 5: retention wrote to tables that did not exist and counted after deleting.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_5_retention_archives_and_deletes_exactly_what_it_should(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "retention", 0).await;
    let old_done = raw_job(&pool, o.id, "completed", "31 days").await;
    let old_failed = raw_job(&pool, o.id, "failed", "40 days").await;
    let old_running = raw_job(&pool, o.id, "running", "31 days").await;
    let recent_done = raw_job(&pool, o.id, "completed", "29 days").await;
    sqlx::query(
        "INSERT INTO job_results (job_id, organization_id, created_at) VALUES ($1, $3, NOW() - INTERVAL '31 days'), \
         ($2, $3, NOW() - INTERVAL '29 days')",
    )
    .bind(old_done)
    .bind(recent_done)
    .bind(o.id)
    .execute(&pool)
    .await
    .expect("results");
    sqlx::query(
        "INSERT INTO job_events (job_id, organization_id, event_type, created_at) VALUES \
         ($1, $2, 'job.completed', NOW() - INTERVAL '31 days'), ($1, $2, 'job.created', NOW() - INTERVAL '91 days')",
    )
    .bind(old_done)
    .bind(o.id)
    .execute(&pool)
    .await
    .expect("events");
    sqlx::query(
        "INSERT INTO scrape_jobs_archive (id, organization_id, url, status, engine, created_at, record) \
         VALUES (gen_random_uuid(), $1, 'https://old.test/', 'completed', 'http', NOW() - INTERVAL '13 months', '{}')",
    )
    .bind(o.id)
    .execute(&pool)
    .await
    .expect("archive");
    sqlx::query(
        "INSERT INTO usage_records (organization_id, period_start, period_end) VALUES \
         ($1, NOW() - INTERVAL '25 months', NOW() - INTERVAL '25 months' + INTERVAL '1 day'), \
         ($1, NOW() - INTERVAL '1 day', NOW())",
    )
    .bind(o.id)
    .execute(&pool)
    .await
    .expect("usage");

    let summary = db.apply_retention().await.expect("retention");
    assert_eq!(summary.jobs_archived, 2, "{summary:?}");
    assert_eq!(summary.results_deleted, 1, "{summary:?}");
    assert_eq!(summary.archive_deleted, 1, "{summary:?}");
    assert_eq!(summary.events_deleted, 1, "{summary:?}");
    assert_eq!(summary.usage_deleted, 1, "{summary:?}");

    let live: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM scrape_jobs ORDER BY created_at")
            .fetch_all(&pool)
            .await
            .expect("jobs");
    assert_eq!(live, [old_running, recent_done]);
    let archived: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT id, record->>'status' FROM scrape_jobs_archive ORDER BY created_at")
            .fetch_all(&pool)
            .await
            .expect("archive");
    assert_eq!(
        archived,
        [
            (old_failed, "failed".to_owned()),
            (old_done, "completed".to_owned())
        ]
    );
    // The 31-day-old event outlives its archived job (kept 90 days).
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM job_events WHERE job_id = $1")
        .bind(old_done)
        .fetch_one(&pool)
        .await
        .expect("events");
    assert_eq!(events, 1);
    let logged: serde_json::Value = sqlx::query_scalar(
        "SELECT event_data FROM system_logs WHERE event_type = 'retention.applied'",
    )
    .fetch_one(&pool)
    .await
    .expect("log");
    assert_eq!(logged["jobs_archived"], 2);
    // Run again: nothing left to do.
    let again = db.apply_retention().await.expect("retention");
    assert_eq!(
        (
            again.jobs_archived,
            again.results_deleted,
            again.events_deleted
        ),
        (0, 0, 0)
    );
}

/// Defect 6: the seed's trigger forbade retries and did not know `timeout`.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_6_failed_and_timed_out_attempts_can_retry(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE seed_jobs (status TEXT); \
         CREATE FUNCTION seed_validate() RETURNS TRIGGER AS $$ BEGIN \
           IF OLD.status = 'pending' AND NEW.status NOT IN ('queued', 'canceled') THEN RAISE EXCEPTION 'Invalid'; \
           ELSIF OLD.status = 'queued' AND NEW.status NOT IN ('running', 'canceled') THEN RAISE EXCEPTION 'Invalid'; \
           ELSIF OLD.status = 'running' AND NEW.status NOT IN ('completed', 'failed', 'canceled') THEN RAISE EXCEPTION 'Invalid running'; \
           ELSIF OLD.status IN ('completed', 'failed', 'canceled') THEN RAISE EXCEPTION 'Cannot transition from terminal status %', OLD.status; \
           END IF; RETURN NEW; END; $$ LANGUAGE plpgsql; \
         CREATE TRIGGER seed_validate BEFORE UPDATE OF status ON seed_jobs FOR EACH ROW \
           WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION seed_validate(); \
         INSERT INTO seed_jobs VALUES ('failed'), ('running');",
    )
    .execute(&pool)
    .await
    .expect("seed trigger");
    let msg = expect_sql_error(
        &pool,
        "UPDATE seed_jobs SET status = 'queued' WHERE status = 'failed'",
    )
    .await;
    assert!(msg.contains("terminal"), "{msg}");
    let msg = expect_sql_error(
        &pool,
        "UPDATE seed_jobs SET status = 'timeout' WHERE status = 'running'",
    )
    .await;
    assert!(msg.contains("Invalid running"), "{msg}");

    let db = Db::from_pool(pool.clone());
    let o = org(&db, "retry", 0).await;
    for from in ["failed", "timeout"] {
        let id = raw_job(&pool, o.id, from, "1 minute").await;
        sqlx::query("UPDATE scrape_jobs SET attempts = 1, max_attempts = 3 WHERE id = $1")
            .bind(id)
            .execute(&pool)
            .await
            .expect("attempts");
        sqlx::query("UPDATE scrape_jobs SET status = 'queued' WHERE id = $1")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{from} -> queued: {e}"));
    }
    let exhausted = raw_job(&pool, o.id, "failed", "1 minute").await;
    sqlx::query("UPDATE scrape_jobs SET attempts = 3, max_attempts = 3 WHERE id = $1")
        .bind(exhausted)
        .execute(&pool)
        .await
        .expect("attempts");
    let err = sqlx::query("UPDATE scrape_jobs SET status = 'queued' WHERE id = $1")
        .bind(exhausted)
        .execute(&pool)
        .await
        .expect_err("no attempts left");
    let err = scraperx_core::Error::from(err);
    assert!(
        matches!(&err, scraperx_core::Error::Constraint { constraint } if constraint == "scrape_jobs_status_transition"),
        "{err:?}"
    );
}

/// Defect 7: "can go negative with overage" against CHECK (credits_balance >= 0), and the
/// seed's check (enterprise unlimited) disagreeing with its deduct (refuses enterprise).
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_7_balance_never_negative_and_enterprise_overage_is_counted(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE FUNCTION seed_deduct_credits(org_id UUID, amount BIGINT) RETURNS BOOLEAN AS $$ \
         DECLARE updated_count INTEGER; BEGIN \
           UPDATE organizations SET credits_balance = credits_balance - amount WHERE id = org_id AND credits_balance >= amount; \
           GET DIAGNOSTICS updated_count = ROW_COUNT; RETURN updated_count > 0; END; $$ LANGUAGE plpgsql",
    )
    .execute(&pool)
    .await
    .expect("seed function");
    let db = Db::from_pool(pool.clone());
    let ent = org_on_plan(&db, "ent", 3, Plan::Enterprise).await;
    let free = org_on_plan(&db, "free", 3, Plan::Free).await;

    let check: bool = sqlx::query_scalar("SELECT check_organization_credits($1, 5)")
        .bind(ent.id)
        .fetch_one(&pool)
        .await
        .expect("check");
    let seed_deduct: bool = sqlx::query_scalar("SELECT seed_deduct_credits($1, 5)")
        .bind(ent.id)
        .fetch_one(&pool)
        .await
        .expect("seed deduct");
    assert!(
        check && !seed_deduct,
        "the seed's check and deduct disagree"
    );

    assert!(db.deduct_credits(ent.id, 5).await.expect("deduct"));
    let (bal, overage): (i64, i64) = sqlx::query_as(
        "SELECT credits_balance, credits_overage_used FROM organizations WHERE id = $1",
    )
    .bind(ent.id)
    .fetch_one(&pool)
    .await
    .expect("org");
    assert_eq!((bal, overage), (0, 2));
    db.add_credits(ent.id, 5).await.expect("refund");
    let (bal, overage): (i64, i64) = sqlx::query_as(
        "SELECT credits_balance, credits_overage_used FROM organizations WHERE id = $1",
    )
    .bind(ent.id)
    .fetch_one(&pool)
    .await
    .expect("org");
    assert_eq!((bal, overage), (3, 0), "a refund pays down overage first");

    assert!(!db.deduct_credits(free.id, 4).await.expect("deduct"));
    assert_eq!(common::balance(&pool, free.id).await, 3);
    let msg = expect_sql_error(
        &pool,
        &format!(
            "UPDATE organizations SET credits_balance = -1 WHERE id = '{}'",
            free.id
        ),
    )
    .await;
    assert!(msg.contains("organizations_positive_credits"), "{msg}");
}

/// Defect 8: partitions picked by name pattern and string comparison.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_8_only_catalog_partitions_past_retention_are_dropped(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE job_events_2000_01_backup (id INT); CREATE TABLE scrape_jobs_2000_01 (id INT); \
         SELECT create_monthly_partition('job_events', '2000-01-01'); \
         SELECT create_monthly_partition('usage_records', '2000-01-01');",
    )
    .execute(&pool)
    .await
    .expect("setup");
    // The seed's selection would drop tables that are not partitions at all.
    let seed_pick: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'scrape_jobs_%' \
         AND tablename < 'scrape_jobs_' || TO_CHAR(CURRENT_DATE - INTERVAL '90 days', 'YYYY_MM') \
         UNION ALL SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'job_events_%' \
         AND tablename < 'job_events_' || TO_CHAR(CURRENT_DATE - INTERVAL '90 days', 'YYYY_MM') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("seed pick");
    assert!(
        seed_pick.contains(&"scrape_jobs_2000_01".to_owned()),
        "{seed_pick:?}"
    );
    assert!(
        seed_pick.contains(&"job_events_2000_01_backup".to_owned()),
        "{seed_pick:?}"
    );

    let db = Db::from_pool(pool.clone());
    let mut dropped = db.drop_old_partitions().await.expect("drop");
    dropped.sort();
    assert_eq!(dropped, ["job_events_2000_01", "usage_records_2000_01"]);
    for survivor in [
        "job_events_2000_01_backup",
        "scrape_jobs_2000_01",
        "scrape_jobs_archive",
        "job_events_default",
    ] {
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(survivor)
            .fetch_one(&pool)
            .await
            .expect("lookup");
        assert!(exists.is_some(), "{survivor} was dropped");
    }
    // This month's partitions stay.
    assert!(db.drop_old_partitions().await.expect("drop").is_empty());
}

/// Defect 9: the data migration paged with LIMIT/OFFSET inside one transaction.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_9_copies_in_committed_keyset_batches_and_resumes(pool: PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE src (id BIGINT PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL, note TEXT); \
         INSERT INTO src SELECT g, NOW() - (g || ' minutes')::interval, 'row ' || g FROM generate_series(1, 2500) g; \
         CREATE TABLE dst (id BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL, note TEXT, PRIMARY KEY (id, created_at)) \
           PARTITION BY RANGE (created_at); \
         CREATE TABLE dst_default PARTITION OF dst DEFAULT;",
    )
    .execute(&pool)
    .await
    .expect("setup");
    sqlx::raw_sql("CALL copy_table_keyset('src', 'dst', 1000)")
        .execute(&pool)
        .await
        .expect("copy");
    let (rows, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM dst")
            .fetch_one(&pool)
            .await
            .expect("dst");
    assert_eq!(rows, 2500);
    assert_eq!(
        transactions, 3,
        "one committed transaction per batch of 1000"
    );

    // More rows arrive; a second run copies only those (the target's primary key would
    // reject a duplicate).
    sqlx::raw_sql("INSERT INTO src SELECT g, NOW(), 'late' FROM generate_series(2501, 2700) g")
        .execute(&pool)
        .await
        .expect("more");
    sqlx::raw_sql("CALL copy_table_keyset('src', 'dst', 1000)")
        .execute(&pool)
        .await
        .expect("resume");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM dst")
        .fetch_one(&pool)
        .await
        .expect("dst");
    assert_eq!(rows, 2700);
}

/// Defect 10: ENUM types declared but never used. One representation: VARCHAR + CHECK.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_10_no_unused_enum_types(pool: PgPool) {
    let enums: Vec<String> = sqlx::query_scalar(
        "SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype = 'e' AND n.nspname = 'public'",
    )
    .fetch_all(&pool)
    .await
    .expect("enums");
    assert!(enums.is_empty(), "{enums:?}");
    let status_type: String = sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns WHERE table_name = 'scrape_jobs' AND column_name = 'status'",
    )
    .fetch_one(&pool)
    .await
    .expect("column");
    assert_eq!(status_type, "character varying");
}

/// Defect 11: scrape_jobs' references to itself had no index, so deleting a job scanned the
/// whole table twice (quadratic retention). Each check is an index probe now.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn defect_11_deleting_a_job_finds_the_jobs_pointing_at_it_by_index(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "references", 0).await;
    let parent = raw_job(&pool, o.id, "completed", "40 days").await;
    let retry = raw_job(&pool, o.id, "completed", "40 days").await;
    let child = raw_job(&pool, o.id, "completed", "1 day").await;
    sqlx::query("UPDATE scrape_jobs SET parent_job_id = $1, retry_of_job_id = $2 WHERE id = $3")
        .bind(parent)
        .bind(retry)
        .bind(child)
        .execute(&pool)
        .await
        .expect("links");
    for column in ["parent_job_id", "retry_of_job_id"] {
        // The statement the foreign key's ON DELETE SET NULL runs for each deleted job.
        let sql = format!(
            "EXPLAIN (FORMAT JSON) UPDATE ONLY scrape_jobs SET {column} = NULL WHERE {column} = $1"
        );
        let mut conn = pool.acquire().await.expect("connection");
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .expect("set");
        let plan: serde_json::Value = sqlx::query_scalar(&sql)
            .bind(parent)
            .fetch_one(&mut *conn)
            .await
            .expect("plan");
        let text = plan.to_string();
        assert!(
            text.contains("Index Scan") || text.contains("Bitmap Index Scan"),
            "{column}: {text}"
        );
        assert!(!text.contains("Seq Scan"), "{column}: {text}");
    }
    sqlx::query("DELETE FROM scrape_jobs WHERE id = ANY($1)")
        .bind([parent, retry])
        .execute(&pool)
        .await
        .expect("delete");
    let (p, r): (Option<uuid::Uuid>, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT parent_job_id, retry_of_job_id FROM scrape_jobs WHERE id = $1")
            .bind(child)
            .fetch_one(&pool)
            .await
            .expect("child");
    assert_eq!((p, r), (None, None));
}

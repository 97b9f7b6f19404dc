//! Fixtures shared by the integration tests. Each test gets a fresh database from
//! `#[sqlx::test]`, migrated by the crate's own MIGRATOR.
#![allow(dead_code)]

use scraperx_core::{
    domain::{OrgId, Plan},
    pg::{Db, NewOrganization, Organization},
};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

pub async fn org(db: &Db, slug: &str, credits: i64) -> Organization {
    org_on_plan(db, slug, credits, Plan::Starter).await
}

pub async fn org_on_plan(db: &Db, slug: &str, credits: i64, plan: Plan) -> Organization {
    let mut new = NewOrganization::new(
        &format!("Org {slug}"),
        slug,
        &format!("billing@{slug}.test"),
    );
    new.credits_balance = credits;
    new.plan = plan;
    db.create_organization(&new)
        .await
        .expect("create organization")
}

pub async fn balance(pool: &PgPool, org: OrgId) -> i64 {
    sqlx::query_scalar("SELECT credits_balance FROM organizations WHERE id = $1")
        .bind(org)
        .fetch_one(pool)
        .await
        .expect("balance")
}

/// Inserts a job row directly, in any status and at any creation time (bypassing the
/// submission path), for tests of the schema's own rules.
pub async fn raw_job(pool: &PgPool, org: OrgId, status: &str, age: &str) -> uuid::Uuid {
    sqlx::query_scalar(
        "INSERT INTO scrape_jobs (organization_id, url, url_hash, status, created_at, completed_at) \
         VALUES ($1, 'https://example.com/' || gen_random_uuid(), '', $2, NOW() - $3::interval, \
                 CASE WHEN $2 IN ('completed', 'failed', 'canceled', 'timeout') THEN NOW() - $3::interval END) \
         RETURNING id",
    )
    .bind(org)
    .bind(status)
    .bind(age)
    .fetch_one(pool)
    .await
    .expect("raw job")
}

/// Runs SQL that is expected to fail, returning the database's message.
pub async fn expect_sql_error(pool: &PgPool, sql: &str) -> String {
    match sqlx::raw_sql(sql).execute(pool).await {
        Ok(_) => panic!("expected the database to reject:\n{sql}"),
        Err(err) => err
            .as_database_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_else(|| err.to_string()),
    }
}

/// A repository over its own pool of `size` connections to the test database, for tests that
/// need more concurrency than the pool `#[sqlx::test]` hands out.
pub async fn pool_of(conn: PgConnectOptions, size: u32) -> Db {
    Db::from_pool(
        PgPoolOptions::new()
            .max_connections(size)
            .connect_with(conn)
            .await
            .expect("pool"),
    )
}

/// Inserts `n` jobs straight into `status` (`queued` or `running`) on `queue`, entered into
/// that state a minute ago, a microsecond apart, with priorities 1 to 10 in turn: a backlog
/// for the re-enqueue sweep, written in one statement.
pub async fn backlog(pool: &PgPool, org: OrgId, status: &str, queue: &str, n: i64) {
    sqlx::query(
        "INSERT INTO scrape_jobs (organization_id, url, url_hash, engine, status, priority, \
             queue_name, queued_at, started_at, attempts) \
         SELECT $1, 'https://example.com/' || g, '', 'http', $2, 1 + g % 10, $3, \
                NOW() - interval '1 minute' + g * interval '1 microsecond', \
                CASE WHEN $2 = 'running' THEN NOW() - interval '1 minute' + g * interval '1 microsecond' END, \
                CASE WHEN $2 = 'running' THEN 1 ELSE 0 END \
         FROM generate_series(1, $4) g",
    )
    .bind(org)
    .bind(status)
    .bind(queue)
    .bind(n)
    .execute(pool)
    .await
    .expect("backlog");
}

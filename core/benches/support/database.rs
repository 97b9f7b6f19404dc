//! Shared by the benchmarks that need Postgres: a database of their own on the server of
//! `DATABASE_URL`, created and migrated for the run and removed after it, so a benchmark
//! never reads or leaves behind anyone else's rows.

use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};

pub struct BenchDatabase {
    pub pool: PgPool,
    name: String,
    admin: PgConnection,
}

impl BenchDatabase {
    /// Creates and migrates the database, with a pool of `max_connections`.
    pub async fn create(max_connections: u32) -> Self {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/services.sh env)");
        let name = format!("scrx_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&url).await.expect("postgres");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let bench_url = match url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DATABASE_URL has no database name"),
        };
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&bench_url)
            .await
            .expect("bench database");
        scraperx_core::pg::MIGRATOR
            .run(&pool)
            .await
            .expect("migrate");
        Self { pool, name, admin }
    }

    /// Closes the pool and drops the database.
    pub async fn remove(mut self) {
        self.pool.close().await;
        let _ = sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut self.admin)
            .await;
    }
}

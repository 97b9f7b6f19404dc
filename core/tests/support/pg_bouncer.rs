//! A database of a test's own, reached through the PgBouncer `scripts/services.sh` starts
//! (`SCRX_PGBOUNCER_URL`, transaction pooling, seed 001 §8.2): made and migrated over the
//! direct URL (`DATABASE_URL`; the migrator's lock needs a session), used through
//! PgBouncer's wildcard entry. Shared by the core and API tests (`#[path]`).
#![allow(dead_code)]

use std::time::Duration;

use scraperx_core::pg::Db;
use sqlx::{
    ConnectOptions, Connection, Executor,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// A fresh database, dropped (its pooled connections with it) when the test ends well.
pub struct Scratch {
    name: String,
    pub direct: PgConnectOptions,
    pub bounced: PgConnectOptions,
}

fn env_url(name: &str) -> PgConnectOptions {
    let url = std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: eval \"$(scripts/services.sh env)\""));
    url.parse().expect("a PostgreSQL URL")
}

impl Scratch {
    pub async fn new() -> Self {
        let admin = env_url("DATABASE_URL");
        let name = format!("pgb_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.connect().await.expect("direct admin connection");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        conn.close().await.expect("close");
        Self {
            direct: admin.database(&name),
            bounced: env_url("SCRX_PGBOUNCER_URL").database(&name),
            name,
        }
    }

    /// The repository through PgBouncer, migrated over the direct URL.
    pub async fn db(&self, connections: u32) -> Db {
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(self.bounced.clone().statement_cache_capacity(0))
            .await
            .expect("pool through pgbouncer");
        let db = Db::behind_pooler(pool, self.direct.clone());
        db.migrate().await.expect("migrations over the direct URL");
        db
    }

    pub async fn drop_database(self) {
        let mut conn = env_url("DATABASE_URL").connect().await.expect("admin");
        conn.execute(format!("DROP DATABASE {} WITH (FORCE)", self.name).as_str())
            .await
            .expect("drop database");
    }
}

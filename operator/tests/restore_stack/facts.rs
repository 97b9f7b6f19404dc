//! What the drill compares before the backup and after the restore: the row count of every
//! table, each organization's credit balance, the SHA-256 of every content object, and the
//! queues' backlog.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use scraperx_core::{dispatch::QueueSet, domain::Engine};
use scraperx_operator::backup::{minio::MIRRORED, target::list};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Rows per table (partitioned tables counted through their parent).
    pub rows: BTreeMap<String, i64>,
    /// Organization slug → credits.
    pub balances: BTreeMap<String, i64>,
    /// `bucket/key` → SHA-256 of the stored bytes.
    pub objects: BTreeMap<String, String>,
    /// Jobs in the http queue: waiting and leased (a lease that lapsed while the
    /// platform was down is waiting again after the restore).
    pub backlog: u64,
    /// Jobs per status.
    pub statuses: BTreeMap<String, i64>,
}

pub async fn read(pool: &PgPool, s3: &Client, queues: &QueueSet) -> Facts {
    Facts {
        rows: rows(pool).await,
        balances: sqlx::query_as::<_, (String, i64)>(
            "SELECT slug, credits_balance FROM organizations",
        )
        .fetch_all(pool)
        .await
        .expect("balances")
        .into_iter()
        .collect(),
        objects: objects(s3).await,
        backlog: queues
            .for_engine(Engine::Http)
            .depth()
            .await
            .expect("queue depth")
            .total(),
        statuses: sqlx::query_as::<_, (String, i64)>(
            "SELECT status, count(*) FROM scrape_jobs GROUP BY status",
        )
        .fetch_all(pool)
        .await
        .expect("statuses")
        .into_iter()
        .collect(),
    }
}

async fn rows(pool: &PgPool) -> BTreeMap<String, i64> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let mut rows = BTreeMap::new();
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(pool)
            .await
            .expect("count");
        rows.insert(table, count);
    }
    rows
}

async fn objects(s3: &Client) -> BTreeMap<String, String> {
    let mut sums = BTreeMap::new();
    for bucket in MIRRORED {
        for key in list(s3, bucket.name(), "").await.expect("list").into_keys() {
            let body = s3
                .get_object()
                .bucket(bucket.name())
                .key(&key)
                .send()
                .await
                .expect("get")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            sums.insert(
                format!("{}/{key}", bucket.name()),
                hex::encode(Sha256::digest(&body)),
            );
        }
    }
    sums
}

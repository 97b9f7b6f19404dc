//! The `object_deletions` outbox: MinIO objects whose rows are gone (a deleted job result
//! enqueues its content, screenshot, thumbnail and PDF keys in the same transaction). The
//! maintenance task reads a page, deletes the objects, then deletes the page's rows, so an
//! object is never forgotten; a crash in between only repeats a delete, which S3 treats as
//! success.

use chrono::{DateTime, Utc};

use super::Db;
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ObjectDeletion {
    pub id: i64,
    pub bucket: String,
    pub object_key: String,
    pub reason: String,
    pub enqueued_at: DateTime<Utc>,
}

impl Db {
    /// Up to `limit` pending deletions after id `after`, oldest first (keyset paging, so
    /// rows left behind by a failure do not block the ones after them).
    pub async fn pending_object_deletions(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ObjectDeletion>> {
        Ok(crate::pg::sql::query_as(
            "SELECT id, bucket, object_key, reason, enqueued_at FROM object_deletions \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.exec())
        .await?)
    }

    /// Forgets deletions that were carried out.
    pub async fn complete_object_deletions(&self, ids: &[i64]) -> Result<u64> {
        Ok(
            crate::pg::sql::query("DELETE FROM object_deletions WHERE id = ANY($1)")
                .bind(ids)
                .execute(self.exec())
                .await?
                .rows_affected(),
        )
    }
}

//! Drains the `object_deletions` outbox (see [`crate::pg::ObjectDeletion`]): the MinIO half
//! of the retention policy of seed 001 §6, for objects whose rows retention deleted before
//! the buckets' lifecycle rules would expire them.

use std::collections::BTreeMap;

use super::ContentStore;
use crate::{Result, pg::Db};

/// At most this many keys per S3 DeleteObjects call.
const S3_DELETE_LIMIT: usize = 1000;

/// What a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DrainReport {
    pub objects_deleted: u64,
    pub pages: u64,
}

/// Deletes pending objects a page at a time until the outbox is empty. Rows are removed
/// only after their objects are gone.
pub async fn drain_object_deletions(
    db: &Db,
    store: &ContentStore,
    page: i64,
) -> Result<DrainReport> {
    let mut report = DrainReport::default();
    loop {
        let pending = db.pending_object_deletions(page).await?;
        if pending.is_empty() {
            return Ok(report);
        }
        let mut by_bucket: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for d in &pending {
            by_bucket.entry(&d.bucket).or_default().push(&d.object_key);
        }
        for (bucket, keys) in by_bucket {
            for chunk in keys.chunks(S3_DELETE_LIMIT) {
                report.objects_deleted += store.delete_keys(bucket, chunk).await?;
            }
        }
        let ids: Vec<i64> = pending.iter().map(|d| d.id).collect();
        db.complete_object_deletions(&ids).await?;
        report.pages += 1;
    }
}

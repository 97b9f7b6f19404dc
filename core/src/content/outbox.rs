//! Drains the `object_deletions` outbox (see [`crate::pg::ObjectDeletion`]): the MinIO half
//! of the retention policy of seed 001 §6, for objects whose rows retention deleted before
//! the buckets' lifecycle rules would expire them.

use std::collections::BTreeMap;

use super::ContentStore;
use crate::{Error, Result, pg::Db};

/// At most this many keys per S3 DeleteObjects call.
const S3_DELETE_LIMIT: usize = 1000;

/// What a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DrainReport {
    pub objects_deleted: u64,
    pub pages: u64,
    /// Rows left for a later drain after a permanent error on their objects.
    pub left_behind: u64,
}

/// Deletes pending objects a page at a time until the outbox is read through. Rows are
/// removed only after their objects are gone; a missing bucket counts as gone. An outage or
/// a denial stops the drain (the next one resumes); any other error on a group of objects
/// leaves their rows for later and moves on, so one bad row cannot block the rest.
pub async fn drain_object_deletions(
    db: &Db,
    store: &ContentStore,
    page: i64,
) -> Result<DrainReport> {
    let mut report = DrainReport::default();
    let mut after = 0;
    loop {
        let pending = db.pending_object_deletions(after, page).await?;
        let Some(last) = pending.last() else {
            return Ok(report);
        };
        after = last.id;
        let mut by_bucket: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
        for d in &pending {
            by_bucket
                .entry(&d.bucket)
                .or_default()
                .push((d.id, &d.object_key));
        }
        let mut done = Vec::with_capacity(pending.len());
        for (bucket, rows) in by_bucket {
            for chunk in rows.chunks(S3_DELETE_LIMIT) {
                let keys: Vec<&str> = chunk.iter().map(|(_, k)| *k).collect();
                match store.delete_keys(bucket, &keys).await {
                    Ok(n) => report.objects_deleted += n,
                    Err(Error::NotFound { .. }) => {}
                    Err(err @ (Error::StorageDenied(_) | Error::StorageUnavailable(_))) => {
                        return Err(err);
                    }
                    Err(err) => {
                        tracing::warn!(bucket, error = %err, "object deletions left for later");
                        report.left_behind += chunk.len() as u64;
                        continue;
                    }
                }
                done.extend(chunk.iter().map(|(id, _)| *id));
            }
        }
        db.complete_object_deletions(&done).await?;
        report.pages += 1;
    }
}

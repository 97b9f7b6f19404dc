//! API-key usage (`usage_count`, `last_used_at`) accumulated in memory and written in one
//! statement per flush, so authentication costs no database write per request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use scraperx_core::{domain::ApiKeyId, pg::Db};

/// Per key: requests since the last flush, and the latest of them.
type Pending = HashMap<ApiKeyId, (i64, DateTime<Utc>)>;

#[derive(Clone, Default)]
pub struct KeyUsage {
    pending: Arc<Mutex<Pending>>,
}

impl KeyUsage {
    pub fn record(&self, key: ApiKeyId) {
        if let Ok(mut pending) = self.pending.lock() {
            let entry = pending.entry(key).or_insert((0, Utc::now()));
            entry.0 += 1;
            entry.1 = Utc::now();
        }
    }

    /// Writes what accumulated; on failure it is kept for the next flush.
    pub async fn flush(&self, db: &Db) -> scraperx_core::Result<u64> {
        let batch: Vec<(ApiKeyId, i64, DateTime<Utc>)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().map(|(k, (n, t))| (k, n, t)).collect(),
            Err(_) => return Ok(0),
        };
        match db.record_api_key_usage(&batch).await {
            Ok(n) => Ok(n),
            Err(err) => {
                if let Ok(mut pending) = self.pending.lock() {
                    for (k, n, t) in batch {
                        let e = pending.entry(k).or_insert((0, t));
                        e.0 += n;
                        e.1 = e.1.max(t);
                    }
                }
                Err(err)
            }
        }
    }

    /// Flushes every `every` until the returned handle is aborted.
    pub fn spawn_flusher(&self, db: Db, every: Duration) -> tokio::task::JoinHandle<()> {
        let usage = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(err) = usage.flush(&db).await {
                    tracing::warn!(error = %err, "key usage flush failed; retrying later");
                }
            }
        })
    }
}

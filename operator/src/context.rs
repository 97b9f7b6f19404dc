//! What every reconcile shares.

use std::{collections::HashMap, sync::Arc};

use kube::{
    Client,
    runtime::events::{Recorder, Reporter},
};
use scraperx_core::{dispatch::QueueSet, pg::Db};
use tokio::sync::Mutex;

use crate::{metrics::Metrics, scaler::Scaler};

pub struct Context {
    pub client: Client,
    pub db: Db,
    pub queues: QueueSet,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Per WorkerPool (namespace/name): recent recommendations.
    pub scalers: Mutex<HashMap<String, Scaler>>,
    /// Per object (kind/namespace/name): reconciles failed in a row.
    failures: std::sync::Mutex<HashMap<String, u32>>,
}

/// The first retry after a failed reconcile, doubled per failure in a row, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(500);
pub const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(300);

/// The wait after `failures` failed reconciles in a row.
pub fn backoff_delay(failures: u32) -> std::time::Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)))
        .min(MAX_BACKOFF)
}

impl Context {
    pub fn new(client: Client, db: Db, queues: QueueSet, metrics: Arc<Metrics>) -> Arc<Self> {
        let reporter = Reporter {
            controller: "scraperx-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            db,
            queues,
            metrics,
            scalers: Mutex::new(HashMap::new()),
            failures: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Counts a failure of `key` and returns how long to wait before retrying: exponential.
    pub fn backoff(&self, key: &str) -> std::time::Duration {
        let n = self.failures.lock().map_or(1, |mut f| {
            let n = f.entry(key.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        });
        backoff_delay(n)
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::backoff_delay;

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_five_minutes() {
        assert_eq!(backoff_delay(1), Duration::from_millis(500));
        assert_eq!(backoff_delay(2), Duration::from_secs(1));
        assert_eq!(backoff_delay(5), Duration::from_secs(8));
        assert_eq!(backoff_delay(30), Duration::from_secs(300));
    }
}

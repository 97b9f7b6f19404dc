//! Job status from Redis pub/sub, fanned out in-process: one pattern subscription per API
//! replica (`scrx:jobs:*`) feeds every scrape-and-wait request and every live stream, so a
//! thousand waiting requests cost one Redis connection, not a thousand.
//!
//! Pub/sub can drop messages (a reconnect, a lagging receiver); every consumer treats a
//! message as a hint and reads the truth from Postgres.

use std::time::Duration;

use futures::StreamExt;
use scraperx_core::{
    config::RedisConfig,
    hot::pubsub::{self, JobStatusMessage, Topic},
};
use tokio::sync::{broadcast, watch};

const CAPACITY: usize = 4_096;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct JobWatcher {
    tx: broadcast::Sender<JobStatusMessage>,
    connected: watch::Receiver<bool>,
}

impl JobWatcher {
    /// Starts the subscription task; it reconnects with backoff for as long as it runs.
    pub fn spawn(config: RedisConfig) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, _) = broadcast::channel(CAPACITY);
        let (connected_tx, connected) = watch::channel(false);
        let sender = tx.clone();
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match pubsub::subscribe(&config, &Topic::all_job_status()).await {
                    Ok(stream) => {
                        backoff = Duration::from_millis(100);
                        let _ = connected_tx.send(true);
                        let mut stream = std::pin::pin!(stream);
                        while let Some(message) = stream.next().await {
                            // No receivers is fine: nobody is waiting right now.
                            let _ = sender.send(message);
                        }
                        let _ = connected_tx.send(false);
                        tracing::warn!("job status subscription ended; reconnecting");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "job status subscription failed; retrying");
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
        (Self { tx, connected }, task)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobStatusMessage> {
        self.tx.subscribe()
    }

    /// Waits until the subscription is live (at most `within`); true when it is.
    pub async fn ready(&self, within: Duration) -> bool {
        let mut connected = self.connected.clone();
        tokio::time::timeout(within, connected.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

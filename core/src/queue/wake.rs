//! Idle consumers wake when a job arrives instead of at their next poll.
//!
//! Invariant: a consumer that found its queues empty and then waits ([`Waker::idle`]) with
//! the generation it read before looking returns at once if a job arrived since, when the
//! next one arrives, or after its poll interval at the latest; so the poll stays the bound
//! (delayed jobs coming due, a lost subscription) and a wake-up is never missed between
//! looking and waiting.
//!
//! How. Every enqueue that makes a job waiting publishes one message on its queue's sharded
//! channel (`lua/prelude.lua`, `ready`); [`Waker::follow`] subscribes to each queue's
//! channel on a connection of its own, bumps the generation and wakes every waiting
//! consumer of the process. A subscription that drops is made again after a short pause.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use tokio::sync::Notify;

use super::JobQueue;
use crate::{
    config::RedisConfig,
    hot::pubsub::{self, Topic},
};

/// The pause before a dropped subscription is made again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Shared {
    generation: AtomicU64,
    notify: Notify,
}

/// Wakes a process's idle consumers (cheap to clone).
#[derive(Clone, Default)]
pub struct Waker {
    shared: Arc<Shared>,
}

impl Waker {
    /// Follows the ready channels of `queues` until the returned tasks are aborted (or the
    /// runtime ends); without it, [`Waker::idle`] is a plain sleep.
    pub fn follow(
        &self,
        config: &RedisConfig,
        queues: &[JobQueue],
    ) -> Vec<tokio::task::JoinHandle<()>> {
        queues
            .iter()
            .map(|queue| {
                let (shared, config) = (self.shared.clone(), config.clone());
                let topic = Topic::queue_ready(queue.wait_key());
                tokio::spawn(async move {
                    loop {
                        match pubsub::subscribe(&config, &topic).await {
                            Ok(messages) => {
                                let mut messages = Box::pin(messages);
                                while messages.next().await.is_some() {
                                    shared.generation.fetch_add(1, Ordering::AcqRel);
                                    shared.notify.notify_waiters();
                                }
                            }
                            Err(err) => {
                                tracing::debug!(error = %err, "ready channel not followed");
                            }
                        }
                        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                    }
                })
            })
            .collect()
    }

    /// The generation to pass to [`Waker::idle`]: read it before looking at the queues.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Waits until a job arrives after `seen` (at once if one did already), or `longest`.
    pub async fn idle(&self, seen: u64, longest: Duration) {
        let notified = self.shared.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.generation() != seen {
            return;
        }
        let _ = tokio::time::timeout(longest, notified).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_up_between_looking_and_waiting_is_not_missed() {
        let waker = Waker::default();
        let seen = waker.generation();
        waker.shared.generation.fetch_add(1, Ordering::AcqRel);
        waker.shared.notify.notify_waiters();
        let started = std::time::Instant::now();
        waker.idle(seen, Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn with_nothing_arriving_idle_is_the_poll_interval() {
        let waker = Waker::default();
        let started = tokio::time::Instant::now();
        waker
            .idle(waker.generation(), Duration::from_millis(50))
            .await;
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}

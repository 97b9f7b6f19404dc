//! Idle consumers wake when a job arrives instead of at their next poll.
//!
//! Invariant: a consumer that found its queues empty and then waits ([`Waker::idle`]) with
//! the generation it read before looking returns at once if a job arrived since, when the
//! next one arrives, or after its poll interval at the latest; so the poll stays the bound
//! (delayed jobs coming due, a lost subscription) and a wake-up is never missed between
//! looking and waiting.
//!
//! How. Every enqueue that makes a job waiting publishes one message on its queue's sharded
//! channel (`lua/prelude.lua`, `ready`), with how many jobs it made waiting;
//! [`Waker::follow`] subscribes to each queue's channel on a connection of its own, bumps the
//! generation and wakes as many waiting consumers of the process as there are new jobs (not
//! all of them for one job: a hundred idle slots racing for it would only delay the one that
//! wins). A subscription that drops is made again after a short pause.

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

impl Shared {
    /// Wakes up to `jobs` waiting consumers (one stays owed when none waits).
    fn wake(&self, jobs: u64) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for _ in 0..jobs.clamp(1, MAX_WOKEN) {
            self.notify.notify_one();
        }
    }
}

/// The most consumers one message wakes (more than any process runs slots).
const MAX_WOKEN: u64 = 1_024;

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
                                while let Some(ready) = messages.next().await {
                                    shared.wake(ready.jobs);
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
        waker.shared.wake(1);
        let started = std::time::Instant::now();
        waker.idle(seen, Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn one_job_wakes_one_of_the_idle_consumers() {
        let waker = Waker::default();
        let seen = waker.generation();
        let idle: Vec<_> = (0..3)
            .map(|_| {
                let waker = waker.clone();
                tokio::spawn(async move {
                    waker.idle(seen, Duration::from_millis(300)).await;
                    tokio::time::Instant::now()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The three wait already (a later one would see the new generation and not wait).
        waker.shared.wake(1);
        let woke_at = tokio::time::Instant::now();
        let mut early = 0;
        for task in idle {
            if task.await.expect("task") - woke_at < Duration::from_millis(150) {
                early += 1;
            }
        }
        assert_eq!(early, 1, "one job, one consumer woken before its poll");
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

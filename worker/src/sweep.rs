//! The workers keep Redis whole: one worker at a time, the holder of its queue namespace's
//! `sweep` lock, runs the re-enqueue sweep ([`scraperx_core::sweep`]), so jobs Redis lost
//! run again without the operator.
//!
//! Invariant: while any worker runs, some worker holds the lock within [`LOCK_TTL`] and
//! checks the queues' marker every [`TICK`]: a Redis that restarted empty is restored from
//! Postgres within a tick of being noticed (the lock went with the data, so the first worker
//! to tick takes it). The holder extends the lock every tick, and during a long pass.

use std::time::Duration;

use scraperx_core::{
    dispatch::QueueSet,
    hot::{
        RedisConn,
        locks::{LockGuard, Locks},
    },
    pg::Db,
    sweep::{self, Pass, SweepReport},
};
use tokio::time::Instant;

/// How often the queues' marker is checked (and the lock extended or sought).
pub const TICK: Duration = Duration::from_secs(1);
/// A holder that stops extending the lock (it died) is replaced after this.
pub const LOCK_TTL: Duration = Duration::from_secs(10);

/// One worker's sweeper: it sweeps only while it holds the lock.
#[derive(Clone)]
pub struct Sweeper {
    db: Db,
    queues: QueueSet,
    locks: Locks,
    /// Crawls' repairs and top-ups, run on every tick while the lock is held.
    crawls: Option<crate::crawl::Crawler>,
}

impl Sweeper {
    pub fn new(db: Db, queues: QueueSet, redis: RedisConn) -> Self {
        Self {
            db,
            queues,
            locks: Locks::new(redis, LOCK_TTL),
            crawls: None,
        }
    }

    /// Also repairs and tops up crawls ([`crate::crawl::Crawler::sweep`]) on every tick.
    pub fn with_crawls(mut self, crawler: crate::crawl::Crawler) -> Self {
        self.crawls = Some(crawler);
        self
    }

    /// The lock's id: one sweeper per queue namespace.
    fn resource(&self) -> &str {
        match self.queues.namespace() {
            "" => "default",
            ns => ns,
        }
    }

    /// Ticks until the task is dropped.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held: Option<LockGuard> = None;
        let mut last_pass: Option<Instant> = None;
        let mut failing = false;
        loop {
            tick.tick().await;
            match self.tick(&mut held, &mut last_pass).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("sweeper running again");
                }
                Ok(()) => {}
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "sweep tick failed; retrying every tick");
                }
                Err(_) => {}
            }
        }
    }

    /// Holds (or takes) the lock, then runs the pass due, if any.
    async fn tick(
        &self,
        held: &mut Option<LockGuard>,
        last_pass: &mut Option<Instant>,
    ) -> scraperx_core::Result<()> {
        if let Some(guard) = held.as_ref()
            && !guard.extend(LOCK_TTL).await?
        {
            *held = None;
        }
        if held.is_none() {
            *held = self.locks.try_acquire("sweep", self.resource()).await?;
            // A new holder checks at once: the last one may have died before its check.
            *last_pass = None;
        }
        let Some(guard) = held.as_ref() else {
            return Ok(());
        };
        if let Some(crawls) = &self.crawls
            && let Err(err) = crawls.sweep().await
        {
            tracing::warn!(error = %err, "crawl sweep failed; retrying next tick");
        }
        let intact = sweep::queues_intact(&self.queues).await?;
        let since = last_pass.map(|at| at.elapsed());
        let Some(pass) = sweep::next_pass(intact, since, sweep::PASS_EVERY) else {
            return Ok(());
        };
        let started = Instant::now();
        let report = self.pass_holding(guard, pass).await?;
        *last_pass = Some(started);
        log_pass(pass, &report, started.elapsed());
        Ok(())
    }

    /// Runs `pass`, extending the lock while it lasts.
    async fn pass_holding(
        &self,
        guard: &LockGuard,
        pass: Pass,
    ) -> scraperx_core::Result<SweepReport> {
        let running = sweep::run_pass(&self.db, &self.queues, pass);
        tokio::pin!(running);
        let mut keep = tokio::time::interval(LOCK_TTL / 3);
        keep.tick().await;
        loop {
            tokio::select! {
                report = &mut running => return report,
                _ = keep.tick() => {
                    if let Err(err) = guard.extend(LOCK_TTL).await {
                        tracing::warn!(error = %err, "sweep lock not extended");
                    }
                }
            }
        }
    }
}

fn log_pass(pass: Pass, report: &SweepReport, took: Duration) {
    if report.restored > 0 {
        tracing::warn!(
            pass = pass.as_str(),
            queued = report.queued,
            running = report.running,
            restored = report.restored,
            took_ms = took.as_millis() as u64,
            "jobs Redis lost were put back on their queues"
        );
    } else {
        tracing::debug!(pass = pass.as_str(), queued = report.queued, "queues whole");
    }
}

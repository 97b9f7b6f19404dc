//! Real-time metrics in Redis (seed 001 §4.9): unique URLs per UTC day (HyperLogLog), request
//! outcomes per minute and per hour, latency percentiles per minute, and worker heartbeats.
//! Every series is written with its §6.3 expiry in the same pipeline; the seed left the
//! latency sets and the HyperLogLogs without one.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, NaiveDate, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::{RedisConn, TtlConfig, keys, lua_script, millis};
use crate::Result;

/// One finished scrape, as the metrics see it.
#[derive(Debug, Clone)]
pub struct RequestSample<'a> {
    pub url: &'a str,
    pub success: bool,
    pub latency: Duration,
    /// Unique per sample (job id and attempt), so equal latencies are all counted.
    pub sample_id: &'a str,
    pub at: DateTime<Utc>,
}

/// Success and failure counts of one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcomes {
    pub success: u64,
    pub failed: u64,
}

/// Latency percentiles of one minute, in milliseconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Latency {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// What a worker reports about itself every few seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerHeartbeat {
    pub worker_id: String,
    /// The engine or pool the worker serves.
    pub pool: String,
    pub region: String,
    pub status: String,
    pub current_jobs: u32,
    /// Unix seconds.
    pub last_heartbeat: i64,
}

pub fn epoch_minute(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

fn epoch_hour(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3_600)
}

fn day_key(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

#[derive(Clone)]
pub struct Metrics {
    conn: RedisConn,
    ttl: TtlConfig,
}

impl Metrics {
    pub fn new(conn: RedisConn, ttl: TtlConfig) -> Self {
        Self { conn, ttl }
    }

    /// Records one scrape in every series, concurrently.
    pub async fn record(&self, s: &RequestSample<'_>) -> Result<()> {
        let url_hash = super::cache::url_hash(s.url).unwrap_or_else(|_| s.url.to_owned());
        let outcome = if s.success { "success" } else { "failed" };
        let minute = epoch_minute(s.at);
        let urls = keys::metrics_urls(&day_key(s.at.date_naive()));
        let per_minute = keys::metrics_requests(outcome, minute);
        let per_hour = keys::metrics_requests(&format!("h:{outcome}"), epoch_hour(s.at));
        let latency = keys::metrics_latency(minute);
        let ms = |d: Duration| i64::try_from(millis(d)).unwrap_or(i64::MAX);
        let ttl = |key: &str, d: Duration| {
            let mut pipe = redis::pipe();
            pipe.pexpire(key, ms(d)).ignore();
            pipe
        };
        // One pipeline per key: the four series sit on different cluster slots.
        let (mut url_set, mut minute_count, mut hour_count, mut latencies) = (
            ttl(&urls, self.ttl.metrics_day),
            ttl(&per_minute, self.ttl.metrics_minute),
            ttl(&per_hour, self.ttl.metrics_hour),
            ttl(&latency, self.ttl.metrics_minute),
        );
        url_set.pfadd(&urls, &url_hash).ignore();
        minute_count.incr(&per_minute, 1).ignore();
        hour_count.incr(&per_hour, 1).ignore();
        latencies
            .zadd(&latency, s.sample_id, s.latency.as_secs_f64() * 1_000.0)
            .ignore();
        self.conn
            .run_apart(&[url_set, minute_count, hour_count, latencies])
            .await?;
        Ok(())
    }

    /// Distinct URLs scraped on `day` (HyperLogLog: within about 1%).
    pub async fn unique_urls(&self, day: NaiveDate) -> Result<u64> {
        Ok(self
            .conn
            .clone()
            .pfcount(keys::metrics_urls(&day_key(day)))
            .await?)
    }

    pub async fn outcomes_in_minute(&self, minute: i64) -> Result<Outcomes> {
        self.outcomes(
            keys::metrics_requests("success", minute),
            keys::metrics_requests("failed", minute),
        )
        .await
    }

    pub async fn outcomes_in_hour(&self, at: DateTime<Utc>) -> Result<Outcomes> {
        let hour = epoch_hour(at);
        self.outcomes(
            keys::metrics_requests("h:success", hour),
            keys::metrics_requests("h:failed", hour),
        )
        .await
    }

    async fn outcomes(&self, success: String, failed: String) -> Result<Outcomes> {
        // Two keys, two slots on a cluster: read apart, concurrently.
        let (mut a, mut b) = (self.conn.clone(), self.conn.clone());
        let (success, failed): (Option<u64>, Option<u64>) =
            futures::future::try_join(a.get(success), b.get(failed)).await?;
        Ok(Outcomes {
            success: success.unwrap_or(0),
            failed: failed.unwrap_or(0),
        })
    }

    /// p50, p95 and p99 of the latencies recorded in `minute`.
    pub async fn latency_in_minute(&self, minute: i64) -> Result<Latency> {
        let out: Vec<f64> = lua_script!("percentiles.lua")
            .key(keys::metrics_latency(minute))
            .arg(500)
            .arg(950)
            .arg(990)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let at = |i: usize| out.get(i).copied();
        Ok(Latency {
            count: at(0).map_or(0, |c| c as u64),
            p50: at(1),
            p95: at(2),
            p99: at(3),
        })
    }

    /// Publishes a worker's heartbeat; it disappears after the worker TTL without renewal.
    pub async fn heartbeat(&self, hb: &WorkerHeartbeat) -> Result<()> {
        let key = keys::worker(&hb.worker_id);
        let index = keys::worker_index();
        let ttl = i64::try_from(millis(self.ttl.worker)).unwrap_or(i64::MAX);
        // The worker's hash and the index: two slots on a cluster, so two pipelines.
        let mut entry = redis::pipe();
        entry
            .hset_multiple(
                &key,
                &[
                    ("workerId", hb.worker_id.clone()),
                    ("pool", hb.pool.clone()),
                    ("region", hb.region.clone()),
                    ("status", hb.status.clone()),
                    ("currentJobs", hb.current_jobs.to_string()),
                    ("lastHeartbeat", hb.last_heartbeat.to_string()),
                ],
            )
            .ignore()
            .pexpire(&key, ttl)
            .ignore();
        let mut listed = redis::pipe();
        listed
            .zadd(&index, &hb.worker_id, hb.last_heartbeat)
            .ignore()
            .pexpire(&index, ttl)
            .ignore();
        self.conn.run_apart(&[entry, listed]).await?;
        Ok(())
    }

    /// Workers whose heartbeat is still live, read from the index rather than a scan.
    pub async fn live_workers(&self) -> Result<Vec<WorkerHeartbeat>> {
        let mut conn = self.conn.clone();
        let index = keys::worker_index();
        let ids: Vec<String> = conn.zrange(&index, 0, -1).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Each worker's hash sits on its own slot on a cluster: read apart, concurrently.
        let rows: Vec<HashMap<String, String>> =
            futures::future::try_join_all(ids.iter().map(|id| {
                let mut conn = conn.clone();
                async move { conn.hgetall(keys::worker(id)).await }
            }))
            .await?;
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, row) in ids.iter().zip(rows) {
            match parse_heartbeat(&row) {
                Some(hb) => live.push(hb),
                None => gone.push(id.as_str()),
            }
        }
        if !gone.is_empty() {
            let _: u64 = conn.zrem(&index, gone).await?;
        }
        Ok(live)
    }

    /// Removes a worker that shut down cleanly.
    pub async fn remove_worker(&self, worker_id: &str) -> Result<()> {
        let (mut entry, mut listed) = (redis::pipe(), redis::pipe());
        entry.del(keys::worker(worker_id)).ignore();
        listed.zrem(keys::worker_index(), worker_id).ignore();
        self.conn.run_apart(&[entry, listed]).await?;
        Ok(())
    }
}

fn parse_heartbeat(row: &HashMap<String, String>) -> Option<WorkerHeartbeat> {
    let get = |k: &str| row.get(k).cloned();
    Some(WorkerHeartbeat {
        worker_id: get("workerId")?,
        pool: get("pool")?,
        region: get("region")?,
        status: get("status")?,
        current_jobs: get("currentJobs")?.parse().ok()?,
        last_heartbeat: get("lastHeartbeat")?.parse().ok()?,
    })
}

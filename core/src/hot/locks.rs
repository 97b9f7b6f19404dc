//! Distributed locks with an owner token (seed 001 §4.8): acquire is `SET NX PX`, extend and
//! release are scripts that act only when the caller still owns the lock. A holder that
//! stalls past the TTL loses the lock, and its late release cannot free someone else's.
//!
//! This is a single-instance lock, as the seed's scripts are. Redlock across independent
//! masters is not attempted: on a Redis Cluster each key has one master, and work that must
//! be exact (job delivery, credits) is protected by leases and Postgres, not by a lock alone.

use std::time::Duration;

use rand::Rng;

use super::{RedisConn, keys, lua_script, millis, random_token};
use crate::Result;

#[derive(Clone)]
pub struct Locks {
    conn: RedisConn,
    ttl: Duration,
}

/// A held lock. Release it when done; if dropped instead it expires after its TTL.
#[must_use = "a lock that is never released is held until its TTL runs out"]
pub struct LockGuard {
    conn: RedisConn,
    key: String,
    token: String,
}

impl Locks {
    /// `ttl`: a lock's lifetime unless extended (the §6.3 `lock` TTL).
    pub fn new(conn: RedisConn, ttl: Duration) -> Self {
        Self { conn, ttl }
    }

    /// Takes the lock on `resource`/`id` if free.
    pub async fn try_acquire(&self, resource: &str, id: &str) -> Result<Option<LockGuard>> {
        let key = keys::lock(resource, id);
        let token = random_token();
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(millis(self.ttl))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.map(|_| LockGuard {
            conn: self.conn.clone(),
            key,
            token,
        }))
    }

    /// Takes the lock, retrying with jittered pauses for up to `wait`.
    pub async fn acquire(
        &self,
        resource: &str,
        id: &str,
        wait: Duration,
    ) -> Result<Option<LockGuard>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(guard) = self.try_acquire(resource, id).await? {
                return Ok(Some(guard));
            }
            let pause = Duration::from_millis(rand::rng().random_range(5..=50));
            if tokio::time::Instant::now() + pause > deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
        }
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Extends the lock to `ttl` from now. False when it was lost (expired, taken over).
    pub async fn extend(&self, ttl: Duration) -> Result<bool> {
        let done: i64 = lua_script!("lock_extend.lua")
            .key(&self.key)
            .arg(&self.token)
            .arg(millis(ttl))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(done == 1)
    }

    /// Releases the lock. False when it had already been lost.
    pub async fn release(self) -> Result<bool> {
        let done: i64 = lua_script!("lock_release.lua")
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(done == 1)
    }
}

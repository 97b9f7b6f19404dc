//! Webhook delivery slots per organization (seed 001 §4.5's slots; running jobs are capped
//! in the queue itself). A worker takes a slot before it delivers, renews it while the
//! delivery runs and gives it back at the end. A slot that is not renewed within its TTL
//! (the worker crashed) stops counting on its own.

use std::time::Duration;

use redis::AsyncCommands;

use super::RedisConn;

use super::{keys, lua_script, millis};
use crate::{Result, domain::OrgId};

/// What [`ConcurrencySlots::acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOutcome {
    /// Taken; `active` slots are now in use, this one included.
    Acquired { active: u64 },
    /// This job already held a slot; its deadline was renewed.
    AlreadyHeld { active: u64 },
    /// Every slot is in use.
    Full { active: u64 },
}

impl SlotOutcome {
    pub fn is_granted(self) -> bool {
        !matches!(self, SlotOutcome::Full { .. })
    }
}

#[derive(Clone)]
pub struct ConcurrencySlots {
    conn: RedisConn,
    ttl: Duration,
}

impl ConcurrencySlots {
    /// Webhook delivery slots, one per delivery in flight.
    pub fn deliveries(conn: RedisConn, ttl: Duration) -> Self {
        Self { conn, ttl }
    }

    pub async fn acquire(&self, org: OrgId, job_id: &str, limit: u32) -> Result<SlotOutcome> {
        let (outcome, active): (i64, u64) = lua_script!("slot_acquire.lua")
            .key(keys::concurrent_deliveries(org))
            .arg(job_id)
            .arg(limit)
            .arg(millis(self.ttl))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match outcome {
            1 => SlotOutcome::Acquired { active },
            2 => SlotOutcome::AlreadyHeld { active },
            _ => SlotOutcome::Full { active },
        })
    }

    /// Renews a held slot. False when it had already expired: the job lost its slot.
    pub async fn refresh(&self, org: OrgId, job_id: &str) -> Result<bool> {
        let renewed: i64 = lua_script!("slot_refresh.lua")
            .key(keys::concurrent_deliveries(org))
            .arg(job_id)
            .arg(millis(self.ttl))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(renewed == 1)
    }

    /// Gives a slot back. False when it was not held.
    pub async fn release(&self, org: OrgId, job_id: &str) -> Result<bool> {
        let removed: u64 = self
            .conn
            .clone()
            .zrem(keys::concurrent_deliveries(org), job_id)
            .await?;
        Ok(removed > 0)
    }

    /// The jobs holding a live slot.
    pub async fn active(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(lua_script!("slot_list.lua")
            .key(keys::concurrent_deliveries(org))
            .invoke_async(&mut self.conn.clone())
            .await?)
    }
}

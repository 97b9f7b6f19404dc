//! Login sessions (seed 001 §4.3): a hash per session with the session TTL, plus a sorted set
//! of session ids per user and per organization, scored by expiry. Invalidating everything
//! of a user or an organization reads its index instead of scanning the keyspace (the seed's
//! `SCAN MATCH scrx:session:*` is O(keyspace) and blocks on a big cluster).
//!
//! The token handed to the client is never stored: keys hold its SHA-256, so a Redis dump
//! does not give away live sessions.

use std::time::Duration;

use chrono::Utc;
use redis::AsyncCommands;

use super::RedisConn;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{keys, millis, random_token};
use crate::{
    Result,
    domain::{ApiKeyId, OrgId, UserId},
};

/// What a session grants, as the API reads it on each request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: UserId,
    pub organization_id: OrgId,
    pub api_key_id: Option<ApiKeyId>,
    pub scopes: Vec<String>,
    /// Requests per minute.
    pub rate_limit: u32,
    pub max_concurrent: u32,
}

/// A live session: its grant and its lifetime in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub grant: Grant,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The bearer token of a session. Shown to the client once; only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(raw.to_ascii_lowercase()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn storage_id(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

#[derive(Clone)]
pub struct Sessions {
    conn: RedisConn,
    ttl: Duration,
}

impl Sessions {
    pub fn new(conn: RedisConn, ttl: Duration) -> Self {
        Self { conn, ttl }
    }

    /// Creates a session that lives for the session TTL.
    pub async fn create(&self, grant: Grant) -> Result<(SessionToken, Session)> {
        let token = SessionToken(random_token());
        let now = Utc::now().timestamp();
        let ttl_secs = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let session = Session {
            grant,
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
        };
        let id = token.storage_id();
        let key = keys::session(&id);
        let ttl_ms = millis(self.ttl);
        let g = &session.grant;
        let scopes = serde_json::to_string(&g.scopes).unwrap_or_else(|_| "[]".into());
        // Indexes first: a crash in between leaves an index entry that points nowhere and
        // expires, never a session that invalidation cannot find. Each key is a pipeline of
        // its own (they sit on different cluster slots); the two indexes go together.
        let indexes = [
            keys::user_sessions(g.user_id),
            keys::org_sessions(g.organization_id),
        ]
        .map(|index| {
            let mut pipe = redis::pipe();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&index)
                .arg("-inf")
                .arg(now)
                .ignore()
                .zadd(&index, &id, session.expires_at)
                .ignore()
                .pexpire(&index, ttl_ms as i64)
                .ignore();
            pipe
        });
        self.conn.run_apart(&indexes).await?;
        let mut pipe = redis::pipe();
        pipe.hset_multiple(
            &key,
            &[
                ("userId", g.user_id.to_string()),
                ("organizationId", g.organization_id.to_string()),
                (
                    "apiKeyId",
                    g.api_key_id.map(|k| k.to_string()).unwrap_or_default(),
                ),
                ("scopes", scopes),
                ("rateLimit", g.rate_limit.to_string()),
                ("maxConcurrent", g.max_concurrent.to_string()),
                ("createdAt", session.created_at.to_string()),
                ("expiresAt", session.expires_at.to_string()),
            ],
        )
        .ignore()
        .pexpire(&key, ttl_ms as i64)
        .ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await?;
        Ok((token, session))
    }

    /// The live session for `token`; None when unknown, expired, invalidated or malformed.
    pub async fn get(&self, token: &SessionToken) -> Result<Option<Session>> {
        let fields: std::collections::HashMap<String, String> = self
            .conn
            .clone()
            .hgetall(keys::session(&token.storage_id()))
            .await?;
        Ok(parse_session(&fields))
    }

    /// Ends one session. False when it was not live.
    pub async fn invalidate(&self, token: &SessionToken) -> Result<bool> {
        let removed: u64 = self
            .conn
            .clone()
            .del(keys::session(&token.storage_id()))
            .await?;
        Ok(removed > 0)
    }

    /// Ends every session of a user; returns how many were live.
    pub async fn invalidate_user(&self, user: UserId) -> Result<u64> {
        self.invalidate_index(keys::user_sessions(user)).await
    }

    /// Ends every session of an organization; returns how many were live.
    pub async fn invalidate_organization(&self, org: OrgId) -> Result<u64> {
        self.invalidate_index(keys::org_sessions(org)).await
    }

    async fn invalidate_index(&self, index: String) -> Result<u64> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn.zrange(&index, 0, -1).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        // One DEL per key, concurrently: in a cluster the sessions live on different slots.
        let removed: Vec<u64> = futures::future::try_join_all(ids.iter().map(|id| {
            let mut conn = conn.clone();
            async move { conn.del(keys::session(id)).await }
        }))
        .await?;
        // Remove only what was read: a session created meanwhile stays findable.
        let _: u64 = conn.zrem(&index, &ids).await?;
        Ok(removed.iter().sum())
    }
}

fn parse_session(f: &std::collections::HashMap<String, String>) -> Option<Session> {
    let get = |name: &str| f.get(name).map(String::as_str);
    let api_key_id = match get("apiKeyId")? {
        "" => None,
        raw => Some(raw.parse().ok()?),
    };
    Some(Session {
        grant: Grant {
            user_id: get("userId")?.parse().ok()?,
            organization_id: get("organizationId")?.parse().ok()?,
            api_key_id,
            scopes: serde_json::from_str(get("scopes")?).ok()?,
            rate_limit: get("rateLimit")?.parse().ok()?,
            max_concurrent: get("maxConcurrent")?.parse().ok()?,
        },
        created_at: get("createdAt")?.parse().ok()?,
        expires_at: get("expiresAt")?.parse().ok()?,
    })
}

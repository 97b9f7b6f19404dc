//! The cluster connection a process shares, renewed from the seed nodes when the cluster
//! moved under it.
//!
//! Invariant: after a master fails and its replica is promoted, the next command that finds
//! a node gone (refused, reset, timed out, CLUSTERDOWN, MASTERDOWN, TRYAGAIN, MOVED) makes a
//! fresh connection, which reads the slot map again from a live node, and is sent once more
//! over it. redis-rs 0.32 reconnects a refused node without reading the map again, so on its
//! own it keeps routing a dead master's slots to the dead address. Renewals are serialised
//! and at most one per [`RENEW_AT_MOST_EVERY`]: callers that failed on the same connection
//! share one renewal.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use redis::{
    Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value, aio::ConnectionLike,
    cluster::ClusterClient, cluster_async::ClusterConnection,
};

/// The least time between two renewals (a failover takes seconds; a storm of failing
/// commands must not become a storm of connections).
pub const RENEW_AT_MOST_EVERY: Duration = Duration::from_millis(250);

/// True when `err` says the cluster's layout may have changed, or a node is gone: worth a
/// fresh slot map. A reply the server gave (a script error, a wrong type) is not.
pub fn needs_new_map(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_cluster_error()
        || matches!(
            err.kind(),
            ErrorKind::MasterDown | ErrorKind::ClusterConnectionNotFound | ErrorKind::ReadOnly
        )
}

struct Current {
    conn: ClusterConnection,
    generation: u64,
    renewed: Instant,
}

/// A cluster client and its current connection (cheap to clone: shared).
#[derive(Clone)]
pub struct ClusterLink {
    client: Arc<ClusterClient>,
    current: Arc<RwLock<Current>>,
    renewing: Arc<tokio::sync::Mutex<()>>,
    connect_timeout: Duration,
}

impl ClusterLink {
    /// Connects; the first connection is bounded by `connect_timeout`.
    pub async fn connect(client: ClusterClient, connect_timeout: Duration) -> RedisResult<Self> {
        let conn = fresh(&client, connect_timeout).await?;
        Ok(Self {
            client: Arc::new(client),
            current: Arc::new(RwLock::new(Current {
                conn,
                generation: 0,
                renewed: Instant::now(),
            })),
            renewing: Arc::new(tokio::sync::Mutex::new(())),
            connect_timeout,
        })
    }

    fn current(&self) -> (ClusterConnection, u64) {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        (current.conn.clone(), current.generation)
    }

    /// Replaces the connection that was current at `generation`, unless another caller
    /// already did or the last renewal is too recent; the connection to use now.
    async fn renew(&self, generation: u64) -> ClusterConnection {
        let _one_at_a_time = self.renewing.lock().await;
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.generation != generation || current.renewed.elapsed() < RENEW_AT_MOST_EVERY {
                return current.conn.clone();
            }
        }
        match fresh(&self.client, self.connect_timeout).await {
            Ok(conn) => {
                let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
                *current = Current {
                    conn: conn.clone(),
                    generation: generation + 1,
                    renewed: Instant::now(),
                };
                tracing::info!("redis cluster connection renewed (slot map read again)");
                conn
            }
            Err(err) => {
                tracing::warn!(error = %err, "redis cluster connection not renewed");
                let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
                current.renewed = Instant::now();
                current.conn.clone()
            }
        }
    }

    /// The cluster connection as it is now (for routing by address).
    pub fn connection(&self) -> ClusterConnection {
        self.current().0
    }
}

async fn fresh(client: &ClusterClient, timeout: Duration) -> RedisResult<ClusterConnection> {
    match tokio::time::timeout(timeout, client.get_async_connection()).await {
        Ok(conn) => conn,
        Err(_) => Err(RedisError::from((
            ErrorKind::IoError,
            "cluster connect timed out",
        ))),
    }
}

impl ConnectionLike for ClusterLink {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (mut conn, generation) = self.current();
            match conn.req_packed_command(cmd).await {
                Err(err) if needs_new_map(&err) => {
                    self.renew(generation).await.req_packed_command(cmd).await
                }
                other => other,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (mut conn, generation) = self.current();
            match conn.req_packed_commands(cmd, offset, count).await {
                Err(err) if needs_new_map(&err) => {
                    self.renew(generation)
                        .await
                        .req_packed_commands(cmd, offset, count)
                        .await
                }
                other => other,
            }
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_node_or_a_moved_slot_renews_the_map_and_a_server_reply_does_not() {
        let io = |kind| RedisError::from(std::io::Error::from(kind));
        assert!(needs_new_map(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(needs_new_map(&io(std::io::ErrorKind::TimedOut)));
        for kind in [
            ErrorKind::ClusterDown,
            ErrorKind::MasterDown,
            ErrorKind::TryAgain,
        ] {
            assert!(needs_new_map(&RedisError::from((kind, "x"))), "{kind:?}");
        }
        for kind in [
            ErrorKind::ResponseError,
            ErrorKind::NoScriptError,
            ErrorKind::CrossSlot,
        ] {
            assert!(!needs_new_map(&RedisError::from((kind, "x"))), "{kind:?}");
        }
    }
}

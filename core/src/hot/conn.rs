//! The Redis connection a process shares, to one server or to a Redis Cluster (seed 001 §4.1).
//! One server: redis-rs's `ConnectionManager`, which reconnects in the background when its
//! connection breaks, plus one retry of a command that found the connection broken. A
//! cluster: redis-rs's cluster connection, which routes each command by its key's slot,
//! follows MOVED and ASK, and reads the slot map again when a node is gone, so a replica
//! promoted in a master's place takes over by itself (`core/tests/cluster_failover.rs`: the
//! same connection enqueues again about 3.5 s after a master's SIGKILL, with a 2 s node
//! timeout).
//!
//! Invariant: once Redis answers again, the next command succeeds. The manager alone hands
//! the first command after an outage the broken connection (or its last failed reconnect),
//! fails it ("broken pipe") and only then reconnects; the retry waits for that reconnect.
//! Only failures that say the command never reached a live connection are retried (a broken
//! pipe, a reset, a refused connection); a timeout is not, so an outage costs one wait, not
//! two. A command whose reply was lost to a reset may run twice: every queue move is safe
//! under at-least-once delivery (an orphaned lease lapses), and counters may count twice.

use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value, aio::ConnectionLike};

/// A shared, self-reconnecting Redis connection (cheap to clone). On a cluster a pipeline
/// must keep to one slot (commands over several slots go out one by one, or concurrently);
/// every script's keys share one hash tag.
#[derive(Clone)]
pub enum RedisConn {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl RedisConn {
    pub fn new(manager: redis::aio::ConnectionManager) -> Self {
        Self::Single(manager)
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Runs pipelines whose keys may sit on different cluster slots, concurrently, each one
    /// keeping to one slot (a pipeline per key); their replies are ignored. Over one server
    /// the multiplexed connection writes them together, as one pipeline would.
    pub async fn run_apart(&self, pipes: &[redis::Pipeline]) -> redis::RedisResult<()> {
        futures::future::try_join_all(pipes.iter().map(|pipe| {
            let mut conn = self.clone();
            async move { pipe.exec_async(&mut conn).await }
        }))
        .await?;
        Ok(())
    }
}

/// True when `err` means the command never reached a live connection, so it is worth
/// sending once more over the manager's fresh one.
pub fn worth_retrying(err: &RedisError) -> bool {
    err.is_connection_dropped() || err.is_connection_refusal()
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(manager) => Box::pin(async move {
                match manager.send_packed_command(cmd).await {
                    Err(err) if worth_retrying(&err) => manager.send_packed_command(cmd).await,
                    other => other,
                }
            }),
            Self::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(manager) => Box::pin(async move {
                match manager.send_packed_commands(cmd, offset, count).await {
                    Err(err) if worth_retrying(&err) => {
                        manager.send_packed_commands(cmd, offset, count).await
                    }
                    other => other,
                }
            }),
            Self::Cluster(cluster) => cluster.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(manager) => manager.get_db(),
            Self::Cluster(cluster) => cluster.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn io_error(kind: io::ErrorKind) -> RedisError {
        RedisError::from(io::Error::from(kind))
    }

    #[test]
    fn a_broken_or_refused_connection_is_retried() {
        for kind in [
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::UnexpectedEof,
            io::ErrorKind::ConnectionRefused,
        ] {
            assert!(worth_retrying(&io_error(kind)), "{kind:?}");
        }
    }

    #[test]
    fn a_timeout_or_a_server_error_is_not_retried() {
        assert!(!worth_retrying(&io_error(io::ErrorKind::TimedOut)));
        let script_error = RedisError::from((redis::ErrorKind::ResponseError, "ERR in script"));
        assert!(!worth_retrying(&script_error));
    }
}

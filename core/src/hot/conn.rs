//! The Redis connection a process shares: redis-rs's `ConnectionManager`, which reconnects
//! in the background when its connection breaks, plus one retry of a command that found the
//! connection broken.
//!
//! Invariant: once Redis answers again, the next command succeeds. The manager alone hands
//! the first command after an outage the broken connection (or its last failed reconnect),
//! fails it ("broken pipe") and only then reconnects; the retry waits for that reconnect.
//! Only failures that say the command never reached a live connection are retried (a broken
//! pipe, a reset, a refused connection); a timeout is not, so an outage costs one wait, not
//! two. A command whose reply was lost to a reset may run twice: every queue move is safe
//! under at-least-once delivery (an orphaned lease lapses), and counters may count twice.

use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value, aio::ConnectionLike};

/// A shared, self-reconnecting Redis connection (cheap to clone).
#[derive(Clone)]
pub struct RedisConn(redis::aio::ConnectionManager);

impl RedisConn {
    pub fn new(manager: redis::aio::ConnectionManager) -> Self {
        Self(manager)
    }
}

/// True when `err` means the command never reached a live connection, so it is worth
/// sending once more over the manager's fresh one.
pub fn worth_retrying(err: &RedisError) -> bool {
    err.is_connection_dropped() || err.is_connection_refusal()
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match self.0.send_packed_command(cmd).await {
                Err(err) if worth_retrying(&err) => self.0.send_packed_command(cmd).await,
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
            match self.0.send_packed_commands(cmd, offset, count).await {
                Err(err) if worth_retrying(&err) => {
                    self.0.send_packed_commands(cmd, offset, count).await
                }
                other => other,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
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

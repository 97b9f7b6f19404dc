//! The crate's one error type. Database failures are classified here, once, so callers can
//! map them to HTTP statuses or retries without looking at SQL state codes.

use crate::domain::JobStatus;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row does not exist, or belongs to another organization.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },

    /// A uniqueness rule was hit (an idempotency key replayed, a slug taken, ...).
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },

    /// A CHECK or foreign-key rule of the schema refused the write.
    #[error("constraint {constraint} rejected the write")]
    Constraint { constraint: String },

    /// The job state machine forbids this move.
    #[error("job cannot move from {from} to {to}")]
    InvalidTransition { from: JobStatus, to: JobStatus },

    /// The organization's balance cannot cover the credits required.
    #[error("insufficient credits: {required} required")]
    InsufficientCredits { required: i64 },

    /// An organization is at a bound of the policy (webhooks per organization, ...).
    #[error("at most {limit} {what} per organization")]
    LimitReached { what: &'static str, limit: i64 },

    /// A batch with no URL, or with more than its organization's `max_batch_size`
    /// ([`crate::pg::check_batch_size`]).
    #[error("invalid urls: {}", Error::batch_rule(*.count, *.max))]
    BatchSize { count: usize, max: usize },

    /// Bad input, with the path of the offending field.
    #[error("invalid {field}: {message}")]
    Validation { field: String, message: String },

    /// Configuration missing or malformed; every problem is listed, one per line.
    #[error("{0}")]
    Config(String),

    /// The database could not be reached (pool timeout, connection refused, I/O): retryable.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),

    /// Any other database error. Its text is for logs, never for clients.
    #[error("database error")]
    Database(#[source] sqlx::Error),

    /// Redis could not be reached (connection refused or dropped, timeout): retryable.
    #[error("redis unavailable")]
    RedisUnavailable(#[source] redis::RedisError),

    /// Any other Redis error (a script error, an unexpected reply).
    #[error("redis error")]
    Redis(#[source] redis::RedisError),

    /// The object store could not be reached or answered 5xx: retryable.
    #[error("object storage unavailable: {0}")]
    StorageUnavailable(String),

    /// The object store refused these credentials the operation (by policy).
    #[error("object storage denied: {0}")]
    StorageDenied(String),

    /// Any other object-store failure. Its text is for logs, never for clients.
    #[error("object storage error: {0}")]
    Storage(String),

    /// Stored bytes do not match their recorded hash, or do not decode.
    #[error("corrupted {0}")]
    Corrupt(String),

    /// A secret must be sealed or opened and this component holds no `SCRX_SECRETS_KEY`.
    #[error("no secrets key (SCRX_SECRETS_KEY) to seal or open {0}")]
    SecretsUnavailable(&'static str),

    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// What a batch of `count` URLs breaks when its organization allows `max`, in the words
    /// of a validation error on its `urls`.
    pub fn batch_rule(count: usize, max: usize) -> String {
        if count == 0 {
            "must not be empty".to_owned()
        } else {
            format!("at most {max} URLs per batch")
        }
    }

    /// True for failures worth retrying later (the service was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::RedisUnavailable(_) | Self::StorageUnavailable(_)
        )
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound { entity: "row" },
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err)
            }
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or("unknown").to_owned();
                match db.code().as_deref() {
                    // unique_violation
                    Some("23505") => Self::Conflict { constraint },
                    // check_violation, foreign_key_violation, not_null_violation
                    Some("23514" | "23503" | "23502") => Self::Constraint { constraint },
                    // admin_shutdown, crash_shutdown, cannot_connect_now
                    Some("57P01" | "57P02" | "57P03") => Self::Unavailable(err),
                    _ => Self::Database(err),
                }
            }
            _ => Self::Database(err),
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Self {
        // LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN (wait and retry), READONLY (a failover
        // in progress), and what a cluster client gives up on while a master fails over (a
        // slot still moving, no connection to the slot's node yet) are outages too: anything
        // the client itself would have retried, but a failed login.
        let retried = !matches!(err.retry_method(), redis::RetryMethod::NoRetry);
        if err.is_io_error()
            || err.is_connection_refusal()
            || err.is_connection_dropped()
            || err.is_timeout()
            || (retried && err.kind() != redis::ErrorKind::AuthenticationFailed)
            || err.kind() == redis::ErrorKind::ReadOnly
        {
            Self::RedisUnavailable(err)
        } else {
            Self::Redis(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(kind: redis::ErrorKind) -> Error {
        Error::from(redis::RedisError::from((kind, "x")))
    }

    #[test]
    fn what_a_cluster_client_gives_up_on_during_a_failover_is_an_outage() {
        use redis::ErrorKind::*;
        for kind in [
            ClusterDown,
            MasterDown,
            TryAgain,
            BusyLoadingError,
            ReadOnly,
            Moved,
            Ask,
            ClusterConnectionNotFound,
        ] {
            assert!(redis(kind).is_retryable(), "{kind:?}");
        }
    }

    #[test]
    fn a_server_reply_or_a_failed_login_is_not_an_outage() {
        use redis::ErrorKind::*;
        for kind in [
            ResponseError,
            NoScriptError,
            CrossSlot,
            TypeError,
            AuthenticationFailed,
        ] {
            assert!(!redis(kind).is_retryable(), "{kind:?}");
        }
    }
}

//! How the repository's statements reach PostgreSQL, directly or through PgBouncer in
//! transaction pooling mode (seed 001 §8.2). Invariant: behind a transaction pooler no
//! statement depends on the session. PgBouncer 1.18 (Debian's) hands the server connection
//! to another client at every `ReadyForQuery` outside a transaction, and it does not track
//! prepared statements; sqlx prepares with `Parse, Describe, Sync` and binds after that
//! `Sync`. So, through the pooler, every statement is unnamed (nothing is left on a server
//! connection that another client could collide with) and runs inside a transaction (its
//! parse and its bind reach the same server connection). Directly, statements stay named
//! and cached, one round trip each.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt, future::BoxFuture, stream::BoxStream};
use sqlx::{
    Describe, Either, Execute, Executor, FromRow, Postgres,
    postgres::{PgArguments, PgPool, PgQueryResult, PgRow, PgStatement, PgTypeInfo},
    query::{Query, QueryAs, QueryScalar},
};

/// Where the pool's connections lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// Straight to PostgreSQL (or a pooler in session mode): a connection is a session.
    Session,
    /// A transaction pooler: a connection is a session only inside a transaction.
    Transaction,
}

impl PoolMode {
    /// A pool whose configuration names a separate direct URL goes through a transaction
    /// pooler; without one, the URL is the database itself.
    pub fn of(direct_url: Option<&str>) -> Self {
        match direct_url {
            Some(_) => Self::Transaction,
            None => Self::Session,
        }
    }

    /// Whether a statement may be left prepared on the connection for the next use.
    pub fn names_statements(self) -> bool {
        self == Self::Session
    }

    /// Whether a statement outside an explicit transaction must be wrapped in one.
    pub fn wraps_statements(self) -> bool {
        self == Self::Transaction
    }
}

/// Set once any pool of the process goes through a transaction pooler: from then on every
/// statement of the process is unnamed (harmless on a direct connection, one round trip more).
static UNNAMED: AtomicBool = AtomicBool::new(false);

pub(crate) fn use_mode(mode: PoolMode) {
    if !mode.names_statements() {
        UNNAMED.store(true, Ordering::Relaxed);
    }
}

fn named() -> bool {
    !UNNAMED.load(Ordering::Relaxed)
}

/// `sqlx::query`, named only when no pool of the process goes through a transaction pooler.
pub(crate) fn query(sql: &str) -> Query<'_, Postgres, PgArguments> {
    sqlx::query(sql).persistent(named())
}

/// `sqlx::query_as`, named as [`query`] is.
pub(crate) fn query_as<'q, O>(sql: &'q str) -> QueryAs<'q, Postgres, O, PgArguments>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_as(sql).persistent(named())
}

/// `sqlx::query_scalar`, named as [`query`] is.
pub(crate) fn query_scalar<'q, O>(sql: &'q str) -> QueryScalar<'q, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_scalar(sql).persistent(named())
}

/// The pool as an executor of single statements: through a transaction pooler, each runs
/// in a transaction of its own and its rows are read before the commit.
#[derive(Clone, Copy, Debug)]
pub struct Exec<'c> {
    pub(crate) pool: &'c PgPool,
    pub(crate) mode: PoolMode,
}

type Item = Either<PgQueryResult, PgRow>;

impl<'c> Executor<'c> for Exec<'c> {
    type Database = Postgres;

    fn fetch_many<'e, 'q, E>(self, query: E) -> BoxStream<'e, Result<Item, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
        'q: 'e,
    {
        if !self.mode.wraps_statements() {
            return self.pool.fetch_many(query);
        }
        let pool = self.pool;
        let all = async move {
            let mut tx = pool.begin().await?;
            let items: Vec<Item> = tx.fetch_many(query).try_collect().await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(futures::stream::iter(items.into_iter().map(Ok)))
        };
        futures::stream::once(all).try_flatten().boxed()
    }

    fn fetch_optional<'e, 'q, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
        'q: 'e,
    {
        if !self.mode.wraps_statements() {
            return self.pool.fetch_optional(query);
        }
        let pool = self.pool;
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = tx.fetch_optional(query).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.pool.describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_separate_direct_url_means_the_pool_goes_through_a_transaction_pooler() {
        assert_eq!(PoolMode::of(None), PoolMode::Session);
        assert_eq!(
            PoolMode::of(Some("postgres://db:5432/x")),
            PoolMode::Transaction
        );
    }

    #[test]
    fn behind_a_transaction_pooler_statements_are_unnamed_and_wrapped() {
        assert!(PoolMode::Session.names_statements());
        assert!(!PoolMode::Session.wraps_statements());
        assert!(!PoolMode::Transaction.names_statements());
        assert!(PoolMode::Transaction.wraps_statements());
    }
}

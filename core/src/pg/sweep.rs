//! The re-enqueue sweep's reads ([`crate::sweep`]): the jobs Postgres says a queue should
//! hold, queued (outside suspended batches) or running, in keyset pages oldest first over a
//! partial index each (`migrations/0010_sweep_indexes.sql`). A page never repeats a row of
//! an earlier page and a pass never skips a row that stayed in its state.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::Db;
use crate::{
    Result,
    domain::{Engine, JobId, JobOptions, OrgId},
};

/// Which jobs a sweep page reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepState {
    /// `queued`, not suspended, ordered by `queued_at`.
    Queued,
    /// `running`, ordered by `started_at`.
    Running,
}

/// What the sweep needs of a job to put it back on its queue.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SweepRow {
    pub id: JobId,
    pub organization_id: OrgId,
    /// The organization's plan's cap on running jobs, for its queue share (None: no such
    /// organization, which a foreign key rules out).
    pub max_concurrent_jobs: Option<i32>,
    pub engine: Engine,
    pub priority: i32,
    pub queue_name: Option<String>,
    /// Read only when `queue_name` is unset (the queue then follows from the options).
    pub options: Option<Json<JobOptions>>,
    /// `queued_at` or `started_at`: with the id, where the next page starts.
    pub since: DateTime<Utc>,
}

impl SweepRow {
    /// Where the page after this row starts.
    pub fn cursor(&self) -> (DateTime<Utc>, JobId) {
        (self.since, self.id)
    }
}

impl Db {
    /// The database's clock less `grace`: a pass reads jobs that entered their state before it.
    pub async fn sweep_cutoff(&self, grace: std::time::Duration) -> Result<DateTime<Utc>> {
        Ok(
            crate::pg::sql::query_scalar("SELECT NOW() - make_interval(secs => $1)")
                .bind(grace.as_secs_f64())
                .fetch_one(self.exec())
                .await?,
        )
    }

    /// Up to `limit` jobs in `state` that entered it before `cutoff`, after `after` (a
    /// previous page's last [`SweepRow::cursor`]; None for the first page).
    pub async fn sweep_page(
        &self,
        state: SweepState,
        cutoff: DateTime<Utc>,
        after: Option<(DateTime<Utc>, JobId)>,
        limit: i64,
    ) -> Result<Vec<SweepRow>> {
        let (column, filter) = match state {
            SweepState::Queued => ("queued_at", "status = 'queued' AND NOT suspended"),
            SweepState::Running => ("started_at", "status = 'running'"),
        };
        let sql = format!(
            "SELECT id, organization_id, engine, priority, queue_name, \
                    (SELECT o.max_concurrent_jobs FROM organizations o \
                     WHERE o.id = scrape_jobs.organization_id) AS max_concurrent_jobs, \
                    CASE WHEN queue_name IS NULL THEN options END AS options, \
                    {column} AS since \
             FROM scrape_jobs \
             WHERE {filter} AND {column} < $1 AND ({column}, id) > ($2, $3) \
             ORDER BY {column}, id LIMIT $4"
        );
        // The first page starts after the epoch: one plan, a range scan, for every page.
        let (after_at, after_id) =
            after.unwrap_or((DateTime::UNIX_EPOCH, JobId::from(uuid::Uuid::nil())));
        Ok(crate::pg::sql::query_as(&sql)
            .bind(cutoff)
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.exec())
            .await?)
    }
}

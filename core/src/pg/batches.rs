//! Batches: jobs sharing a `batch_id`. Counts come from one grouped query over the batch's
//! index; queueing moves every job of a batch in one statement, with their events. Canceling
//! takes each job through the one cancel path ([`Db::cancel_in`]), all in one transaction, so
//! a job canceled with its batch is moved and settled exactly as one canceled alone.

use serde::Serialize;

use super::{Db, StatusChange, jobs::JOB_COLUMNS};
use crate::{
    Error, Result,
    domain::{BatchId, JobId, JobStatus, OrgId},
};

/// Jobs of a batch per status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct BatchCounts {
    pub total: i64,
    pub pending: i64,
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    pub failed: i64,
    pub canceled: i64,
    pub timeout: i64,
}

impl BatchCounts {
    /// Jobs that reached a final state (failed and timed-out jobs may still be retried by
    /// the worker, but are counted as done for progress).
    pub fn finished(&self) -> i64 {
        self.completed + self.failed + self.canceled + self.timeout
    }

    /// Every job of a non-empty batch has finished.
    pub fn is_done(&self) -> bool {
        self.total > 0 && self.finished() == self.total
    }
}

impl Db {
    /// Marks pending jobs queued on `queue`, with a `job.queued` event each; returns the ids
    /// moved (jobs no longer pending, e.g. canceled meanwhile, are left alone).
    pub async fn mark_jobs_queued(&self, ids: &[JobId], queue: &str) -> Result<Vec<JobId>> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(JobId::as_uuid).collect();
        Ok(crate::pg::sql::query_scalar(
            "WITH moved AS ( \
                 UPDATE scrape_jobs SET status = 'queued', queued_at = NOW(), queue_name = $2 \
                 WHERE id = ANY($1) AND status = 'pending' \
                 RETURNING id, organization_id), \
             ev AS ( \
                 INSERT INTO job_events (job_id, organization_id, event_type, event_data) \
                 SELECT id, organization_id, 'job.queued', \
                        jsonb_build_object('from', 'pending', 'queue', $2::text) FROM moved) \
             SELECT id FROM moved",
        )
        .bind(&ids)
        .bind(queue)
        .fetch_all(self.exec())
        .await?)
    }

    /// Marks (or unmarks) a batch's unfinished jobs as suspended: the re-enqueue sweep
    /// leaves them alone while the batch is suspended. Returns the jobs affected.
    pub async fn set_batch_suspended(
        &self,
        org: OrgId,
        batch: BatchId,
        suspended: bool,
    ) -> Result<Vec<super::Job>> {
        let sql = format!(
            "UPDATE scrape_jobs SET suspended = $3 \
             WHERE organization_id = $1 AND batch_id = $2 AND status IN ('pending', 'queued') \
             RETURNING {JOB_COLUMNS}"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(batch)
            .bind(suspended)
            .fetch_all(self.exec())
            .await?)
    }

    /// The credits charged so far for the batch's jobs (a crawl's pages included).
    pub async fn batch_credits_charged(&self, org: OrgId, batch: BatchId) -> Result<i64> {
        Ok(crate::pg::sql::query_scalar(
            "SELECT COALESCE(SUM(credits_charged), 0)::BIGINT FROM scrape_jobs \
             WHERE organization_id = $1 AND batch_id = $2",
        )
        .bind(org)
        .bind(batch)
        .fetch_one(self.exec())
        .await?)
    }

    /// The batch's jobs in any of `statuses`.
    pub async fn batch_jobs_with_status(
        &self,
        org: OrgId,
        batch: BatchId,
        statuses: &[JobStatus],
    ) -> Result<Vec<super::Job>> {
        let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM scrape_jobs \
             WHERE organization_id = $1 AND batch_id = $2 AND status = ANY($3) ORDER BY created_at"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(batch)
            .bind(&statuses)
            .fetch_all(self.exec())
            .await?)
    }

    /// The organization a batch belongs to, if it has any job.
    pub async fn batch_organization(&self, batch: BatchId) -> Result<Option<OrgId>> {
        Ok(crate::pg::sql::query_scalar(
            "SELECT organization_id FROM scrape_jobs WHERE batch_id = $1 LIMIT 1",
        )
        .bind(batch)
        .fetch_optional(self.exec())
        .await?)
    }

    /// Counts of a batch of this organization; not found when it has no jobs.
    pub async fn batch_counts(&self, org: OrgId, batch: BatchId) -> Result<BatchCounts> {
        let rows: Vec<(JobStatus, i64)> = crate::pg::sql::query_as(
            "SELECT status, COUNT(*) FROM scrape_jobs \
             WHERE organization_id = $1 AND batch_id = $2 GROUP BY status",
        )
        .bind(org)
        .bind(batch)
        .fetch_all(self.exec())
        .await?;
        if rows.is_empty() {
            return Err(Error::NotFound { entity: "batch" });
        }
        let mut c = BatchCounts::default();
        for (status, n) in rows {
            c.total += n;
            *match status {
                JobStatus::Pending => &mut c.pending,
                JobStatus::Queued => &mut c.queued,
                JobStatus::Running => &mut c.running,
                JobStatus::Completed => &mut c.completed,
                JobStatus::Failed => &mut c.failed,
                JobStatus::Canceled => &mut c.canceled,
                JobStatus::Timeout => &mut c.timeout,
            } += n;
        }
        Ok(c)
    }

    /// Cancels the batch's unfinished jobs (pending, queued, running), each through the one
    /// cancel path ([`Db::cancel_in`], as `cancel_job` does), in one transaction: those not
    /// running are refunded with the move; running ones are settled by their workers, which
    /// see the cancel. Finished jobs are left as they are. Returns the canceled jobs.
    pub async fn cancel_batch(&self, org: OrgId, batch: BatchId) -> Result<Vec<super::Job>> {
        let mut tx = self.pool.begin().await?;
        // Locked in one order, so two cancels of one batch (or a worker's move) queue up
        // instead of deadlocking.
        let ids: Vec<JobId> = crate::pg::sql::query_scalar(
            "SELECT id FROM scrape_jobs \
             WHERE organization_id = $1 AND batch_id = $2 \
               AND status IN ('pending', 'queued', 'running') \
             ORDER BY id FOR UPDATE",
        )
        .bind(org)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let mut change = StatusChange::to(JobStatus::Canceled).error("canceled", "batch canceled");
        change.event_data = serde_json::json!({ "reason": "batch canceled" });
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            jobs.push(self.cancel_in(&mut tx, id, &change).await?);
        }
        tx.commit().await?;
        Ok(jobs)
    }
}

//! Completing a job: its result, its move to `completed` and its settlement at the price
//! of what ran, in one transaction. A cancel and a completion both lock the job's row, so
//! one of them lands first: a completion that finds the job canceled writes no result
//! (the page is withheld, its stored objects queued for deletion) and the canceled job is
//! settled at nothing; a cancel that finds the job completed is refused, and the result is
//! served and charged. There is no state in which a result is served and not charged.
//!
//! Also here: [`Db::reserve_up_to`], which raises a running job's reservation before a
//! dearer step (an escalation, a CAPTCHA solve), or refuses the step.

use super::{
    Db, Job, NewJobResult, Settlement, StatusChange, credits::settle_in, jobs::JOB_COLUMNS,
    results::record_result_in,
};
use crate::{
    Error, Result,
    domain::{Engine, JobId, JobStatus, OrgId, pricing},
};

impl Db {
    /// Records `result`, moves the job to `completed` (by `change`) and settles it at the
    /// price of `engine_ran` plus a solved CAPTCHA (from the result), all or nothing. When
    /// the job was canceled first the error is [`Error::InvalidTransition`] from
    /// `canceled`, nothing of the result is kept, and its MinIO objects are queued for
    /// deletion.
    pub async fn complete_job(
        &self,
        id: JobId,
        change: &StatusChange,
        result: &NewJobResult,
        engine_ran: Engine,
    ) -> Result<(Job, Settlement)> {
        if change.to != JobStatus::Completed {
            return Err(Error::validation("status", "completing moves to completed"));
        }
        let mut tx = self.pool.begin().await?;
        let job = match self.transition_in(&mut tx, id, change).await {
            Ok(job) => job,
            Err(
                e @ Error::InvalidTransition {
                    from: JobStatus::Canceled,
                    ..
                },
            ) => {
                withhold_in(&mut tx, id, result).await?;
                tx.commit().await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        record_result_in(&mut tx, id, result).await?;
        let run = pricing::Run {
            engine: engine_ran,
            captcha_solved: result.captcha_solved,
        };
        let actual = pricing::charge(job.proxy_tier, &job.options.0, run);
        let settlement = settle_in(&mut tx, id, actual).await?;
        let job: Job = crate::pg::sql::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((job, settlement))
    }

    /// Raises an unsettled job's reservation to `price` (the price of its run with a dearer
    /// step, `domain::pricing::step_price`) when it holds less, taking the difference in the
    /// same transaction. True when the reservation covers `price` (raising it again to the
    /// same price takes nothing); false, with nothing changed, when the organization cannot
    /// cover the difference or the job is settled. Settlement refunds what the run did not use.
    pub async fn reserve_up_to(&self, id: JobId, price: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(OrgId, i64)> = crate::pg::sql::query_as(
            "SELECT organization_id, COALESCE(credits_estimated, 0) FROM scrape_jobs \
             WHERE id = $1 AND credits_settled_at IS NULL FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((org, reserved)) = row else {
            return Ok(false);
        };
        if reserved >= price {
            return Ok(true);
        }
        let covered: bool = crate::pg::sql::query_scalar("SELECT deduct_credits($1, $2)")
            .bind(org)
            .bind(price - reserved)
            .fetch_one(&mut *tx)
            .await?;
        if !covered {
            return Ok(false);
        }
        crate::pg::sql::query("UPDATE scrape_jobs SET credits_estimated = $2 WHERE id = $1")
            .bind(id)
            .bind(price)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The canceled side of a completion: the job is settled at nothing and the objects of a
/// result that will never be recorded are queued for deletion.
async fn withhold_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: JobId,
    result: &NewJobResult,
) -> Result<()> {
    settle_in(tx, id, 0).await?;
    let objects = [
        (&result.content_minio_bucket, &result.content_minio_key),
        (
            &result.screenshot_minio_bucket,
            &result.screenshot_minio_key,
        ),
        (
            &result.screenshot_minio_bucket,
            &result.screenshot_thumbnail_key,
        ),
        (&result.pdf_minio_bucket, &result.pdf_minio_key),
    ];
    let (buckets, keys): (Vec<String>, Vec<String>) = objects
        .into_iter()
        .filter_map(|(b, k)| Some((b.clone()?, k.clone()?)))
        .unzip();
    if buckets.is_empty() {
        return Ok(());
    }
    crate::pg::sql::query(
        "INSERT INTO object_deletions (bucket, object_key, reason) \
         SELECT b, k, 'job_canceled' FROM UNNEST($1::text[], $2::text[]) AS v(b, k)",
    )
    .bind(&buckets)
    .bind(&keys)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

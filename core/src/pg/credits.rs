//! Credits: reserve, refund and settle atomically. The balance never goes below zero (the
//! schema's CHECK and `deduct_credits`), and a job is settled once (`credits_settled_at`).

use serde::Serialize;

use super::Db;
use crate::{
    Error, Result,
    domain::{JobId, OrgId},
};

/// What settling a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// The job's final charge.
    pub charged: i64,
    /// Credits returned to the organization (reservation above the actual cost).
    pub refunded: i64,
    /// Credits taken beyond the reservation.
    pub extra: i64,
    /// The job had been settled before; nothing changed.
    pub already_settled: bool,
}

impl Db {
    /// Takes `amount` credits if the organization can cover them; false when it cannot.
    pub async fn deduct_credits(&self, org: OrgId, amount: i64) -> Result<bool> {
        if amount < 0 {
            return Err(Error::validation("amount", "must not be negative"));
        }
        Ok(
            crate::pg::sql::query_scalar("SELECT deduct_credits($1, $2)")
                .bind(org)
                .bind(amount)
                .fetch_one(self.exec())
                .await?,
        )
    }

    /// Adds credits (a refund or a top-up); overage is paid down first.
    pub async fn add_credits(&self, org: OrgId, amount: i64) -> Result<()> {
        if amount < 0 {
            return Err(Error::validation("amount", "must not be negative"));
        }
        crate::pg::sql::query("SELECT add_credits($1, $2)")
            .bind(org)
            .bind(amount)
            .execute(self.exec())
            .await?;
        Ok(())
    }

    pub async fn credit_balance(&self, org: OrgId) -> Result<i64> {
        crate::pg::sql::query_scalar("SELECT credits_balance FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound {
                entity: "organization",
            })
    }

    /// Settles a job's reservation to its actual cost, once: the difference is refunded or
    /// taken. Reservations cover the dearest run (`domain::pricing`), so a higher actual
    /// cost only comes from a caller's own price; should the organization not cover it, the
    /// charge stays at the reservation. Settling again changes nothing.
    pub async fn settle_job_credits(&self, job: JobId, actual: i64) -> Result<Settlement> {
        let mut tx = self.pool.begin().await?;
        let settlement = settle_in(&mut tx, job, actual).await?;
        tx.commit().await?;
        Ok(settlement)
    }
}

/// [`Db::settle_job_credits`] inside a caller's transaction.
pub(super) async fn settle_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    job: JobId,
    actual: i64,
) -> Result<Settlement> {
    if actual < 0 {
        return Err(Error::validation("actual", "must not be negative"));
    }
    let row: Option<(OrgId, i64, i64, bool)> = crate::pg::sql::query_as(
        "SELECT organization_id, COALESCE(credits_estimated, 0), COALESCE(credits_charged, 0), \
                credits_settled_at IS NOT NULL \
         FROM scrape_jobs WHERE id = $1 FOR UPDATE",
    )
    .bind(job)
    .fetch_optional(&mut **tx)
    .await?;
    let (org, reserved, charged, settled) = row.ok_or(Error::NotFound { entity: "job" })?;
    if settled {
        return Ok(Settlement {
            charged,
            refunded: 0,
            extra: 0,
            already_settled: true,
        });
    }
    let (mut refunded, mut extra, mut final_charge) = (0, 0, actual);
    if actual < reserved {
        refunded = reserved - actual;
        crate::pg::sql::query("SELECT add_credits($1, $2)")
            .bind(org)
            .bind(refunded)
            .execute(&mut **tx)
            .await?;
    } else if actual > reserved {
        let covered: bool = crate::pg::sql::query_scalar("SELECT deduct_credits($1, $2)")
            .bind(org)
            .bind(actual - reserved)
            .fetch_one(&mut **tx)
            .await?;
        if covered {
            extra = actual - reserved;
        } else {
            final_charge = reserved;
        }
    }
    crate::pg::sql::query(
        "UPDATE scrape_jobs SET credits_charged = $2, credits_settled_at = NOW(), \
             credit_breakdown = COALESCE(credit_breakdown, '{}') || \
                 jsonb_build_object('reserved', $3::bigint, 'charged', $2::bigint) \
         WHERE id = $1",
    )
    .bind(job)
    .bind(final_charge)
    .bind(reserved)
    .execute(&mut **tx)
    .await?;
    Ok(Settlement {
        charged: final_charge,
        refunded,
        extra,
        already_settled: false,
    })
}

//! Maintenance and statistics: thin typed wrappers over the schema's functions (partitions,
//! retention, cleanup, aggregation, monthly reset, invoice numbers, usage and queue stats).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Db;
use crate::{Result, domain::OrgId};

/// What `apply_retention_policies` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSummary {
    pub jobs_archived: i64,
    pub archive_deleted: i64,
    pub results_deleted: i64,
    pub events_deleted: i64,
    pub usage_deleted: i64,
    pub logs_deleted: i64,
}

/// `get_usage_summary` for one organization and period.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UsageSummary {
    pub total_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
    pub credits_used: i64,
    pub avg_response_time_ms: Option<f64>,
    pub success_rate: Option<f64>,
}

impl Db {
    /// Creates the partitions of job_events and usage_records from this month to
    /// `months_ahead` months ahead; returns their names.
    pub async fn ensure_partitions(&self, months_ahead: i32) -> Result<Vec<String>> {
        Ok(crate::pg::sql::query_scalar(
            "SELECT ensure_monthly_partitions('job_events', 0, $1) \
             UNION ALL SELECT ensure_monthly_partitions('usage_records', 0, $1)",
        )
        .bind(months_ahead)
        .fetch_all(self.exec())
        .await?)
    }

    /// Drops event partitions past 90 days and usage partitions past 2 years.
    pub async fn drop_old_partitions(&self) -> Result<Vec<String>> {
        Ok(crate::pg::sql::query_scalar("SELECT drop_old_partitions()")
            .fetch_all(self.exec())
            .await?)
    }

    pub async fn apply_retention(&self) -> Result<RetentionSummary> {
        let summary: sqlx::types::Json<RetentionSummary> =
            crate::pg::sql::query_scalar("SELECT apply_retention_policies()")
                .fetch_one(self.exec())
                .await?;
        Ok(summary.0)
    }

    pub async fn cleanup_expired_results(&self) -> Result<i32> {
        Ok(
            crate::pg::sql::query_scalar("SELECT cleanup_expired_results()")
                .fetch_one(self.exec())
                .await?,
        )
    }

    /// Writes the daily usage records of `day`; returns how many organizations had usage.
    pub async fn aggregate_daily_usage(&self, day: NaiveDate) -> Result<i32> {
        Ok(
            crate::pg::sql::query_scalar("SELECT aggregate_daily_usage($1)")
                .bind(day)
                .fetch_one(self.exec())
                .await?,
        )
    }

    /// Grants the period's credits to every organization not yet granted them this period.
    pub async fn reset_monthly_credits(&self) -> Result<i32> {
        Ok(
            crate::pg::sql::query_scalar("SELECT reset_monthly_credits()")
                .fetch_one(self.exec())
                .await?,
        )
    }

    pub async fn next_invoice_number(&self) -> Result<String> {
        Ok(
            crate::pg::sql::query_scalar("SELECT generate_invoice_number()::text")
                .fetch_one(self.exec())
                .await?,
        )
    }

    pub async fn usage_summary(
        &self,
        org: OrgId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<UsageSummary> {
        Ok(crate::pg::sql::query_as(
            "SELECT total_requests, successful_requests, failed_requests, credits_used, \
                    avg_response_time_ms::float8 AS avg_response_time_ms, success_rate::float8 AS success_rate \
             FROM get_usage_summary($1, $2, $3)",
        )
        .bind(org)
        .bind(from)
        .bind(to)
        .fetch_one(self.exec())
        .await?)
    }
}

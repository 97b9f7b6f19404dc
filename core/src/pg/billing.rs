//! What an organization reads about its bill: daily usage records and invoices.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::Db;
use crate::{Result, domain::OrgId};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UsageRecord {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub granularity: String,
    pub total_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
    pub credits_used: i64,
    pub credits_overage_used: i64,
    pub http_requests: i64,
    pub browser_requests: i64,
    pub stealth_requests: i64,
    pub screenshots_taken: i64,
    pub pdfs_generated: i64,
    pub bandwidth_in_bytes: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Invoice {
    pub id: Uuid,
    pub invoice_number: String,
    pub status: String,
    pub currency: String,
    pub subtotal_cents: i32,
    pub tax_cents: i32,
    pub total_cents: i32,
    pub amount_due_cents: i32,
    pub amount_paid_cents: i32,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub line_items: sqlx::types::Json<serde_json::Value>,
}

impl Db {
    /// Usage records of `granularity` (daily, monthly) whose period starts in [from, to).
    pub async fn list_usage_records(
        &self,
        org: OrgId,
        granularity: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageRecord>> {
        Ok(crate::pg::sql::query_as(
            "SELECT period_start, period_end, granularity, total_requests, successful_requests, \
                    failed_requests, credits_used, credits_overage_used, \
                    COALESCE(http_requests, 0) AS http_requests, \
                    COALESCE(browser_requests, 0) AS browser_requests, \
                    COALESCE(stealth_requests, 0) AS stealth_requests, \
                    COALESCE(screenshots_taken, 0) AS screenshots_taken, \
                    COALESCE(pdfs_generated, 0) AS pdfs_generated, \
                    COALESCE(bandwidth_in_bytes, 0) AS bandwidth_in_bytes \
             FROM usage_records \
             WHERE organization_id = $1 AND granularity = $2 AND period_start >= $3 AND period_start < $4 \
             ORDER BY period_start",
        )
        .bind(org)
        .bind(granularity)
        .bind(from)
        .bind(to)
        .fetch_all(self.exec())
        .await?)
    }

    /// The organization's invoices, newest first.
    pub async fn list_invoices(&self, org: OrgId) -> Result<Vec<Invoice>> {
        Ok(crate::pg::sql::query_as(
            "SELECT id, invoice_number, status, currency, subtotal_cents, \
                    COALESCE(tax_cents, 0) AS tax_cents, total_cents, amount_due_cents, \
                    COALESCE(amount_paid_cents, 0) AS amount_paid_cents, period_start, period_end, \
                    issued_at, due_at, paid_at, line_items \
             FROM invoices WHERE organization_id = $1 ORDER BY period_start DESC, invoice_number DESC",
        )
        .bind(org)
        .fetch_all(self.exec())
        .await?)
    }
}

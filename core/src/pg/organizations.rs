//! Organizations (tenants) and their users.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Db;
use crate::{
    Error, Result,
    domain::{OrgId, Plan, Role, SubscriptionStatus, UserId},
    queue::Share,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub slug: String,
    pub billing_email: String,
    pub plan_id: Plan,
    pub subscription_status: SubscriptionStatus,
    pub credits_balance: i64,
    pub credits_overage_used: i64,
    pub credits_included_monthly: i64,
    pub rate_limit_per_second: i32,
    pub max_concurrent_jobs: i32,
    pub max_batch_size: i32,
    pub data_retention_days: i32,
    #[schema(value_type = Object)]
    pub features: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ORG_COLUMNS: &str = "id, name, slug, billing_email, plan_id, subscription_status, \
    credits_balance, credits_overage_used, credits_included_monthly, rate_limit_per_second, \
    max_concurrent_jobs, max_batch_size, data_retention_days, features, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub slug: String,
    pub billing_email: String,
    pub plan: Plan,
    pub credits_balance: i64,
    pub rate_limit_per_second: i32,
    pub max_concurrent_jobs: i32,
    pub max_batch_size: i32,
}

impl NewOrganization {
    /// An organization with the schema's default limits.
    pub fn new(name: &str, slug: &str, billing_email: &str) -> Self {
        Self {
            name: name.to_owned(),
            slug: slug.to_owned(),
            billing_email: billing_email.to_owned(),
            plan: Plan::Starter,
            credits_balance: 0,
            rate_limit_per_second: 10,
            max_concurrent_jobs: 50,
            max_batch_size: 1000,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::validation("name", "must not be empty"));
        }
        let slug_ok = !self.slug.is_empty()
            && self.slug.len() <= 100
            && self
                .slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug_ok {
            return Err(Error::validation(
                "slug",
                "lowercase letters, digits and '-', 1 to 100",
            ));
        }
        if !self.billing_email.contains('@') {
            return Err(Error::validation(
                "billing_email",
                "must be an email address",
            ));
        }
        if self.credits_balance < 0 {
            return Err(Error::validation("credits_balance", "must not be negative"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrgId,
    pub email: String,
    pub role: Role,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub role: Role,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

impl Db {
    pub async fn create_organization(&self, new: &NewOrganization) -> Result<Organization> {
        new.validate()?;
        let sql = format!(
            "INSERT INTO organizations (name, slug, billing_email, plan_id, credits_balance, \
             rate_limit_per_second, max_concurrent_jobs, max_batch_size) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ORG_COLUMNS}"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(&new.name)
            .bind(&new.slug)
            .bind(&new.billing_email)
            .bind(new.plan)
            .bind(new.credits_balance)
            .bind(new.rate_limit_per_second)
            .bind(new.max_concurrent_jobs)
            .bind(new.max_batch_size)
            .fetch_one(self.exec())
            .await?)
    }

    pub async fn get_organization(&self, id: OrgId) -> Result<Organization> {
        let sql =
            format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1 AND deleted_at IS NULL");
        crate::pg::sql::query_as(&sql)
            .bind(id)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound {
                entity: "organization",
            })
    }

    /// The queue shares of `orgs` (their plans' caps on running jobs), deleted ones too: a
    /// job accepted before its organization was deleted still runs under its cap.
    pub async fn shares(&self, orgs: &[OrgId]) -> Result<std::collections::HashMap<OrgId, Share>> {
        let ids: Vec<uuid::Uuid> = orgs.iter().map(OrgId::as_uuid).collect();
        let rows: Vec<(OrgId, i32)> = crate::pg::sql::query_as(
            "SELECT id, max_concurrent_jobs FROM organizations WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(self.exec())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(org, cap)| (org, Share::of_plan(org, cap)))
            .collect())
    }

    pub async fn get_organization_by_slug(&self, slug: &str) -> Result<Organization> {
        let sql = format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE slug = $1 AND deleted_at IS NULL"
        );
        crate::pg::sql::query_as(&sql)
            .bind(slug)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound {
                entity: "organization",
            })
    }

    pub async fn create_user(&self, org: OrgId, new: &NewUser) -> Result<User> {
        if !new.email.contains('@') {
            return Err(Error::validation("email", "must be an email address"));
        }
        Ok(crate::pg::sql::query_as(
            "INSERT INTO users (organization_id, email, role, first_name, last_name) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, organization_id, email, role, first_name, last_name, created_at",
        )
        .bind(org)
        .bind(&new.email)
        .bind(new.role)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .fetch_one(self.exec())
        .await?)
    }

    pub async fn list_users(&self, org: OrgId) -> Result<Vec<User>> {
        Ok(crate::pg::sql::query_as(
            "SELECT id, organization_id, email, role, first_name, last_name, created_at \
             FROM users WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY created_at",
        )
        .bind(org)
        .fetch_all(self.exec())
        .await?)
    }
}

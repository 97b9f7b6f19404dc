//! API keys: created with a random secret stored only as its SHA-256, looked up by that hash.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Db;
use crate::{
    Error, Result,
    domain::{ApiKeyId, ApiKeySecret, OrgId, Plan, Scopes, UserId, scopes},
};

/// A key as listed to its organization: never the secret, only its prefix.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub organization_id: OrgId,
    pub key_prefix: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: sqlx::types::Json<Vec<String>>,
    pub environment: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const KEY_COLUMNS: &str = "id, organization_id, key_prefix, name, scopes, environment, \
    expires_at, last_used_at, COALESCE(is_active, FALSE) AS is_active, revoked_at, created_at";

/// What authentication needs to know about a presented key and its organization.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyAuth {
    pub key_id: ApiKeyId,
    pub organization_id: OrgId,
    pub scopes: sqlx::types::Json<Scopes>,
    pub allowed_ips: Option<Vec<String>>,
    pub allowed_domains: Option<Vec<String>>,
    pub rate_limit_override: Option<i32>,
    pub max_concurrent_override: Option<i32>,
    pub expires_at: Option<DateTime<Utc>>,
    pub plan_id: Plan,
    pub rate_limit_per_second: i32,
    pub max_concurrent_jobs: i32,
    pub max_batch_size: i32,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    pub created_by: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
    pub allowed_ips: Option<Vec<String>>,
    pub allowed_domains: Option<Vec<String>>,
    pub rate_limit_override: Option<i32>,
    pub max_concurrent_override: Option<i32>,
}

impl NewApiKey {
    pub const DEFAULT_SCOPES: [&'static str; 2] = [scopes::SCRAPE_READ, scopes::SCRAPE_WRITE];

    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            scopes: Self::DEFAULT_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            created_by: None,
            expires_at: None,
            allowed_ips: None,
            allowed_domains: None,
            rate_limit_override: None,
            max_concurrent_override: None,
        }
    }
}

impl Db {
    /// Creates a key. The returned secret is the only copy of the plaintext.
    pub async fn create_api_key(
        &self,
        org: OrgId,
        new: &NewApiKey,
    ) -> Result<(ApiKey, ApiKeySecret)> {
        if new.name.trim().is_empty() || new.name.len() > 100 {
            return Err(Error::validation("name", "1 to 100 characters"));
        }
        let secret = ApiKeySecret::generate();
        let sql = format!(
            "INSERT INTO api_keys (organization_id, created_by_user_id, key_prefix, key_hash, name, \
             scopes, expires_at, allowed_ips, allowed_domains, rate_limit_override, \
             max_concurrent_override) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet[], $9, $10, $11) RETURNING {KEY_COLUMNS}"
        );
        let key = crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(new.created_by)
            .bind(secret.prefix())
            .bind(secret.hash())
            .bind(&new.name)
            .bind(sqlx::types::Json(&new.scopes))
            .bind(new.expires_at)
            .bind(&new.allowed_ips)
            .bind(&new.allowed_domains)
            .bind(new.rate_limit_override)
            .bind(new.max_concurrent_override)
            .fetch_one(self.exec())
            .await?;
        Ok((key, secret))
    }

    /// Finds the active, unrevoked, unexpired key with this hash, of a live organization.
    pub async fn lookup_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyAuth>> {
        Ok(crate::pg::sql::query_as(
            "SELECT k.id AS key_id, k.organization_id, k.scopes, \
                    k.allowed_ips::text[] AS allowed_ips, k.allowed_domains::text[] AS allowed_domains, \
                    k.rate_limit_override, k.max_concurrent_override, k.expires_at, \
                    o.plan_id, o.rate_limit_per_second, o.max_concurrent_jobs, o.max_batch_size \
             FROM api_keys k JOIN organizations o ON o.id = k.organization_id \
             WHERE k.key_hash = $1 AND k.is_active = TRUE AND k.revoked_at IS NULL \
               AND (k.expires_at IS NULL OR k.expires_at > NOW()) AND o.deleted_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(self.exec())
        .await?)
    }

    pub async fn list_api_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE organization_id = $1 ORDER BY created_at DESC"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(org)
            .fetch_all(self.exec())
            .await?)
    }

    /// Revokes a key of this organization; another organization's key is not found.
    pub async fn revoke_api_key(
        &self,
        org: OrgId,
        id: ApiKeyId,
        by: Option<UserId>,
        reason: Option<&str>,
    ) -> Result<ApiKey> {
        let sql = format!(
            "UPDATE api_keys SET is_active = FALSE, revoked_at = COALESCE(revoked_at, NOW()), \
             revoked_by_user_id = COALESCE(revoked_by_user_id, $3), revoke_reason = COALESCE(revoke_reason, $4) \
             WHERE id = $1 AND organization_id = $2 RETURNING {KEY_COLUMNS}"
        );
        crate::pg::sql::query_as(&sql)
            .bind(id)
            .bind(org)
            .bind(by)
            .bind(reason)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound { entity: "api key" })
    }

    /// Records key usage accumulated in memory, many keys in one statement, so that
    /// authentication does not cost a database write per request.
    pub async fn record_api_key_usage(
        &self,
        usage: &[(ApiKeyId, i64, DateTime<Utc>)],
    ) -> Result<u64> {
        if usage.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = usage.iter().map(|u| u.0.as_uuid()).collect();
        let counts: Vec<i64> = usage.iter().map(|u| u.1).collect();
        let times: Vec<DateTime<Utc>> = usage.iter().map(|u| u.2).collect();
        let done = crate::pg::sql::query(
            "UPDATE api_keys k SET usage_count = COALESCE(k.usage_count, 0) + u.n, \
                 last_used_at = GREATEST(k.last_used_at, u.t) \
             FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[]) AS u(id, n, t) \
             WHERE k.id = u.id",
        )
        .bind(&ids)
        .bind(&counts)
        .bind(&times)
        .execute(self.exec())
        .await?;
        Ok(done.rows_affected())
    }
}

//! Proxy providers: chosen by tier, country, health and priority; their credentials kept
//! sealed ([`crate::secrets`]); every use logged with its bandwidth. A provider whose last
//! uses all failed is marked unhealthy and skipped; after [`PROBE_AFTER_SECS`] it is tried
//! again (a circuit breaker's half-open state): a success makes it healthy, a failure
//! starts the wait over.

use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::Db;
use crate::{
    Error, Result,
    domain::{JobId, OrgId, ProxyTier},
    secrets::{Binding, SecretBox},
};

/// Failed uses in a row after which a provider is marked unhealthy.
pub const UNHEALTHY_AFTER: i64 = 5;
/// How long an unhealthy provider rests before a job tries it again.
pub const PROBE_AFTER_SECS: i64 = 300;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProxyProvider {
    pub id: Uuid,
    pub name: String,
    pub endpoint: String,
    pub auth_credentials_encrypted: Option<Vec<u8>>,
    pub supports_sessions: bool,
    /// Non-secret settings, e.g. `username_template`.
    pub credentials: Json<Value>,
    /// False while it is picked as a probe after its rest.
    pub healthy: bool,
}

/// A new provider; `username` and `password` are sealed before they are stored.
#[derive(Debug, Clone)]
pub struct NewProxyProvider<'a> {
    pub name: &'a str,
    pub tier: ProxyTier,
    pub endpoint: &'a str,
    pub countries: Vec<String>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub priority: i32,
    /// How the username carries country and session, e.g. `{username}-country-{country}-session-{session}`.
    pub username_template: Option<&'a str>,
}

/// One use of a provider.
#[derive(Debug, Clone)]
pub struct ProxyUse {
    pub provider: Uuid,
    pub job: JobId,
    pub org: OrgId,
    pub tier: ProxyTier,
    pub country: Option<String>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub success: bool,
    pub response_ms: Option<i32>,
}

fn endpoint_column(tier: ProxyTier) -> &'static str {
    match tier {
        ProxyTier::Datacenter => "datacenter_endpoint",
        ProxyTier::Residential => "residential_endpoint",
        ProxyTier::Mobile => "mobile_endpoint",
        ProxyTier::Isp => "isp_endpoint",
    }
}

impl Db {
    pub async fn create_proxy_provider(
        &self,
        new: &NewProxyProvider<'_>,
        seal: &SecretBox,
    ) -> Result<Uuid> {
        // The id is chosen here so the credentials can be sealed bound to their row.
        let id = Uuid::now_v7();
        let secret = match (new.username, new.password) {
            (Some(u), Some(p)) => Some(
                seal.seal(
                    serde_json::json!({ "username": u, "password": p })
                        .to_string()
                        .as_bytes(),
                    &Binding::proxy_provider(id),
                )?,
            ),
            (None, None) => None,
            _ => {
                return Err(Error::validation(
                    "password",
                    "username and password go together",
                ));
            }
        };
        let column = endpoint_column(new.tier);
        let sql = format!(
            "INSERT INTO proxy_providers (id, name, display_name, auth_type, credentials, \
                 auth_credentials_encrypted, {column}, countries, priority) \
             VALUES ($8, $1, $1, $2, $3, $4, $5, $6, $7) RETURNING id"
        );
        Ok(crate::pg::sql::query_scalar(&sql)
            .bind(new.name)
            .bind(if secret.is_some() { "basic" } else { "none" })
            .bind(Json(
                serde_json::json!({ "username_template": new.username_template }),
            ))
            .bind(secret)
            .bind(new.endpoint)
            .bind(Json(&new.countries))
            .bind(new.priority)
            .bind(id)
            .fetch_one(self.exec())
            .await?)
    }

    /// The best active provider serving `tier` (and `country`, when given) that is healthy,
    /// or unhealthy but rested long enough to be tried again: healthy ones first, then
    /// highest priority, best success rate, least used today.
    pub async fn pick_proxy(
        &self,
        tier: ProxyTier,
        country: Option<&str>,
    ) -> Result<Option<ProxyProvider>> {
        let column = endpoint_column(tier);
        let sql = format!(
            "SELECT id, name, {column} AS endpoint, \
                    auth_credentials_encrypted, COALESCE(supports_sessions, TRUE) AS supports_sessions, credentials, \
                    COALESCE(is_healthy, TRUE) AS healthy \
             FROM proxy_providers \
             WHERE COALESCE(is_active, TRUE) AND {column} IS NOT NULL \
               AND (COALESCE(is_healthy, TRUE) \
                    OR last_health_check_at < NOW() - make_interval(secs => $2)) \
               AND ($1::text IS NULL OR countries = '[]'::jsonb OR countries ? $1) \
             ORDER BY COALESCE(is_healthy, TRUE) DESC, COALESCE(priority, 5) DESC, \
                 success_rate DESC NULLS FIRST, bandwidth_used_today_gb \
             LIMIT 1"
        );
        let picked: Option<ProxyProvider> = crate::pg::sql::query_as(&sql)
            .bind(country)
            .bind(PROBE_AFTER_SECS as f64)
            .fetch_optional(self.exec())
            .await?;
        let provider = match picked {
            Some(p) if !p.healthy => p,
            other => return Ok(other),
        };
        // A rested provider gets one probe: the job that claims it (the rest starts over
        // for the others until the probe's outcome is recorded).
        let claimed: Option<Uuid> = crate::pg::sql::query_scalar(
            "UPDATE proxy_providers SET last_health_check_at = NOW() \
             WHERE id = $1 AND NOT COALESCE(is_healthy, TRUE) \
               AND last_health_check_at < NOW() - make_interval(secs => $2) \
             RETURNING id",
        )
        .bind(provider.id)
        .bind(PROBE_AFTER_SECS as f64)
        .fetch_optional(self.exec())
        .await?;
        Ok(claimed.map(|_| provider))
    }

    /// Logs a use, adds its bandwidth, updates the success rate, and marks the provider
    /// unhealthy when its last [`UNHEALTHY_AFTER`] uses all failed.
    pub async fn record_proxy_use(&self, u: &ProxyUse) -> Result<()> {
        let gb = (u.bytes_in + u.bytes_out) as f64 / 1_073_741_824.0;
        crate::pg::sql::query(
            "WITH log AS ( \
                 INSERT INTO proxy_usage_logs (provider_id, job_id, organization_id, proxy_tier, country, \
                     bytes_in, bytes_out, success, response_time_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)) \
             UPDATE proxy_providers SET \
                 bandwidth_used_today_gb = COALESCE(bandwidth_used_today_gb, 0) + $10, \
                 bandwidth_used_month_gb = COALESCE(bandwidth_used_month_gb, 0) + $10, \
                 success_rate = ROUND((COALESCE(success_rate, 1) * 0.9 + CASE WHEN $8 THEN 0.1 ELSE 0 END)::numeric, 4), \
                 avg_response_time_ms = COALESCE(ROUND(avg_response_time_ms * 0.8 + $9 * 0.2)::int, $9, avg_response_time_ms), \
                 is_healthy = CASE WHEN $8 THEN TRUE ELSE is_healthy END, \
                 health_check_error = CASE WHEN $8 THEN NULL ELSE health_check_error END, \
                 last_health_check_at = CASE WHEN $8 AND NOT COALESCE(is_healthy, TRUE) THEN NOW() \
                     ELSE last_health_check_at END \
             WHERE id = $1",
        )
        .bind(u.provider)
        .bind(u.job)
        .bind(u.org)
        .bind(u.tier)
        .bind(&u.country)
        .bind(u.bytes_in)
        .bind(u.bytes_out)
        .bind(u.success)
        .bind(u.response_ms)
        .bind(gb)
        .execute(self.exec())
        .await?;
        if !u.success {
            crate::pg::sql::query(
                "UPDATE proxy_providers SET is_healthy = FALSE, last_health_check_at = NOW(), \
                     health_check_error = 'the last uses all failed' \
                 WHERE id = $1 AND $2 <= (SELECT COUNT(*) FROM ( \
                     SELECT success FROM proxy_usage_logs WHERE provider_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2) recent WHERE NOT success)",
            )
            .bind(u.provider)
            .bind(UNHEALTHY_AFTER)
            .execute(self.exec())
            .await?;
        }
        Ok(())
    }
}

//! An organization's webhooks. The signing secret is generated here, returned once on
//! creation (or rotation), never listed again, and stored sealed bound to its row
//! (`secrets.rs`); workers open it to sign deliveries. Policy: at most
//! [`MAX_WEBHOOKS_PER_ORG`] webhooks per organization, checked in the creating
//! transaction under the organization's row lock; at most
//! [`MAX_CONCURRENT_DELIVERIES_PER_ORG`] deliveries of one organization in flight.

mod row_secrets;
mod secrets;

pub use secrets::{DEFAULT_ROTATION_OVERLAP, MAX_ROTATION_OVERLAP, ResealReport};

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sqlx::types::Json;

use super::Db;
use crate::{
    Error, Result,
    domain::{OrgId, WebhookId, wire_text},
    secrets::{Binding, SecretBox},
};

/// Webhooks an organization may have.
pub const MAX_WEBHOOKS_PER_ORG: i64 = 25;
/// Deliveries of one organization in flight at once, across the fleet; more wait.
pub const MAX_CONCURRENT_DELIVERIES_PER_ORG: u32 = 8;

/// The events a webhook can subscribe to.
pub const WEBHOOK_EVENTS: [&str; 5] = [
    "job.completed",
    "job.failed",
    "job.canceled",
    "job.timeout",
    "batch.completed",
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub organization_id: OrgId,
    pub name: String,
    pub url: String,
    #[schema(value_type = Vec<String>)]
    pub events: Json<Vec<String>>,
    pub is_active: bool,
    pub timeout_ms: i32,
    pub retry_count: i32,
    pub consecutive_failures: i32,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// After a rotation: until when the previous secret still signs deliveries.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const WEBHOOK_COLUMNS: &str = "id, organization_id, name, url, events, \
    COALESCE(is_active, TRUE) AS is_active, COALESCE(timeout_ms, 30000) AS timeout_ms, \
    COALESCE(retry_count, 3) AS retry_count, COALESCE(consecutive_failures, 0) AS consecutive_failures, \
    last_success_at, last_failure_at, \
    CASE WHEN previous_secret_expires_at > NOW() THEN previous_secret_expires_at END \
        AS previous_secret_expires_at, \
    created_at, updated_at";

/// A webhook's settings, as the API receives them; on update, absent fields keep their
/// value.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub name: Option<String>,
    pub url: Option<String>,
    /// Any of job.completed, job.failed, job.canceled, job.timeout, batch.completed.
    pub events: Option<Vec<String>>,
    pub is_active: Option<bool>,
    pub timeout_ms: Option<i32>,
    pub retry_count: Option<i32>,
}

impl WebhookSettings {
    fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.len() > 100)
        {
            return Err(Error::validation("name", "1 to 100 characters"));
        }
        if let Some(url) = &self.url {
            wire_text::check_webhook_url("url", url)?;
        }
        if let Some(events) = &self.events {
            if events.is_empty() {
                return Err(Error::validation("events", "at least one event"));
            }
            if let Some(bad) = events
                .iter()
                .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
            {
                return Err(Error::validation(
                    "events",
                    format!("unknown event {bad}; known: {}", WEBHOOK_EVENTS.join(", ")),
                ));
            }
        }
        if self
            .timeout_ms
            .is_some_and(|t| !(1_000..=120_000).contains(&t))
        {
            return Err(Error::validation("timeout_ms", "between 1000 and 120000"));
        }
        if self.retry_count.is_some_and(|r| !(0..=10).contains(&r)) {
            return Err(Error::validation("retry_count", "between 0 and 10"));
        }
        Ok(())
    }
}

/// A new signing secret: `whsec_` and 32 random bytes, hex.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

impl Db {
    /// Creates a webhook, its secret sealed by `seal` bound to the new row; the returned
    /// secret is shown to the customer once. Past [`MAX_WEBHOOKS_PER_ORG`] it is
    /// [`Error::LimitReached`].
    pub async fn create_webhook(
        &self,
        org: OrgId,
        settings: &WebhookSettings,
        seal: &SecretBox,
    ) -> Result<(Webhook, String)> {
        settings.validate()?;
        let name = settings
            .name
            .clone()
            .ok_or_else(|| Error::validation("name", "is required"))?;
        let url = settings
            .url
            .clone()
            .ok_or_else(|| Error::validation("url", "is required"))?;
        let events = settings
            .events
            .clone()
            .unwrap_or_else(|| vec!["job.completed".into(), "job.failed".into()]);
        let id = WebhookId::from(uuid::Uuid::now_v7());
        let secret = new_secret();
        let sealed = seal.seal(secret.as_bytes(), &Binding::webhook(id))?;
        let mut tx = self.pool.begin().await?;
        // The organization's row lock orders concurrent creations; the count is a
        // statement of its own, so it sees every creation committed before the lock.
        crate::pg::sql::query_scalar::<OrgId>(
            "SELECT id FROM organizations WHERE id = $1 FOR UPDATE",
        )
        .bind(org)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound {
            entity: "organization",
        })?;
        let count: i64 = crate::pg::sql::query_scalar(
            "SELECT COUNT(*) FROM webhooks WHERE organization_id = $1",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        if count >= MAX_WEBHOOKS_PER_ORG {
            return Err(Error::LimitReached {
                what: "webhooks",
                limit: MAX_WEBHOOKS_PER_ORG,
            });
        }
        let sql = format!(
            "INSERT INTO webhooks (id, organization_id, name, url, secret_sealed, events, is_active, \
             timeout_ms, retry_count) \
             VALUES ($9, $1, $2, $3, $4, $5, COALESCE($6, TRUE), COALESCE($7, 30000), COALESCE($8, 3)) \
             RETURNING {WEBHOOK_COLUMNS}"
        );
        let hook = crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(name)
            .bind(url)
            .bind(&sealed)
            .bind(Json(events))
            .bind(settings.is_active)
            .bind(settings.timeout_ms)
            .bind(settings.retry_count)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((hook, secret))
    }

    pub async fn list_webhooks(&self, org: OrgId) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE organization_id = $1 ORDER BY created_at"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(org)
            .fetch_all(self.exec())
            .await?)
    }

    /// Updates a webhook of this organization; re-activating it clears its failure streak.
    pub async fn update_webhook(
        &self,
        org: OrgId,
        id: WebhookId,
        settings: &WebhookSettings,
    ) -> Result<Webhook> {
        settings.validate()?;
        let sql = format!(
            "UPDATE webhooks SET name = COALESCE($3, name), url = COALESCE($4, url), \
                 events = COALESCE($5, events), is_active = COALESCE($6, is_active), \
                 timeout_ms = COALESCE($7, timeout_ms), retry_count = COALESCE($8, retry_count), \
                 consecutive_failures = CASE WHEN $6 THEN 0 ELSE consecutive_failures END \
             WHERE id = $1 AND organization_id = $2 RETURNING {WEBHOOK_COLUMNS}"
        );
        crate::pg::sql::query_as(&sql)
            .bind(id)
            .bind(org)
            .bind(&settings.name)
            .bind(&settings.url)
            .bind(settings.events.clone().map(Json))
            .bind(settings.is_active)
            .bind(settings.timeout_ms)
            .bind(settings.retry_count)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound { entity: "webhook" })
    }

    pub async fn delete_webhook(&self, org: OrgId, id: WebhookId) -> Result<()> {
        let done =
            crate::pg::sql::query("DELETE FROM webhooks WHERE id = $1 AND organization_id = $2")
                .bind(id)
                .bind(org)
                .execute(self.exec())
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { entity: "webhook" });
        }
        Ok(())
    }
}

/// What a worker needs to deliver to one webhook. Its secrets stay sealed until
/// [`WebhookTarget::signing_secrets`] opens them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookTarget {
    pub id: WebhookId,
    pub url: String,
    secret_sealed: Option<Vec<u8>>,
    /// The replaced secret, while its overlap lasts.
    previous_secret_sealed: Option<Vec<u8>>,
    pub timeout_ms: i32,
    pub retry_count: i32,
}

impl WebhookTarget {
    /// The secrets deliveries are signed with, current first, then the previous one while
    /// a rotation's overlap lasts. A value sealed for another row does not open.
    pub fn signing_secrets(&self, seal: &SecretBox) -> Result<Vec<String>> {
        let binding = Binding::webhook(self.id);
        let open = |sealed: &Vec<u8>| {
            let bytes = seal.open(sealed, &binding)?;
            String::from_utf8(bytes).map_err(|_| Error::Corrupt("webhook secret".into()))
        };
        let current = self
            .secret_sealed
            .as_ref()
            .ok_or_else(|| Error::Corrupt("webhook secret not sealed yet".into()))?;
        let mut out = vec![open(current)?];
        if let Some(previous) = &self.previous_secret_sealed {
            out.push(open(previous)?);
        }
        Ok(out)
    }
}

const TARGET_COLUMNS: &str = "id, url, secret_sealed, \
    CASE WHEN previous_secret_expires_at > NOW() THEN previous_secret_sealed END \
        AS previous_secret_sealed, \
    COALESCE(timeout_ms, 30000) AS timeout_ms, COALESCE(retry_count, 3) AS retry_count";

impl Db {
    /// The organization's active webhooks subscribed to `event`.
    pub async fn webhooks_for_event(&self, org: OrgId, event: &str) -> Result<Vec<WebhookTarget>> {
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM webhooks WHERE organization_id = $1 \
               AND COALESCE(is_active, TRUE) AND events ? $2 ORDER BY created_at"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(event)
            .fetch_all(self.exec())
            .await?)
    }

    /// One webhook target by id (delivery retries re-read it: it may have been changed,
    /// rotated, disabled or deleted meanwhile).
    pub async fn webhook_target(&self, id: WebhookId) -> Result<Option<WebhookTarget>> {
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM webhooks WHERE id = $1 AND COALESCE(is_active, TRUE)"
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(id)
            .fetch_optional(self.exec())
            .await?)
    }

    /// Records a delivery attempt. A failure extends the streak and, at `disable_after`
    /// consecutive failures, deactivates the webhook; a success ends the streak. Returns
    /// whether the webhook is still active.
    pub async fn record_webhook_delivery(
        &self,
        id: WebhookId,
        delivered: bool,
        disable_after: i32,
    ) -> Result<bool> {
        let active: Option<bool> = crate::pg::sql::query_scalar(
            "UPDATE webhooks SET last_triggered_at = NOW(), \
                 last_success_at = CASE WHEN $2 THEN NOW() ELSE last_success_at END, \
                 last_failure_at = CASE WHEN $2 THEN last_failure_at ELSE NOW() END, \
                 failure_count = COALESCE(failure_count, 0) + CASE WHEN $2 THEN 0 ELSE 1 END, \
                 consecutive_failures = CASE WHEN $2 THEN 0 ELSE COALESCE(consecutive_failures, 0) + 1 END, \
                 is_active = CASE WHEN NOT $2 AND COALESCE(consecutive_failures, 0) + 1 >= $3 \
                                  THEN FALSE ELSE is_active END \
             WHERE id = $1 RETURNING COALESCE(is_active, TRUE)",
        )
        .bind(id)
        .bind(delivered)
        .bind(disable_after)
        .fetch_optional(self.exec())
        .await?;
        Ok(active.unwrap_or(false))
    }
}

//! Webhook secrets over time: rotation (the previous secret keeps signing, beside the new
//! one, until its overlap ends) and the start-up re-seal that brings values stored before
//! row binding (plaintext webhook and job secrets, unbound proxy credentials) to the bound form.
//! Both are idempotent: re-sealing twice changes nothing the second time.

use std::time::Duration;

use serde::Serialize;

use super::{WEBHOOK_COLUMNS, Webhook, new_secret};
use crate::{
    Error, Result,
    domain::{OrgId, WebhookId},
    pg::Db,
    secrets::{Binding, SecretBox},
};

/// How long a rotated-out secret keeps signing deliveries unless the request says.
pub const DEFAULT_ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// The longest overlap a rotation may ask for.
pub const MAX_ROTATION_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// What [`Db::reseal_secrets`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResealReport {
    /// Plaintext webhook secrets sealed.
    pub webhooks: u64,
    /// Plaintext job webhook secrets sealed.
    pub jobs: u64,
    /// Proxy credentials sealed before binding, sealed again bound to their row.
    pub proxy_providers: u64,
}

impl Db {
    /// Gives a webhook of this organization a new secret (returned once); the current one
    /// becomes the previous, valid for `overlap` more (zero drops it now).
    pub async fn rotate_webhook_secret(
        &self,
        org: OrgId,
        id: WebhookId,
        overlap: Duration,
        seal: &SecretBox,
    ) -> Result<(Webhook, String)> {
        if overlap > MAX_ROTATION_OVERLAP {
            return Err(Error::validation(
                "overlap_seconds",
                format!("at most {}", MAX_ROTATION_OVERLAP.as_secs()),
            ));
        }
        let secret = new_secret();
        let sealed = seal.seal(secret.as_bytes(), &Binding::webhook(id))?;
        let sql = format!(
            "UPDATE webhooks SET previous_secret_sealed = secret_sealed, \
                 previous_secret_expires_at = NOW() + make_interval(secs => $4), \
                 secret_sealed = $3 \
             WHERE id = $1 AND organization_id = $2 AND secret_sealed IS NOT NULL \
             RETURNING {WEBHOOK_COLUMNS}"
        );
        let hook = sqlx::query_as(&sql)
            .bind(id)
            .bind(org)
            .bind(&sealed)
            .bind(overlap.as_secs_f64())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound { entity: "webhook" })?;
        Ok((hook, secret))
    }

    /// The start-up step of the API and the workers: [`Db::reseal_secrets`] when they hold
    /// a key, its report logged.
    pub async fn reseal_at_start(&self, seal: Option<&SecretBox>) -> Result<()> {
        if let Some(seal) = seal {
            let report = self.reseal_secrets(seal).await?;
            tracing::info!(?report, "secrets at rest bound to their rows");
        }
        Ok(())
    }

    /// Seals what was stored before values were bound to rows: plaintext webhook secrets,
    /// and proxy credentials sealed without a binding. Run at start-up by the API and the
    /// workers (whoever holds the key); values that already open bound are left alone.
    pub async fn reseal_secrets(&self, seal: &SecretBox) -> Result<ResealReport> {
        let mut report = ResealReport::default();
        let plain: Vec<(WebhookId, String)> = sqlx::query_as(
            "SELECT id, secret FROM webhooks WHERE secret IS NOT NULL AND secret_sealed IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for (id, secret) in plain {
            let sealed = seal.seal(secret.as_bytes(), &Binding::webhook(id))?;
            report.webhooks += sqlx::query(
                "UPDATE webhooks SET secret_sealed = $2, secret = NULL \
                 WHERE id = $1 AND secret_sealed IS NULL",
            )
            .bind(id)
            .bind(&sealed)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        report.jobs = self.reseal_job_secrets(seal).await?;
        let proxies: Vec<(uuid::Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT id, auth_credentials_encrypted FROM proxy_providers \
             WHERE auth_credentials_encrypted IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for (id, stored) in proxies {
            let binding = Binding::proxy_provider(id);
            if seal.open(&stored, &binding).is_ok() {
                continue;
            }
            // Neither bound nor unbound under this key: left for its owner to replace.
            let Ok(opened) = seal.open_unbound(&stored) else {
                tracing::warn!(provider = %id, "proxy credentials do not open with this key");
                continue;
            };
            let sealed = seal.seal(&opened, &binding)?;
            report.proxy_providers += sqlx::query(
                "UPDATE proxy_providers SET auth_credentials_encrypted = $2 \
                 WHERE id = $1 AND auth_credentials_encrypted = $3",
            )
            .bind(id)
            .bind(&sealed)
            .bind(&stored)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(report)
    }
}

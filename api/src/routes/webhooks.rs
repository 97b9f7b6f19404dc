//! `/v1/webhooks`: the organization's webhook endpoints. The signing secret is in the
//! creation (and rotation) response only, and sealed at rest bound to its row. Rotating
//! keeps the previous secret valid for an overlap, during which deliveries carry both
//! signatures. Delivery (signed, retried) belongs to the workers. An organization has at
//! most `MAX_WEBHOOKS_PER_ORG` webhooks (409 `limit_reached`).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use std::time::Duration;

use scraperx_core::{
    domain::WebhookId,
    pg::{DEFAULT_ROTATION_OVERLAP, Webhook, WebhookSettings},
    secrets::SecretBox,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiJson,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(update_webhook, delete_webhook))
        .routes(routes!(rotate_webhook_secret))
}

/// The key that seals webhook secrets; without one, webhooks cannot be given secrets.
fn secrets(state: &AppState) -> ApiResult<&SecretBox> {
    state
        .config
        .secrets
        .as_ref()
        .ok_or(ApiError::SecretsUnavailable)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Verifies the `ScraperX-Signature` header of deliveries. Shown once.
    pub secret: String,
}

/// How long the replaced secret stays valid.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds the previous secret keeps signing deliveries (0 to drop it now; default
    /// 86400, at most 604800).
    pub overlap_seconds: Option<u32>,
}

/// Create a webhook; the response holds its signing secret, shown once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = WebhookSettings,
    responses((status = 201, body = CreatedWebhook), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<WebhookSettings>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    auth.require(scopes::WEBHOOKS)?;
    let (webhook, secret) = state
        .db
        .create_webhook(auth.org_id, &req, secrets(&state)?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { webhook, secret }),
    ))
}

/// The organization's webhooks (without secrets).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<Webhook>)), security(("api_key" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Webhook>>> {
    auth.require(scopes::WEBHOOKS)?;
    Ok(Json(state.db.list_webhooks(auth.org_id).await?))
}

/// Change a webhook; absent fields keep their value. Re-activating clears its failures.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)),
    request_body = WebhookSettings,
    responses((status = 200, body = Webhook), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn update_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<WebhookId>,
    ApiJson(req): ApiJson<WebhookSettings>,
) -> ApiResult<Json<Webhook>> {
    auth.require(scopes::WEBHOOKS)?;
    Ok(Json(state.db.update_webhook(auth.org_id, id, &req).await?))
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<WebhookId>,
) -> ApiResult<StatusCode> {
    auth.require(scopes::WEBHOOKS)?;
    state.db.delete_webhook(auth.org_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a webhook's signing secret. The response holds the new secret, shown once; until
/// `previous_secret_expires_at` every delivery is signed with both secrets (two `v1=`
/// entries in `ScraperX-Signature`), so receivers can switch without losing a delivery.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = WebhookId, Path)), request_body = RotateSecret,
    responses((status = 200, body = CreatedWebhook), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<WebhookId>,
    ApiJson(req): ApiJson<RotateSecret>,
) -> ApiResult<Json<CreatedWebhook>> {
    auth.require(scopes::WEBHOOKS)?;
    let overlap = req.overlap_seconds.map_or(DEFAULT_ROTATION_OVERLAP, |s| {
        Duration::from_secs(u64::from(s))
    });
    let (webhook, secret) = state
        .db
        .rotate_webhook_secret(auth.org_id, id, overlap, secrets(&state)?)
        .await?;
    Ok(Json(CreatedWebhook { webhook, secret }))
}

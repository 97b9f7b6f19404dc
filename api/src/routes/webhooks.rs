//! `/v1/webhooks`: the organization's webhook endpoints. The signing secret is in the
//! creation response only. Delivery (signed, retried) belongs to the workers.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use scraperx_core::{
    domain::WebhookId,
    pg::{Webhook, WebhookSettings},
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Auth, scopes},
    error::{ApiResult, ErrorBody},
    extract::ApiJson,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(update_webhook, delete_webhook))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Verifies the `ScraperX-Signature` header of deliveries. Shown once.
    pub secret: String,
}

/// Create a webhook; the response holds its signing secret, shown once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = WebhookSettings,
    responses((status = 201, body = CreatedWebhook), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<WebhookSettings>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    auth.require(scopes::WEBHOOKS)?;
    let (webhook, secret) = state.db.create_webhook(auth.org_id, &req).await?;
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

//! `/v1/batches`: many URLs with shared options and per-URL overrides, submitted in one
//! statement; progress from one grouped count; cancel.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use scraperx_core::{
    dispatch,
    domain::{BatchId, JobId, JobStatus},
    pg::{BatchCounts, check_batch_size},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::jobs::idempotency_header;
use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiJson,
    request::{self, ScrapeRequest},
    state::AppState,
    submit,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_batch))
        .routes(routes!(get_batch))
        .routes(routes!(cancel_batch))
}

/// One URL of a batch: a bare URL, or a request whose fields override the defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Url(String),
    Job(Box<ScrapeRequest>),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Up to the organization's max_batch_size items.
    pub urls: Vec<BatchItem>,
    /// Options shared by every item (no `url`, no `idempotency_key`).
    #[serde(default)]
    pub defaults: ScrapeRequest,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchJob {
    pub id: JobId,
    pub url: String,
    pub status: JobStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub batch_id: BatchId,
    pub counts: BatchCounts,
    /// Finished of total, e.g. "3/10".
    pub progress: String,
    pub done: bool,
    /// The jobs, on submission only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<BatchJob>>,
}

pub fn batch_view(
    batch_id: BatchId,
    counts: BatchCounts,
    jobs: Option<Vec<BatchJob>>,
) -> BatchView {
    BatchView {
        batch_id,
        progress: format!("{}/{}", counts.finished(), counts.total),
        done: counts.total > 0 && counts.finished() == counts.total,
        counts,
        jobs,
    }
}

/// Submit a batch. With an `Idempotency-Key` header, item i gets the key `<key>#<i>`, so a
/// replay returns the original batch.
#[utoipa::path(post, path = "/batches", tag = "batches", request_body = BatchRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, body = BatchView), (status = 402, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_batch(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(req): ApiJson<BatchRequest>,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    auth.require(scopes::SCRAPE_WRITE)?;
    check_batch_size(req.urls.len(), auth.max_batch_size.into())?;
    if req.defaults.url.is_some() || req.defaults.idempotency_key.is_some() {
        return Err(ApiError::validation(
            "defaults",
            "url and idempotency_key belong to each item",
        ));
    }
    let header_key = idempotency_header(&headers);
    let mut jobs = Vec::with_capacity(req.urls.len());
    let mut fields = Vec::with_capacity(req.urls.len());
    for (i, item) in req.urls.into_iter().enumerate() {
        let own = match item {
            BatchItem::Url(url) => ScrapeRequest {
                url: Some(url),
                ..ScrapeRequest::default()
            },
            BatchItem::Job(job) => *job,
        };
        let derived = header_key.map(|k| format!("{k}#{i}"));
        let at = format!("urls[{i}].");
        jobs.push(request::new_job(
            own.over(&req.defaults),
            &at,
            derived.as_deref(),
        )?);
        fields.push(format!("{at}url"));
    }
    let batch = BatchId::new();
    let subs = submit::submit(&state, &auth, Some(batch), jobs, fields).await?;
    let batch_id = subs.first().and_then(|s| s.job().batch_id).unwrap_or(batch);
    let listed = subs
        .into_iter()
        .map(|s| {
            let j = s.into_job();
            BatchJob {
                id: j.id,
                url: j.url,
                status: j.status,
            }
        })
        .collect();
    let counts = state.db.batch_counts(auth.org_id, batch_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(batch_view(batch_id, counts, Some(listed))),
    ))
}

/// A batch's counts per status and progress.
#[utoipa::path(get, path = "/batches/{id}", tag = "batches", params(("id" = BatchId, Path)),
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_batch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<BatchId>,
) -> ApiResult<Json<BatchView>> {
    auth.require(scopes::SCRAPE_READ)?;
    let counts = state.db.batch_counts(auth.org_id, id).await?;
    Ok(Json(batch_view(id, counts, None)))
}

/// Cancel every unfinished job of the batch, each as canceling it alone would: jobs not
/// running are refunded; running ones stop, and their workers settle them without charge.
#[utoipa::path(post, path = "/batches/{id}/cancel", tag = "batches", params(("id" = BatchId, Path)),
    responses((status = 200, body = BatchView), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel_batch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<BatchId>,
) -> ApiResult<Json<BatchView>> {
    auth.require(scopes::SCRAPE_WRITE)?;
    let canceled = dispatch::cancel_batch(&state.db, &state.queues, auth.org_id, id).await?;
    for job in &canceled {
        state.publish_status(job).await;
    }
    let counts = state.db.batch_counts(auth.org_id, id).await?;
    Ok(Json(batch_view(id, counts, None)))
}

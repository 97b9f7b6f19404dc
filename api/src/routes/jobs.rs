//! `/v1/jobs`: submit asynchronously, read, list, cancel, events and result.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use scraperx_core::{
    content::Bucket,
    domain::{ActionOutputs, ActionScrape, BatchId, JavascriptReturn, JobId, JobStatus},
    pg::{JobCursor, JobFilter, JobResult},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::views::{EventView, JobView};
use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiQuery},
    request::{self, ScrapeRequest},
    state::AppState,
    submit,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(job_events))
        .routes(routes!(job_result))
}

pub fn idempotency_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok())
}

/// Submit a job; the answer comes back at once with its id and status URL.
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = ScrapeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the submission safe to retry")),
    responses(
        (status = 202, description = "Accepted and queued", body = JobView),
        (status = 200, description = "An idempotency key replay: the original job", body = JobView),
        (status = 401, body = ErrorBody), (status = 402, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_job(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ScrapeRequest>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_WRITE)?;
    let job = request::new_job(req, "", idempotency_header(&headers))?;
    let sub = submit::submit(&state, &auth, None, vec![job], vec!["url".into()])
        .await?
        .pop()
        .ok_or(ApiError::Internal)?;
    let status = if sub.is_created() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let view = JobView::from(sub.into_job());
    let mut response = (status, Json(&view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&view.links.self_) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub status: Option<JobStatus>,
    pub batch_id: Option<BatchId>,
    pub client_reference: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// 1 to 100; default 20.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub data: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List jobs, newest first, with keyset pagination.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobList), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list_jobs(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<JobList>> {
    auth.require(scopes::SCRAPE_READ)?;
    let after = q
        .cursor
        .as_deref()
        .map(JobCursor::decode)
        .transpose()
        .map_err(|_| ApiError::validation("cursor", "not a cursor from this API"))?;
    let filter = JobFilter {
        status: q.status,
        batch_id: q.batch_id,
        client_reference: q.client_reference,
        created_after: q.created_after,
        created_before: q.created_before,
    };
    let page = state
        .db
        .list_jobs(auth.org_id, &filter, after, q.limit.unwrap_or(20))
        .await?;
    Ok(Json(JobList {
        data: page.jobs.into_iter().map(JobView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// One job. Another organization's job is not found.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<JobId>,
) -> ApiResult<Json<JobView>> {
    auth.require(scopes::SCRAPE_READ)?;
    Ok(Json(state.db.get_job(auth.org_id, id).await?.into()))
}

/// Cancel a job that has not finished; a job not yet started is refunded in full.
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel_job(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<JobId>,
) -> ApiResult<Json<JobView>> {
    auth.require(scopes::SCRAPE_WRITE)?;
    let job = state.db.cancel_job(auth.org_id, id).await?;
    // A running job stays on its lease: its worker sees the cancel and stops.
    if job.started_at.is_none() {
        state.queues.unqueue(std::slice::from_ref(&job)).await;
    }
    state.publish_status(&job).await;
    Ok(Json(job.into()))
}

/// The job's events, oldest first.
#[utoipa::path(get, path = "/jobs/{id}/events", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn job_events(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<JobId>,
) -> ApiResult<Json<Vec<EventView>>> {
    auth.require(scopes::SCRAPE_READ)?;
    state.db.get_job(auth.org_id, id).await?;
    let events = state.db.list_job_events(auth.org_id, id).await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Extracted {
    pub title: Option<String>,
    pub text: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub links: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    pub markdown: Option<String>,
    /// The cleaned HTML, when asked for (`html: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The page's meta tags: `description`, `language`, `favicon`, Open Graph as `ogTitle`,
    /// `ogImage`, …, and every other meta tag under its own name (`twitter:card`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResultView {
    pub job_id: JobId,
    pub status_code: Option<i32>,
    pub final_url: Option<String>,
    pub redirect_count: Option<i32>,
    #[schema(value_type = Option<Object>)]
    pub headers: Option<serde_json::Value>,
    pub content_type: Option<String>,
    pub content_length: Option<i64>,
    /// The content itself, when stored inline (up to 1 MB).
    pub content: Option<String>,
    /// A presigned link to the content, when stored in object storage.
    pub content_url: Option<String>,
    pub content_hash: Option<String>,
    pub extracted: Extracted,
    pub screenshot_url: Option<String>,
    pub pdf_url: Option<String>,
    pub total_time_ms: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// What the job's actions gave back; absent for a job without actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<ActionOutputsView>,
}

/// A job's action outputs as the customer reads them: each screenshot a presigned link, in
/// the order taken (Firecrawl's `actions` object maps onto it field by field).
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionOutputsView {
    pub screenshots: Vec<String>,
    /// Each screenshot's thumbnail (320 pixels wide, PNG), presigned, in the same order;
    /// empty for screenshots stored before actions had thumbnails.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thumbnails: Vec<String>,
    pub scrapes: Vec<ActionScrape>,
    pub javascript_returns: Vec<JavascriptReturn>,
}

pub(crate) async fn action_outputs_view(
    state: &AppState,
    outputs: ActionOutputs,
) -> ApiResult<ActionOutputsView> {
    let mut screenshots = Vec::with_capacity(outputs.screenshots.len());
    let mut thumbnails = Vec::with_capacity(outputs.screenshots.len());
    let expiry = state.config.presign_expiry;
    for shot in &outputs.screenshots {
        let content = &state.content;
        screenshots.push(
            content
                .presign_get(Bucket::Screenshots, &shot.key, expiry)
                .await?,
        );
        if let Some(thumb) = &shot.thumbnail_key {
            thumbnails.push(
                content
                    .presign_get(Bucket::Screenshots, thumb, expiry)
                    .await?,
            );
        }
    }
    if thumbnails.len() != screenshots.len() {
        thumbnails.clear();
    }
    Ok(ActionOutputsView {
        screenshots,
        thumbnails,
        scrapes: outputs.scrapes,
        javascript_returns: outputs.javascript_returns,
    })
}

pub async fn result_view(state: &AppState, r: JobResult) -> ApiResult<ResultView> {
    let presign = |bucket: Bucket, key: Option<String>| async move {
        match key {
            Some(k) => state
                .content
                .presign_get(bucket, &k, state.config.presign_expiry)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let content_bucket = r
        .content_minio_bucket
        .as_deref()
        .and_then(Bucket::from_name)
        .unwrap_or(Bucket::Content);
    Ok(ResultView {
        job_id: r.job_id,
        status_code: r.status_code,
        final_url: r.final_url,
        redirect_count: r.redirect_count,
        headers: r.headers.map(|h| h.0),
        content_type: r.content_type,
        content_length: r.content_length,
        content: r.content_inline,
        content_url: presign(content_bucket, r.content_minio_key).await?,
        content_hash: r.content_hash,
        extracted: Extracted {
            title: r.extracted_title,
            text: r.extracted_text,
            links: r.extracted_links.map(|l| l.0),
            data: r.extracted_data.map(|d| d.0),
            markdown: r.extracted_markdown,
            html: r.extracted_html,
            metadata: r.extracted_metadata.map(|m| m.0),
        },
        screenshot_url: presign(Bucket::Screenshots, r.screenshot_minio_key).await?,
        pdf_url: presign(Bucket::Pdfs, r.pdf_minio_key).await?,
        total_time_ms: r.total_time_ms,
        created_at: r.created_at,
        expires_at: r.expires_at,
        actions: match r.action_outputs {
            Some(outputs) => Some(action_outputs_view(state, outputs.0).await?),
            None => None,
        },
    })
}

/// The job's result, with presigned links to what lives in object storage.
#[utoipa::path(get, path = "/jobs/{id}/result", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, body = ResultView), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn job_result(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<JobId>,
) -> ApiResult<Json<ResultView>> {
    auth.require(scopes::SCRAPE_READ)?;
    state.db.get_job(auth.org_id, id).await?;
    let result = state
        .db
        .get_result(auth.org_id, id)
        .await
        .map_err(|e| match e {
            scraperx_core::Error::NotFound { .. } => ApiError::NotFound("result"),
            other => other.into(),
        })?;
    Ok(Json(result_view(&state, result).await?))
}

//! `POST /v1/scrape`: scrape now and wait. The order of refusals: authentication and rate
//! limits (middleware), scope, validation, the response cache (a hit is answered without a
//! job), credits (402), then the job is queued and the request waits for its status on
//! Redis pub/sub, up to the job's timeout. A job still running (or still waiting for one of
//! its organization's running slots, capped by the plan in the queue like every other job)
//! is answered 202 with its status URL.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use chrono::Utc;
use scraperx_core::{
    content::Bucket,
    domain::{JobId, JobStatus, OrgId},
    hot::{
        cache::{CacheClass, CacheKey, CacheRequest, CachedResponse, ObjectRef},
        pubsub::JobStatusMessage,
    },
    pg::{CacheMatch, Job, NewJob},
};
use serde::Serialize;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    jobs::{ResultView, idempotency_header, result_view},
    views::JobView,
};
use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiJson,
    request::{self, ScrapeRequest},
    state::AppState,
    submit,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScrapeResponse {
    /// The job's status: `completed` when the page is here.
    pub status: JobStatus,
    /// Absent when answered from the cache.
    pub job_id: Option<JobId>,
    /// Answered from the response cache (no job, nothing charged).
    pub cached: bool,
    pub credits_charged: i64,
    pub status_code: Option<i32>,
    pub final_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub headers: Option<serde_json::Value>,
    pub content_type: Option<String>,
    pub content: Option<String>,
    pub content_url: Option<String>,
    pub content_hash: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extracted: Option<serde_json::Value>,
    pub screenshot_url: Option<String>,
    pub pdf_url: Option<String>,
    pub total_time_ms: Option<i32>,
    /// What the job's actions gave back; absent for a job without actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<super::jobs::ActionOutputsView>,
    pub error: Option<super::views::JobError>,
    /// Where to follow the job when it is not finished yet.
    pub status_url: Option<String>,
}

/// Scrape a page and wait for the result.
#[utoipa::path(post, path = "/scrape", tag = "scrape", request_body = ScrapeRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, description = "Finished (completed, failed or canceled), or from the cache", body = ScrapeResponse),
        (status = 202, description = "Still running after the wait: follow status_url", body = ScrapeResponse),
        (status = 402, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn scrape(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ScrapeRequest>,
) -> ApiResult<(StatusCode, Json<ScrapeResponse>)> {
    auth.require(scopes::SCRAPE_WRITE)?;
    let max_age = req.max_age.map(Duration::from_secs);
    let new = request::new_job(req, "", idempotency_header(&headers))?;
    // A job with actions is never answered from the cache, which keeps no action outputs.
    let max_age = max_age.filter(|_| new.options.actions.is_empty());
    let key = cache_key(&new, auth.org_id)?;
    if let Some(max_age) = max_age {
        if let Some(hit) = state.cache.get(&key, Some(max_age)).await? {
            state.metrics.cache_hits.inc();
            return Ok((
                StatusCode::OK,
                Json(from_cache(&state, hit.response).await?),
            ));
        }
        if let Some(answer) = from_postgres(&state, &auth, &new, &key, max_age).await? {
            state.metrics.cache_hits.inc();
            return Ok((StatusCode::OK, Json(answer)));
        }
    }
    submit_and_wait(&state, &auth, new, &key).await
}

/// The Postgres and MinIO tier of the cache: the latest matching completed job's result,
/// put back into Redis for the next request.
async fn from_postgres(
    state: &AppState,
    auth: &Auth,
    new: &NewJob,
    key: &CacheKey,
    max_age: Duration,
) -> ApiResult<Option<ScrapeResponse>> {
    let since = Utc::now() - chrono::Duration::from_std(max_age).unwrap_or_default();
    let found = state
        .db
        .find_cached_result(&CacheMatch::of(auth.org_id, new, since))
        .await?;
    let Some(row) = found else { return Ok(None) };
    let object = row.content_minio_key.clone().map(|k| ObjectRef {
        bucket: row
            .content_minio_bucket
            .clone()
            .unwrap_or_else(|| Bucket::Content.name().to_owned()),
        key: k,
    });
    let view = result_view(state, row).await?;
    remember(state, key, &view, object).await;
    let mut answer = finished_view(JobStatus::Completed, Some(view));
    answer.cached = true;
    Ok(Some(answer))
}

fn cache_key(new: &NewJob, org: OrgId) -> ApiResult<CacheKey> {
    Ok(CacheRequest {
        url: &new.url,
        method: new.method,
        engine: new.engine,
        headers: &new.headers,
        body: new.body.as_deref(),
        options: &new.options,
        country: new.proxy_country.as_deref(),
        organization: org,
    }
    .key()?)
}

async fn submit_and_wait(
    state: &AppState,
    auth: &Auth,
    new: NewJob,
    key: &CacheKey,
) -> ApiResult<(StatusCode, Json<ScrapeResponse>)> {
    // Subscribe before submitting, so no status can slip past unseen.
    let mut updates = state.watcher.subscribe();
    let wait =
        Duration::from_millis(u64::from(new.options.timeout)) + state.config.scrape_wait_margin;
    let job = submit::submit(state, auth, None, vec![new], vec!["url".into()])
        .await?
        .pop()
        .ok_or(ApiError::Internal)?
        .into_job();
    let id = job.id;
    let current = wait_final(state, auth, &mut updates, job, wait).await?;
    if !current.is_final() {
        return Ok((StatusCode::ACCEPTED, Json(pending(current))));
    }
    let result = if current.status == JobStatus::Completed {
        match state.db.get_result(auth.org_id, id).await {
            Ok(row) => {
                let object = row.content_minio_key.clone().map(|key| ObjectRef {
                    bucket: row
                        .content_minio_bucket
                        .clone()
                        .unwrap_or_else(|| Bucket::Content.name().to_owned()),
                    key,
                });
                let view = result_view(state, row).await?;
                remember(state, key, &view, object).await;
                Some(view)
            }
            Err(scraperx_core::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    Ok((StatusCode::OK, Json(finished(current, result))))
}

/// Waits up to `wait` for `job` to finish, woken by its status changes on `updates` (which
/// the caller subscribed to before submitting it); returns the job as it is then.
pub async fn wait_final(
    state: &AppState,
    auth: &Auth,
    updates: &mut Receiver<JobStatusMessage>,
    job: Job,
    wait: Duration,
) -> ApiResult<Job> {
    let id = job.id;
    let deadline = tokio::time::Instant::now() + wait;
    let mut current = job;
    while !current.is_final() {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Err(_) => break,
            Ok(Ok(m)) if m.job_id != id => continue,
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {
                current = state.db.get_job(auth.org_id, id).await?;
            }
            Ok(Err(RecvError::Closed)) => {
                tokio::time::sleep_until(deadline).await;
                current = state.db.get_job(auth.org_id, id).await?;
                break;
            }
        }
    }
    if !current.is_final() {
        current = state.db.get_job(auth.org_id, id).await?;
    }
    Ok(current)
}

fn pending(job: Job) -> ScrapeResponse {
    let view = JobView::from(job);
    let mut out = finished_view(view.status, None);
    out.job_id = Some(view.id);
    out.credits_charged = view.credits_charged;
    out.error = view.error;
    out.status_url = Some(view.links.self_);
    out
}

fn finished(job: Job, result: Option<ResultView>) -> ScrapeResponse {
    let mut out = pending(job);
    out.status_url = None;
    fill(&mut out, result);
    out
}

/// A response with no job behind it (served from a cache tier).
fn finished_view(status: JobStatus, result: Option<ResultView>) -> ScrapeResponse {
    let mut out = ScrapeResponse {
        status,
        job_id: None,
        cached: false,
        credits_charged: 0,
        status_code: None,
        final_url: None,
        headers: None,
        content_type: None,
        content: None,
        content_url: None,
        content_hash: None,
        extracted: None,
        screenshot_url: None,
        pdf_url: None,
        total_time_ms: None,
        actions: None,
        error: None,
        status_url: None,
    };
    fill(&mut out, result);
    out
}

fn fill(out: &mut ScrapeResponse, result: Option<ResultView>) {
    if let Some(r) = result {
        out.extracted = serde_json::to_value(&r.extracted).ok();
        out.status_code = r.status_code;
        out.final_url = r.final_url;
        out.headers = r.headers;
        out.content_type = r.content_type;
        out.content = r.content;
        out.content_url = r.content_url;
        out.content_hash = r.content_hash;
        out.screenshot_url = r.screenshot_url;
        out.pdf_url = r.pdf_url;
        out.total_time_ms = r.total_time_ms;
        out.actions = r.actions;
    }
}

/// Puts a completed result in the response cache, for later requests with a max_age.
async fn remember(state: &AppState, key: &CacheKey, r: &ResultView, object: Option<ObjectRef>) {
    let headers: BTreeMap<String, String> = r
        .headers
        .as_ref()
        .and_then(|h| h.as_object())
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let class = CacheClass::for_response(
        r.content_type.as_deref(),
        headers.get("cache-control").map(String::as_str),
    );
    let cached = CachedResponse {
        status_code: r
            .status_code
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(0),
        final_url: r.final_url.clone().unwrap_or_default(),
        headers,
        content_type: r.content_type.clone(),
        body: r.content.clone(),
        object,
        content_hash: r.content_hash.clone().unwrap_or_default(),
        extracted: serde_json::to_value(&r.extracted).ok(),
        cached_at: Utc::now().timestamp_millis(),
    };
    if let Err(err) = state.cache.put(key, &cached, class).await {
        tracing::warn!(error = %err, "result not cached");
    }
}

async fn from_cache(state: &AppState, c: CachedResponse) -> ApiResult<ScrapeResponse> {
    let content_url = match &c.object {
        Some(o) => Some(
            state
                .content
                .presign_get(
                    Bucket::from_name(&o.bucket).unwrap_or(Bucket::Content),
                    &o.key,
                    state.config.presign_expiry,
                )
                .await?,
        ),
        None => None,
    };
    Ok(ScrapeResponse {
        status: JobStatus::Completed,
        job_id: None,
        cached: true,
        credits_charged: 0,
        status_code: Some(i32::from(c.status_code)),
        final_url: Some(c.final_url),
        headers: serde_json::to_value(c.headers).ok(),
        content_type: c.content_type,
        content: c.body,
        content_url,
        content_hash: Some(c.content_hash),
        extracted: c.extracted,
        screenshot_url: None,
        pdf_url: None,
        total_time_ms: None,
        actions: None,
        error: None,
        status_url: None,
    })
}

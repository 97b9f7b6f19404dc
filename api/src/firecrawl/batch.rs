//! Firecrawl's batch scrape (`/v2/batch/scrape`, and v1's): a ScraperX batch submitted in one
//! statement through the native submit path, its status from the batch's counts with the
//! completed pages' documents, cancel through the native batch cancel, and its errors.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri},
    response::Response,
};
use scraperx_core::{
    dispatch,
    domain::{BatchId, JobStatus},
    pg::{Job, check_batch_size},
};
use serde_json::{Map, Value, json};

use super::{
    ok,
    options::FcScrapeOptions,
    parse, public_base,
    scrape::tag_formats,
    status::{self, FcStatus, Progress, StatusQuery},
};
use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiQuery},
    state::AppState,
    submit,
};

/// The batch-level fields of a Firecrawl batch body; the rest are scrape options.
struct BatchFields {
    urls: Vec<String>,
    ignore_invalid: bool,
}

fn batch_fields(body: &mut Value) -> ApiResult<BatchFields> {
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    let o: &mut Map<String, Value> = body
        .as_object_mut()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    for refused in ["webhook", "appendToId"] {
        if o.get(refused).is_some_and(|v| !v.is_null()) {
            return Err(bad(&format!(
                "{refused} is not supported by ScraperX's Firecrawl API"
            )));
        }
        o.remove(refused);
    }
    // The organization's plan caps running jobs; a lower cap per batch is not kept.
    o.remove("maxConcurrency");
    let ignore_invalid = match o.remove("ignoreInvalidURLs") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(bad("ignoreInvalidURLs: must be a boolean")),
    };
    let urls: Vec<String> = match o.remove("urls") {
        Some(v) => parse(v).map_err(|e| bad(&format!("urls: {e}")))?,
        None => return Err(bad("urls: an array of strings is required")),
    };
    Ok(BatchFields {
        urls,
        ignore_invalid,
    })
}

/// Starts it; the answer's `url` is under the request's own version (`/v1` or `/v2`).
pub async fn start(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    uri: Uri,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Response> {
    let version = super::version_of(&uri);
    auth.require(scopes::SCRAPE_WRITE)?;
    let fields = batch_fields(&mut body)?;
    check_batch_size(fields.urls.len(), auth.max_batch_size.into()).map_err(|e| match e {
        scraperx_core::Error::BatchSize { count, max } => ApiError::BadRequest(format!(
            "urls: {}",
            scraperx_core::Error::batch_rule(count, max)
        )),
        other => other.into(),
    })?;
    let options: FcScrapeOptions = parse(body)?;
    // A model json needs a model: refused before anything is submitted.
    super::llm::check(
        &state,
        &super::formats::Formats::parse(options.formats.as_deref(), "")?,
    )?;
    let header_key = super::super::routes::jobs::idempotency_header(&headers);
    let (mut jobs, mut names, mut invalid) = (Vec::new(), Vec::new(), Vec::new());
    for (i, url) in fields.urls.into_iter().enumerate() {
        match options.clone().translate(url.clone(), "") {
            Ok(t) => {
                let mut job = t.job;
                tag_formats(&mut job.metadata, &t.formats);
                job.idempotency_key = header_key.map(|k| format!("{k}#{i}"));
                jobs.push(job);
                names.push(format!("urls[{i}]"));
            }
            Err(_) if fields.ignore_invalid => invalid.push(url),
            Err(ApiError::BadRequest(m)) if m.starts_with("url:") => {
                return Err(ApiError::BadRequest(format!("urls[{i}]{}", &m[3..])));
            }
            Err(e) => return Err(e),
        }
    }
    if jobs.is_empty() {
        return Err(ApiError::BadRequest("urls: no valid URL".into()));
    }
    let subs = submit::submit(&state, &auth, Some(BatchId::new()), jobs, names).await?;
    let id = subs
        .first()
        .and_then(|s| s.job().batch_id)
        .ok_or(ApiError::Internal)?;
    let url = format!(
        "{}{version}/batch/scrape/{id}",
        public_base(&state, &headers)
    );
    Ok(ok(
        StatusCode::OK,
        json!({"id": id, "url": url, "invalidURLs": invalid}),
    ))
}

pub async fn status(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<BatchId>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_READ)?;
    let counts = state.db.batch_counts(auth.org_id, id).await?;
    let progress = Progress {
        status: FcStatus::of_batch(&counts),
        total: counts.total,
        completed: counts.completed,
        expires_at: None,
    };
    let body = status::body(&state, &auth, &headers, uri.path(), id, progress, q).await?;
    Ok(ok(StatusCode::OK, body))
}

pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<BatchId>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_WRITE)?;
    state.db.batch_counts(auth.org_id, id).await?;
    let canceled = dispatch::cancel_batch(&state.db, &state.queues, auth.org_id, id).await?;
    for job in &canceled {
        state.publish_status(job).await;
    }
    Ok(ok(StatusCode::OK, json!({"status": "cancelled"})))
}

/// A failed job as one of Firecrawl's errors.
pub fn job_error(job: &Job) -> Value {
    let error = job
        .error_message
        .clone()
        .or_else(|| job.error_code.clone())
        .unwrap_or_else(|| format!("the scrape ended {}", job.status));
    json!({
        "id": job.id,
        "timestamp": job.completed_at.unwrap_or(job.created_at),
        "url": job.url,
        "code": job.error_code,
        "error": error,
    })
}

pub async fn errors(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<BatchId>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_READ)?;
    state.db.batch_counts(auth.org_id, id).await?;
    let failed = state
        .db
        .batch_jobs_with_status(auth.org_id, id, &[JobStatus::Failed, JobStatus::Timeout])
        .await?;
    let errors: Vec<Value> = failed.iter().map(job_error).collect();
    Ok(ok(
        StatusCode::OK,
        json!({"errors": errors, "robotsBlocked": []}),
    ))
}

//! `/v1/crawls`: start a crawl from a URL, follow it (counts, pages and errors in keyset
//! pages), pause, resume and cancel it. The API never fetches a page: it stores the crawl
//! and submits its start page; the workers expand each page and submit the next ones.
//! Every move is core's (`domain::crawl::CrawlStatus`, `scraperx_core::crawl`).

use std::convert::Infallible;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::sse::{Event, KeepAlive, Sse},
};
use chrono::{DateTime, Utc};
use futures::{Stream, stream};
use scraperx_core::{
    crawl,
    domain::{
        CrawlId,
        crawl::{CrawlOptions, CrawlReason, CrawlStatus},
    },
    pg::{Crawl, CrawlPage, NewCrawl, PageCursor, PageRow, PageTemplate},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiQuery},
    request::{self, ScrapeRequest},
    state::AppState,
    target,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_crawl, list_crawls))
        .routes(routes!(get_crawl))
        .routes(routes!(cancel_crawl))
        .routes(routes!(pause_crawl))
        .routes(routes!(resume_crawl))
        .routes(routes!(crawl_pages))
        .routes(routes!(crawl_errors))
        .routes(routes!(crawl_stream))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrawlRequest {
    /// Where the crawl starts (http or https).
    pub url: String,
    /// What the crawl follows and how fast (all optional).
    #[serde(default)]
    pub options: CrawlOptions,
    /// How each page is scraped: the fields of a scrape request, except `url`, `method`,
    /// `body`, `session_id`, `idempotency_key`, `client_reference`, `webhook_secret` (the
    /// crawl's own signs every page), `metadata` and `max_age`. Its `webhook_url` is called
    /// for every page.
    #[serde(default)]
    pub scrape_options: ScrapeRequest,
    /// Called once when the crawl ends.
    pub webhook_url: Option<String>,
    /// Signs the crawl's end and every page's delivery (16 to 255 characters), as a job's
    /// own `webhook_secret` does; sealed at rest.
    pub webhook_secret: Option<String>,
}

/// A crawl's progress: its frontier and its pages' jobs, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CrawlCounts {
    /// Pages found that count toward the limit.
    pub discovered: i64,
    /// Waiting for a place, or queued for a worker.
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    /// Failed or timed out.
    pub failed: i64,
    pub canceled: i64,
    /// Found and not scraped: robots.txt, a private address, a duplicate.
    pub skipped: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrawlView {
    pub id: CrawlId,
    pub url: String,
    pub status: CrawlStatus,
    pub status_reason: Option<CrawlReason>,
    pub counts: CrawlCounts,
    pub options: CrawlOptions,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrawlList {
    pub data: Vec<CrawlView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrawlPageList {
    pub data: Vec<CrawlPage>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 1,000; default 100.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const MAX_PAGE: u32 = 1_000;
const MAX_LIST: u32 = 100;

/// Reads a crawl's counts: the frontier's, and its jobs' by status (core's
/// `crawl::progress`).
pub async fn view(state: &AppState, crawl: Crawl) -> ApiResult<CrawlView> {
    let p = crawl::progress(&state.db, &crawl).await?;
    let counts = CrawlCounts {
        discovered: p.discovered,
        queued: p.queued,
        running: p.running,
        completed: p.completed,
        failed: p.failed,
        canceled: p.canceled,
        skipped: p.skipped,
    };
    Ok(CrawlView {
        id: crawl.id,
        url: crawl.url,
        status: crawl.status,
        status_reason: crawl.status_reason,
        counts,
        options: crawl.options.0,
        created_at: crawl.created_at,
        finished_at: crawl.finished_at,
    })
}

/// The page template from a scrape request, refusing what a crawl page cannot carry.
fn page_template(req: ScrapeRequest, start: &str) -> ApiResult<PageTemplate> {
    let unsupported = [
        ("url", req.url.is_some()),
        ("method", req.method.is_some()),
        ("body", req.body.is_some()),
        ("session_id", req.session_id.is_some()),
        ("idempotency_key", req.idempotency_key.is_some()),
        ("client_reference", req.client_reference.is_some()),
        ("webhook_secret", req.webhook_secret.is_some()),
        ("metadata", req.metadata.is_some()),
        ("max_age", req.max_age.is_some()),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(ApiError::validation(
            format!("scrape_options.{field}"),
            "is not supported for crawl pages",
        ));
    }
    let page = ScrapeRequest {
        url: Some(start.to_owned()),
        ..req
    };
    let job = request::new_job(page, "scrape_options.", None).map_err(|e| match e {
        // The URL checked with the page's options is the crawl's own.
        ApiError::Validation { field, message } if field == "scrape_options.url" => {
            ApiError::validation("url", message)
        }
        other => other,
    })?;
    Ok(template_of(job))
}

/// What every page of a crawl is scraped with, from a checked job for its start page.
pub fn template_of(job: scraperx_core::pg::NewJob) -> PageTemplate {
    PageTemplate::from_job(job)
}

/// Start a crawl. Its start page is submitted at once (its credits reserved as any job's);
/// the workers follow its links breadth first.
#[utoipa::path(post, path = "/crawls", tag = "crawls", request_body = CrawlRequest,
    responses((status = 202, body = CrawlView), (status = 402, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_crawl(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CrawlRequest>,
) -> ApiResult<(StatusCode, Json<CrawlView>)> {
    auth.require(scopes::SCRAPE_WRITE)?;
    target::check_targets(&state, &auth, &[("url".to_owned(), req.url.as_str())]).await?;
    let page = page_template(req.scrape_options, &req.url)?;
    let new = NewCrawl {
        url: req.url,
        options: req.options,
        page,
        webhook_url: req.webhook_url,
        webhook_secret: req.webhook_secret,
    };
    let crawl = start(&state, &auth, new).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, crawl).await?)))
}

/// Checks and stores a crawl, and submits its start page; the crawl as it is then. Its URL
/// was checked as a target by the caller.
pub async fn start(state: &AppState, auth: &Auth, new: NewCrawl) -> ApiResult<Crawl> {
    new.options
        .validate()
        .map_err(|e| prefixed(e, "options."))?;
    // Links are followed by the workers, which do not know the key: a key held to some
    // domains may crawl within them (subdomains are within), never off to other hosts.
    if new.options.allow_external_links && auth.restrictions.allowed_domains.is_some() {
        return Err(ApiError::validation(
            "options.allow_external_links",
            "this API key may scrape only its allowed domains",
        ));
    }
    let crawl = state
        .db
        .create_crawl(auth.org_id, Some(auth.key_id), &new)
        .await
        .map_err(|e| match e {
            // The page template was checked as a scrape request: what is left is the
            // crawl's own URL and webhook, or a rule name the crawl keeps for itself.
            scraperx_core::Error::Validation { ref field, .. }
                if !["url", "webhook_url", "webhook_secret"].contains(&field.as_str()) =>
            {
                prefixed(e, "scrape_options.")
            }
            other => other.into(),
        })?;
    crate::trace::record("batch", crawl.id);
    submit_start_page(state, &crawl).await?;
    Ok(state.db.get_crawl(auth.org_id, crawl.id).await?)
}

/// Submits a new crawl's start page; 402 when the balance cannot cover it (the crawl is
/// then recorded as failed, `insufficient_credits`).
pub async fn submit_start_page(state: &AppState, crawl: &Crawl) -> ApiResult<()> {
    let top = crawl::top_up(&state.db, &state.queues, crawl.id).await?;
    if top.ended == Some(CrawlStatus::Failed) {
        let page = &crawl.page.0;
        let required = scraperx_core::domain::pricing::reservation(
            page.engine,
            page.proxy_tier,
            &page.options,
        );
        return Err(ApiError::InsufficientCredits { required });
    }
    Ok(())
}

/// A core validation error with its field under `prefix`.
fn prefixed(e: scraperx_core::Error, prefix: &str) -> ApiError {
    match e {
        scraperx_core::Error::Validation { field, message } => {
            ApiError::validation(format!("{prefix}{field}"), message)
        }
        other => other.into(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100; default 20.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The organization's crawls, newest first.
#[utoipa::path(get, path = "/crawls", tag = "crawls", params(ListQuery),
    responses((status = 200, body = CrawlList), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list_crawls(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<CrawlList>> {
    auth.require(scopes::SCRAPE_READ)?;
    let limit = limit_of(q.limit, 20, MAX_LIST)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| c.parse::<CrawlId>())
        .transpose()
        .map_err(|_| ApiError::validation("cursor", "not a cursor from this API"))?;
    let crawls = state.db.list_crawls(auth.org_id, before, limit + 1).await?;
    let more = crawls.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let mut data = Vec::new();
    for c in crawls.into_iter().take(usize::try_from(limit).unwrap_or(0)) {
        data.push(view(&state, c).await?);
    }
    let next_cursor = more
        .then(|| data.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Json(CrawlList { data, next_cursor }))
}

fn limit_of(asked: Option<u32>, default: u32, max: u32) -> ApiResult<i64> {
    match asked.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(i64::from(n)),
        _ => Err(ApiError::validation(
            "limit",
            format!("must be between 1 and {max}"),
        )),
    }
}

/// A crawl's status and counts. Another organization's crawl is not found.
#[utoipa::path(get, path = "/crawls/{id}", tag = "crawls", params(("id" = CrawlId, Path)),
    responses((status = 200, body = CrawlView), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_crawl(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
) -> ApiResult<Json<CrawlView>> {
    auth.require(scopes::SCRAPE_READ)?;
    let crawl = state.db.get_crawl(auth.org_id, id).await?;
    Ok(Json(view(&state, crawl).await?))
}

/// Moves the organization's crawl to `to`, or answers 409 naming both states.
pub async fn move_to(
    state: &AppState,
    auth: &Auth,
    id: CrawlId,
    to: CrawlStatus,
) -> ApiResult<Crawl> {
    auth.require(scopes::SCRAPE_WRITE)?;
    let crawl = state.db.get_crawl(auth.org_id, id).await?;
    crawl.status.transition(to).map_err(|_| {
        ApiError::Conflict(format!(
            "the crawl is {} and cannot become {to}",
            crawl.status
        ))
    })?;
    let moved = match to {
        CrawlStatus::Canceled => crawl::cancel(&state.db, &state.queues, &crawl).await,
        _ => state.db.move_crawl(id, to, None).await,
    };
    moved.map_err(|e| match e {
        scraperx_core::Error::Conflict { .. } => {
            ApiError::Conflict(format!("the crawl cannot become {to} now"))
        }
        other => other.into(),
    })
}

/// Cancel a crawl: no page is submitted any more, and its pages' unfinished jobs are
/// canceled (refunded unless running; running ones stop and are not charged).
#[utoipa::path(post, path = "/crawls/{id}/cancel", tag = "crawls", params(("id" = CrawlId, Path)),
    responses((status = 200, body = CrawlView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel_crawl(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
) -> ApiResult<Json<CrawlView>> {
    let crawl = move_to(&state, &auth, id, CrawlStatus::Canceled).await?;
    Ok(Json(view(&state, crawl).await?))
}

/// Pause a running crawl: pages already submitted finish, no new page is submitted.
#[utoipa::path(post, path = "/crawls/{id}/pause", tag = "crawls", params(("id" = CrawlId, Path)),
    responses((status = 200, body = CrawlView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn pause_crawl(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
) -> ApiResult<Json<CrawlView>> {
    let crawl = move_to(&state, &auth, id, CrawlStatus::Paused).await?;
    Ok(Json(view(&state, crawl).await?))
}

/// Resume a paused crawl where it stopped.
#[utoipa::path(post, path = "/crawls/{id}/resume", tag = "crawls", params(("id" = CrawlId, Path)),
    responses((status = 200, body = CrawlView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn resume_crawl(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
) -> ApiResult<Json<CrawlView>> {
    move_to(&state, &auth, id, CrawlStatus::Running).await?;
    crawl::top_up(&state.db, &state.queues, id).await?;
    let crawl = state.db.get_crawl(auth.org_id, id).await?;
    Ok(Json(view(&state, crawl).await?))
}

async fn pages(
    state: &AppState,
    auth: &Auth,
    id: CrawlId,
    rows: PageRow,
    q: PageQuery,
) -> ApiResult<CrawlPageList> {
    auth.require(scopes::SCRAPE_READ)?;
    let limit = limit_of(q.limit, 100, MAX_PAGE)?;
    let after = q.cursor.as_deref().map(PageCursor::decode).transpose()?;
    // Not found for another organization's crawl, even with no page.
    state.db.get_crawl(auth.org_id, id).await?;
    let data = state
        .db
        .crawl_pages(auth.org_id, id, rows, after, limit)
        .await?;
    let full = data.len() == usize::try_from(limit).unwrap_or(0);
    let next_cursor = full
        .then(|| data.last().map(|p| PageCursor(p.id).encode()))
        .flatten();
    Ok(CrawlPageList { data, next_cursor })
}

/// The crawl's pages in discovery order, each with its job's outcome.
#[utoipa::path(get, path = "/crawls/{id}/pages", tag = "crawls",
    params(("id" = CrawlId, Path), PageQuery),
    responses((status = 200, body = CrawlPageList), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn crawl_pages(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<CrawlPageList>> {
    Ok(Json(pages(&state, &auth, id, PageRow::All, q).await?))
}

/// The crawl's pages that failed (their job failed or timed out) or were skipped
/// (robots.txt, a private address, a duplicate).
#[utoipa::path(get, path = "/crawls/{id}/errors", tag = "crawls",
    params(("id" = CrawlId, Path), PageQuery),
    responses((status = 200, body = CrawlPageList), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn crawl_errors(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<CrawlPageList>> {
    Ok(Json(pages(&state, &auth, id, PageRow::Errors, q).await?))
}

/// A crawl's progress as it changes (`progress` events carrying the crawl; the last one has
/// a final status). Each event is read from Postgres, woken by its pages' job changes.
#[utoipa::path(get, path = "/crawls/{id}/stream", tag = "crawls", params(("id" = CrawlId, Path)),
    responses((status = 200, description = "text/event-stream of `progress` events carrying the crawl", content_type = "text/event-stream"),
        (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn crawl_stream(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    auth.require(scopes::SCRAPE_READ)?;
    let rx = state.watcher.subscribe();
    let org = auth.org_id;
    let first = view(&state, state.db.get_crawl(org, id).await?).await?;
    let batch = Some(scraperx_core::domain::BatchId(id.as_uuid()));
    let events = stream::unfold(
        (state, rx, Some(first), None, false),
        move |(state, mut rx, current, last, done)| async move {
            if done {
                return None;
            }
            let current = match current {
                Some(v) => v,
                None => {
                    super::stream::next_hint(&mut rx, |m| m.batch_id == batch).await;
                    let crawl = state.db.get_crawl(org, id).await.ok()?;
                    view(&state, crawl).await.ok()?
                }
            };
            let seen = (current.status, current.counts);
            if last == Some(seen) {
                return Some((None, (state, rx, None, last, false)));
            }
            let finished = current.status.is_terminal();
            let event = super::stream::json_event("progress", &current);
            Some((Some(Ok(event)), (state, rx, None, Some(seen), finished)))
        },
    );
    let events = futures::StreamExt::filter_map(events, |e| async move { e });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

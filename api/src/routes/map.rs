//! `POST /v1/map`: a site's URLs, quickly, without scraping them. The API fetches nothing
//! (as `/v1/scrape`, it waits for a worker): it starts a discovery, a crawl with
//! `discover_only` whose start page is scraped (and charged, as any job), then at most
//! `discover_pages` linked pages, breadth first, for their links (the shallow discovery,
//! each charged too); the expansions record the links and the sitemaps' pages without
//! fetching them;
//! then it answers with what was discovered, filtered by `search`, up to `limit`. The
//! discovery stays readable as a crawl (`/v1/crawls/{id}/pages`).

use std::time::Duration;

use axum::{Json, extract::State};
use scraperx_core::{
    domain::{
        CrawlId,
        crawl::{CrawlOptions, CrawlStatus, PageState, SitemapMode},
    },
    pg::{NewCrawl, PageCursor, PageRow, PageTemplate},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiJson,
    state::AppState,
    target,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(map))
}

/// How long a map waits for its start page, at most.
pub const MAP_WAIT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAP_LIMIT: u32 = 5_000;
pub const MAX_MAP_LIMIT: u32 = 30_000;
/// Linked pages a map reads for their links unless it asks otherwise.
pub const DEFAULT_DISCOVER_PAGES: u32 = 5;
const READ_PAGE: i64 = 1_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MapRequest {
    /// The site's start page (http or https).
    pub url: String,
    /// Only URLs containing this text (case-insensitive).
    pub search: Option<String>,
    /// URLs returned, at most (1 to 30,000; default 5,000).
    pub limit: Option<u32>,
    /// Include subdomains of the start host.
    #[serde(default)]
    pub include_subdomains: bool,
    /// Sitemaps: skip, include (default) or only.
    #[serde(default)]
    pub sitemap: SitemapMode,
    /// Treat URLs differing only in their query as one.
    #[serde(default)]
    pub ignore_query: bool,
    /// The shallow discovery: pages linked from the start page (and from them) scraped
    /// for their own links, breadth first, each charged as a scrape (0 to 50; default 5;
    /// 0 reads the start page and the sitemaps only).
    pub discover_pages: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MapView {
    /// The discovery, readable as a crawl.
    pub crawl_id: CrawlId,
    /// `completed` once the start page was read; `running` when the wait ran out first.
    pub status: CrawlStatus,
    pub links: Vec<String>,
}

/// Map a site: its URLs from its sitemaps, its start page's links and a shallow discovery
/// (a few linked pages read for their links), without scraping what it finds. Charges the
/// pages it reads: the start page and the shallow discovery's.
#[utoipa::path(post, path = "/map", tag = "crawls", request_body = MapRequest,
    responses((status = 200, body = MapView), (status = 402, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn map(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<MapRequest>,
) -> ApiResult<Json<MapView>> {
    auth.require(scopes::SCRAPE_WRITE)?;
    Ok(Json(discover(&state, &auth, req).await?))
}

/// Runs a map: the discovery started, waited for, and its URLs read.
pub async fn discover(state: &AppState, auth: &Auth, req: MapRequest) -> ApiResult<MapView> {
    let limit = req.limit.unwrap_or(DEFAULT_MAP_LIMIT);
    if !(1..=MAX_MAP_LIMIT).contains(&limit) {
        let message = format!("must be between 1 and {MAX_MAP_LIMIT}");
        return Err(ApiError::validation("limit", message));
    }
    target::check_targets(state, auth, &[("url".to_owned(), req.url.as_str())]).await?;
    let discover_pages = req.discover_pages.unwrap_or(DEFAULT_DISCOVER_PAGES);
    let new = NewCrawl {
        url: req.url,
        options: CrawlOptions {
            discover_only: true,
            discover_pages,
            // The start page's links, then the links of the pages the discovery reads.
            max_depth: if discover_pages > 0 { 3 } else { 1 },
            limit,
            allow_subdomains: req.include_subdomains,
            sitemap: req.sitemap,
            ignore_query: req.ignore_query,
            ..CrawlOptions::default()
        },
        page: PageTemplate::default(),
        webhook_url: None,
        webhook_secret: None,
    };
    let crawl = state
        .db
        .create_crawl(auth.org_id, Some(auth.key_id), &new)
        .await?;
    crate::trace::record("batch", crawl.id);
    super::crawls::submit_start_page(state, &crawl).await?;
    let status = wait_for_end(state, auth, crawl.id).await?;
    let links = discovered(state, auth, crawl.id, req.search.as_deref(), limit).await?;
    Ok(MapView {
        crawl_id: crawl.id,
        status,
        links,
    })
}

/// Waits (woken by its start page's job changes) until the discovery ends, at most
/// [`MAP_WAIT`]; returns its status then.
async fn wait_for_end(state: &AppState, auth: &Auth, id: CrawlId) -> ApiResult<CrawlStatus> {
    let mut rx = state.watcher.subscribe();
    let batch = Some(scraperx_core::domain::BatchId(id.as_uuid()));
    let deadline = tokio::time::Instant::now() + MAP_WAIT;
    loop {
        let status = state.db.get_crawl(auth.org_id, id).await?.status;
        if status.is_terminal() || tokio::time::Instant::now() >= deadline {
            return Ok(status);
        }
        let wake = super::stream::next_hint(&mut rx, |m| m.batch_id == batch);
        let _ = tokio::time::timeout(Duration::from_millis(500), wake).await;
    }
}

/// The discovered URLs (not skipped), filtered by `search`, in discovery order.
async fn discovered(
    state: &AppState,
    auth: &Auth,
    id: CrawlId,
    search: Option<&str>,
    limit: u32,
) -> ApiResult<Vec<String>> {
    let search = search.map(str::to_lowercase);
    let want = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut links = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .db
            .crawl_pages(auth.org_id, id, PageRow::All, after, READ_PAGE)
            .await?;
        let full = page.len() == usize::try_from(READ_PAGE).unwrap_or(0);
        after = page.last().map(|p| PageCursor(p.id));
        links.extend(
            page.into_iter()
                .filter(|p| p.state != PageState::Skipped)
                .map(|p| p.url)
                .filter(|u| search.as_ref().is_none_or(|s| u.to_lowercase().contains(s))),
        );
        if !full || links.len() >= want {
            links.truncate(want);
            return Ok(links);
        }
    }
}

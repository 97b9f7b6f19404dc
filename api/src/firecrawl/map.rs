//! `POST /v2/map`: Firecrawl's map on ScraperX's discovery (`/v1/map`'s own path): the start
//! page read by a worker, its links and the sitemaps' pages recorded unfetched, answered as
//! `{success: true, links: [{url}]}`.

use axum::{extract::State, http::StatusCode, response::Response};
use scraperx_core::domain::crawl::SitemapMode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ok, options::FcLocation, parse};
use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult},
    extract::ApiJson,
    routes::map::{MapRequest, discover},
    state::AppState,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FcMapRequest {
    pub url: String,
    pub search: Option<String>,
    pub sitemap: Option<SitemapMode>,
    #[serde(default)]
    pub include_subdomains: bool,
    #[serde(default)]
    pub ignore_query_parameters: bool,
    pub limit: Option<u32>,
    // Documented no-ops: the map waits for its start page as long as ScraperX's map does,
    // and discovering URLs does not depend on the visitor's location.
    pub timeout: Option<u64>,
    pub location: Option<FcLocation>,
    pub integration: Option<String>,
    pub origin: Option<String>,
}

impl FcMapRequest {
    pub fn into_map_request(self) -> MapRequest {
        MapRequest {
            url: self.url,
            search: self.search,
            limit: self.limit,
            include_subdomains: self.include_subdomains,
            sitemap: self.sitemap.unwrap_or_default(),
            ignore_query: self.ignore_query_parameters,
            // Firecrawl's map costs one credit: its start page and sitemaps only.
            discover_pages: Some(0),
        }
    }
}

pub async fn map(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_WRITE)?;
    let req: FcMapRequest = parse(body)?;
    if req.limit == Some(0) {
        return Err(ApiError::BadRequest("limit: must be at least 1".into()));
    }
    let found = discover(&state, &auth, req.into_map_request()).await?;
    let links: Vec<Value> = found.links.into_iter().map(|u| json!({"url": u})).collect();
    Ok(ok(StatusCode::OK, json!({"links": links})))
}

//! Firecrawl's crawl (`/v2/crawl`, and v1's): its request mapped onto a ScraperX crawl
//! (core's `CrawlOptions`, the page template from its `scrapeOptions`) and started by the
//! native path; status with documents and `next`; cancel by the native move; errors from
//! the frontier (failed pages, robots.txt refusals in `robotsBlocked`).

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri},
    response::Response,
};
use scraperx_core::{
    domain::{
        BatchId, CrawlId,
        crawl::{CrawlOptions, CrawlStatus, PageState, SitemapMode, SkipReason},
    },
    pg::{NewCrawl, PageCursor, PageRow},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    formats::Formats,
    ok,
    options::FcScrapeOptions,
    parse, public_base,
    status::{self, FcStatus, Progress, StatusQuery},
};
use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiQuery},
    routes::crawls,
    state::AppState,
    target,
};

/// Firecrawl's crawl request (v2; v1's differs only in what is refused).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FcCrawlRequest {
    pub url: String,
    pub limit: Option<u32>,
    pub max_discovery_depth: Option<u32>,
    /// v1's path-depth limit: not ScraperX's link depth, so refused.
    pub max_depth: Option<Value>,
    #[serde(default)]
    pub include_paths: Vec<String>,
    #[serde(default)]
    pub exclude_paths: Vec<String>,
    #[serde(rename = "regexOnFullURL", default)]
    pub regex_on_full_url: bool,
    #[serde(default)]
    pub allow_subdomains: bool,
    #[serde(default)]
    pub allow_external_links: bool,
    #[serde(alias = "allowBackwardLinks", default)]
    pub crawl_entire_domain: bool,
    #[serde(default)]
    pub ignore_query_parameters: bool,
    #[serde(default)]
    pub ignore_robots_txt: bool,
    pub sitemap: Option<SitemapMode>,
    pub ignore_sitemap: Option<bool>,
    pub max_concurrency: Option<u32>,
    /// Seconds between pages.
    pub delay: Option<f64>,
    pub scrape_options: Option<FcScrapeOptions>,
    // Documented no-ops.
    #[serde(rename = "deduplicateSimilarURLs")]
    pub deduplicate_similar_urls: Option<bool>,
    pub integration: Option<String>,
    pub origin: Option<String>,
    // Refused when set.
    pub prompt: Option<String>,
    pub webhook: Option<Value>,
    pub robots_user_agent: Option<String>,
    pub zero_data_retention: Option<bool>,
}

/// The start path as a regex prefix: Firecrawl crawls only below the start URL unless
/// `crawlEntireDomain`. None for the root.
pub fn below_start(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let path = parsed.path().trim_end_matches('/');
    if path.is_empty() {
        return None;
    }
    let escaped: String = path
        .chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect();
    Some(format!("^{escaped}(/|$)"))
}

impl FcCrawlRequest {
    fn refuse_unsupported(&self) -> ApiResult<()> {
        let refused = [
            ("prompt", self.prompt.is_some()),
            (
                "webhook",
                self.webhook.as_ref().is_some_and(|w| !w.is_null()),
            ),
            ("robotsUserAgent", self.robots_user_agent.is_some()),
            ("zeroDataRetention", self.zero_data_retention == Some(true)),
            ("maxDepth", self.max_depth.is_some()),
        ];
        match refused.iter().find(|(_, set)| *set) {
            Some(("maxDepth", _)) => Err(ApiError::BadRequest(
                "maxDepth (a path depth) is not supported; maxDiscoveryDepth limits link depth"
                    .into(),
            )),
            Some((name, _)) => Err(ApiError::BadRequest(format!(
                "{name} is not supported by ScraperX's Firecrawl API"
            ))),
            None => Ok(()),
        }
    }

    /// The ScraperX crawl: options, and pages scraped as `scrapeOptions` asks.
    pub fn into_new_crawl(self) -> ApiResult<NewCrawl> {
        self.refuse_unsupported()?;
        let defaults = CrawlOptions::default();
        let mut include_paths = self.include_paths;
        if !self.crawl_entire_domain
            && include_paths.is_empty()
            && let Some(prefix) = below_start(&self.url)
        {
            include_paths.push(prefix);
        }
        let sitemap = match (self.sitemap, self.ignore_sitemap) {
            (Some(mode), _) => mode,
            (None, Some(true)) => SitemapMode::Skip,
            (None, _) => SitemapMode::Include,
        };
        let options = CrawlOptions {
            max_depth: self.max_discovery_depth.unwrap_or(defaults.max_depth),
            limit: self.limit.unwrap_or(defaults.limit),
            include_paths,
            exclude_paths: self.exclude_paths,
            match_full_url: self.regex_on_full_url,
            allow_subdomains: self.allow_subdomains,
            allow_external_links: self.allow_external_links,
            ignore_query: self.ignore_query_parameters,
            sitemap,
            ignore_robots_txt: self.ignore_robots_txt,
            max_concurrency: self.max_concurrency.unwrap_or(defaults.max_concurrency),
            delay_ms: self
                .delay
                .map_or(0, |s| (s * 1000.0).clamp(0.0, 1e9) as u32),
            ..defaults
        };
        let scrape = self.scrape_options.unwrap_or_default();
        let translated = scrape.translate(self.url.clone(), "scrapeOptions.")?;
        let mut page = crawls::template_of(translated.job);
        let mut metadata = serde_json::Map::new();
        metadata.insert(Formats::METADATA_KEY.into(), json!(translated.formats));
        page.metadata = Some(metadata);
        Ok(NewCrawl {
            url: self.url,
            options,
            page,
            webhook_url: None,
            webhook_secret: None,
        })
    }
}

/// Starts it; the answer's `url` is under the request's own version (`/v1` or `/v2`).
pub async fn start(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    uri: Uri,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let version = super::version_of(&uri);
    auth.require(scopes::SCRAPE_WRITE)?;
    let req: FcCrawlRequest = parse(body)?;
    target::check_targets(&state, &auth, &[("url".to_owned(), req.url.as_str())]).await?;
    let new = req.into_new_crawl()?;
    let formats = new
        .page
        .metadata
        .as_ref()
        .and_then(|m| m.get(Formats::METADATA_KEY))
        .and_then(|f| serde_json::from_value::<Formats>(f.clone()).ok())
        .unwrap_or_default();
    super::llm::check(&state, &formats)?;
    let crawl = crawls::start(&state, &auth, new).await?;
    let url = format!(
        "{}{version}/crawl/{}",
        public_base(&state, &headers),
        crawl.id
    );
    Ok(ok(StatusCode::OK, json!({"id": crawl.id, "url": url})))
}

pub async fn status(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<CrawlId>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_READ)?;
    let crawl = state.db.get_crawl(auth.org_id, id).await?;
    let view = crawls::view(&state, crawl).await?;
    let c = view.counts;
    let progress = Progress {
        status: FcStatus::of_crawl(view.status),
        total: c.queued + c.running + c.completed + c.failed + c.canceled,
        completed: c.completed,
        expires_at: None,
    };
    let batch = BatchId(id.as_uuid());
    let body = status::body(&state, &auth, &headers, uri.path(), batch, progress, q).await?;
    Ok(ok(StatusCode::OK, body))
}

pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
) -> ApiResult<Response> {
    crawls::move_to(&state, &auth, id, CrawlStatus::Canceled).await?;
    Ok(ok(StatusCode::OK, json!({"status": "cancelled"})))
}

/// Frontier rows read for the errors answer, at most.
const MAX_ERROR_ROWS: usize = 10_000;
const ERROR_PAGE: i64 = 1_000;

pub async fn errors(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CrawlId>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_READ)?;
    state.db.get_crawl(auth.org_id, id).await?;
    let (mut errors, mut robots) = (Vec::new(), Vec::new());
    let (mut after, mut read) = (None, 0);
    loop {
        let rows = state
            .db
            .crawl_pages(auth.org_id, id, PageRow::Errors, after, ERROR_PAGE)
            .await?;
        read += rows.len();
        let full = rows.len() == usize::try_from(ERROR_PAGE).unwrap_or(0);
        after = rows.last().map(|p| PageCursor(p.id));
        for p in rows {
            match (p.state, p.skip_reason) {
                (PageState::Skipped, Some(SkipReason::Robots)) => robots.push(json!(p.url)),
                (PageState::Skipped, Some(SkipReason::PrivateAddress)) => errors.push(json!({
                    "id": p.id.to_string(), "timestamp": p.created_at, "url": p.url,
                    "code": "private_address",
                    "error": "the address is private, loopback or link-local",
                })),
                (PageState::Skipped, _) => {}
                _ => errors.push(json!({
                    "id": p.job_id.map(|j| j.to_string()).unwrap_or_else(|| p.id.to_string()),
                    "timestamp": p.created_at, "url": p.url, "code": p.error_code,
                    "error": p.error_message.or(p.error_code.clone())
                        .unwrap_or_else(|| "the page failed".to_owned()),
                })),
            }
        }
        if !full || read >= MAX_ERROR_ROWS {
            break;
        }
    }
    Ok(ok(
        StatusCode::OK,
        json!({"errors": errors, "robotsBlocked": robots}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> FcCrawlRequest {
        serde_json::from_value(v).expect("request")
    }

    #[test]
    fn a_crawl_stays_below_its_start_path_unless_the_entire_domain_is_asked() {
        let c = request(json!({"url": "https://a.test/docs/v1.2/"}))
            .into_new_crawl()
            .expect("crawl");
        assert_eq!(c.options.include_paths, [r"^/docs/v1\.2(/|$)"]);
        let c = request(json!({"url": "https://a.test/docs", "crawlEntireDomain": true}))
            .into_new_crawl()
            .expect("crawl");
        assert!(c.options.include_paths.is_empty());
        assert_eq!(below_start("https://a.test/"), None);
    }

    #[test]
    fn firecrawl_options_map_onto_the_crawl_and_its_pages() {
        let c = request(json!({
            "url": "https://a.test/", "limit": 5, "maxDiscoveryDepth": 2, "delay": 1.5,
            "excludePaths": ["^/cart"], "sitemap": "skip", "allowSubdomains": true,
            "scrapeOptions": {"formats": ["rawHtml", "links"]}
        }))
        .into_new_crawl()
        .expect("crawl");
        assert_eq!(
            (c.options.limit, c.options.max_depth, c.options.delay_ms),
            (5, 2, 1500)
        );
        assert_eq!(c.options.sitemap, SitemapMode::Skip);
        assert!(c.options.allow_subdomains);
        let stored = c.page.metadata.expect("formats stored")[Formats::METADATA_KEY].clone();
        assert_eq!(stored["raw_html"], true);
        assert!(!c.page.options.markdown, "markdown was not asked for");
    }

    #[test]
    fn crawl_options_scraperx_cannot_honour_are_refused_by_name() {
        for (field, value) in [
            ("prompt", json!("blog posts")),
            ("webhook", json!("https://hook.test")),
            ("maxDepth", json!(3)),
        ] {
            let mut body = json!({"url": "https://a.test/"});
            body[field] = value;
            match request(body).into_new_crawl() {
                Err(ApiError::BadRequest(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{field}: expected a 400, got {other:?}"),
            }
        }
    }
}

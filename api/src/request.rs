//! What a customer sends to scrape a page: one flat object used by `POST /v1/scrape`,
//! `POST /v1/jobs`, and (as shared defaults and per-URL overrides) `POST /v1/batches`.
//! Unknown fields are rejected; every range error names the field's path.

use std::collections::BTreeMap;

use scraperx_core::{
    domain::{
        Action, Engine, ExtractRule, HttpMethod, JobOptions, Location, ProxyTier, ResourceType,
        ScreenshotMode, WaitUntil,
    },
    pg::NewJob,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapeRequest {
    /// The page to scrape (http or https, at most 8 KB). Required, except in batch defaults.
    pub url: Option<String>,
    /// auto (default: HTTP first, escalating when needed), http, browser or stealth.
    pub engine: Option<Engine>,
    pub method: Option<HttpMethod>,
    /// Request headers sent to the target.
    pub headers: Option<BTreeMap<String, String>>,
    /// Request body sent to the target (POST, PUT, PATCH).
    pub body: Option<String>,
    /// Render JavaScript in a browser.
    pub render_js: Option<bool>,
    /// CSS selector to wait for before capturing.
    pub wait_for: Option<String>,
    /// Extra wait after load, in milliseconds.
    pub wait_time: Option<u32>,
    /// What counts as loaded in a browser: `load` (default), `networkidle0` or `networkidle2`.
    pub wait_until: Option<WaitUntil>,
    /// Whole-job timeout, in milliseconds (1,000 to 300,000; default 30,000).
    pub timeout: Option<u32>,
    /// Full-page PNG screenshot.
    pub screenshot: Option<bool>,
    /// How the screenshot is taken: `full_page` (default true), `quality` (1 to 100: a
    /// JPEG; absent: PNG), `viewport` ({width, height}).
    pub screenshot_mode: Option<ScreenshotMode>,
    pub pdf: Option<bool>,
    /// Named CSS extraction rules; their results fill `extracted_data`.
    pub extract: Option<BTreeMap<String, ExtractRule>>,
    pub block_resources: Option<Vec<ResourceType>>,
    /// Also return markdown.
    pub markdown: Option<bool>,
    /// Also return the cleaned HTML: the selected content without scripts, styles, the head
    /// and comments, its URLs absolute.
    pub html: Option<bool>,
    /// Text and markdown of the main content only: navigation, header, footer, ads and
    /// cookie banners removed.
    pub only_main_content: Option<bool>,
    /// CSS selectors: only what they match is kept in the text and markdown.
    pub include_tags: Option<Vec<String>>,
    /// CSS selectors whose matches are removed from the text and markdown.
    pub exclude_tags: Option<Vec<String>>,
    /// Images inlined as `data:` URLs are left out of the markdown and images.
    pub remove_base64_images: Option<bool>,
    pub proxy_tier: Option<ProxyTier>,
    /// Two-letter country code for the proxy's exit.
    pub country: Option<String>,
    /// Sticky proxy session id.
    pub session_id: Option<String>,
    /// 1 (lowest) to 10 (highest); default 5.
    pub priority: Option<i32>,
    /// Attempts before the job fails (1 to 10; default 3).
    pub max_attempts: Option<i32>,
    /// Makes a submission safe to retry; also accepted as the `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Your own reference, filterable in listings.
    pub client_reference: Option<String>,
    /// Called when the job finishes.
    pub webhook_url: Option<String>,
    /// Signs the deliveries to `webhook_url` (16 to 255 characters); without it they are
    /// sent unsigned.
    pub webhook_secret: Option<String>,
    /// Free-form JSON object stored with the job.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Answer from a cached result at most this many seconds old, if any.
    pub max_age: Option<u64>,
    /// Browser actions run in order once the page has loaded (at most 50; browser engines
    /// only): wait, click, write, press, scroll, screenshot, execute_javascript, scrape.
    pub actions: Option<Vec<Action>>,
    /// The visitor's country and languages: the proxy's exit country (when `country` is not
    /// given), Accept-Language, and the browser's locale and timezone.
    pub location: Option<Location>,
    /// A phone's viewport, touch and user agent (browser engines only).
    pub mobile: Option<bool>,
}

macro_rules! merge {
    ($item:expr, $defaults:expr, $($field:ident),+) => {
        ScrapeRequest { $($field: $item.$field.or_else(|| $defaults.$field.clone())),+ }
    };
}

impl ScrapeRequest {
    /// This request's fields, each falling back to `defaults`.
    pub fn over(self, defaults: &ScrapeRequest) -> ScrapeRequest {
        merge!(
            self,
            defaults,
            url,
            engine,
            method,
            headers,
            body,
            render_js,
            wait_for,
            wait_time,
            wait_until,
            timeout,
            screenshot,
            screenshot_mode,
            pdf,
            extract,
            block_resources,
            markdown,
            html,
            only_main_content,
            include_tags,
            exclude_tags,
            remove_base64_images,
            proxy_tier,
            country,
            session_id,
            priority,
            max_attempts,
            idempotency_key,
            client_reference,
            webhook_url,
            webhook_secret,
            metadata,
            max_age,
            actions,
            location,
            mobile
        )
    }

    /// The job to submit. `at` prefixes field paths (`items[3].`), `idempotency_header` is
    /// the header's value, used when the body has none.
    pub fn into_new_job(self, at: &str, idempotency_header: Option<&str>) -> ApiResult<NewJob> {
        let field = |name: &str| format!("{at}{name}");
        let bad = |name: &str, msg: &str| ApiError::validation(field(name), msg);
        let url = self.url.ok_or_else(|| bad("url", "is required"))?;
        let defaults = JobOptions::default();
        let options = JobOptions {
            render_js: self.render_js.unwrap_or(defaults.render_js),
            wait_for: self.wait_for,
            wait_time: self.wait_time.unwrap_or(defaults.wait_time),
            wait_until: self.wait_until.unwrap_or_default(),
            timeout: self.timeout.unwrap_or(defaults.timeout),
            screenshot: self.screenshot.unwrap_or(false),
            screenshot_mode: self.screenshot_mode,
            pdf: self.pdf.unwrap_or(false),
            extract: self.extract,
            block_resources: self.block_resources.unwrap_or_default(),
            markdown: self.markdown.unwrap_or(false),
            html: self.html.unwrap_or(false),
            only_main_content: self.only_main_content.unwrap_or(false),
            include_tags: self.include_tags.unwrap_or_default(),
            exclude_tags: self.exclude_tags.unwrap_or_default(),
            remove_base64_images: self.remove_base64_images.unwrap_or(false),
            actions: self.actions.unwrap_or_default(),
            location: self.location.map(|mut l| {
                l.country = l.country.to_ascii_uppercase();
                l
            }),
            mobile: self.mobile.unwrap_or(false),
        };
        let headers = self.headers.unwrap_or_default();
        let idempotency_key = self
            .idempotency_key
            .or_else(|| idempotency_header.map(str::to_owned));
        let job = NewJob {
            url,
            method: self.method.unwrap_or(HttpMethod::Get),
            headers: serde_json::to_value(headers).unwrap_or_else(|_| serde_json::json!({})),
            body: self.body,
            engine: self.engine.unwrap_or(Engine::Auto),
            options,
            proxy_tier: self.proxy_tier.unwrap_or(ProxyTier::Datacenter),
            proxy_country: self.country.map(|c| c.to_ascii_uppercase()),
            proxy_session_id: self.session_id,
            priority: self.priority.unwrap_or(NewJob::DEFAULT_PRIORITY),
            max_attempts: self.max_attempts.unwrap_or(NewJob::DEFAULT_MAX_ATTEMPTS),
            webhook_url: self.webhook_url,
            webhook_secret: self.webhook_secret,
            client_reference: self.client_reference,
            idempotency_key,
            metadata: self.metadata.unwrap_or_else(|| serde_json::json!({})),
        };
        // Core's rules, under the names this request uses.
        job.validate().map_err(|e| match e {
            scraperx_core::Error::Validation { field: f, message } => {
                let name = match f.as_str() {
                    "proxy_country" => "country",
                    "proxy_session_id" => "session_id",
                    other => other.trim_start_matches("options."),
                };
                ApiError::validation(field(name), message)
            }
            other => other.into(),
        })?;
        Ok(job)
    }
}

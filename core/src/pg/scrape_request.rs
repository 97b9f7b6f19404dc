//! A job as a caller asks for it, before core's defaults: the one input every submission
//! path converts through. It is the REST API's flat scrape request (its wire form: snake
//! case, unknown fields rejected), and the operator fills one from a ScrapeBatch's spec.
//! Invariant: [`ScrapeRequest::into_new_job`] is the only place the defaults are filled in
//! (engine, method, proxy tier, priority, attempts, every option) and the result checked,
//! with refusals naming the fields as this request calls them (`country`, `timeout`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{
    Error, Result,
    domain::{
        Action, Engine, ExtractRule, HttpMethod, JobOptions, Location, ProxyTier, RequestHeaders,
        ResourceType, ScreenshotMode, WaitUntil,
    },
    pg::NewJob,
};

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapeRequest {
    /// The page to scrape (http or https, at most 8 KB). Required, except in batch defaults.
    pub url: Option<String>,
    /// auto (default: HTTP first, escalating when needed), http, browser or stealth.
    pub engine: Option<Engine>,
    pub method: Option<HttpMethod>,
    /// Request headers sent to the target.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub headers: Option<RequestHeaders>,
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

    /// The options asked for, every one left out at its default.
    fn options(&mut self) -> JobOptions {
        let d = JobOptions::default();
        JobOptions {
            render_js: self.render_js.unwrap_or(d.render_js),
            wait_for: self.wait_for.take(),
            wait_time: self.wait_time.unwrap_or(d.wait_time),
            wait_until: self.wait_until.unwrap_or(d.wait_until),
            timeout: self.timeout.unwrap_or(d.timeout),
            screenshot: self.screenshot.unwrap_or(d.screenshot),
            screenshot_mode: self.screenshot_mode.take(),
            pdf: self.pdf.unwrap_or(d.pdf),
            extract: self.extract.take(),
            block_resources: self.block_resources.take().unwrap_or(d.block_resources),
            markdown: self.markdown.unwrap_or(d.markdown),
            html: self.html.unwrap_or(d.html),
            only_main_content: self.only_main_content.unwrap_or(d.only_main_content),
            include_tags: self.include_tags.take().unwrap_or(d.include_tags),
            exclude_tags: self.exclude_tags.take().unwrap_or(d.exclude_tags),
            remove_base64_images: self.remove_base64_images.unwrap_or(d.remove_base64_images),
            actions: self.actions.take().unwrap_or(d.actions),
            location: self.location.take().map(|mut l| {
                l.country = l.country.to_ascii_uppercase();
                l
            }),
            mobile: self.mobile.unwrap_or(d.mobile),
        }
    }

    /// The job asked for: core's defaults for whatever was left out, checked by
    /// [`NewJob::validate`]. A refusal names the field as this request calls it.
    pub fn into_new_job(mut self) -> Result<NewJob> {
        let options = self.options();
        let url = self
            .url
            .ok_or_else(|| Error::validation("url", "is required"))?;
        let d = NewJob::get(&url);
        let job = NewJob {
            url,
            method: self.method.unwrap_or(d.method),
            headers: self.headers.unwrap_or(d.headers),
            body: self.body,
            engine: self.engine.unwrap_or(d.engine),
            options,
            proxy_tier: self.proxy_tier.unwrap_or(d.proxy_tier),
            proxy_country: self.country.map(|c| c.to_ascii_uppercase()),
            proxy_session_id: self.session_id,
            priority: self.priority.unwrap_or(d.priority),
            max_attempts: self.max_attempts.unwrap_or(d.max_attempts),
            webhook_url: self.webhook_url,
            webhook_secret: self.webhook_secret,
            client_reference: self.client_reference,
            idempotency_key: self.idempotency_key,
            metadata: self.metadata.unwrap_or(d.metadata),
        };
        job.validate().map_err(|e| match e {
            Error::Validation { field, message } => {
                Error::validation(Self::field_of(&field), message)
            }
            other => other,
        })?;
        Ok(job)
    }

    /// A `NewJob` field path as this request names it.
    fn field_of(job_field: &str) -> &str {
        match job_field {
            "proxy_country" => "country",
            "proxy_session_id" => "session_id",
            other => other.trim_start_matches("options."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_field(request: ScrapeRequest) -> String {
        match request.into_new_job() {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_request_with_only_a_url_gets_every_default_of_core() {
        let job = ScrapeRequest {
            url: Some("https://example.com/".into()),
            ..ScrapeRequest::default()
        }
        .into_new_job()
        .expect("valid");
        let d = NewJob::get("https://example.com/");
        assert_eq!(job.priority, NewJob::DEFAULT_PRIORITY);
        assert_eq!(job.max_attempts, NewJob::DEFAULT_MAX_ATTEMPTS);
        assert_eq!(
            (job.engine, job.method, job.proxy_tier),
            (d.engine, d.method, d.proxy_tier)
        );
        assert_eq!(job.options, JobOptions::default());
        assert!(job.headers.is_empty());
        assert_eq!(job.metadata, serde_json::json!({}));
    }

    #[test]
    fn countries_are_upper_cased_and_the_fields_given_are_kept() {
        let job = ScrapeRequest {
            url: Some("https://example.com/".into()),
            country: Some("de".into()),
            location: Some(Location {
                country: "de".into(),
                languages: vec!["de-DE".into()],
            }),
            timeout: Some(20_000),
            priority: Some(9),
            headers: Some([("X-A", "1")].into_iter().collect()),
            ..ScrapeRequest::default()
        }
        .into_new_job()
        .expect("valid");
        assert_eq!(job.proxy_country.as_deref(), Some("DE"));
        assert_eq!(job.options.location.map(|l| l.country), Some("DE".into()));
        assert_eq!((job.options.timeout, job.priority), (20_000, 9));
        assert_eq!(job.headers.get("X-A"), Some("1"));
    }

    #[test]
    fn refusals_name_the_fields_as_the_request_calls_them() {
        let url = || Some("https://example.com/".to_owned());
        assert_eq!(refused_field(ScrapeRequest::default()), "url");
        let cases = [
            (
                ScrapeRequest {
                    country: Some("DEU".into()),
                    ..ScrapeRequest::default()
                },
                "country",
            ),
            (
                ScrapeRequest {
                    session_id: Some(String::new()),
                    ..ScrapeRequest::default()
                },
                "session_id",
            ),
            (
                ScrapeRequest {
                    timeout: Some(10),
                    ..ScrapeRequest::default()
                },
                "timeout",
            ),
            (
                ScrapeRequest {
                    priority: Some(11),
                    ..ScrapeRequest::default()
                },
                "priority",
            ),
        ];
        for (request, field) in cases {
            let request = ScrapeRequest {
                url: url(),
                ..request
            };
            assert_eq!(refused_field(request), field);
        }
    }

    #[test]
    fn an_item_falls_back_to_the_defaults_field_by_field() {
        let defaults = ScrapeRequest {
            timeout: Some(20_000),
            priority: Some(2),
            ..ScrapeRequest::default()
        };
        let item = ScrapeRequest {
            url: Some("https://example.com/".into()),
            priority: Some(7),
            ..ScrapeRequest::default()
        };
        let merged = item.over(&defaults);
        assert_eq!(merged.timeout, Some(20_000));
        assert_eq!(merged.priority, Some(7));
        assert_eq!(merged.url.as_deref(), Some("https://example.com/"));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err =
            serde_json::from_str::<ScrapeRequest>(r#"{"url": "https://a.test/", "colour": 1}"#)
                .expect_err("unknown");
        assert!(err.to_string().contains("colour"), "{err}");
    }
}

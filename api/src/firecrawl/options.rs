//! Firecrawl's scrape options (camelCase, as its SDKs send them) mapped onto ScraperX's own
//! request and job options: a pure translation, unit-tested. Every option is either honoured,
//! a documented no-op (`docs/firecrawl.md`), or refused with a 400 naming it, so a Firecrawl
//! client never gets a silently wrong result.

use std::collections::BTreeMap;

use scraperx_core::{
    domain::{Action, Engine, ExtractRule, Location, RequestHeaders, ScrollDirection},
    pg::NewJob,
};
use serde::Deserialize;
use serde_json::Value;

use super::formats::Formats;
use crate::{
    error::{ApiError, ApiResult},
    request::{self, ScrapeRequest},
};

/// One of Firecrawl's browser actions, in its own spelling.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum FcAction {
    Wait {
        milliseconds: Option<u32>,
        selector: Option<String>,
    },
    Click {
        selector: String,
        #[serde(default)]
        all: bool,
    },
    Write {
        text: String,
    },
    Press {
        key: String,
    },
    Scroll {
        #[serde(default)]
        direction: ScrollDirection,
        selector: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Screenshot {
        #[serde(default)]
        full_page: bool,
        quality: Option<u32>,
        viewport: Option<Value>,
    },
    ExecuteJavascript {
        script: String,
    },
    Scrape,
    Pdf {},
}

impl FcAction {
    fn into_action(self, at: &str) -> ApiResult<Action> {
        let unsupported = |what: &str| {
            Err(ApiError::BadRequest(format!(
                "{at}: {what} is not supported by ScraperX"
            )))
        };
        Ok(match self {
            Self::Wait {
                milliseconds,
                selector,
            } => Action::Wait {
                milliseconds,
                selector,
            },
            Self::Click { selector, all } => Action::Click { selector, all },
            Self::Write { text } => Action::Write { text },
            Self::Press { key } => Action::Press { key },
            Self::Scroll {
                direction,
                selector,
            } => Action::Scroll {
                direction,
                selector,
            },
            Self::Screenshot {
                quality: Some(_), ..
            } => return unsupported("a screenshot quality (screenshots are PNG)"),
            Self::Screenshot {
                viewport: Some(_), ..
            } => return unsupported("a screenshot viewport"),
            Self::Screenshot { full_page, .. } => Action::Screenshot { full_page },
            Self::ExecuteJavascript { script } => Action::ExecuteJavascript { script },
            Self::Scrape => Action::Scrape,
            Self::Pdf {} => return unsupported("the pdf action"),
        })
    }
}

/// Firecrawl's location: a country (default `US`) and languages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcLocation {
    pub country: Option<String>,
    #[serde(default)]
    pub languages: Vec<String>,
}

/// Firecrawl's scrape options: the body of `/v2/scrape` besides `url`, a batch's options, and
/// a crawl's `scrapeOptions`. Unknown options are refused by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FcScrapeOptions {
    pub formats: Option<Vec<Value>>,
    pub headers: Option<RequestHeaders>,
    pub include_tags: Option<Vec<String>>,
    pub exclude_tags: Option<Vec<String>>,
    pub only_main_content: Option<bool>,
    /// Milliseconds.
    pub timeout: Option<u32>,
    /// Milliseconds to wait after load.
    pub wait_for: Option<u32>,
    pub mobile: Option<bool>,
    pub parsers: Option<Vec<Value>>,
    pub actions: Option<Vec<FcAction>>,
    pub location: Option<FcLocation>,
    pub remove_base64_images: Option<bool>,
    pub proxy: Option<String>,
    // Accepted and documented as no-ops (docs/firecrawl.md).
    pub skip_tls_verification: Option<bool>,
    pub fast_mode: Option<bool>,
    pub block_ads: Option<bool>,
    /// Milliseconds: honoured by `/v2/scrape` (`super::cache`), a no-op elsewhere.
    pub max_age: Option<u64>,
    pub min_age: Option<u64>,
    pub store_in_cache: Option<bool>,
    pub zero_data_retention: Option<bool>,
    pub integration: Option<String>,
    pub origin: Option<String>,
    pub audit_metadata: Option<Value>,
    // Refused when asked for.
    pub use_mock: Option<String>,
    pub lockdown: Option<bool>,
    #[serde(rename = "redactPII")]
    pub redact_pii: Option<Value>,
    pub check_prompt_injection: Option<bool>,
    pub threat_protection: Option<Value>,
}

/// A scrape request translated: the job to submit and the formats to answer with.
#[derive(Debug)]
pub struct Translated {
    pub job: NewJob,
    pub formats: Formats,
}

impl FcScrapeOptions {
    /// Refuses the options ScraperX cannot honour, naming each (`at` prefixes the name).
    fn refuse_unsupported(&self, at: &str) -> ApiResult<()> {
        let refused = [
            ("useMock", self.use_mock.is_some()),
            ("lockdown", self.lockdown == Some(true)),
            ("redactPII", self.redact_pii.is_some()),
            (
                "checkPromptInjection",
                self.check_prompt_injection == Some(true),
            ),
            ("threatProtection", self.threat_protection.is_some()),
            (
                "parsers",
                self.parsers.as_ref().is_some_and(|p| !p.is_empty()),
            ),
        ];
        match refused.iter().find(|(_, asked)| *asked) {
            Some((name, _)) => Err(ApiError::BadRequest(format!(
                "{at}{name} is not supported by ScraperX"
            ))),
            None => Ok(()),
        }
    }

    fn engine(&self, at: &str) -> ApiResult<Option<Engine>> {
        match self.proxy.as_deref() {
            None | Some("auto") | Some("basic") => Ok(None),
            Some("stealth") => Ok(Some(Engine::Stealth)),
            Some(other) => Err(ApiError::BadRequest(format!(
                "{at}proxy: {other:?} is not supported (basic, stealth or auto)"
            ))),
        }
    }

    /// The job for `url`, and the formats to answer with. `at` prefixes option names in
    /// refusals (`scrapeOptions.` in a crawl).
    pub fn translate(self, url: String, at: &str) -> ApiResult<Translated> {
        self.refuse_unsupported(at)?;
        let formats = Formats::parse(self.formats.as_deref(), at)?;
        let engine = self.engine(at)?;
        let request = ScrapeRequest {
            url: Some(url),
            engine,
            headers: self.headers,
            wait_time: self.wait_for,
            timeout: self.timeout,
            screenshot: Some(formats.screenshot),
            screenshot_mode: formats.screenshot_mode,
            extract: formats.rules.clone(),
            markdown: Some(formats.needs_markdown()),
            html: Some(formats.html),
            ..ScrapeRequest::default()
        };
        let mut job = request::new_job(request, "", None).map_err(|e| renamed(e, at))?;
        let options = &mut job.options;
        options.only_main_content = self.only_main_content.unwrap_or(true);
        options.include_tags = self.include_tags.unwrap_or_default();
        options.exclude_tags = self.exclude_tags.unwrap_or_default();
        options.remove_base64_images = self.remove_base64_images.unwrap_or(true);
        options.mobile = self.mobile.unwrap_or(false);
        options.location = self.location.map(|l| Location {
            country: l
                .country
                .unwrap_or_else(|| "US".to_owned())
                .to_ascii_uppercase(),
            languages: l.languages,
        });
        options.actions = self
            .actions
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.into_action(&format!("{at}actions[{i}]")))
            .collect::<ApiResult<_>>()?;
        job.validate().map_err(|e| renamed(e.into(), at))?;
        Ok(Translated { job, formats })
    }
}

/// A validation error under Firecrawl's name for the field, as a 400.
fn renamed(e: ApiError, at: &str) -> ApiError {
    match e {
        ApiError::Validation { field, message } => {
            let name = match field.trim_start_matches("options.") {
                "wait_time" => "waitFor",
                "extract" => "formats",
                "only_main_content" => "onlyMainContent",
                "include_tags" => "includeTags",
                "exclude_tags" => "excludeTags",
                "screenshot_mode.quality" => "formats: the screenshot's quality",
                "screenshot_mode.viewport" => "formats: the screenshot's viewport",
                other => other,
            };
            ApiError::BadRequest(format!("{at}{name}: {message}"))
        }
        other => other,
    }
}

/// The ScraperX CSS rules carried by a `{"type": "json", "rules": {...}}` format.
pub type Rules = BTreeMap<String, ExtractRule>;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn options(v: Value) -> FcScrapeOptions {
        serde_json::from_value(v).expect("options")
    }

    fn refusal(v: Value) -> String {
        match options(v).translate("https://example.com/".into(), "") {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn the_defaults_ask_for_main_content_markdown_without_base64_images() {
        let t = options(json!({}))
            .translate("https://example.com/".into(), "")
            .expect("translated");
        assert!(t.job.options.markdown);
        assert!(t.job.options.only_main_content);
        assert!(t.job.options.remove_base64_images);
        assert!(!t.job.options.screenshot);
        assert!(t.formats.markdown);
    }

    #[test]
    fn what_the_python_sdk_sends_by_default_is_accepted() {
        let t = options(json!({
            "formats": ["markdown", "rawHtml"], "onlyMainContent": true, "mobile": false,
            "skipTlsVerification": true, "removeBase64Images": true, "fastMode": false,
            "blockAds": true, "maxAge": 14_400_000, "storeInCache": true, "origin": "python-sdk"
        }))
        .translate("https://example.com/".into(), "")
        .expect("translated");
        assert!(t.formats.raw_html);
    }

    #[test]
    fn camel_case_options_land_on_the_job_options() {
        let t = options(json!({
            "waitFor": 1500, "timeout": 20000, "includeTags": ["article"],
            "excludeTags": [".ad"], "onlyMainContent": false, "mobile": true,
            "location": {"country": "de", "languages": ["de-DE"]},
            "headers": {"X-Test": "1"}, "proxy": "stealth",
            "actions": [{"type": "wait", "milliseconds": 200},
                        {"type": "executeJavascript", "script": "1+1"},
                        {"type": "screenshot", "fullPage": true}]
        }))
        .translate("https://example.com/".into(), "")
        .expect("translated");
        let o = &t.job.options;
        assert_eq!((o.wait_time, o.timeout), (1500, 20000));
        assert_eq!(o.include_tags, ["article"]);
        assert_eq!(o.exclude_tags, [".ad"]);
        assert!(!o.only_main_content && o.mobile);
        assert_eq!(o.location.as_ref().map(|l| l.country.as_str()), Some("DE"));
        assert_eq!(t.job.engine, Engine::Stealth);
        assert_eq!(t.job.headers.get("X-Test"), Some("1"));
        assert_eq!(
            o.actions[2],
            Action::Screenshot { full_page: true },
            "actions keep their order"
        );
    }

    #[test]
    fn options_scraperx_cannot_honour_are_refused_by_name() {
        assert!(refusal(json!({"parsers": ["pdf"]})).contains("parsers"));
        assert!(refusal(json!({"useMock": "x"})).contains("useMock"));
        assert!(refusal(json!({"proxy": "enhanced"})).contains("proxy"));
        assert!(refusal(json!({"actions": [{"type": "pdf"}]})).contains("actions[0]"));
    }

    #[test]
    fn an_unknown_option_does_not_parse() {
        let e =
            serde_json::from_value::<FcScrapeOptions>(json!({"bogus": 1})).expect_err("unknown");
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn a_range_error_names_the_firecrawl_option() {
        assert!(refusal(json!({"waitFor": 9_999_999})).starts_with("waitFor"));
    }
}

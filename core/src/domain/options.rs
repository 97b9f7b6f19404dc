//! The `scrape_jobs.options` document: what to do with the page once fetched. Unknown fields
//! are rejected, and [`JobOptions::validate`] names the path of any field out of range.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Action, Location, ScreenshotMode};
use crate::{Error, Result};

text_enum! {
    /// Resource classes the browser engines can refuse to load.
    pub enum ResourceType {
        Image => "image",
        Font => "font",
        Media => "media",
        Stylesheet => "stylesheet",
        Ads => "ads",
    }
}

text_enum! {
    /// When the browser engines consider a page loaded: at its `load` event, or once the
    /// network has been quiet for half a second after it (no request in flight, or at most
    /// two, as Puppeteer's `networkidle0` and `networkidle2`).
    #[derive(Default)]
    pub enum WaitUntil {
        #[default]
        Load => "load",
        NetworkIdle0 => "networkidle0",
        NetworkIdle2 => "networkidle2",
    }
}

impl WaitUntil {
    pub fn is_load(&self) -> bool {
        *self == Self::Load
    }

    /// Requests that may stay in flight while the network counts as idle.
    pub fn idle_allowance(self) -> Option<usize> {
        match self {
            Self::Load => None,
            Self::NetworkIdle0 => Some(0),
            Self::NetworkIdle2 => Some(2),
        }
    }
}

/// A schema pattern for text that is not blank, as selectors must be: the CRDs carry it, so
/// the API server refuses what [`JobOptions::validate`] would.
pub const NOT_BLANK: &str = r"\S";

/// One CSS-selector extraction rule: the text (or an attribute) of the first match, or of
/// every match when `all` is set.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ExtractRule {
    #[schemars(length(min = 1, max = JobOptions::MAX_SELECTOR_LEN), pattern(NOT_BLANK))]
    pub selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct JobOptions {
    /// Render JavaScript (implies a browser engine when the engine is auto).
    pub render_js: bool,
    /// CSS selector to wait for before capturing.
    pub wait_for: Option<String>,
    /// Extra wait after load, in milliseconds.
    pub wait_time: u32,
    /// What counts as loaded (browser engines); left out of the stored document when `load`.
    #[serde(skip_serializing_if = "WaitUntil::is_load")]
    pub wait_until: WaitUntil,
    /// Whole-job timeout, in milliseconds.
    pub timeout: u32,
    /// Take a screenshot (by default a full-page PNG; see `screenshot_mode`).
    pub screenshot: bool,
    /// How the screenshot is taken: full page or viewport, PNG or JPEG, the viewport's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screenshot_mode: Option<ScreenshotMode>,
    pub pdf: bool,
    /// Named extraction rules whose results fill `extracted_data`.
    pub extract: Option<BTreeMap<String, ExtractRule>>,
    pub block_resources: Vec<ResourceType>,
    /// Also produce markdown of the main content.
    pub markdown: bool,
    /// Also produce the cleaned HTML (Firecrawl's `html` format): the selected content
    /// without scripts, styles, the head and comments, its URLs absolute.
    #[serde(skip_serializing_if = "is_false")]
    pub html: bool,
    /// Content outputs (markdown, text, cleaned HTML) of the main content only: navigation,
    /// header, footer, ads and cookie banners removed.
    #[serde(skip_serializing_if = "is_false")]
    pub only_main_content: bool,
    /// CSS selectors: when given, only what they match is kept in the content outputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include_tags: Vec<String>,
    /// CSS selectors whose matches are removed from the content outputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_tags: Vec<String>,
    /// Images inlined as `data:` URLs are left out of the content outputs.
    #[serde(skip_serializing_if = "is_false")]
    pub remove_base64_images: bool,
    /// Browser actions run in order once the page has loaded (browser engines only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// The visitor's country and languages: proxy country, Accept-Language, locale, timezone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A mobile viewport and a mobile user agent from the fingerprints table.
    #[serde(skip_serializing_if = "is_false")]
    pub mobile: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            render_js: false,
            wait_for: None,
            wait_time: 0,
            wait_until: WaitUntil::Load,
            timeout: Self::DEFAULT_TIMEOUT_MS,
            screenshot: false,
            screenshot_mode: None,
            pdf: false,
            extract: None,
            block_resources: Vec::new(),
            markdown: false,
            html: false,
            only_main_content: false,
            include_tags: Vec::new(),
            exclude_tags: Vec::new(),
            remove_base64_images: false,
            actions: Vec::new(),
            location: None,
            mobile: false,
        }
    }
}

impl JobOptions {
    pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
    pub const MIN_TIMEOUT_MS: u32 = 1_000;
    pub const MAX_TIMEOUT_MS: u32 = 300_000;
    pub const MAX_WAIT_TIME_MS: u32 = 60_000;
    pub const MAX_SELECTOR_LEN: usize = 1_024;
    pub const MAX_EXTRACT_RULES: usize = 100;
    /// Selectors in `include_tags`, and in `exclude_tags`, at most.
    pub const MAX_CONTENT_SELECTORS: usize = 100;

    /// Checks every range; the error names the first offending field's path.
    pub fn validate(&self) -> Result<()> {
        if !(Self::MIN_TIMEOUT_MS..=Self::MAX_TIMEOUT_MS).contains(&self.timeout) {
            return Err(Error::validation(
                "options.timeout",
                format!(
                    "must be between {} and {} ms",
                    Self::MIN_TIMEOUT_MS,
                    Self::MAX_TIMEOUT_MS
                ),
            ));
        }
        if self.wait_time > Self::MAX_WAIT_TIME_MS {
            return Err(Error::validation(
                "options.wait_time",
                format!("must be at most {} ms", Self::MAX_WAIT_TIME_MS),
            ));
        }
        if self.wait_time >= self.timeout {
            return Err(Error::validation(
                "options.wait_time",
                "must be less than options.timeout",
            ));
        }
        if let Some(sel) = &self.wait_for {
            check_selector("options.wait_for", sel)?;
        }
        if let Some(mode) = &self.screenshot_mode {
            mode.validate()?;
        }
        super::actions::check_actions(&self.actions, self.timeout, self.wait_time)?;
        if let Some(location) = &self.location {
            super::actions::check_location(location)?;
        }
        if let Some(rules) = &self.extract {
            if rules.len() > Self::MAX_EXTRACT_RULES {
                return Err(Error::validation(
                    "options.extract",
                    format!("at most {} rules", Self::MAX_EXTRACT_RULES),
                ));
            }
            for (name, rule) in rules {
                if name.is_empty() {
                    return Err(Error::validation(
                        "options.extract",
                        "rule names must not be empty",
                    ));
                }
                check_selector(&format!("options.extract.{name}.selector"), &rule.selector)?;
            }
        }
        self.validate_content()
    }

    /// `include_tags` and `exclude_tags`: at most [`Self::MAX_CONTENT_SELECTORS`] each,
    /// none empty or longer than [`Self::MAX_SELECTOR_LEN`].
    fn validate_content(&self) -> Result<()> {
        for (field, list) in [
            ("options.include_tags", &self.include_tags),
            ("options.exclude_tags", &self.exclude_tags),
        ] {
            if list.len() > Self::MAX_CONTENT_SELECTORS {
                return Err(Error::validation(
                    field,
                    format!("at most {} selectors", Self::MAX_CONTENT_SELECTORS),
                ));
            }
            for (i, selector) in list.iter().enumerate() {
                check_selector(&format!("{field}[{i}]"), selector)?;
            }
        }
        Ok(())
    }

    /// Whether fetching needs a real browser (rendering, waiting on the DOM, capturing).
    pub fn needs_browser(&self) -> bool {
        self.render_js
            || self.wait_for.is_some()
            || !self.wait_until.is_load()
            || self.screenshot
            || self.pdf
            || !self.actions.is_empty()
            || self.mobile
    }

    /// The proxy's exit country: the one asked for, else the location's.
    pub fn proxy_country<'a>(&'a self, asked: Option<&'a str>) -> Option<&'a str> {
        asked.or(self.location.as_ref().map(|l| l.country.as_str()))
    }

    /// What of the options only a browser can do, as the field a refusal names: the http
    /// engine cannot run actions or emulate a phone.
    pub fn browser_only_field(&self) -> Option<&'static str> {
        if !self.actions.is_empty() {
            Some("options.actions")
        } else if self.mobile {
            Some("options.mobile")
        } else {
            None
        }
    }

    /// The screenshots the job takes: its own and its actions'.
    pub fn screenshots(&self) -> usize {
        let by_actions = self
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Screenshot { .. }))
            .count();
        usize::from(self.screenshot) + by_actions
    }
}

impl super::Engine {
    /// The engine a job starts with: auto goes straight to the browser when its options
    /// need one (rendering, waiting for a selector, screenshots, PDFs, actions, mobile).
    pub fn starting(self, options: &JobOptions) -> Self {
        match self {
            super::Engine::Auto if options.needs_browser() => super::Engine::Browser,
            other => other,
        }
    }

    /// The engine a job starts with once its organization's own history is counted: an
    /// auto job whose options need no browser starts where that history says plain HTTP
    /// did not do. `learned` must be the job's organization's, never another's.
    pub fn starting_learned(self, options: &JobOptions, learned: Option<Self>) -> Self {
        match (self.starting(options), learned) {
            (super::Engine::Auto, Some(e @ (super::Engine::Browser | super::Engine::Stealth))) => e,
            (start, _) => start,
        }
    }

    /// What a finished job teaches its organization about the domain: only an auto job
    /// that could have stayed on HTTP, and did not.
    pub fn teaches(self, options: &JobOptions, finished_with: Self) -> Option<Self> {
        let learnable =
            self == super::Engine::Auto && self.starting(options) == super::Engine::Auto;
        (learnable
            && matches!(
                finished_with,
                super::Engine::Browser | super::Engine::Stealth
            ))
        .then_some(finished_with)
    }
}

pub(super) fn check_selector(field: &str, selector: &str) -> Result<()> {
    if selector.trim().is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if selector.len() > JobOptions::MAX_SELECTOR_LEN {
        return Err(Error::validation(
            field,
            format!(
                "must be at most {} characters",
                JobOptions::MAX_SELECTOR_LEN
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Engine;

    #[test]
    fn an_auto_job_starts_where_its_organizations_history_says() {
        let plain = JobOptions::default();
        let shot = JobOptions {
            screenshot: true,
            ..JobOptions::default()
        };
        let start = |engine: Engine, options: &JobOptions, learned| {
            engine.starting_learned(options, learned)
        };
        assert_eq!(start(Engine::Auto, &plain, None), Engine::Auto);
        assert_eq!(
            start(Engine::Auto, &plain, Some(Engine::Browser)),
            Engine::Browser
        );
        assert_eq!(
            start(Engine::Auto, &plain, Some(Engine::Stealth)),
            Engine::Stealth
        );
        assert_eq!(
            start(Engine::Auto, &plain, Some(Engine::Http)),
            Engine::Auto
        );
        assert_eq!(
            start(Engine::Auto, &shot, Some(Engine::Stealth)),
            Engine::Browser
        );
        assert_eq!(
            start(Engine::Http, &plain, Some(Engine::Browser)),
            Engine::Http
        );
    }

    #[test]
    fn only_auto_jobs_that_could_have_stayed_on_http_teach_an_engine() {
        let plain = JobOptions::default();
        let shot = JobOptions {
            screenshot: true,
            ..JobOptions::default()
        };
        assert_eq!(
            Engine::Auto.teaches(&plain, Engine::Browser),
            Some(Engine::Browser)
        );
        assert_eq!(
            Engine::Auto.teaches(&plain, Engine::Stealth),
            Some(Engine::Stealth)
        );
        assert_eq!(Engine::Auto.teaches(&plain, Engine::Http), None);
        assert_eq!(
            Engine::Auto.teaches(&shot, Engine::Browser),
            None,
            "its options chose"
        );
        assert_eq!(
            Engine::Browser.teaches(&plain, Engine::Browser),
            None,
            "it chose"
        );
    }

    #[test]
    fn the_seed_default_document_parses_to_the_defaults() {
        let seed = r#"{"render_js": false, "wait_for": null, "wait_time": 0, "timeout": 30000,
                       "screenshot": false, "pdf": false, "extract": null}"#;
        let parsed: JobOptions = serde_json::from_str(seed).expect("parses");
        assert_eq!(parsed, JobOptions::default());
        parsed.validate().expect("valid");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<JobOptions>(r#"{"render_javascript": true}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("render_javascript"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let opts = JobOptions {
            timeout: 10,
            ..Default::default()
        };
        let Err(Error::Validation { field, .. }) = opts.validate() else {
            panic!("invalid")
        };
        assert_eq!(field, "options.timeout");

        let mut rules = BTreeMap::new();
        rules.insert(
            "title".into(),
            ExtractRule {
                selector: " ".into(),
                attribute: None,
                all: false,
            },
        );
        let opts = JobOptions {
            extract: Some(rules),
            ..Default::default()
        };
        let Err(Error::Validation { field, .. }) = opts.validate() else {
            panic!("invalid")
        };
        assert_eq!(field, "options.extract.title.selector");
    }

    #[test]
    fn content_selectors_are_capped_in_number_and_length() {
        let field_of = |options: JobOptions| match options.validate() {
            Err(Error::Validation { field, .. }) => Some(field),
            _ => None,
        };
        let fine = JobOptions {
            include_tags: vec!["article".into(), "main p".into()],
            exclude_tags: vec![".ad".into()],
            ..JobOptions::default()
        };
        assert_eq!(field_of(fine), None);
        let many = JobOptions {
            exclude_tags: vec!["p".into(); JobOptions::MAX_CONTENT_SELECTORS + 1],
            ..JobOptions::default()
        };
        assert_eq!(field_of(many).as_deref(), Some("options.exclude_tags"));
        let long = JobOptions {
            include_tags: vec!["p".into(), "a".repeat(JobOptions::MAX_SELECTOR_LEN + 1)],
            ..JobOptions::default()
        };
        assert_eq!(field_of(long).as_deref(), Some("options.include_tags[1]"));
        let blank = JobOptions {
            exclude_tags: vec![" ".into()],
            ..JobOptions::default()
        };
        assert_eq!(field_of(blank).as_deref(), Some("options.exclude_tags[0]"));
    }
}

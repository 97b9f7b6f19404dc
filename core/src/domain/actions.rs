//! Browser actions: what a browser engine does to a page, in order, after it has loaded and
//! before it is captured. The shapes are ScraperX's own (snake_case); the Firecrawl-compatible
//! API translates its camelCase ones into these. Running them is the worker's; the bounds on
//! what may be asked are here, once ([`check_actions`], [`check_location`]), and so is what
//! they give back ([`ActionOutputs`]).
//!
//! Invariant: a script of actions that passes [`check_actions`] can be run within the job's
//! timeout as far as its own waits go, every key it presses is one the worker can type
//! ([`key_definition`]), and what it can give back is bounded in count and size.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

text_enum! {
    /// Which way a scroll goes.
    #[derive(Default)]
    pub enum ScrollDirection {
        #[default]
        Down => "down",
        Up => "up",
    }
}

/// One step of a page's script of actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Waits a number of milliseconds, or until a selector matches.
    Wait {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        milliseconds: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selector: Option<String>,
    },
    /// Clicks the first element matching the selector (every one with `all`).
    Click {
        selector: String,
        #[serde(default)]
        all: bool,
    },
    /// Types text into the focused element.
    Write { text: String },
    /// Presses a key (a DOM key name such as `Enter` or `ArrowDown`).
    Press { key: String },
    /// Scrolls the page (or the element matching the selector) by a screen.
    Scroll {
        #[serde(default)]
        direction: ScrollDirection,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selector: Option<String>,
    },
    /// Takes a screenshot, returned among the job's action outputs.
    Screenshot {
        #[serde(default)]
        full_page: bool,
    },
    /// Runs a script in the page; its return value is among the job's action outputs.
    ExecuteJavascript { script: String },
    /// Captures the page's HTML as it is at this point, among the job's action outputs.
    Scrape,
}

/// Where the page should believe its visitor is: the proxy's country, and the languages
/// the browser claims (Accept-Language, `navigator.languages`, its locale).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// ISO 3166-1 alpha-2 country code, such as `US` or `DE`.
    pub country: String,
    /// BCP 47 language tags, most preferred first; empty means the country's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
}

/// At most this many actions per job.
pub const MAX_ACTIONS: usize = 50;
/// One `wait` action waits at most this long.
pub const MAX_ACTION_WAIT_MS: u32 = 60_000;
/// A `write` action types at most this many bytes.
pub const MAX_WRITE_BYTES: usize = 10_000;
/// An `execute_javascript` script is at most this many bytes.
pub const MAX_SCRIPT_BYTES: usize = 100_000;
/// At most this many screenshots among a job's actions.
pub const MAX_ACTION_SCREENSHOTS: usize = 10;
/// At most this many `scrape` actions per job.
pub const MAX_ACTION_SCRAPES: usize = 10;
/// A script's return value, as JSON, is at most this many bytes.
pub const MAX_JS_RETURN_BYTES: usize = 64 * 1024;
/// The HTML one `scrape` action captures is at most this many bytes (it is kept inline).
pub const MAX_SCRAPE_HTML_BYTES: usize = 2 * 1024 * 1024;
/// At most this many languages in a location.
pub const MAX_LANGUAGES: usize = 10;

impl Action {
    /// The action's type as it is written on the wire (`click`, `execute_javascript`).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Wait { .. } => "wait",
            Action::Click { .. } => "click",
            Action::Write { .. } => "write",
            Action::Press { .. } => "press",
            Action::Scroll { .. } => "scroll",
            Action::Screenshot { .. } => "screenshot",
            Action::ExecuteJavascript { .. } => "execute_javascript",
            Action::Scrape => "scrape",
        }
    }

    /// How long the action waits by itself, at most (a fixed wait's milliseconds).
    pub fn fixed_wait_ms(&self) -> u32 {
        match self {
            Action::Wait {
                milliseconds: Some(ms),
                ..
            } => *ms,
            _ => 0,
        }
    }
}

/// Checks a job's actions against the bounds, and their fixed waits against what the
/// `timeout` leaves after `wait_time`; the error names the step's path (`options.actions[2].key`).
pub fn check_actions(actions: &[Action], timeout: u32, wait_time: u32) -> Result<()> {
    if actions.len() > MAX_ACTIONS {
        return Err(Error::validation(
            "options.actions",
            format!("at most {MAX_ACTIONS} actions"),
        ));
    }
    for (i, action) in actions.iter().enumerate() {
        check_action(&format!("options.actions[{i}]"), action)?;
    }
    let count = |kind: &str| actions.iter().filter(|a| a.kind() == kind).count();
    if count("screenshot") > MAX_ACTION_SCREENSHOTS {
        return Err(Error::validation(
            "options.actions",
            format!("at most {MAX_ACTION_SCREENSHOTS} screenshots"),
        ));
    }
    if count("scrape") > MAX_ACTION_SCRAPES {
        return Err(Error::validation(
            "options.actions",
            format!("at most {MAX_ACTION_SCRAPES} scrapes"),
        ));
    }
    let waits: u64 = actions.iter().map(|a| u64::from(a.fixed_wait_ms())).sum();
    if waits + u64::from(wait_time) >= u64::from(timeout) {
        return Err(Error::validation(
            "options.actions",
            "the waits (with options.wait_time) must be less than options.timeout",
        ));
    }
    Ok(())
}

fn check_action(at: &str, action: &Action) -> Result<()> {
    let field = |name: &str| format!("{at}.{name}");
    match action {
        Action::Wait {
            milliseconds,
            selector,
        } => match (milliseconds, selector) {
            (Some(ms), None) if (1..=MAX_ACTION_WAIT_MS).contains(ms) => Ok(()),
            (Some(_), None) => Err(Error::validation(
                field("milliseconds"),
                format!("must be between 1 and {MAX_ACTION_WAIT_MS}"),
            )),
            (None, Some(sel)) => super::options::check_selector(&field("selector"), sel),
            _ => Err(Error::validation(
                at,
                "a wait takes either milliseconds or a selector",
            )),
        },
        Action::Click { selector, .. } => {
            super::options::check_selector(&field("selector"), selector)
        }
        Action::Scroll {
            selector: Some(selector),
            ..
        } => super::options::check_selector(&field("selector"), selector),
        Action::Write { text } if text.is_empty() || text.len() > MAX_WRITE_BYTES => {
            Err(Error::validation(
                field("text"),
                format!("must be 1 to {MAX_WRITE_BYTES} bytes"),
            ))
        }
        Action::Press { key } if key_definition(key).is_none() => Err(Error::validation(
            field("key"),
            "must be a key name (Enter, Tab, Escape, Backspace, Delete, Space, ArrowUp, \
             ArrowDown, ArrowLeft, ArrowRight, Home, End, PageUp, PageDown) or one character",
        )),
        Action::ExecuteJavascript { script }
            if script.trim().is_empty() || script.len() > MAX_SCRIPT_BYTES =>
        {
            Err(Error::validation(
                field("script"),
                format!("must be 1 to {MAX_SCRIPT_BYTES} bytes"),
            ))
        }
        _ => Ok(()),
    }
}

/// Checks a location: a two-letter country, at most [`MAX_LANGUAGES`] language tags of
/// letters, digits and hyphens.
pub fn check_location(location: &Location) -> Result<()> {
    let country = &location.country;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::validation(
            "options.location.country",
            "must be a two-letter country code",
        ));
    }
    if location.languages.len() > MAX_LANGUAGES {
        return Err(Error::validation(
            "options.location.languages",
            format!("at most {MAX_LANGUAGES} languages"),
        ));
    }
    let tag_ok = |t: &str| {
        (2..=35).contains(&t.len())
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && t.as_bytes()[0].is_ascii_alphabetic()
    };
    if !location.languages.iter().all(|t| tag_ok(t)) {
        return Err(Error::validation(
            "options.location.languages",
            "each must be a language tag such as en-US or de",
        ));
    }
    Ok(())
}

impl Location {
    /// The languages the browser claims, most preferred first: those asked for, else the
    /// country's own language with its region, then the bare language (`de-DE`, `de`), then
    /// English where the country's language is another.
    pub fn claimed_languages(&self) -> Vec<String> {
        if !self.languages.is_empty() {
            return self.languages.clone();
        }
        let country = self.country.to_ascii_uppercase();
        let lang = super::geo::country_language(&country).unwrap_or("en");
        let mut out = vec![format!("{lang}-{country}"), lang.to_owned()];
        if lang != "en" {
            out.push("en".into());
        }
        out
    }

    /// The `Accept-Language` value for [`Self::claimed_languages`], weighted as Chrome
    /// weighs them (`de-DE,de;q=0.9,en;q=0.8`).
    pub fn accept_language(&self) -> String {
        accept_language(&self.claimed_languages())
    }
}

/// An `Accept-Language` value for `languages`, most preferred first, weighted down by 0.1
/// a step (never below 0.1).
pub fn accept_language(languages: &[String]) -> String {
    languages
        .iter()
        .enumerate()
        .map(|(i, l)| match i {
            0 => l.clone(),
            _ => format!("{l};q=0.{}", 10usize.saturating_sub(i).max(1)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A key the worker can press: its DOM `key`, its `code`, its Windows virtual key code, and
/// the text it types (none for keys that type nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDefinition {
    pub key: String,
    pub code: String,
    pub key_code: i64,
    pub text: Option<String>,
}

/// The definition of `key`: a named key (as the DOM names them), or one printable
/// character; None for anything else.
pub fn key_definition(key: &str) -> Option<KeyDefinition> {
    const NAMED: &[(&str, &str, i64, Option<&str>)] = &[
        ("Enter", "Enter", 13, Some("\r")),
        ("Tab", "Tab", 9, None),
        ("Escape", "Escape", 27, None),
        ("Backspace", "Backspace", 8, None),
        ("Delete", "Delete", 46, None),
        (" ", "Space", 32, Some(" ")),
        ("ArrowUp", "ArrowUp", 38, None),
        ("ArrowDown", "ArrowDown", 40, None),
        ("ArrowLeft", "ArrowLeft", 37, None),
        ("ArrowRight", "ArrowRight", 39, None),
        ("Home", "Home", 36, None),
        ("End", "End", 35, None),
        ("PageUp", "PageUp", 33, None),
        ("PageDown", "PageDown", 34, None),
    ];
    let key = if key == "Space" { " " } else { key };
    if let Some((k, code, key_code, text)) = NAMED.iter().find(|(k, ..)| *k == key) {
        return Some(KeyDefinition {
            key: (*k).to_owned(),
            code: (*code).to_owned(),
            key_code: *key_code,
            text: text.map(str::to_owned),
        });
    }
    let mut chars = key.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    if c.is_control() {
        return None;
    }
    let upper = c.to_ascii_uppercase();
    let (code, key_code) = if c.is_ascii_alphabetic() {
        (format!("Key{upper}"), i64::from(upper as u8))
    } else if c.is_ascii_digit() {
        (format!("Digit{c}"), i64::from(c as u8))
    } else {
        (String::new(), 0)
    };
    Some(KeyDefinition {
        key: c.to_string(),
        code,
        key_code,
        text: Some(c.to_string()),
    })
}

/// What a job's actions gave back, in the order they ran; each entry names its step. It is
/// stored with the job's result (`job_results.action_outputs`) and maps 1:1 onto Firecrawl's
/// `actions` object (`screenshots`, `scrapes`, `javascriptReturns`; no `pdfs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionOutputs {
    pub screenshots: Vec<ActionScreenshot>,
    pub scrapes: Vec<ActionScrape>,
    pub javascript_returns: Vec<JavascriptReturn>,
}

impl ActionOutputs {
    pub fn is_empty(&self) -> bool {
        self.screenshots.is_empty() && self.scrapes.is_empty() && self.javascript_returns.is_empty()
    }
}

/// A screenshot an action took, stored in the screenshots bucket under `key`, with its
/// thumbnail (as the job's own screenshot has one) under `thumbnail_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionScreenshot {
    /// The action's index in `options.actions`.
    pub step: usize,
    pub key: String,
    pub bytes: u64,
    /// Absent for screenshots stored before thumbnails were made for actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_key: Option<String>,
}

/// The page's HTML as a `scrape` action found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionScrape {
    pub step: usize,
    pub url: String,
    pub html: String,
}

/// What an `execute_javascript` action's script returned: its JavaScript type (`string`,
/// `number`, `object`, `undefined`...) and its value as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JavascriptReturn {
    pub step: usize,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(ms: u32) -> Action {
        Action::Wait {
            milliseconds: Some(ms),
            selector: None,
        }
    }

    fn field_of(r: Result<()>) -> String {
        match r {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn actions_within_their_bounds_pass() {
        let actions = vec![
            wait(500),
            Action::Click {
                selector: "#more".into(),
                all: true,
            },
            Action::Write {
                text: "hello".into(),
            },
            Action::Press {
                key: "Enter".into(),
            },
            Action::Scroll {
                direction: ScrollDirection::Down,
                selector: None,
            },
            Action::Screenshot { full_page: false },
            Action::ExecuteJavascript {
                script: "return 1".into(),
            },
            Action::Scrape,
        ];
        check_actions(&actions, 30_000, 0).expect("valid");
    }

    #[test]
    fn an_action_out_of_bounds_is_named_by_its_step() {
        let bad_key = [
            wait(1),
            Action::Press {
                key: "Hyper".into(),
            },
        ];
        assert_eq!(
            field_of(check_actions(&bad_key, 30_000, 0)),
            "options.actions[1].key"
        );
        let blank = [Action::Click {
            selector: " ".into(),
            all: false,
        }];
        assert_eq!(
            field_of(check_actions(&blank, 30_000, 0)),
            "options.actions[0].selector"
        );
        let both = [Action::Wait {
            milliseconds: Some(5),
            selector: Some("#a".into()),
        }];
        assert_eq!(
            field_of(check_actions(&both, 30_000, 0)),
            "options.actions[0]"
        );
        let long = [Action::Write {
            text: "x".repeat(MAX_WRITE_BYTES + 1),
        }];
        assert_eq!(
            field_of(check_actions(&long, 30_000, 0)),
            "options.actions[0].text"
        );
        let script = [Action::ExecuteJavascript {
            script: "x".repeat(MAX_SCRIPT_BYTES + 1),
        }];
        assert_eq!(
            field_of(check_actions(&script, 30_000, 0)),
            "options.actions[0].script"
        );
    }

    #[test]
    fn too_many_actions_or_waits_past_the_timeout_are_refused() {
        let many = vec![Action::Scrape; MAX_ACTIONS + 1];
        assert_eq!(field_of(check_actions(&many, 30_000, 0)), "options.actions");
        let shots = vec![Action::Screenshot { full_page: true }; MAX_ACTION_SCREENSHOTS + 1];
        assert_eq!(
            field_of(check_actions(&shots, 30_000, 0)),
            "options.actions"
        );
        let waits = [wait(10_000), wait(10_000)];
        assert_eq!(
            field_of(check_actions(&waits, 25_000, 5_000)),
            "options.actions"
        );
        check_actions(&waits, 25_001, 5_000).expect("just under the timeout");
    }

    #[test]
    fn named_keys_and_single_characters_have_definitions() {
        let enter = key_definition("Enter").expect("enter");
        assert_eq!((enter.code.as_str(), enter.key_code), ("Enter", 13));
        assert_eq!(enter.text.as_deref(), Some("\r"));
        assert_eq!(key_definition("ArrowDown").map(|k| k.key_code), Some(40));
        let a = key_definition("a").expect("a");
        assert_eq!(
            (a.code.as_str(), a.key_code, a.text.as_deref()),
            ("KeyA", 65, Some("a"))
        );
        assert_eq!(key_definition("Space").map(|k| k.key), Some(" ".into()));
        assert_eq!(key_definition("ab"), None);
        assert_eq!(key_definition(""), None);
        assert_eq!(key_definition("\u{7}"), None);
    }

    #[test]
    fn a_location_claims_its_country_s_language_unless_told_otherwise() {
        let de = Location {
            country: "de".into(),
            languages: vec![],
        };
        check_location(&de).expect("valid");
        assert_eq!(de.accept_language(), "de-DE,de;q=0.9,en;q=0.8");
        let told = Location {
            country: "US".into(),
            languages: vec!["fr-CA".into()],
        };
        assert_eq!(told.claimed_languages(), ["fr-CA"]);
        let bad = Location {
            country: "USA".into(),
            languages: vec![],
        };
        assert_eq!(field_of(check_location(&bad)), "options.location.country");
        let bad_tag = Location {
            country: "US".into(),
            languages: vec!["en US".into()],
        };
        assert_eq!(
            field_of(check_location(&bad_tag)),
            "options.location.languages"
        );
    }

    #[test]
    fn outputs_serialize_in_the_shape_firecrawl_maps_onto() {
        let outputs = ActionOutputs {
            screenshots: vec![],
            scrapes: vec![],
            javascript_returns: vec![JavascriptReturn {
                step: 0,
                kind: "number".into(),
                value: serde_json::json!(2),
            }],
        };
        let json = serde_json::to_value(&outputs).expect("json");
        assert_eq!(json["javascript_returns"][0]["type"], "number");
        let back: ActionOutputs = serde_json::from_value(json).expect("back");
        assert_eq!(back, outputs);
    }
}

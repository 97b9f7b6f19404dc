//! Browser actions: what a browser engine does to a page, in order, after it has loaded and
//! before it is captured. The shapes are ScraperX's own (snake_case); the Firecrawl-compatible
//! API translates its camelCase ones into these. Running them is the worker's; the bounds on
//! what may be asked are here, once.

use serde::{Deserialize, Serialize};

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

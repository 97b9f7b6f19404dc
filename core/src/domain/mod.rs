//! Typed domain: every status, engine, tier, plan and role is an enum whose text form is the
//! value the database's CHECK constraint admits (tests compare the two lists).

#[macro_use]
mod text_enum;
mod actions;
mod api_key;
pub mod crawl;
pub mod geo;
mod headers;
mod ids;
mod key_limits;
mod kinds;
mod options;
pub mod pricing;
mod screenshot;
mod status;
pub mod wire_text;

pub use actions::{
    Action, ActionOutputs, ActionScrape, ActionScreenshot, JavascriptReturn, KeyDefinition,
    Location, ScrollDirection, accept_language, key_definition,
};
pub mod action_limits {
    //! The bounds on a job's actions and what they give back (see [`super::Action`]).
    pub use super::actions::{
        MAX_ACTION_SCRAPES, MAX_ACTION_SCREENSHOTS, MAX_ACTION_WAIT_MS, MAX_ACTIONS,
        MAX_JS_RETURN_BYTES, MAX_LANGUAGES, MAX_SCRAPE_HTML_BYTES, MAX_SCRIPT_BYTES,
        MAX_WRITE_BYTES,
    };
}
pub use api_key::{ApiKeySecret, Scopes, hash_api_key, scopes};
pub use headers::RequestHeaders;
pub use ids::{ApiKeyId, BatchId, CrawlId, JobId, OrgId, ResultId, UserId, WebhookId};
pub use key_limits::KeyRestrictions;
pub use kinds::{
    ContentStorage, Engine, EventType, HttpMethod, Plan, ProxyTier, Role, SubscriptionStatus,
};
pub use options::{ExtractRule, JobOptions, NOT_BLANK, ResourceType, WaitUntil};
pub use screenshot::{ScreenshotMode, Viewport};
pub use status::JobStatus;

/// A text value that is not one of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub value: String,
}

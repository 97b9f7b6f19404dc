//! Typed domain: every status, engine, tier, plan and role is an enum whose text form is the
//! value the database's CHECK constraint admits (tests compare the two lists).

#[macro_use]
mod text_enum;
mod actions;
mod api_key;
pub mod crawl;
pub mod geo;
mod ids;
mod key_limits;
mod kinds;
mod options;
pub mod pricing;
mod status;
pub mod wire_text;

pub use actions::{Action, Location, ScrollDirection};
pub use api_key::{ApiKeySecret, grants, hash_api_key};
pub use ids::{ApiKeyId, BatchId, CrawlId, JobId, OrgId, ResultId, UserId, WebhookId};
pub use key_limits::KeyRestrictions;
pub use kinds::{
    ContentStorage, Engine, EventType, HttpMethod, Plan, ProxyTier, Role, SubscriptionStatus,
};
pub use options::{ExtractRule, JobOptions, NOT_BLANK, ResourceType, WaitUntil};
pub use status::JobStatus;

/// A text value that is not one of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub value: String,
}

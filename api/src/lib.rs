//! The customer REST API: `app(state)` is the whole router, merged from one router per
//! resource, with authentication, rate limits and the error envelope applied once.

pub mod config;
pub mod error;
pub mod extract;
pub mod usage;

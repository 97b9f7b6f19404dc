//! One router per resource, merged by [`crate::app`].

pub mod account;
pub mod batches;
pub mod crawls;
pub mod health;
pub mod jobs;
pub mod map;
pub mod scrape;
pub mod stream;
pub mod views;
pub mod webhooks;

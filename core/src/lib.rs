//! ScraperX's domain and storage layer, shared by the API, the workers and the operator.
//!
//! - [`domain`]: typed ids, the job state machine, engines, proxy tiers, plans, roles, job
//!   options and API keys, each matching the database's own CHECK lists.
//! - [`pg`]: the PostgreSQL repository (sqlx) and the embedded migrations.
//! - [`queue`]: the Redis job queues (priority, delays, leases, at-least-once delivery,
//!   dead owners' leases reclaimed in seconds).
//! - [`crawl`]: driving crawls: pages submitted under the frontier's caps, crashes repaired.
//! - [`sweep`]: the re-enqueue sweep that puts back what Redis lost, from Postgres.
//! - [`hot`]: the rest of the Redis tier: sessions, rate limits, cache, locks, metrics,
//!   pub/sub and expiry.
//! - [`content`]: the MinIO content store (aws-sdk-s3): buckets, lifecycle, objects.
//! - [`config`]: typed configuration read from the environment, defaults in one place.

pub mod cli;
pub mod config;
pub mod content;
pub mod crawl;
pub mod dispatch;
pub mod domain;
mod error;
pub mod hot;
pub mod net;
pub mod pg;
pub mod queue;
pub mod secrets;
pub mod signal;
pub mod sweep;
pub mod telemetry;

pub use error::{Error, Result};

//! Crawls: a start URL followed breadth-first. Everything a crawl decides without I/O lives
//! here, once: its options with their limits and defaults ([`CrawlOptions`]), the URL key
//! that makes two forms of one page one page ([`normalize`]), what a crawl follows
//! ([`Scope`]), how far and how fast ([`frontier`]), its typed states with their moves
//! ([`CrawlStatus`], [`PageState`], matching the checks of `migrations/0015_crawls.sql`),
//! and reading sitemaps ([`sitemap`]). The services (Postgres in `pg/crawls.rs`, the
//! worker's expansion) only apply these decisions.

pub mod frontier;
pub mod links;
mod options;
mod scope;
pub mod sitemap;
mod status;
mod url_key;

pub use options::{CrawlOptions, SitemapMode};
pub use scope::{Scope, Verdict};
pub use status::{CrawlReason, CrawlStatus, PageSource, PageState, SkipReason};
pub use url_key::normalize;

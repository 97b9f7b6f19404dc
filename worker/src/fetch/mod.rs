//! Fetching pages. [`http::HttpFetcher`] is the plain-HTTP engine; the browser engines live
//! in [`crate::browser`].

pub mod guard;
pub mod http;
pub mod timing;
pub mod tls;

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use scraperx_core::domain::HttpMethod;
use serde::Serialize;

/// What to fetch.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: url::Url,
    pub method: HttpMethod,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// The whole fetch, redirects and download included.
    pub timeout: Duration,
}

/// Where the time went, in milliseconds, measured (not estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    pub dns_ms: Option<u32>,
    pub connect_ms: Option<u32>,
    pub tls_ms: Option<u32>,
    /// Request sent to response headers received, on the last hop.
    pub ttfb_ms: Option<u32>,
    pub download_ms: Option<u32>,
    pub render_ms: Option<u32>,
    pub total_ms: u32,
}

/// A fetched page.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    pub status: u16,
    pub final_url: url::Url,
    pub redirect_count: u32,
    /// Lower-case names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub timings: Timings,
}

impl FetchedPage {
    pub fn is_html(&self) -> bool {
        self.content_type
            .as_deref()
            .is_none_or(|ct| ct.contains("html"))
            && !self.body.is_empty()
    }
}

//! Fetching pages. [`http::HttpFetcher`] is the plain-HTTP engine; the browser engines live
//! in [`crate::browser`].

pub mod decode;
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
    /// The response's `Content-Encoding` (the body here is decoded).
    pub content_encoding: Option<String>,
    /// Cookies the site set along the way (every hop, or the browser context's jar).
    pub cookies: Vec<Cookie>,
    pub body: Bytes,
    pub timings: Timings,
    /// The proxy it came through; None for a direct fetch.
    pub proxy: Option<crate::proxy::ProxyUsed>,
}

/// A cookie the site set, as recorded in the result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `Expires` as sent, or the browser's expiry in seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    pub secure: bool,
    pub http_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
}

impl Cookie {
    /// Reads a `Set-Cookie` header value; None when it has no `name=value`.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut cookie = Cookie {
            name: name.to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            domain: None,
            path: None,
            expires: None,
            max_age: None,
            secure: false,
            http_only: false,
            same_site: None,
        };
        for attribute in parts {
            let (key, val) = attribute
                .split_once('=')
                .map_or((attribute.trim(), ""), |(k, v)| (k.trim(), v.trim()));
            match key.to_ascii_lowercase().as_str() {
                "domain" => cookie.domain = Some(val.trim_start_matches('.').to_owned()),
                "path" => cookie.path = Some(val.to_owned()),
                "expires" => cookie.expires = Some(val.to_owned()),
                "max-age" => cookie.max_age = val.parse().ok(),
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "samesite" => cookie.same_site = Some(val.to_owned()),
                _ => {}
            }
        }
        Some(cookie)
    }
}

impl FetchedPage {
    pub fn is_html(&self) -> bool {
        self.content_type
            .as_deref()
            .is_none_or(|ct| ct.contains("html"))
            && !self.body.is_empty()
    }
}

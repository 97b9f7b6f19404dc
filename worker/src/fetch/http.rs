//! The http engine: reqwest with pooled connections, HTTP/2, gzip, brotli and deflate.
//! Redirects are followed here, hop by hop (at most 10), so every hop meets the address rule
//! and is counted; cookies set along the way are kept per fetch, never shared between jobs.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use reqwest::{
    Method, StatusCode,
    cookie::{CookieStore, Jar},
    header::{self, HeaderMap, HeaderName, HeaderValue},
};
use scraperx_core::domain::HttpMethod;

use super::{
    FetchRequest, FetchedPage, Timings, decode,
    guard::{GuardedResolver, blocked_in_chain, check_resolved, check_url},
    timing::{TIMINGS, TimedConnects, elapsed_ms},
    tls,
};
use crate::error::FetchError;

pub const MAX_REDIRECTS: u32 = 10;

#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    allow_private: bool,
    max_bytes: usize,
    user_agent: String,
    tls: rustls::ClientConfig,
}

impl HttpFetcher {
    /// `extra_roots` are trusted besides Mozilla's roots (a deployment's private CAs).
    pub fn new(
        user_agent: &str,
        allow_private: bool,
        max_bytes: usize,
        extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<Self, FetchError> {
        let tls = tls::client_config(extra_roots)?;
        // Never an environment proxy: the address rule holds on the connection made here.
        let client = builder(tls.clone(), user_agent)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| FetchError::Invalid(format!("http client: {e}")))?;
        Ok(Self {
            client,
            allow_private,
            max_bytes,
            user_agent: user_agent.to_owned(),
            tls,
        })
    }

    pub async fn fetch(&self, req: &FetchRequest) -> Result<FetchedPage, FetchError> {
        self.fetch_via(req, None).await
    }

    /// A client that sends everything through the proxy at `endpoint` (a job's relay, which
    /// adds the provider's credentials and counts the bytes). The proxy is trusted
    /// infrastructure; the targets are checked here, by resolving them before each hop,
    /// since the proxy resolves them on its side.
    fn through(&self, endpoint: &str) -> Result<reqwest::Client, FetchError> {
        let proxy = reqwest::Proxy::all(endpoint)
            .map_err(|e| FetchError::Invalid(format!("proxy endpoint: {e}")))?;
        // Its own TLS sessions: a ticket from a direct fetch or another exit would let a
        // site link this request to them.
        let mut tls = self.tls.clone();
        tls.resumption = tls::own_sessions();
        builder(tls, &self.user_agent)
            .proxy(proxy)
            .build()
            .map_err(|e| FetchError::Invalid(format!("proxied client: {e}")))
    }

    /// Fetches directly, or through the proxy at `proxy` (`http://host:port`).
    pub async fn fetch_via(
        &self,
        req: &FetchRequest,
        proxy: Option<&str>,
    ) -> Result<FetchedPage, FetchError> {
        let client = match proxy {
            Some(endpoint) => self.through(endpoint)?,
            None => self.client.clone(),
        };
        let timings = Arc::new(Mutex::new(Timings::default()));
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            req.timeout,
            TIMINGS.scope(
                timings.clone(),
                self.follow(&client, proxy.is_some(), req, timings.clone()),
            ),
        )
        .await
        .map_err(|_| FetchError::Timeout(req.timeout))?;
        let mut page = outcome?;
        page.timings = timings.lock().map(|t| *t).unwrap_or_default();
        page.timings.total_ms = elapsed_ms(started);
        Ok(page)
    }

    async fn follow(
        &self,
        client: &reqwest::Client,
        proxied: bool,
        req: &FetchRequest,
        timings: Arc<Mutex<Timings>>,
    ) -> Result<FetchedPage, FetchError> {
        let jar = Jar::default();
        let mut url = req.url.clone();
        let mut method = to_method(req.method);
        let mut body = req.body.clone();
        let mut redirects = 0;
        let mut headers = to_headers(&req.headers)?;
        if !headers.contains_key(header::ACCEPT_ENCODING) {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(decode::ACCEPT_ENCODING),
            );
        }
        let mut cookies = Vec::new();
        loop {
            check_url(&url, self.allow_private)?;
            if proxied && !self.allow_private {
                check_resolved(&url).await?;
            }
            let mut builder = client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(cookies) = jar.cookies(&url) {
                builder = builder.header(header::COOKIE, cookies);
            }
            if let Some(b) = &body {
                builder = builder.body(b.clone());
            }
            let setup_before = setup_ms(&timings);
            let sent = Instant::now();
            let response = builder.send().await.map_err(classify)?;
            // Time to first byte counts from the request leaving: a connection made for it
            // (DNS, TCP, TLS) is already counted in its own fields.
            let ttfb =
                elapsed_ms(sent).saturating_sub(setup_ms(&timings).saturating_sub(setup_before));
            let set = response.headers().get_all(header::SET_COOKIE);
            cookies.extend(
                set.iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(super::Cookie::parse),
            );
            jar.set_cookies(&mut set.iter(), &url);
            let status = response.status();
            if status.is_redirection()
                && let Some(next) = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
            {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(FetchError::TooManyRedirects);
                }
                // 303 always, and 301/302 after a POST, continue as GET without a body.
                if status == StatusCode::SEE_OTHER
                    || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                        && method == Method::POST)
                {
                    method = Method::GET;
                    body = None;
                }
                url = next;
                continue;
            }
            if let Ok(mut t) = timings.lock() {
                t.ttfb_ms = Some(ttfb);
            }
            let final_url = response.url().clone();
            let headers = flatten(response.headers());
            let content_type = headers.get("content-type").cloned();
            let downloading = Instant::now();
            let raw = self.read_capped(response).await?;
            let content_encoding = headers.get("content-encoding").cloned();
            let body = match content_encoding.clone() {
                // Nothing to decode in an empty body (HEAD, 204, 304 with a coding header).
                Some(coding) if !raw.is_empty() => {
                    let max = self.max_bytes;
                    tokio::task::spawn_blocking(move || decode::decode(&coding, raw, max))
                        .await
                        .map_err(|e| FetchError::Network(format!("decoding: {e}")))??
                }
                _ => raw,
            };
            if let Ok(mut t) = timings.lock() {
                t.download_ms = Some(elapsed_ms(downloading));
            }
            // Every status comes back as a page: whether a 429 or 5xx is retried or is a
            // challenge to get past is the runner's call, after its one detection pass.
            return Ok(FetchedPage {
                status: status.as_u16(),
                final_url,
                redirect_count: redirects,
                headers,
                content_type,
                content_encoding,
                cookies,
                body,
                timings: Timings::default(),
                proxy: None,
            });
        }
    }

    /// Reads the body, refusing it once it passes the cap (no page can exhaust memory).
    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Bytes, FetchError> {
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// DNS, connect and TLS time so far.
fn setup_ms(timings: &Mutex<Timings>) -> u32 {
    timings.lock().map_or(0, |t| {
        t.dns_ms.unwrap_or(0) + t.connect_ms.unwrap_or(0) + t.tls_ms.unwrap_or(0)
    })
}

/// What every client of the engine shares: its TLS, no automatic decoding (bodies are
/// decoded in [`decode`]: the real coding is kept, the size capped), no redirects (followed
/// hop by hop), connections timed.
fn builder(tls: rustls::ClientConfig, user_agent: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .use_preconfigured_tls(tls)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .connector_layer(TimedConnects)
        .connect_timeout(Duration::from_secs(10))
}

fn to_method(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
    }
}

fn to_headers(h: &std::collections::BTreeMap<String, String>) -> Result<HeaderMap, FetchError> {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| FetchError::Invalid(format!("header name {k:?}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| FetchError::Invalid(format!("header value of {k}")))?;
        out.append(name, value);
    }
    Ok(out)
}

fn flatten(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

fn classify(err: reqwest::Error) -> FetchError {
    if let Some(blocked) = blocked_in_chain(&err) {
        return FetchError::Blocked(blocked);
    }
    if err.is_timeout() {
        return FetchError::Timeout(Duration::ZERO);
    }
    if err.is_builder() {
        return FetchError::Invalid(err.to_string());
    }
    FetchError::Network(err.to_string())
}

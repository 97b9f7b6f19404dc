//! The response cache (seed 001 §4.6). An entry is keyed by the normalized URL, the
//! organization, and every request option that changes what comes back; the URL's hash is the key's hash tag, so
//! the URL's index of variants sits on the same slot and invalidating a URL is one script.
//!
//! Entries are JSON, gzipped above [`COMPRESS_ABOVE`] bytes, behind a one-byte format
//! marker. An entry that does not decode (truncated, foreign, from an older layout) is
//! deleted and reported as a miss, never as an error.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    time::Duration,
};

use super::RedisConn;
use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{TtlConfig, keys, lua_script, millis};
use crate::{
    Error, Result,
    domain::{Engine, HttpMethod, JobOptions, OrgId, RequestHeaders},
};

/// Payloads larger than this are gzipped.
pub const COMPRESS_ABOVE: usize = 1024;
const PLAIN: u8 = b'J';
const GZIP: u8 = b'Z';

/// The TTL classes of §6.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheClass {
    /// Ordinary pages.
    Default,
    /// Assets that rarely change: images, fonts, stylesheets, scripts, PDFs.
    Static,
    /// Pages that ask not to be cached long (no-cache, private, short max-age).
    Dynamic,
}

impl CacheClass {
    pub fn ttl(self, ttl: &TtlConfig) -> Duration {
        match self {
            CacheClass::Default => ttl.cache_default,
            CacheClass::Static => ttl.cache_static,
            CacheClass::Dynamic => ttl.cache_dynamic,
        }
    }

    /// Picks the class from the response's Content-Type and Cache-Control headers.
    pub fn for_response(content_type: Option<&str>, cache_control: Option<&str>) -> Self {
        let cc = cache_control.unwrap_or_default().to_ascii_lowercase();
        let short_max_age = cc
            .split(',')
            .filter_map(|d| d.trim().strip_prefix("max-age="))
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .any(|secs| secs < 300);
        if ["no-store", "no-cache", "private"]
            .iter()
            .any(|d| cc.contains(d))
            || short_max_age
        {
            return CacheClass::Dynamic;
        }
        let ct = content_type.unwrap_or_default().to_ascii_lowercase();
        let is_static = ["image/", "font/", "audio/", "video/"]
            .iter()
            .any(|p| ct.starts_with(p))
            || [
                "text/css",
                "application/javascript",
                "text/javascript",
                "application/pdf",
            ]
            .iter()
            .any(|t| ct.starts_with(t));
        if is_static {
            CacheClass::Static
        } else {
            CacheClass::Default
        }
    }
}

/// A request as far as caching is concerned.
#[derive(Debug, Clone, Copy)]
pub struct CacheRequest<'a> {
    pub url: &'a str,
    pub method: HttpMethod,
    pub engine: Engine,
    pub headers: &'a RequestHeaders,
    pub body: Option<&'a str>,
    pub options: &'a JobOptions,
    /// Proxy country: geo-targeted pages differ by country.
    pub country: Option<&'a str>,
    /// Entries are per organization: a page fetched with one tenant's cookies or headers is
    /// never served to another.
    pub organization: OrgId,
}

/// Where an entry lives: the URL's hash and the variant's hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    url_hash: String,
    variant: String,
}

impl CacheKey {
    pub fn url_hash(&self) -> &str {
        &self.url_hash
    }

    fn entry(&self) -> String {
        keys::cache_entry(&self.url_hash, &self.variant)
    }
}

/// SHA-256 of the URL without its fragment, scheme and host lowercased.
pub fn url_hash(raw: &str) -> Result<String> {
    let mut url =
        url::Url::parse(raw).map_err(|e| Error::validation("url", format!("not a URL: {e}")))?;
    url.set_fragment(None);
    Ok(hex::encode(Sha256::digest(url.as_str().as_bytes())))
}

impl CacheRequest<'_> {
    pub fn key(&self) -> Result<CacheKey> {
        // The whole-job timeout does not change a successful result; everything else might.
        let options = JobOptions {
            timeout: 0,
            ..self.options.clone()
        };
        let headers: BTreeMap<String, &str> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let variant = serde_json::json!({
            "method": self.method,
            "engine": self.engine,
            "headers": headers,
            "body": self.body.map(|b| hex::encode(Sha256::digest(b.as_bytes()))),
            "options": options,
            "country": self.country.map(str::to_ascii_uppercase),
            "org": self.organization,
        });
        Ok(CacheKey {
            url_hash: url_hash(self.url)?,
            variant: hex::encode(Sha256::digest(variant.to_string().as_bytes())),
        })
    }
}

/// A stored object in MinIO that holds a body too large to cache inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

/// What the cache keeps of a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedResponse {
    pub status_code: u16,
    pub final_url: String,
    pub headers: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// The body, for small responses.
    pub body: Option<String>,
    /// Where a large body lives instead.
    pub object: Option<ObjectRef>,
    pub content_hash: String,
    /// Extraction results (title, text, links, data, markdown), as the API returns them.
    #[serde(default)]
    pub extracted: Option<serde_json::Value>,
    /// Unix milliseconds.
    pub cached_at: i64,
}

/// A cache hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheHit {
    pub response: CachedResponse,
    /// Times served, this one included.
    pub hits: u64,
    pub age: Duration,
}

#[derive(Clone)]
pub struct ResponseCache {
    conn: RedisConn,
    ttl: TtlConfig,
}

impl ResponseCache {
    pub fn new(conn: RedisConn, ttl: TtlConfig) -> Self {
        Self { conn, ttl }
    }

    /// Stores `response` under `key` for its class's TTL; returns the stored payload's size.
    pub async fn put(
        &self,
        key: &CacheKey,
        response: &CachedResponse,
        class: CacheClass,
    ) -> Result<usize> {
        let payload = encode(response)?;
        let () = lua_script!("cache_put.lua")
            .key(key.entry())
            .key(keys::cache_index(&key.url_hash))
            .arg(&payload)
            .arg(millis(class.ttl(&self.ttl)))
            .arg(millis(self.ttl.cache_max()))
            .arg(&key.variant)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(payload.len())
    }

    /// The entry under `key` no older than `max_age`, counting the hit. None when absent,
    /// too old, or corrupted (a corrupted entry is deleted).
    pub async fn get(&self, key: &CacheKey, max_age: Option<Duration>) -> Result<Option<CacheHit>> {
        let max_age_ms = max_age.map_or(-1, |d| i64::try_from(millis(d)).unwrap_or(i64::MAX));
        let (state, payload, hits, age_ms): (i64, Vec<u8>, u64, i64) = lua_script!("cache_get.lua")
            .key(key.entry())
            .arg(max_age_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        if state != 2 {
            return Ok(None);
        }
        match decode(&payload) {
            Some(response) => Ok(Some(CacheHit {
                response,
                hits,
                age: Duration::from_millis(u64::try_from(age_ms.max(0)).unwrap_or(0)),
            })),
            None => {
                tracing::warn!(key = %key.entry(), "corrupted cache entry dropped");
                self.invalidate(key).await?;
                Ok(None)
            }
        }
    }

    /// Drops one entry. False when there was none.
    pub async fn invalidate(&self, key: &CacheKey) -> Result<bool> {
        let removed: u64 = lua_script!("cache_invalidate.lua")
            .key(key.entry())
            .key(keys::cache_index(&key.url_hash))
            .arg(&key.variant)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed > 0)
    }

    /// Drops every variant cached for `url`; returns how many there were.
    pub async fn invalidate_url(&self, url: &str) -> Result<u64> {
        let hash = url_hash(url)?;
        let prefix = keys::cache_entry(&hash, "");
        Ok(lua_script!("cache_invalidate_url.lua")
            .key(keys::cache_index(&hash))
            .arg(prefix)
            .invoke_async(&mut self.conn.clone())
            .await?)
    }
}

fn encode(response: &CachedResponse) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(response)
        .map_err(|e| Error::validation("response", format!("not serializable: {e}")))?;
    if json.len() <= COMPRESS_ABOVE {
        let mut out = Vec::with_capacity(json.len() + 1);
        out.push(PLAIN);
        out.extend_from_slice(&json);
        return Ok(out);
    }
    let mut gz = GzEncoder::new(vec![GZIP], Compression::fast());
    gz.write_all(&json)
        .and_then(|()| gz.finish())
        .map_err(|e| Error::validation("response", format!("compression failed: {e}")))
}

fn decode(payload: &[u8]) -> Option<CachedResponse> {
    let (&marker, rest) = payload.split_first()?;
    match marker {
        PLAIN => serde_json::from_slice(rest).ok(),
        GZIP => {
            let mut json = Vec::new();
            GzDecoder::new(rest).read_to_end(&mut json).ok()?;
            serde_json::from_slice(&json).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(body: &str) -> CachedResponse {
        CachedResponse {
            status_code: 200,
            final_url: "https://example.com/".into(),
            headers: BTreeMap::new(),
            content_type: Some("text/html".into()),
            body: Some(body.into()),
            object: None,
            content_hash: "00".into(),
            extracted: None,
            cached_at: 1,
        }
    }

    #[test]
    fn large_payloads_are_compressed_and_round_trip() {
        let small = encode(&sample("hi")).expect("encodes");
        assert_eq!(small[0], PLAIN);
        let big_response = sample(&"<p>hello</p>".repeat(500));
        let big = encode(&big_response).expect("encodes");
        assert_eq!(big[0], GZIP);
        assert!(big.len() < 1_000, "{} bytes", big.len());
        assert_eq!(decode(&big), Some(big_response));
    }

    #[test]
    fn garbage_does_not_decode() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"Z\x1f\x8bnot gzip"), None);
        assert_eq!(decode(b"J{\"status_code\":"), None);
        assert_eq!(decode(b"?{}"), None);
    }

    #[test]
    fn classes_follow_content_type_and_cache_control() {
        assert_eq!(
            CacheClass::for_response(Some("image/png"), None),
            CacheClass::Static
        );
        assert_eq!(
            CacheClass::for_response(Some("text/html"), Some("max-age=60")),
            CacheClass::Dynamic
        );
        assert_eq!(
            CacheClass::for_response(Some("text/html; charset=utf-8"), Some("public")),
            CacheClass::Default
        );
        assert_eq!(
            CacheClass::for_response(Some("text/css"), Some("no-store")),
            CacheClass::Dynamic
        );
    }

    #[test]
    fn keys_ignore_fragments_and_header_case_but_not_options() {
        let headers: RequestHeaders = [("Accept-Language", "de")].into_iter().collect();
        let lower: RequestHeaders = [("accept-language", "de")].into_iter().collect();
        let opts = JobOptions::default();
        let req = |url, headers, options| CacheRequest {
            url,
            method: HttpMethod::Get,
            engine: Engine::Http,
            headers,
            body: None,
            options,
            country: None,
            organization: OrgId::from(uuid::Uuid::nil()),
        };
        let a = req("https://Example.com/a#top", &headers, &opts)
            .key()
            .expect("key");
        let b = req("https://example.com/a", &lower, &opts)
            .key()
            .expect("key");
        assert_eq!(a, b);
        let js = JobOptions {
            render_js: true,
            ..JobOptions::default()
        };
        let c = req("https://example.com/a", &lower, &js)
            .key()
            .expect("key");
        assert_eq!(a.url_hash(), c.url_hash());
        assert_ne!(a, c);
    }
}

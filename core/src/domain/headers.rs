//! The request headers a job sends to its target, one type from the request to the fetch:
//! the API's and the operator's input, `NewJob`, the `scrape_jobs.headers` document, a
//! crawl's page template and the worker's request. Names are kept as given, in one ordered
//! map; [`RequestHeaders::validate`] is the one check (at most [`RequestHeaders::MAX_HEADERS`],
//! each under [`RequestHeaders::MAX_HEADER_BYTES`], names tokens and values without control
//! characters, see [`super::wire_text`]), so no value can smuggle a header or a request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::wire_text;
use crate::{Error, Result};

/// Header name → value, as the caller wrote them; stored as a JSON object of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestHeaders(BTreeMap<String, String>);

impl RequestHeaders {
    /// Headers of one job, at most.
    pub const MAX_HEADERS: usize = 50;
    /// Bytes of one header, name and value, at most.
    pub const MAX_HEADER_BYTES: usize = 8 * 1024;

    /// Every rule a header must follow before it is stored; the error names `headers`.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: &str| Err(Error::validation("headers", message));
        if self.0.len() > Self::MAX_HEADERS {
            return bad("at most 50 headers");
        }
        for (name, value) in &self.0 {
            if name.len() + value.len() > Self::MAX_HEADER_BYTES {
                return bad("each header must be under 8 KB");
            }
            if !wire_text::is_header_name(name) {
                return bad("a header name must be a token (letters, digits, !#$%&'*+-.^_`|~)");
            }
            if !wire_text::is_header_value(value) {
                return bad("a header value may not contain control characters (CR, LF, NUL)");
            }
        }
        Ok(())
    }

    /// Whether a header of this name is set, whatever the case it was written in.
    pub fn contains(&self, name: &str) -> bool {
        self.0.keys().any(|k| k.eq_ignore_ascii_case(name))
    }

    /// The value of the header written exactly `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `scrape_jobs.headers` document: a JSON object of strings.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

impl From<BTreeMap<String, String>> for RequestHeaders {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for RequestHeaders {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// The CRD's schema: an object of strings, as the map's (the operator adds its limits).
impl schemars::JsonSchema for RequestHeaders {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        BTreeMap::<String, String>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        BTreeMap::<String, String>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(headers: RequestHeaders) -> Option<String> {
        match headers.validate() {
            Ok(()) => None,
            Err(Error::Validation { field, message }) => {
                assert_eq!(field, "headers");
                Some(message)
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn headers_are_refused_when_too_many_too_large_or_unsafe_on_the_wire() {
        assert_eq!(
            refusal(
                [("Accept", "text/html"), ("X-Tab", "a\tb")]
                    .into_iter()
                    .collect()
            ),
            None
        );
        let many: RequestHeaders = (0..=RequestHeaders::MAX_HEADERS)
            .map(|i| (format!("X-{i}"), "v"))
            .collect();
        assert_eq!(refusal(many).as_deref(), Some("at most 50 headers"));
        let large: RequestHeaders = [("X-Big", "v".repeat(RequestHeaders::MAX_HEADER_BYTES))]
            .into_iter()
            .collect();
        assert!(refusal(large).is_some_and(|m| m.contains("8 KB")));
        let name: RequestHeaders = [("X Bad", "v")].into_iter().collect();
        assert!(refusal(name).is_some_and(|m| m.contains("token")));
        let value: RequestHeaders = [("X-Ok", "a\r\nX-Injected: 1")].into_iter().collect();
        assert!(refusal(value).is_some_and(|m| m.contains("control")));
    }

    #[test]
    fn headers_are_stored_as_a_json_object_of_strings_and_read_back_the_same() {
        let headers: RequestHeaders = [("User-Agent", "x"), ("accept", "y")].into_iter().collect();
        let json = headers.to_json();
        assert_eq!(json, serde_json::json!({"User-Agent": "x", "accept": "y"}));
        assert_eq!(serde_json::to_value(&headers).expect("serializes"), json);
        let back: RequestHeaders = serde_json::from_value(json).expect("parses");
        assert_eq!(back, headers);
        assert!(back.contains("ACCEPT") && !back.contains("cookie"));
        assert!(serde_json::from_value::<RequestHeaders>(serde_json::json!({"X": 1})).is_err());
    }
}

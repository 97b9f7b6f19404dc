//! The page's metadata in the shape of Firecrawl's document metadata: `description`,
//! `language` (the root's `lang`), `keywords`, `robots`, `favicon` (absolute), Open Graph
//! as `ogTitle`, `ogDescription`, `ogUrl`, `ogImage`, `ogSiteName`, …, Dublin Core and
//! article times under their Firecrawl names, and every other `<meta name|property|itemprop>`
//! under its own name (`twitter:card`, `og:type`). A Firecrawl name keeps its first value
//! (`ogLocaleAlternate`, always an array, all of them), as the SDKs type them; another name
//! given more than once becomes an array of its values, in document order.
//!
//! Invariant: one iterative pass over the parsed page (before any content selection, so
//! `include_tags` never hides the head), one [`Budget`] tick per node; at most
//! [`MAX_ENTRIES`] names, [`MAX_VALUES`] values per name, names of at most [`MAX_NAME`]
//! and values of at most [`MAX_VALUE`] characters; past a cap, [`Cut::Metadata`] is
//! reported and the rest left out.

use serde_json::{Map, Value};
use url::Url;

use super::budget::{Budget, Cut, Cuts};
use crate::error::FetchError;

/// Names kept per page.
pub const MAX_ENTRIES: usize = 100;
/// Values kept per name.
pub const MAX_VALUES: usize = 20;
/// A name's length, in characters.
pub const MAX_NAME: usize = 100;
/// A value's length, in characters.
pub const MAX_VALUE: usize = 2_000;

/// Meta names Firecrawl reports under names of its own.
const RENAMED: [(&str, &str); 29] = [
    ("description", "description"),
    ("keywords", "keywords"),
    ("robots", "robots"),
    ("og:title", "ogTitle"),
    ("og:description", "ogDescription"),
    ("og:url", "ogUrl"),
    ("og:image", "ogImage"),
    ("og:audio", "ogAudio"),
    ("og:determiner", "ogDeterminer"),
    ("og:locale", "ogLocale"),
    ("og:locale:alternate", "ogLocaleAlternate"),
    ("og:site_name", "ogSiteName"),
    ("og:video", "ogVideo"),
    ("dcterms.created", "dcTermsCreated"),
    ("dc.date.created", "dcDateCreated"),
    ("dc.date", "dcDate"),
    ("dcterms.type", "dcTermsType"),
    ("dc.type", "dcType"),
    ("dcterms.audience", "dcTermsAudience"),
    ("dcterms.subject", "dcTermsSubject"),
    ("dc.subject", "dcSubject"),
    ("dc.description", "dcDescription"),
    ("dcterms.keywords", "dcTermsKeywords"),
    ("article:modified_time", "modifiedTime"),
    ("article:published_time", "publishedTime"),
    ("article:tag", "articleTag"),
    ("article:section", "articleSection"),
    ("og:image:alt", "ogImageAlt"),
    ("author", "author"),
];

/// The page's metadata, links resolved against `base`.
pub fn metadata(
    doc: &scraper::Html,
    base: &Url,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<Map<String, Value>, FetchError> {
    let mut out = Entries::default();
    let mut favicon = None;
    for node in doc.tree.root().descendants() {
        budget.tick("metadata")?;
        let Some(el) = node.value().as_element() else {
            continue;
        };
        match el.name() {
            "html" => {
                if let Some(lang) = el.attr("lang").map(str::trim).filter(|l| !l.is_empty()) {
                    out.first("language", lang);
                }
            }
            "meta" => {
                let name = ["name", "property", "itemprop"]
                    .iter()
                    .find_map(|a| el.attr(a))
                    .map(str::trim)
                    .filter(|n| !n.is_empty());
                if let (Some(name), Some(content)) = (name, el.attr("content")) {
                    out.meta(name, content.trim());
                }
            }
            "link" if favicon.is_none() && is_icon(el.attr("rel")) => {
                favicon = el
                    .attr("href")
                    .and_then(|h| base.join(h.trim()).ok())
                    .map(String::from);
            }
            _ => {}
        }
    }
    if let Some(icon) = favicon {
        out.first("favicon", &icon);
    }
    if out.cut {
        cuts.add(Cut::Metadata);
    }
    Ok(out.map)
}

/// Firecrawl's name for the meta `name`, if it has one.
fn renamed(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    RENAMED
        .iter()
        .find(|(meta, _)| *meta == lower)
        .map(|(_, key)| *key)
}

fn is_icon(rel: Option<&str>) -> bool {
    rel.is_some_and(|r| {
        r.split_ascii_whitespace()
            .any(|w| w.eq_ignore_ascii_case("icon"))
    })
}

/// The names and values found so far, within the caps.
#[derive(Default)]
struct Entries {
    map: Map<String, Value>,
    cut: bool,
}

impl Entries {
    /// A meta tag's value, under Firecrawl's name or its own.
    fn meta(&mut self, name: &str, value: &str) {
        match renamed(name) {
            Some("ogLocaleAlternate") => {
                let key = "ogLocaleAlternate";
                if !self.map.contains_key(key) && self.map.len() < MAX_ENTRIES {
                    self.map.insert(key.to_owned(), Value::Array(Vec::new()));
                }
                self.add(key, value);
            }
            Some(key) => self.first(key, value),
            None => self.add(name, value),
        }
    }

    /// Sets `key` unless it is set already.
    fn first(&mut self, key: &str, value: &str) {
        if !self.map.contains_key(key) {
            self.add(key, value);
        }
    }

    /// Adds a value of `key`: the first a string, later ones an array of them.
    fn add(&mut self, key: &str, value: &str) {
        let key = self.capped(key, MAX_NAME);
        let value = Value::String(self.capped(value, MAX_VALUE));
        let full = self.map.len() >= MAX_ENTRIES;
        match self.map.get_mut(&key) {
            None if full => self.cut = true,
            None => {
                self.map.insert(key, value);
            }
            Some(Value::Array(list)) if list.len() >= MAX_VALUES => self.cut = true,
            Some(Value::Array(list)) => list.push(value),
            Some(single) => *single = Value::Array(vec![single.take(), value]),
        }
    }

    fn capped(&mut self, s: &str, max: usize) -> String {
        match s.char_indices().nth(max) {
            Some((at, _)) => {
                self.cut = true;
                s[..at].to_owned()
            }
            None => s.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn meta(html: &str) -> (Value, Cuts) {
        let doc = scraper::Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        let mut cuts = Cuts::default();
        let base = Url::parse("https://news.test/a/story.html").expect("url");
        let m = metadata(&doc, &base, &mut budget, &mut cuts).expect("metadata");
        (Value::Object(m), cuts)
    }

    #[test]
    fn open_graph_twitter_and_standard_tags_take_firecrawls_names() {
        let (m, cuts) = meta(
            "<html lang=\"en-GB\"><head><meta name=\"description\" content=\" A story \">\
             <meta property=\"og:title\" content=\"Story\"><meta property=\"og:site_name\" \
             content=\"News\"><meta property=\"og:image\" content=\"https://news.test/i.png\">\
             <meta name=\"twitter:card\" content=\"summary\"><meta name=robots content=index>\
             <meta name=keywords content=\"a, b\"><meta charset=utf-8>\
             <link rel=\"shortcut icon\" href=\"/favicon.ico\"></head><body></body></html>",
        );
        assert_eq!(
            m,
            json!({
                "language": "en-GB", "description": "A story", "ogTitle": "Story",
                "ogSiteName": "News", "ogImage": "https://news.test/i.png",
                "twitter:card": "summary", "robots": "index", "keywords": "a, b",
                "favicon": "https://news.test/favicon.ico",
            })
        );
        assert!(cuts.is_empty());
    }

    #[test]
    fn a_firecrawl_name_keeps_its_first_value_and_another_name_all_of_them() {
        let (m, _) = meta(
            "<meta property=\"article:tag\" content=\"x\"><meta property=\"article:tag\" \
             content=\"y\"><meta name=\"tag\" content=\"x\"><meta name=\"tag\" content=\"y\">\
             <meta name=\"tag\" content=\"z\"><meta property=\"og:locale:alternate\" \
             content=\"fr_FR\">",
        );
        assert_eq!(m["articleTag"], "x");
        assert_eq!(m["tag"], json!(["x", "y", "z"]));
        assert_eq!(m["ogLocaleAlternate"], json!(["fr_FR"]));
    }

    #[test]
    fn names_and_values_past_their_caps_are_cut_and_reported() {
        let many: String = (0..MAX_ENTRIES + 5)
            .map(|i| {
                format!(
                    "<meta name=\"n{i}\" content=\"{}\">",
                    "v".repeat(MAX_VALUE + 1)
                )
            })
            .collect();
        let (m, cuts) = meta(&many);
        let m = m.as_object().expect("object").clone();
        assert_eq!(m.len(), MAX_ENTRIES);
        assert_eq!(m["n0"].as_str().map(str::len), Some(MAX_VALUE));
        assert!(cuts.contains(Cut::Metadata));
    }
}

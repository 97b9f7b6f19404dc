//! What the content pipeline pulls out of an HTML page: the title, the visible text,
//! absolute links and images, the customer's CSS extraction rules (into `extracted_data`),
//! and optionally markdown of the main content. CPU-bound: run it on a blocking thread.

use std::collections::{BTreeMap, BTreeSet};

use scraper::{ElementRef, Html, Node, Selector};
use scraperx_core::domain::ExtractRule;
use serde_json::{Value, json};
use url::Url;

use crate::error::FetchError;

/// Pages larger than this are extracted from their first part only.
pub const MAX_EXTRACT_BYTES: usize = 5 * 1024 * 1024;
/// The visible text kept, in characters.
pub const MAX_TEXT_CHARS: usize = 200_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extraction {
    pub title: Option<String>,
    pub text: String,
    pub links: Vec<String>,
    pub images: Vec<String>,
    pub data: Option<Value>,
    pub markdown: Option<String>,
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn text_of(el: ElementRef<'_>) -> String {
    collapse(&el.text().collect::<String>())
}

const INVISIBLE: [&str; 5] = ["script", "style", "noscript", "template", "head"];

fn visible_text(doc: &Html) -> String {
    let mut out = String::new();
    for node in doc.tree.root().descendants() {
        let Node::Text(text) = node.value() else {
            continue;
        };
        let hidden = node.ancestors().any(|a| {
            a.value()
                .as_element()
                .is_some_and(|e| INVISIBLE.contains(&e.name()))
        });
        if hidden {
            continue;
        }
        let piece = collapse(text);
        if !piece.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&piece);
            if out.len() > MAX_TEXT_CHARS {
                break;
            }
        }
    }
    out.chars().take(MAX_TEXT_CHARS).collect()
}

fn absolute(doc: &Html, base: &Url, selector: &str, attr: &str) -> Vec<String> {
    let Ok(sel) = Selector::parse(selector) else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr))
        .filter_map(|href| base.join(href.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|mut u| {
            u.set_fragment(None);
            u.to_string()
        })
        .filter(|u| seen.insert(u.clone()))
        .collect()
}

fn apply_rules(doc: &Html, rules: &BTreeMap<String, ExtractRule>) -> Result<Value, FetchError> {
    let mut out = serde_json::Map::new();
    for (name, rule) in rules {
        let sel = Selector::parse(&rule.selector)
            .map_err(|e| FetchError::Invalid(format!("extract.{name}.selector: {e}")))?;
        let value_of = |el: ElementRef<'_>| match &rule.attribute {
            Some(attr) => el.value().attr(attr).map(|v| Value::String(v.to_owned())),
            None => Some(Value::String(text_of(el))),
        };
        let value = if rule.all {
            Value::Array(doc.select(&sel).filter_map(value_of).collect())
        } else {
            doc.select(&sel)
                .next()
                .and_then(value_of)
                .unwrap_or(Value::Null)
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

fn main_html(doc: &Html) -> String {
    ["main", "article", "body"]
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .find_map(|sel| doc.select(&sel).next().map(|e| e.html()))
        .unwrap_or_else(|| doc.root_element().html())
}

/// Extracts everything from `html`, resolving links against `base`.
pub fn extract(
    html: &str,
    base: &Url,
    rules: Option<&BTreeMap<String, ExtractRule>>,
    markdown: bool,
) -> Result<Extraction, FetchError> {
    let cut = if html.len() > MAX_EXTRACT_BYTES {
        let mut end = MAX_EXTRACT_BYTES;
        while !html.is_char_boundary(end) {
            end -= 1;
        }
        &html[..end]
    } else {
        html
    };
    let doc = Html::parse_document(cut);
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| doc.select(&s).next().map(text_of))
        .filter(|t| !t.is_empty());
    let data = rules.map(|r| apply_rules(&doc, r)).transpose()?;
    let markdown = if markdown {
        htmd::convert(&main_html(&doc)).ok()
    } else {
        None
    };
    Ok(Extraction {
        title,
        text: visible_text(&doc),
        links: absolute(&doc, base, "a[href]", "href"),
        images: absolute(&doc, base, "img[src]", "src"),
        data,
        markdown,
    })
}

impl Extraction {
    pub fn links_json(&self) -> Value {
        json!(self.links)
    }

    pub fn images_json(&self) -> Value {
        json!(self.images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><head><title> Shop  items </title><style>.x{}</style></head>
        <body><nav><a href="/a">A</a> <a href="https://other.test/b#frag">B</a>
        <a href="/a">dup</a><a href="mailto:x@y">mail</a></nav>
        <main><h1>Items</h1><p class="price">10 EUR</p><p class="price">12 EUR</p>
        <img src="img/1.png"><script>var hidden = 1;</script></main></body></html>"#;

    #[test]
    fn title_text_links_images_rules_and_markdown() {
        let base = Url::parse("https://shop.test/list/").expect("url");
        let rules = BTreeMap::from([
            (
                "first".to_owned(),
                ExtractRule {
                    selector: ".price".into(),
                    attribute: None,
                    all: false,
                },
            ),
            (
                "all".to_owned(),
                ExtractRule {
                    selector: ".price".into(),
                    attribute: None,
                    all: true,
                },
            ),
            (
                "img".to_owned(),
                ExtractRule {
                    selector: "img".into(),
                    attribute: Some("src".into()),
                    all: false,
                },
            ),
            (
                "none".to_owned(),
                ExtractRule {
                    selector: ".missing".into(),
                    attribute: None,
                    all: false,
                },
            ),
        ]);
        let e = extract(PAGE, &base, Some(&rules), true).expect("extract");
        assert_eq!(e.title.as_deref(), Some("Shop items"));
        assert!(
            e.text.contains("Items 10 EUR 12 EUR") && !e.text.contains("hidden"),
            "{}",
            e.text
        );
        assert_eq!(e.links, ["https://shop.test/a", "https://other.test/b"]);
        assert_eq!(e.images, ["https://shop.test/list/img/1.png"]);
        let data = e.data.expect("data");
        assert_eq!(data["first"], "10 EUR");
        assert_eq!(data["all"], json!(["10 EUR", "12 EUR"]));
        assert_eq!(data["img"], "img/1.png");
        assert_eq!(data["none"], Value::Null);
        let md = e.markdown.expect("markdown");
        assert!(md.contains("# Items") && md.contains("10 EUR"), "{md}");
    }

    #[test]
    fn a_bad_selector_is_a_permanent_error() {
        let base = Url::parse("https://x.test/").expect("url");
        let rules = BTreeMap::from([(
            "bad".to_owned(),
            ExtractRule {
                selector: "p[".into(),
                attribute: None,
                all: false,
            },
        )]);
        let err = extract("<p>x</p>", &base, Some(&rules), false).expect_err("invalid");
        assert!(!err.retryable());
    }
}

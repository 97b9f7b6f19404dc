//! What the content pipeline pulls out of an HTML page: the title, the page's
//! metadata ([`metadata`]), the visible text, absolute links and images, the customer's CSS extraction rules (into `extracted_data`),
//! and optionally markdown and the cleaned HTML ([`clean`]). What the text, markdown and
//! cleaned HTML cover is the job's [`Content`]
//! choice: the whole page or its main content ([`main_content`]), less what
//! `exclude_tags` match, only what `include_tags` match, without inlined images if asked
//! ([`select`]). Rules see the whole page; links and images, the page as selected.
//!
//! Whatever the page, extraction ends with a result or a stable error code, within bounded
//! stack, memory and time:
//! - only the first [`MAX_EXTRACT_BYTES`] are read, and at most [`attrs::MAX_ATTRIBUTES`]
//!   attributes per tag reach the parser ([`attrs`]);
//! - the parsed tree is at most [`parse::MAX_DEPTH`] + 1 deep, deeper elements laid flat in
//!   document order ([`parse`]);
//! - every later pass is iterative and linear in the tree, and ticks one [`Budget`]: past
//!   [`TIME_BUDGET`] the job fails with `content_too_complex`;
//! - text, links, rule values and markdown have caps; each cut made is reported in
//!   [`Extraction::cut`] (and the `content_extracted` event);
//! - in the worker it runs on a small pool of threads of its own ([`isolate`]): a large
//!   known stack, panics caught, and a wall-clock limit past which the job fails and the
//!   result is dropped.

mod attrs;
mod budget;
mod clean;
mod density;
mod isolate;
mod left_out;
mod main_content;
mod markdown;
mod metadata;
mod parse;
mod rules;
mod select;
mod walk;

use std::{collections::BTreeMap, time::Duration};

use scraperx_core::domain::{ExtractRule, JobOptions};
use serde_json::{Value, json};
use url::Url;

pub use budget::{Budget, Cut, Cuts};
pub use isolate::{extract_isolated, run_isolated};
pub use main_content::Picked;

use crate::error::FetchError;

/// Pages larger than this are extracted from their first part only.
pub const MAX_EXTRACT_BYTES: usize = 5 * 1024 * 1024;
/// The visible text kept, in characters.
pub const MAX_TEXT_CHARS: usize = 200_000;
/// Links kept, and images kept, per page.
pub const MAX_LINKS: usize = 20_000;
/// The time extraction may take, checked inside its passes. A page takes a few
/// milliseconds, 5 MB of dense markup well under a second; unoptimized builds (the tests)
/// run the parsers about twenty times slower, so the budget is larger there, for the same
/// pages to pass.
pub const TIME_BUDGET: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(60)
} else {
    Duration::from_secs(10)
};

/// What the content outputs (text, markdown) cover, from the job's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    pub markdown: bool,
    /// The cleaned HTML (Firecrawl's `html` format).
    pub html: bool,
    pub only_main_content: bool,
    pub include_tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub remove_base64_images: bool,
}

impl Content {
    /// The whole page, with markdown or without.
    pub fn markdown(markdown: bool) -> Self {
        Self {
            markdown,
            ..Self::default()
        }
    }
}

impl From<&JobOptions> for Content {
    fn from(o: &JobOptions) -> Self {
        Self {
            markdown: o.markdown,
            html: o.html,
            only_main_content: o.only_main_content,
            include_tags: o.include_tags.clone(),
            exclude_tags: o.exclude_tags.clone(),
            remove_base64_images: o.remove_base64_images,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extraction {
    pub title: Option<String>,
    pub text: String,
    pub links: Vec<String>,
    pub images: Vec<String>,
    pub data: Option<Value>,
    pub markdown: Option<String>,
    /// The cleaned HTML, when asked for.
    pub html: Option<String>,
    /// Description, language, Open Graph and the other meta tags, by Firecrawl's names.
    pub metadata: serde_json::Map<String, Value>,
    /// What was left out to stay within bounds; empty for a normal page.
    pub cut: Cuts,
}

/// Extracts everything from `html`, resolving links against `base`, within [`TIME_BUDGET`].
pub fn extract(
    html: &str,
    base: &Url,
    rules: Option<&BTreeMap<String, ExtractRule>>,
    content: &Content,
) -> Result<Extraction, FetchError> {
    extract_within(html, base, rules, content, TIME_BUDGET)
}

/// [`extract`] with a time budget of `limit`.
pub fn extract_within(
    html: &str,
    base: &Url,
    rules: Option<&BTreeMap<String, ExtractRule>>,
    content: &Content,
    limit: Duration,
) -> Result<Extraction, FetchError> {
    let mut budget = Budget::new(limit);
    let mut cut = Cuts::default();
    let html = if html.len() > MAX_EXTRACT_BYTES {
        cut.add(Cut::Input);
        let mut end = MAX_EXTRACT_BYTES;
        while !html.is_char_boundary(end) {
            end -= 1;
        }
        &html[..end]
    } else {
        html
    };
    let (html, dropped) = attrs::cap_attributes(html);
    if dropped {
        cut.add(Cut::Attributes);
    }
    let mut doc = parse::parse(&html, &mut budget, &mut cut)?;
    let metadata = metadata::metadata(&doc, base, &mut budget, &mut cut)?;
    let data = rules
        .map(|r| rules::apply(&doc, r, &mut budget, &mut cut))
        .transpose()?;
    select::prune(&mut doc, content, &mut budget)?;
    let walked = walk::walk(&doc, base, &mut budget, &mut cut)?;
    let base = walked.base.clone().unwrap_or_else(|| base.clone());
    let main = if content.only_main_content {
        Some(main_content::main_content(&doc, &base, &mut budget, &mut cut)?.0)
    } else {
        None
    };
    let (text, markdown) = match &main {
        Some(main) => (
            walk::walk(main, &base, &mut budget, &mut cut)?.text,
            render(main, None, content, &base, &mut budget, &mut cut)?,
        ),
        None => (
            walked.text,
            render(&doc, walked.body, content, &base, &mut budget, &mut cut)?,
        ),
    };
    let html = content
        .html
        .then(|| clean::clean(main.as_ref().unwrap_or(&doc), &base, &mut budget, &mut cut))
        .transpose()?;
    Ok(Extraction {
        title: walked.title,
        text,
        links: walked.links,
        images: walked.images,
        data,
        markdown,
        html,
        metadata,
        cut,
    })
}

/// Markdown of `doc` from `start` (else its body, else its root), if asked for.
fn render(
    doc: &scraper::Html,
    start: Option<ego_tree::NodeId>,
    content: &Content,
    base: &Url,
    budget: &mut Budget,
    cut: &mut Cuts,
) -> Result<Option<String>, FetchError> {
    if !content.markdown {
        return Ok(None);
    }
    let body = || {
        doc.tree
            .root()
            .descendants()
            .find(|n| n.value().as_element().is_some_and(|e| e.name() == "body"))
    };
    let start = start
        .and_then(|id| doc.tree.get(id))
        .or_else(body)
        .unwrap_or_else(|| doc.tree.root());
    markdown::render(start, base, budget, cut).map(Some)
}

impl Extraction {
    pub fn links_json(&self) -> Value {
        json!(self.links)
    }

    pub fn images_json(&self) -> Value {
        json!(self.images)
    }

    /// What the `content_extracted` event records: counts, and the cuts made, if any.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            links: self.links.len(),
            images: self.images.len(),
            rules: self
                .data
                .as_ref()
                .and_then(Value::as_object)
                .map_or(0, serde_json::Map::len),
            cut: self.cut.as_slice(),
        }
    }
}

/// An extraction's counts and cuts: the `content_extracted` event's payload.
#[derive(Debug, serde::Serialize)]
pub struct Summary<'a> {
    pub links: usize,
    pub images: usize,
    /// Extraction rules that produced a value.
    pub rules: usize,
    /// Absent when nothing was cut.
    #[serde(skip_serializing_if = "<[Cut]>::is_empty")]
    pub cut: &'a [Cut],
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
        let e = extract(PAGE, &base, Some(&rules), &Content::markdown(true)).expect("extract");
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
    fn the_cleaned_html_covers_what_the_markdown_covers_and_metadata_the_whole_head() {
        let base = Url::parse("https://shop.test/list/").expect("url");
        let page = "<html lang=fr><head><meta name=description content=Shop>\
            <meta property=og:title content=Items></head><body><nav>menu</nav>\
            <main><h1>Items</h1><p class=price>10 EUR</p><a href=/p1>P1</a>\
            <script>var hidden = 1;</script></main></body></html>";
        let content = Content {
            html: true,
            include_tags: vec!["main".into()],
            exclude_tags: vec![".price".into()],
            ..Content::default()
        };
        let e = extract(page, &base, None, &content).expect("extract");
        let html = e.html.expect("html");
        assert_eq!(
            html,
            "<html lang=\"fr\"><body><main><h1>Items</h1>\
             <a href=\"https://shop.test/p1\">P1</a></main></body></html>"
        );
        assert_eq!(e.metadata["description"], "Shop");
        assert_eq!(e.metadata["ogTitle"], "Items");
        assert_eq!(e.metadata["language"], "fr");
        let plain = extract(page, &base, None, &Content::default()).expect("extract");
        assert!(plain.html.is_none(), "made only when asked for");
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
        let err =
            extract("<p>x</p>", &base, Some(&rules), &Content::default()).expect_err("invalid");
        assert!(!err.retryable());
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    fn base() -> Url {
        Url::parse("https://deep.test/").expect("url")
    }

    fn rule(selector: &str, all: bool) -> BTreeMap<String, ExtractRule> {
        BTreeMap::from([(
            "r".to_owned(),
            ExtractRule {
                selector: selector.into(),
                attribute: None,
                all,
            },
        )])
    }

    fn nested(open: &str, close: &str, n: usize) -> String {
        format!(
            "<html><body>{}<a href='/deep'>deepest</a>{}</body></html>",
            open.repeat(n),
            close.repeat(n)
        )
    }

    #[test]
    fn pages_nested_past_the_bound_are_extracted_and_report_the_cut() {
        let pages = [
            ("divs", nested("<div>", "</div>", 20_000)),
            ("bold", nested("<b>", "</b>", 100_000)),
            ("lists", nested("<ul><li>", "</li></ul>", 20_000)),
            (
                "tables",
                nested("<table><tr><td>", "</td></tr></table>", 5_000),
            ),
            (
                "unclosed",
                format!("<body>{}deepest", "<div>".repeat(50_000)),
            ),
        ];
        for (name, page) in pages {
            let e = extract(
                &page,
                &base(),
                Some(&rule("div p, td, b:has(b)", true)),
                &Content::markdown(true),
            )
            .unwrap_or_else(|err| panic!("{name}: {err}"));
            assert!(e.cut.contains(Cut::Depth), "{name}: {:?}", e.cut);
            assert_eq!(e.text, "deepest", "{name}");
            assert!(
                e.markdown.as_deref().is_some_and(|m| m.contains("deepest")),
                "{name}"
            );
            assert_eq!(json!(e.summary())["cut"], json!(["depth"]), "{name}");
        }
    }

    #[test]
    fn a_normal_page_reports_no_cut() {
        let e = extract(
            "<p><a href=/a>a</a></p>",
            &base(),
            None,
            &Content::markdown(true),
        )
        .expect("extract");
        assert!(e.cut.is_empty());
        assert!(json!(e.summary()).get("cut").is_none());
    }

    #[test]
    fn links_past_the_cap_are_cut_and_reported() {
        let page: String = (0..MAX_LINKS + 10)
            .map(|i| format!("<a href=/{i}>{i}</a><img src=/{i}.png>"))
            .collect();
        let e = extract(&page, &base(), None, &Content::default()).expect("extract");
        assert_eq!((e.links.len(), e.images.len()), (MAX_LINKS, MAX_LINKS));
        assert_eq!(e.links[0], "https://deep.test/0");
        assert!(e.cut.contains(Cut::Links));
    }

    #[test]
    fn every_element_matching_a_rule_on_a_deep_page_stays_within_the_caps() {
        let page: String = format!(
            "{}{}",
            (0..3_000).map(|i| format!("<div>{i} ")).collect::<String>(),
            "</div>".repeat(3_000)
        );
        let e = extract(
            &page,
            &base(),
            Some(&rule("div", true)),
            &Content::default(),
        )
        .expect("extract");
        let values = e
            .data
            .as_ref()
            .and_then(|d| d["r"].as_array())
            .expect("values");
        let chars: usize = values.iter().filter_map(Value::as_str).map(str::len).sum();
        assert!(chars <= rules::MAX_TOTAL_CHARS, "{chars}");
        assert!(values.len() <= rules::MAX_VALUES);
        assert!(e.cut.contains(Cut::RuleValues) && e.cut.contains(Cut::Depth));
    }

    #[test]
    fn extraction_past_its_budget_fails_with_content_too_complex() {
        let page = "<p>x</p>".repeat(200_000);
        let err = extract_within(
            &page,
            &base(),
            None,
            &Content::markdown(true),
            Duration::ZERO,
        )
        .expect_err("spent");
        assert_eq!(err.code(), "content_too_complex");
    }
}

//! The page's main content, for `only_main_content`: rs-trafilatura (a port of
//! trafilatura) picks it from the page, and the worker's own parser reads what it picked,
//! so the markdown and text of the main content are written by the same bounded passes as
//! the whole page's. When trafilatura finds no content (a page that is not an article: a
//! product list, a search result), the page without its boilerplate is used instead.
//! Either way its link-dense blocks (teaser and "related" lists, share lines) are dropped
//! ([`drop_link_dense`]) before the markdown and text are written; from trafilatura's
//! content, so are the short blocks its own text leaves out (bylines, credits, "Comments":
//! [`drop_left_out`]).
//!
//! The page reaches trafilatura serialized as it was parsed: `<noscript>` content the parser
//! read as raw text (scripting on) is written back raw, not escaped into words such as
//! `<img class=...>` ([`page_html`]). When trafilatura swaps the page's markup for a
//! JSON-LD `articleBody` (plain text: no headings, lists or links), the markup's content is
//! taken instead if it says what that body says ([`markup_instead`]).
//!
//! Invariant: trafilatura only ever sees the page as the bounded parser left it (at most
//! `MAX_DEPTH + 1` deep, attributes capped), serialized again, and runs on the extraction
//! thread under its wall-clock limit (twice at most, the second time only for a JSON-LD
//! body); its output is parsed by [`parse`] like any page, so every later pass keeps its
//! bounds. The result is always a document: trafilatura's content, or the stripped page.

use std::collections::HashSet;

use html5ever::serialize::{SerializeOpts, TraversalScope, serialize};
use rs_trafilatura::{ExtractResult, Options};
use scraper::{Html, Selector};
use url::Url;

use super::{
    budget::{Budget, Cuts},
    density::drop_link_dense,
    left_out::drop_left_out,
    parse::parse,
    select::strip_boilerplate,
};
use crate::error::FetchError;

/// Content with fewer words than this is not trusted as the page's main content.
const MIN_WORDS: usize = 3;
/// How trafilatura says it used a JSON-LD `articleBody` instead of the page's markup.
const JSON_LD_NOTE: &str = "Using JSON-LD content";
/// Share of a JSON-LD body's distinct words the markup's content must hold to be taken
/// instead of it: below, the markup holds less than the article (a teaser, a first page).
const JSON_LD_COVERED: f64 = 0.8;

/// Which selection a main-content document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picked {
    /// trafilatura's choice.
    Trafilatura,
    /// The page without its boilerplate.
    Stripped,
}

/// The main content of `doc` as a document of its own, and where it came from.
pub fn main_content(
    doc: &Html,
    base: &Url,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<(Html, Picked), FetchError> {
    budget.check("main content")?;
    if let Some((html, said)) = trafilatura(doc, base) {
        let html = with_heading(doc, html);
        budget.check("main content")?;
        let mut content = parse(&html, budget, cuts)?;
        drop_left_out(&mut content, &said, budget)?;
        drop_link_dense(&mut content, budget)?;
        return Ok((content, Picked::Trafilatura));
    }
    let mut stripped = doc.clone();
    strip_boilerplate(&mut stripped, budget)?;
    drop_link_dense(&mut stripped, budget)?;
    Ok((stripped, Picked::Stripped))
}

/// trafilatura's main content of the page, as HTML, with links, images, tables and
/// formatting kept, and its text of that content; None when it found too little.
fn trafilatura(doc: &Html, base: &Url) -> Option<(String, String)> {
    let options = Options {
        include_links: true,
        include_images: true,
        include_tables: true,
        include_formatting: true,
        url: Some(base.to_string()),
        ..Options::default()
    };
    let mut result = rs_trafilatura::extract_with_options(&page_html(doc), &options).ok()?;
    if result.warnings.iter().any(|w| w.starts_with(JSON_LD_NOTE)) {
        result = markup_instead(doc, &options, result);
    }
    if result.content_text.split_whitespace().count() < MIN_WORDS {
        return None;
    }
    Some((result.content_html?, result.content_text))
}

/// `doc` as HTML, serialized as it was parsed. scraper's `Html::html` writes as if scripts
/// were off, escaping the text of a `<noscript>` that its parser, scripts on, read raw: a
/// lazy-loaded image's `<noscript><img ...></noscript>` would reach trafilatura as words.
fn page_html(doc: &Html) -> String {
    let opts = SerializeOpts {
        scripting_enabled: true,
        traversal_scope: TraversalScope::IncludeNode,
        create_missing_parent: false,
    };
    let mut out = Vec::new();
    if serialize(&mut out, doc, opts).is_err() {
        return doc.html();
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// trafilatura's content of the page's markup, its JSON-LD left out, when that content holds
/// most of what the JSON-LD body it preferred says (the body is plain text, the markup keeps
/// headings, lists and links; a body larger than the markup's content may be the article
/// repeated); else that body, `json_ld`.
fn markup_instead(doc: &Html, options: &Options, json_ld: ExtractResult) -> ExtractResult {
    let Ok(scripts) = Selector::parse(r#"script[type="application/ld+json"]"#) else {
        return json_ld;
    };
    let mut page = doc.clone();
    let ids: Vec<_> = page.select(&scripts).map(|s| s.id()).collect();
    for id in ids {
        if let Some(mut node) = page.tree.get_mut(id) {
            node.detach();
        }
    }
    match rs_trafilatura::extract_with_options(&page_html(&page), options) {
        Ok(markup)
            if markup.content_html.is_some()
                && covered(&json_ld.content_text, &markup.content_text) =>
        {
            markup
        }
        _ => json_ld,
    }
}

/// Whether `text` holds at least [`JSON_LD_COVERED`] of the distinct words of `body`.
fn covered(body: &str, text: &str) -> bool {
    let words = |s: &str| -> HashSet<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let body = words(body);
    let text = words(text);
    !body.is_empty()
        && body.intersection(&text).count() as f64 >= JSON_LD_COVERED * body.len() as f64
}

/// trafilatura keeps the page's title apart from its content; the content keeps the page's
/// first `<h1>` (a heading is content to a reader) unless its text is in there already.
fn with_heading(doc: &Html, content: String) -> String {
    let Ok(h1) = scraper::Selector::parse("h1") else {
        return content;
    };
    let Some(heading) = doc.select(&h1).next() else {
        return content;
    };
    let text = heading.text().collect::<Vec<_>>().join(" ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty()
        || Html::parse_fragment(&content)
            .root_element()
            .text()
            .any(|t| t.contains(&text))
    {
        return content;
    }
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!("<h1>{escaped}</h1>{content}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn picked(html: &str) -> (String, Picked) {
        let (main, from) = picked_doc(html);
        let text = main.root_element().text().collect::<Vec<_>>().join(" ");
        (text.split_whitespace().collect::<Vec<_>>().join(" "), from)
    }

    fn picked_doc(html: &str) -> (Html, Picked) {
        let doc = Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        let mut cuts = Cuts::default();
        let base = Url::parse("https://news.test/a/story.html").expect("url");
        main_content(&doc, &base, &mut budget, &mut cuts).expect("main")
    }

    /// An article page: `body` in the markup, `json_ld` as its JSON-LD `articleBody`.
    fn with_json_ld(body: &str, json_ld: &str) -> String {
        let ld = serde_json::json!({"@type": "NewsArticle", "articleBody": json_ld});
        format!(
            "<html><head><title>Library opens</title><script type=\"application/ld+json\">{ld}\
             </script></head><body><nav><a href=/>Home</a></nav><article><h1>Library opens</h1>\
             {body}</article><footer>Copyright 2026</footer></body></html>"
        )
    }

    const FIRST: &str = "The committee met on Tuesday to discuss the budget for the coming year, \
                         and members agreed that the new library should open in the spring.";
    const SECOND: &str = "Work on the reading rooms starts next month, and the mayor said the \
                          shelves would hold more than forty thousand books by the autumn.";

    #[test]
    fn an_article_is_picked_without_its_navigation_and_footer() {
        let para = "The committee met on Tuesday to discuss the budget for the coming year, \
                    and members agreed that the new library should open in the spring. ";
        let page = format!(
            "<html><body><nav><a href=/>Home</a> <a href=/world>World</a> <a href=/sport>Sport</a>\
             </nav><div id=cookie-banner>We use cookies. Accept all</div><article>\
             <h1>Library opens</h1><p>{}</p><p>{}</p><p>{}</p></article>\
             <footer>Copyright 2026 News Test. All rights reserved. Privacy policy</footer>\
             </body></html>",
            para.repeat(3),
            para.repeat(2),
            para.repeat(2)
        );
        let (text, from) = picked(&page);
        assert_eq!(from, Picked::Trafilatura);
        assert!(text.contains("library should open"), "{text}");
        for boilerplate in ["Sport", "cookies", "Copyright", "Privacy"] {
            assert!(!text.contains(boilerplate), "{boilerplate} in {text}");
        }
    }

    #[test]
    fn the_pages_heading_stays_with_its_main_content() {
        let para = "The widget number four is made of steel and costs forty dollars, \
                    which is less than the widget number five. ";
        let page = format!(
            "<html><body><nav><a href=/>Home</a></nav><main><h1>Widget &amp; Four</h1>\
             <p>{}</p></main></body></html>",
            para.repeat(3)
        );
        let (text, from) = picked(&page);
        assert_eq!(from, Picked::Trafilatura);
        assert!(text.starts_with("Widget & Four"), "{text}");
        assert_eq!(text.matches("Widget & Four").count(), 1, "{text}");
    }

    #[test]
    fn a_lazy_images_noscript_markup_does_not_become_words() {
        // trafilatura keeps a <noscript>'s content from 500 characters of text on.
        let srcset: Vec<String> = (1..=12)
            .map(|i| format!("https://news.test/uploads/reading-room-{i}00x{i}00.jpg {i}00w"))
            .collect();
        let page = format!(
            "<html><body><article><h1>Library opens</h1><p>{FIRST} {SECOND}</p><p><img \
             src=\"data:image/svg+xml,x\" alt=Reading><noscript><img class=\"wp-image-7\" \
             src=/reading.jpg alt=Reading srcset=\"{}\"></noscript></p><p>{SECOND} {FIRST}</p>\
             </article></body></html>",
            srcset.join(", ")
        );
        let (text, from) = picked(&page);
        assert_eq!(from, Picked::Trafilatura);
        assert!(text.contains("forty thousand books"), "{text}");
        assert!(
            !text.contains("wp-image") && !text.contains("<img"),
            "{text}"
        );
    }

    #[test]
    fn an_article_its_json_ld_repeats_keeps_the_markups_headings_and_links() {
        let body = format!(
            "<p>{FIRST}</p><h2>The reading rooms</h2><p>{SECOND} <a href=/plan>The plan</a> \
             is online.</p><p>{FIRST} {SECOND}</p>"
        );
        let article = format!("{FIRST} The reading rooms {SECOND} The plan is online. ");
        let (main, from) = picked_doc(&with_json_ld(&body, &article.repeat(4)));
        assert_eq!(from, Picked::Trafilatura);
        let html = main.root_element().html();
        assert!(html.contains("<h2>The reading rooms</h2>"), "{html}");
        assert!(html.contains("href=\"/plan\""), "{html}");
        assert_eq!(html.matches("forty thousand").count(), 2, "{html}");
    }

    #[test]
    fn a_json_ld_body_the_markup_holds_only_a_teaser_of_is_kept() {
        let body = format!("<p>{FIRST}</p><p>{SECOND}</p>");
        let rest = "The architects chose oak for the stairs and glass for the roof, so that \
                    daylight reaches the lower floors, where the children's section will be. \
                    Volunteers will run a café on the ground floor on weekends. ";
        let (text, from) = picked(&with_json_ld(
            &body,
            &format!("{FIRST} {SECOND} {}", rest.repeat(4)),
        ));
        assert_eq!(from, Picked::Trafilatura);
        assert!(text.contains("oak for the stairs"), "{text}");
    }

    #[test]
    fn a_page_without_an_article_falls_back_to_the_page_without_boilerplate() {
        let (text, from) =
            picked("<body><nav>Menu</nav><ul><li>A</li></ul><footer>Foot</footer></body>");
        assert_eq!(from, Picked::Stripped);
        assert_eq!(text, "A");
    }
}

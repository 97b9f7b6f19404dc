//! The page's main content, for `only_main_content`: rs-trafilatura (a port of
//! trafilatura) picks it from the page, and the worker's own parser reads what it picked,
//! so the markdown and text of the main content are written by the same bounded passes as
//! the whole page's. When trafilatura finds no content (a page that is not an article: a
//! product list, a search result), the page without its boilerplate is used instead.
//! Either way its link-dense blocks (teaser and "related" lists, share lines) are dropped
//! ([`drop_link_dense`]) before the markdown and text are written.
//!
//! Invariant: trafilatura only ever sees the page as the bounded parser left it (at most
//! `MAX_DEPTH + 1` deep, attributes capped), serialized again, and runs on the extraction
//! thread under its wall-clock limit; its output is parsed by [`parse`] like any page, so
//! every later pass keeps its bounds. The result is always a document: trafilatura's
//! content, or the stripped page.

use scraper::Html;
use url::Url;

use super::{
    budget::{Budget, Cuts},
    density::drop_link_dense,
    parse::parse,
    select::strip_boilerplate,
};
use crate::error::FetchError;

/// Content with fewer words than this is not trusted as the page's main content.
const MIN_WORDS: usize = 3;

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
    if let Some(html) = trafilatura(&doc.html(), base) {
        let html = with_heading(doc, html);
        budget.check("main content")?;
        let mut content = parse(&html, budget, cuts)?;
        drop_link_dense(&mut content, budget)?;
        return Ok((content, Picked::Trafilatura));
    }
    let mut stripped = doc.clone();
    strip_boilerplate(&mut stripped, budget)?;
    drop_link_dense(&mut stripped, budget)?;
    Ok((stripped, Picked::Stripped))
}

/// trafilatura's main content of `html`, as HTML, with links, images, tables and
/// formatting kept; None when it found too little.
fn trafilatura(html: &str, base: &Url) -> Option<String> {
    let options = rs_trafilatura::Options {
        include_links: true,
        include_images: true,
        include_tables: true,
        include_formatting: true,
        url: Some(base.to_string()),
        ..rs_trafilatura::Options::default()
    };
    let result = rs_trafilatura::extract_with_options(html, &options).ok()?;
    if result.content_text.split_whitespace().count() < MIN_WORDS {
        return None;
    }
    result.content_html
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
        let doc = Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        let mut cuts = Cuts::default();
        let base = Url::parse("https://news.test/a/story.html").expect("url");
        let (main, from) = main_content(&doc, &base, &mut budget, &mut cuts).expect("main");
        let text = main.root_element().text().collect::<Vec<_>>().join(" ");
        (text.split_whitespace().collect::<Vec<_>>().join(" "), from)
    }

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
    fn a_page_without_an_article_falls_back_to_the_page_without_boilerplate() {
        let (text, from) =
            picked("<body><nav>Menu</nav><ul><li>A</li></ul><footer>Foot</footer></body>");
        assert_eq!(from, Picked::Stripped);
        assert_eq!(text, "A");
    }
}

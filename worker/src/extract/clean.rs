//! The cleaned HTML (Firecrawl's `html` format): the selected page (the whole page, or its
//! main content; `include_tags` and `exclude_tags` already applied by [`super::select`])
//! written back as HTML without what a reader of the content has no use for: the head, its
//! `meta` and `link` elements, scripts, styles, `noscript`, templates, comments and the
//! doctype. URLs in `href`, `src`, `srcset`, `poster` and `action` are made absolute
//! against the page's base.
//!
//! Invariant: one iterative pass over the bounded tree (ego-tree's `traverse`, open and
//! close edges; skipped subtrees counted, never recursed into), one [`Budget`] tick per
//! edge, output capped at [`MAX_BYTES`] (cut at an element boundary, the open elements
//! closed, [`Cut::Html`] reported). Text and attribute values are escaped, so the output
//! parses back to the same tree of kept elements.

use ego_tree::{NodeRef, iter::Edge};
use scraper::{Html, Node, node::Element};
use url::Url;

use super::budget::{Budget, Cut, Cuts};
use crate::error::FetchError;

/// The cleaned HTML kept, in bytes.
pub const MAX_BYTES: usize = 2 * super::MAX_EXTRACT_BYTES;

/// Elements left out with everything inside them.
const DROPPED: [&str; 9] = [
    "head", "script", "style", "noscript", "template", "meta", "link", "base", "title",
];

/// Elements with no end tag.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param",
];

/// Attributes holding one URL.
const URL_ATTRIBUTES: [&str; 5] = ["href", "src", "poster", "action", "cite"];

/// The cleaned HTML of `doc`, URLs resolved against `base`.
pub fn clean(
    doc: &Html,
    base: &Url,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<String, FetchError> {
    let mut out = String::new();
    let mut open: Vec<&str> = Vec::new();
    let mut skipping = 0usize;
    for edge in doc.tree.root().traverse() {
        budget.tick("cleaned html")?;
        match edge {
            Edge::Open(node) => {
                if skipping > 0 {
                    skipping += usize::from(is_element(node));
                    continue;
                }
                match node.value() {
                    Node::Text(t) => escape_into(&mut out, t, false),
                    Node::Element(el) if DROPPED.contains(&el.name()) => skipping = 1,
                    Node::Element(el) => {
                        start_tag(&mut out, el, base);
                        if !VOID.contains(&el.name()) {
                            open.push(el.name());
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if skipping > 0 {
                    skipping -= usize::from(is_element(node));
                    continue;
                }
                if let Node::Element(el) = node.value()
                    && !VOID.contains(&el.name())
                {
                    open.pop();
                    out.push_str("</");
                    out.push_str(el.name());
                    out.push('>');
                }
                if out.len() > MAX_BYTES {
                    cuts.add(Cut::Html);
                    break;
                }
            }
        }
    }
    while let Some(name) = open.pop() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    Ok(out)
}

fn is_element(node: NodeRef<'_, Node>) -> bool {
    node.value().is_element()
}

fn start_tag(out: &mut String, el: &Element, base: &Url) {
    out.push('<');
    out.push_str(el.name());
    for (name, value) in el.attrs() {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        if URL_ATTRIBUTES.contains(&name) {
            escape_into(out, &absolute(base, value), true);
        } else if name == "srcset" {
            escape_into(out, &absolute_srcset(base, value), true);
        } else {
            escape_into(out, value, true);
        }
        out.push('"');
    }
    out.push('>');
}

/// `value` resolved against `base`; left as written when it does not resolve or is a
/// fragment of the page itself.
fn absolute(base: &Url, value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.starts_with('#') {
        return value.to_owned();
    }
    base.join(trimmed)
        .map_or_else(|_| value.to_owned(), String::from)
}

/// Each candidate of a `srcset` (`url [descriptor], …`) resolved against `base`.
fn absolute_srcset(base: &Url, value: &str) -> String {
    value
        .split(',')
        .map(|candidate| {
            let candidate = candidate.trim();
            match candidate.split_once(char::is_whitespace) {
                Some((url, descriptor)) => format!("{} {}", absolute(base, url), descriptor.trim()),
                None => absolute(base, candidate),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends `text` escaped for a text node, or for a double-quoted attribute value.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' if !attribute => out.push_str("&lt;"),
            '>' if !attribute => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cleaned(html: &str) -> (String, Cuts) {
        let doc = Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        let mut cuts = Cuts::default();
        let base = Url::parse("https://shop.test/list/").expect("url");
        (
            clean(&doc, &base, &mut budget, &mut cuts).expect("clean"),
            cuts,
        )
    }

    #[test]
    fn scripts_styles_head_and_comments_are_removed_and_the_rest_kept() {
        let (html, cuts) = cleaned(
            "<!doctype html><html lang=en><head><title>T</title><meta name=description \
             content=d><link rel=stylesheet href=a.css><style>p{}</style></head><body>\
             <!-- note --><h1 class=\"big\">Items</h1><script>var x = 1;</script>\
             <noscript>enable js</noscript><p>Tom &amp; Jerry &lt;3</p><br></body></html>",
        );
        assert_eq!(
            html,
            "<html lang=\"en\"><body><h1 class=\"big\">Items</h1>\
             <p>Tom &amp; Jerry &lt;3</p><br></body></html>"
        );
        assert!(cuts.is_empty());
    }

    #[test]
    fn relative_urls_become_absolute_and_fragments_stay() {
        let (html, _) = cleaned(
            "<a href=\"/p1.html\">W</a><a href=\"#top\">top</a><img src=\"img/1.png\" \
             srcset=\"a.png 1x, /b.png 2x\"><form action=\"?q=1\"></form>",
        );
        assert!(
            html.contains("href=\"https://shop.test/p1.html\""),
            "{html}"
        );
        assert!(html.contains("href=\"#top\""), "{html}");
        assert!(
            html.contains("src=\"https://shop.test/list/img/1.png\""),
            "{html}"
        );
        assert!(
            html.contains("srcset=\"https://shop.test/list/a.png 1x, https://shop.test/b.png 2x\""),
            "{html}"
        );
        assert!(
            html.contains("action=\"https://shop.test/list/?q=1\""),
            "{html}"
        );
    }

    #[test]
    fn attribute_values_are_escaped() {
        let (html, _) = cleaned("<p title='say \"hi\" & <go>'>x</p>");
        assert!(
            html.contains("title=\"say &quot;hi&quot; &amp; <go>\""),
            "{html}"
        );
    }

    #[test]
    fn output_past_the_cap_is_cut_closed_and_reported() {
        let page = format!("<div>{}</div>", "<p>abcdefgh</p>".repeat(MAX_BYTES / 10));
        let (html, cuts) = cleaned(&page);
        assert!(cuts.contains(Cut::Html));
        assert!(html.len() <= MAX_BYTES + 64, "{}", html.len());
        assert!(html.ends_with("</p></div></body></html>"), "closed");
    }
}

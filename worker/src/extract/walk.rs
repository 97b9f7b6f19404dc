//! One pass over the parsed page for everything that does not depend on the customer's
//! rules: the title, the visible text, absolute links and images (resolved against the
//! page's `<base href>` when it has one, else its URL), and the page's `body`.
//!
//! Invariant: the pass is iterative (ego-tree's `traverse`, open and close edges) and linear
//! in the page: whether text is hidden is a counter of the open hidden elements, not a walk
//! up its ancestors; links, images and text stop at their caps and report the cut.

use std::collections::HashSet;

use ego_tree::{NodeId, NodeRef, iter::Edge};
use scraper::{Html, Node};
use url::Url;

use super::{
    MAX_LINKS, MAX_TEXT_CHARS,
    budget::{Budget, Cut, Cuts},
};
use crate::error::FetchError;

/// Elements whose text is not part of the page's visible text.
pub const INVISIBLE: [&str; 5] = ["script", "style", "noscript", "template", "head"];

/// What the pass found.
#[derive(Debug, Default)]
pub struct Walked {
    pub title: Option<String>,
    pub text: String,
    pub links: Vec<String>,
    pub images: Vec<String>,
    /// The page's first `body`, where its markdown starts.
    pub body: Option<NodeId>,
    /// What the page's relative URLs resolve against: its first `<base href>`, else its URL.
    pub base: Option<Url>,
}

/// Absolute http(s) URLs, fragment-free, each once, in document order, up to a cap.
#[derive(Default)]
struct Urls {
    list: Vec<String>,
    seen: HashSet<String>,
    full: bool,
}

impl Urls {
    fn add(&mut self, base: &Url, href: &str) {
        if self.full {
            return;
        }
        let Ok(mut url) = base.join(href.trim()) else {
            return;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return;
        }
        url.set_fragment(None);
        let url = String::from(url);
        if self.seen.contains(&url) {
            return;
        }
        if self.list.len() == MAX_LINKS {
            self.full = true;
            return;
        }
        self.seen.insert(url.clone());
        self.list.push(url);
    }
}

/// Appends the words of `text` to `out`, one space apart.
pub fn push_words(out: &mut String, text: &str) {
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// The whitespace-collapsed text under `node`, at most `max` characters; whether it was cut.
pub fn text_under(
    node: NodeRef<'_, Node>,
    max: usize,
    budget: &mut Budget,
) -> Result<(String, bool), FetchError> {
    let mut out = String::new();
    for descendant in node.descendants() {
        budget.tick("text")?;
        if let Node::Text(text) = descendant.value() {
            push_words(&mut out, text);
            if out.len() > max {
                break;
            }
        }
    }
    Ok(truncate_chars(out, max))
}

/// `text` cut to `max` characters, and whether it was longer.
fn truncate_chars(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    match text.char_indices().nth(max) {
        Some((at, _)) => {
            text.truncate(at);
            (text, true)
        }
        None => (text, false),
    }
}

/// The title, text, links, images and body of `doc`, links resolved against `base`.
pub fn walk(
    doc: &Html,
    base: &Url,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<Walked, FetchError> {
    let (mut links, mut images) = (Urls::default(), Urls::default());
    let mut text = String::new();
    let mut hidden = 0usize;
    let mut text_cut = false;
    let (mut title, mut body) = (None, None);
    let mut base = base.clone();
    let mut based = false;
    for edge in doc.tree.root().traverse() {
        budget.tick("text and links")?;
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Text(t) if hidden == 0 => {
                    if text.len() <= MAX_TEXT_CHARS {
                        push_words(&mut text, t);
                    } else {
                        text_cut |= !t.trim().is_empty();
                    }
                }
                Node::Element(el) => {
                    let name = el.name();
                    if INVISIBLE.contains(&name) {
                        hidden += 1;
                    }
                    match name {
                        "a" => el
                            .attr("href")
                            .into_iter()
                            .for_each(|h| links.add(&base, h)),
                        "img" => el
                            .attr("src")
                            .into_iter()
                            .for_each(|s| images.add(&base, s)),
                        "base" if !based => {
                            based = true;
                            if let Some(url) = el.attr("href").and_then(|h| base.join(h).ok()) {
                                base = url;
                            }
                        }
                        "title" if title.is_none() => title = Some(node),
                        "body" if body.is_none() => body = Some(node.id()),
                        _ => {}
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if node
                    .value()
                    .as_element()
                    .is_some_and(|el| INVISIBLE.contains(&el.name()))
                {
                    hidden -= 1;
                }
            }
        }
    }
    let (text, truncated) = truncate_chars(text, MAX_TEXT_CHARS);
    if text_cut || truncated {
        cuts.add(Cut::Text);
    }
    if links.full || images.full {
        cuts.add(Cut::Links);
    }
    let title = match title {
        Some(node) => Some(text_under(node, MAX_TEXT_CHARS, budget)?.0).filter(|t| !t.is_empty()),
        None => None,
    };
    Ok(Walked {
        title,
        text,
        links: links.list,
        images: images.list,
        body,
        base: Some(base),
    })
}

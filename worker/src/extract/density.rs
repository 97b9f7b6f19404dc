//! Link-dense blocks out of the main content, as trafilatura drops them from its text:
//! the content HTML rs-trafilatura hands back keeps, on some pages, teaser lists, "related
//! articles" lists and lines of share or tag links that its own text leaves out. A block
//! (list, list item, division, section, paragraph) whose visible text is short and mostly
//! inside links is navigation, not prose, and is detached before the markdown and text are
//! written; so is a list item headed by a subheading that is all link (a teaser of another
//! page with its summary). Prose with links in it, headings outside such blocks, tables and code stay.
//!
//! Invariant: one iterative pass (ego-tree's `traverse`) over the parsed content, each
//! element's counts added to its parent's when it closes; it only detaches subtrees, so the
//! tree stays as bounded as the parser left it; the [`Budget`] is ticked per node.

use ego_tree::{NodeId, iter::Edge};
use scraper::{Html, Node};

use super::{budget::Budget, walk::INVISIBLE};
use crate::error::FetchError;

/// Blocks that may be navigation.
const CANDIDATES: [&str; 7] = ["ul", "ol", "li", "div", "section", "p", "dl"];
/// Elements a dropped block must not hold: what is content whatever links surround it.
const KEPT: [&str; 4] = ["table", "pre", "code", "blockquote"];
/// Share of a block's text inside links from which it is navigation.
const LINK_SHARE: f64 = 0.7;
/// Blocks with at least this many characters of text are kept whatever their links.
const MAX_CHARS: usize = 3000;

#[derive(Default)]
struct Counts {
    chars: usize,
    link_chars: usize,
    links: usize,
    kept: bool,
    /// A subheading whose text is all link text is inside: a list item holding one is a
    /// teaser of another page, whatever its summary.
    linked_heading: bool,
}

struct Frame {
    id: NodeId,
    candidate: bool,
    link: bool,
    counts: Counts,
}

/// Detaches the link-dense blocks of `doc`.
pub fn drop_link_dense(doc: &mut Html, budget: &mut Budget) -> Result<(), FetchError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut dropped = Vec::new();
    let mut in_link = 0usize;
    let mut hidden = 0usize;
    for edge in doc.tree.root().traverse() {
        budget.tick("link density")?;
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if INVISIBLE.contains(&name) {
                        hidden += 1;
                    }
                    let link = name == "a" && el.attr("href").is_some();
                    if link {
                        in_link += 1;
                    }
                    stack.push(Frame {
                        id: node.id(),
                        candidate: CANDIDATES.contains(&name),
                        link,
                        counts: Counts {
                            kept: KEPT.contains(&name),
                            ..Counts::default()
                        },
                    });
                }
                Node::Text(text) if hidden == 0 => {
                    if let Some(top) = stack.last_mut() {
                        let chars = text.chars().filter(|c| !c.is_whitespace()).count();
                        top.counts.chars += chars;
                        if in_link > 0 {
                            top.counts.link_chars += chars;
                        }
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                let Some(el) = node.value().as_element() else {
                    continue;
                };
                if INVISIBLE.contains(&el.name()) {
                    hidden = hidden.saturating_sub(1);
                }
                let Some(mut frame) = stack.pop() else {
                    continue;
                };
                if frame.link {
                    in_link = in_link.saturating_sub(1);
                    frame.counts.links += 1;
                }
                if matches!(el.name(), "h2" | "h3" | "h4" | "h5" | "h6")
                    && frame.counts.chars > 0
                    && frame.counts.link_chars == frame.counts.chars
                {
                    frame.counts.linked_heading = true;
                }
                if frame.candidate
                    && (is_navigation(&frame.counts)
                        || (el.name() == "li" && frame.counts.linked_heading))
                {
                    dropped.push(frame.id);
                    continue;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.counts.chars += frame.counts.chars;
                    parent.counts.link_chars += frame.counts.link_chars;
                    parent.counts.links += frame.counts.links;
                    parent.counts.kept |= frame.counts.kept;
                    parent.counts.linked_heading |= frame.counts.linked_heading;
                }
            }
        }
    }
    for id in dropped {
        if let Some(mut node) = doc.tree.get_mut(id) {
            node.detach();
        }
    }
    Ok(())
}

/// Whether a block with these counts is navigation rather than content.
fn is_navigation(c: &Counts) -> bool {
    !c.kept
        && c.links > 0
        && c.chars < MAX_CHARS
        && c.link_chars as f64 > LINK_SHARE * c.chars as f64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn kept(html: &str) -> String {
        let mut doc = Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        drop_link_dense(&mut doc, &mut budget).expect("dropped");
        let text = doc.root_element().text().collect::<Vec<_>>().join(" ");
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn link_lists_and_link_lines_leave_and_prose_with_links_stays() {
        let text = kept(
            "<h2>The budget</h2><p>The council met on <a href=/t>Tuesday</a> and agreed on \
             the budget for the library.</p><ul><li><a href=/a>Related story one</a></li>\
             <li><a href=/b>Related story two</a></li></ul><p><a href=/s>Share</a> \
             <a href=/t>Tweet</a></p><ul><li>First point</li><li>Second point</li></ul>",
        );
        assert_eq!(
            text,
            "The budget The council met on Tuesday and agreed on the budget for the library. \
             First point Second point"
        );
    }

    #[test]
    fn teasers_headed_by_a_linked_subheading_leave_and_plain_headings_stay() {
        let text = kept(
            "<h2>Steps</h2><ul><li><h3>First</h3>Mix the flour and the water well.</li></ul>\
             <ul><li><h3><a href=/o>Other story</a></h3>A long summary of the other story \
             that is not a link at all.</li></ul>",
        );
        assert_eq!(text, "Steps First Mix the flour and the water well.");
    }

    #[test]
    fn tables_and_code_stay_whatever_their_links() {
        let text = kept(
            "<div><table><tr><td><a href=/x>Cell link</a></td></tr></table></div>\
             <div><pre><code><a href=/y>linked_code()</a></code></pre></div>",
        );
        assert_eq!(text, "Cell link linked_code()");
    }
}

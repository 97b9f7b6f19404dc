//! Short blocks of trafilatura's content HTML that its own text leaves out are left out of
//! the main content too. rs-trafilatura writes its text and its HTML of the same content
//! by two walks, and only the text's drops bylines, dates, "Comments" and newsletter
//! headings, image credits, share lines and the article's title repeated in the body; the
//! markdown is written from the HTML. A leaf block (a paragraph, heading, list item,
//! division... holding no other block) of at most [`MAX_CHARS`] characters whose words are
//! nowhere in trafilatura's text is such boilerplate, and is detached. Longer blocks stay
//! (prose is trafilatura's to choose, and its text may differ from its HTML in detail), so
//! do the headline `<h1>`, tables, code and blocks without text (an image).
//!
//! Invariant: one iterative pass (ego-tree's `traverse`) over the parsed content, each
//! frame keeping at most [`MAX_CHARS`] + 1 characters of its text; it only detaches
//! subtrees, so the tree stays as bounded as the parser left it; the [`Budget`] is ticked
//! per node, and the searches in trafilatura's text read at most [`MAX_SCAN`] bytes in all,
//! the blocks after that staying.

use ego_tree::{NodeId, iter::Edge};
use scraper::{Html, Node};

use super::{budget::Budget, walk::INVISIBLE};
use crate::error::FetchError;

/// Blocks that may be left out.
const CANDIDATES: [&str; 12] = [
    "p",
    "div",
    "section",
    "li",
    "dt",
    "dd",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
];
/// Elements that make their ancestors blocks holding blocks, judged by their parts.
const BLOCKS: [&str; 22] = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "dt",
    "dd",
    "ul",
    "ol",
    "dl",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "table",
    "pre",
    "code",
    "figure",
];
/// Containers left with nothing when all they held was dropped leave too.
const CONTAINERS: [&str; 3] = ["ul", "ol", "dl"];
/// Blocks with more characters of text than this stay.
const MAX_CHARS: usize = 80;
/// Bytes of trafilatura's text read by the searches of one page, at most.
const MAX_SCAN: usize = 16 << 20;

struct Frame {
    id: NodeId,
    candidate: bool,
    /// A block is inside: the element is judged by its parts.
    holds_blocks: bool,
    /// The element's text so far, lowercased letters and digits only, up to the cap.
    words: String,
    chars: usize,
    /// Children dropped, and whether anything else (text, a kept element) is inside.
    dropped: usize,
    rest: bool,
}

/// Detaches the short leaf blocks of `doc` whose words `said` (trafilatura's text of the
/// same content) does not hold.
pub fn drop_left_out(doc: &mut Html, said: &str, budget: &mut Budget) -> Result<(), FetchError> {
    let said = normalized(said);
    if said.is_empty() {
        return Ok(());
    }
    let mut scanned = 0usize;
    let mut stack: Vec<Frame> = Vec::new();
    let mut dropped = Vec::new();
    let mut hidden = 0usize;
    for edge in doc.tree.root().traverse() {
        budget.tick("left-out blocks")?;
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    if INVISIBLE.contains(&el.name()) {
                        hidden += 1;
                    }
                    stack.push(Frame {
                        id: node.id(),
                        candidate: CANDIDATES.contains(&el.name()),
                        holds_blocks: false,
                        words: String::new(),
                        chars: 0,
                        dropped: 0,
                        rest: false,
                    });
                }
                Node::Text(text) if hidden == 0 => {
                    if let Some(top) = stack.last_mut() {
                        add_text(top, text);
                        top.rest |= !text.trim().is_empty();
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
                let Some(frame) = stack.pop() else {
                    continue;
                };
                if emptied(&frame, el.name()) || said_nowhere(&frame, &said, &mut scanned) {
                    dropped.push(frame.id);
                    if let Some(parent) = stack.last_mut() {
                        parent.dropped += 1;
                    }
                    continue;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.rest = true;
                    if BLOCKS.contains(&el.name()) || frame.holds_blocks {
                        parent.holds_blocks = true;
                    } else {
                        add_inline(parent, &frame);
                    }
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

/// Whether `frame`'s element, a block or a list, held only blocks that were dropped.
fn emptied(frame: &Frame, name: &str) -> bool {
    frame.dropped > 0 && !frame.rest && (frame.candidate || CONTAINERS.contains(&name))
}

/// Whether `frame` is a short leaf block whose words `said` does not hold; each search is
/// counted in `scanned`, and none is made past [`MAX_SCAN`].
fn said_nowhere(frame: &Frame, said: &str, scanned: &mut usize) -> bool {
    if !frame.candidate
        || frame.holds_blocks
        || frame.chars > MAX_CHARS
        || frame.words.is_empty()
        || *scanned + said.len() > MAX_SCAN
    {
        return false;
    }
    *scanned += said.len();
    !said.contains(&frame.words)
}

/// Adds `text`'s letters and digits, lowercased, to `frame`, and counts its characters;
/// past [`MAX_CHARS`] only the count grows.
fn add_text(frame: &mut Frame, text: &str) {
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        frame.chars = frame.chars.saturating_add(1);
        if frame.chars <= MAX_CHARS + 1 && c.is_alphanumeric() {
            frame.words.extend(c.to_lowercase());
        }
    }
}

/// Adds what an inline element (a link, an emphasis) of `parent` holds to `parent`.
fn add_inline(parent: &mut Frame, inline: &Frame) {
    if parent.chars <= MAX_CHARS {
        parent.words.push_str(&inline.words);
    }
    parent.chars = parent.chars.saturating_add(inline.chars);
}

/// `text`'s letters and digits, lowercased: trafilatura's text and the HTML's differ in
/// spacing and punctuation around inline elements.
fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn kept(html: &str, said: &str) -> String {
        let mut doc = Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        drop_left_out(&mut doc, said, &mut budget).expect("dropped");
        let text = doc.root_element().text().collect::<Vec<_>>().join(" ");
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    const SAID: &str = "The council met on Tuesday and agreed on the budget for the library. \
                        First point\nSecond point";

    #[test]
    fn a_byline_and_a_comments_heading_the_crates_text_leaves_out_are_dropped() {
        let text = kept(
            "<p>By Jane Doe, Tuesday 19 November</p><p>The council met on <a href=/t>Tuesday\
             </a> and agreed on the budget for the library.</p><h3>Comments</h3>",
            SAID,
        );
        assert_eq!(
            text,
            "The council met on Tuesday and agreed on the budget for the library."
        );
    }

    #[test]
    fn short_blocks_the_crates_text_holds_stay_whatever_their_spacing() {
        let text = kept(
            "<ul><li><b>First</b> point</li><li>Second <i>point</i></li></ul>",
            SAID,
        );
        assert_eq!(text, "First point Second point");
    }

    #[test]
    fn blocks_holding_blocks_are_judged_by_their_parts() {
        let text = kept(
            "<div><p>First point</p><p>Subscribe to our newsletter</p><p>Second point</p></div>",
            SAID,
        );
        assert_eq!(text, "First point Second point");
    }

    #[test]
    fn a_list_left_with_nothing_leaves_too() {
        let text = kept(
            "<p>First point</p><ul><li><h3><a href=/o>Other story</a></h3></li></ul><p>Second point</p>",
            SAID,
        );
        assert_eq!(text, "First point Second point");
        let mut doc = Html::parse_document(
            "<p>First point</p><ul><li><h3><a href=/o>Other story</a></h3></li></ul>",
        );
        let mut budget = Budget::new(Duration::from_secs(60));
        drop_left_out(&mut doc, SAID, &mut budget).expect("dropped");
        assert!(
            !doc.root_element().html().contains("<ul>"),
            "{}",
            doc.root_element().html()
        );
    }

    #[test]
    fn the_headline_long_blocks_tables_and_images_stay() {
        let long = "A paragraph the crate's text does not hold, long enough to be prose that \
                    trafilatura chose and wrote differently in its text than in its HTML.";
        let text = kept(
            &format!(
                "<h1>Library opens</h1><p>{long}</p><table><tr><td>Cell</td></tr></table>\
                 <p><img src=/a.jpg alt=Photo></p>"
            ),
            SAID,
        );
        assert_eq!(text, format!("Library opens {long} Cell"));
    }

    #[test]
    fn without_the_crates_text_nothing_is_dropped() {
        assert_eq!(kept("<p>By Jane Doe</p>", ""), "By Jane Doe");
    }
}

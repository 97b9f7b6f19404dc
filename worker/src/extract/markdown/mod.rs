//! Markdown of the page's content, written in one iterative pass over the parsed tree
//! (no second parse, no recursion): headings, paragraphs, emphasis, code, links, images,
//! lists, quotes and tables (GFM), in the style htmd used (`*   ` bullets, `1.  ` numbers,
//! fenced code with its language, `* * *` rules). Link and image targets are absolute,
//! resolved against the page's base; scripts, styles, templates and embedded objects write
//! nothing.
//!
//! Invariant: the output is written once, front to back, into one string: its cost is
//! linear in the page, list and quote indentation stops growing after [`MAX_INDENT`] levels,
//! the output stops at [`MAX_BYTES`] (reported as a cut), and the [`Budget`] is ticked per
//! node.

mod blocks;
mod escape;
mod output;
#[cfg(test)]
mod tests;

use ego_tree::{NodeRef, iter::Edge};
use scraper::{Node, node::Element};
use url::Url;

use self::escape::{absolute, code_language, escape};
use super::{
    budget::{Budget, Cut, Cuts},
    walk::INVISIBLE,
};
use crate::error::FetchError;

/// The markdown kept, in bytes.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Elements whose content is no text of the page: [`INVISIBLE`]'s, and embedded objects.
const SILENT: [&str; 9] = [
    "svg", "canvas", "iframe", "object", "audio", "video", "select", "math", "button",
];
/// Nested lists and quotes past this many levels are not indented further.
const MAX_INDENT: usize = 8;

/// What an element did when it opened, undone when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Nothing,
    Hidden,
    Block(u8),
    Heading,
    /// A span whose markers are written around its content (emphasis, code, links).
    Inline(Span),
    List,
    Item,
    Quote,
    Pre,
    Table,
    Row,
    Cell,
}

/// Kinds of span; one inside another of its kind adds nothing (`**` in `**`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Strong,
    Emphasis,
    Code,
    Link,
    Strike,
}

struct Marker {
    open: String,
    close: String,
}

struct List {
    ordered: bool,
    next: usize,
}

struct Table {
    rows: usize,
    cells: usize,
}

#[derive(Default)]
struct Writer {
    out: String,
    /// Newlines wanted before the next content: 1 ends the line, 2 leaves a blank line.
    breaks: u8,
    /// Newlines written since the last content.
    newlines: u8,
    /// A space wanted before the next inline content.
    space: bool,
    /// Written after each newline: list indentation and quote markers.
    prefix: String,
    /// The shortest prefix in force while the pending breaks were asked for: the blank
    /// lines between two blocks carry only what both share.
    break_prefix: usize,
    prefixes: Vec<usize>,
    /// The prefix length written after the last newline.
    tail_prefix: usize,
    /// Open spans; the first `written` of them have had their opening text written.
    markers: Vec<Marker>,
    written: usize,
    lists: Vec<List>,
    tables: Vec<Table>,
    /// Open `<pre>`s and table cells.
    pre: usize,
    cells: usize,
    /// Open spans of each kind, by `Span as usize`.
    spans: [usize; 5],
    /// What relative link and image targets are resolved against.
    base: Option<Url>,
    /// A list item's marker was just written: its content starts on the same line.
    item_start: bool,
    full: bool,
}

/// Markdown of the content under `start`, link targets resolved against `base`.
pub fn render(
    start: NodeRef<'_, Node>,
    base: &Url,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<String, FetchError> {
    let mut w = Writer {
        break_prefix: usize::MAX,
        base: Some(base.clone()),
        ..Writer::default()
    };
    let mut actions = Vec::new();
    let mut hidden = 0usize;
    for edge in start.traverse() {
        budget.tick("markdown")?;
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Text(text) if hidden == 0 => w.text(text),
                Node::Element(el) => {
                    let name = el.name();
                    let action =
                        if hidden > 0 || INVISIBLE.contains(&name) || SILENT.contains(&name) {
                            hidden += 1;
                            Action::Hidden
                        } else {
                            w.open(node, el)
                        };
                    actions.push(action);
                }
                _ => {}
            },
            Edge::Close(node) if node.value().is_element() => match actions.pop() {
                Some(Action::Hidden) => hidden -= 1,
                Some(action) => w.close(action),
                None => {}
            },
            Edge::Close(_) => {}
        }
        if w.full {
            cuts.add(Cut::Markdown);
            break;
        }
    }
    Ok(w.finish())
}

impl Writer {
    fn open(&mut self, node: NodeRef<'_, Node>, el: &Element) -> Action {
        let name = el.name();
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.block(2);
                let level = usize::from(name.as_bytes()[1] - b'0');
                self.marker(format!("{} ", "#".repeat(level)), String::new());
                Action::Heading
            }
            "p" => {
                self.block(2);
                Action::Block(2)
            }
            "hr" => {
                self.block(2);
                self.content("* * *");
                self.block(2);
                Action::Nothing
            }
            "div" | "section" | "article" | "header" | "footer" | "nav" | "aside" | "main"
            | "figure" | "figcaption" | "form" | "fieldset" | "details" | "summary" | "dl"
            | "dt" | "dd" | "address" | "caption" | "hgroup" | "center" | "search" => {
                self.block(1);
                Action::Block(1)
            }
            "br" => {
                self.line_break();
                Action::Nothing
            }
            "ul" | "ol" | "menu" => self.list(el),
            "li" => self.item(),
            "blockquote" => {
                self.block(2);
                self.push_prefix("> ");
                Action::Quote
            }
            "pre" => {
                self.block(2);
                self.content(&format!("```{}", code_language(node).unwrap_or_default()));
                self.pre += 1;
                self.newline();
                Action::Pre
            }
            "table" | "tr" | "td" | "th" => self.table_part(name),
            _ => self.inline(el),
        }
    }

    fn inline(&mut self, el: &Element) -> Action {
        match el.name() {
            "b" | "strong" => self.span(Span::Strong, "**", "**"),
            "i" | "em" => self.span(Span::Emphasis, "*", "*"),
            "del" | "s" | "strike" => self.span(Span::Strike, "~~", "~~"),
            "code" | "kbd" | "samp" if self.pre == 0 => self.span(Span::Code, "`", "`"),
            "a" => match el.attr("href").and_then(|h| self.resolve(h)) {
                Some(href) => self.span(Span::Link, "[", &format!("]({href})")),
                None => Action::Nothing,
            },
            "img" => {
                if let Some(src) = el.attr("src").and_then(|s| self.resolve(s)) {
                    let alt = el.attr("alt").unwrap_or_default();
                    let alt = alt.split_whitespace().collect::<Vec<_>>().join(" ");
                    self.content(&format!("![{}]({src})", escape(&alt, false)));
                }
                Action::Nothing
            }
            _ => Action::Nothing,
        }
    }

    fn table_part(&mut self, name: &str) -> Action {
        match name {
            "table" => {
                self.block(2);
                self.tables.push(Table { rows: 0, cells: 0 });
                Action::Table
            }
            "tr" => self.row(),
            _ => {
                self.cells += 1;
                if let Some(table) = self.tables.last_mut() {
                    table.cells += 1;
                }
                self.space = true;
                Action::Cell
            }
        }
    }

    fn close(&mut self, action: Action) {
        match action {
            Action::Block(n) => self.block(n),
            Action::Heading => {
                self.pop_marker();
                self.block(2);
            }
            Action::Inline(span) => {
                self.spans[span as usize] -= 1;
                self.pop_marker();
            }
            Action::List => {
                self.lists.pop();
                self.block(if self.lists.is_empty() { 2 } else { 1 });
            }
            Action::Item | Action::Quote => {
                self.pop_prefix();
                self.item_start = false;
                self.block(if action == Action::Quote { 2 } else { 1 });
            }
            Action::Pre => {
                self.pre -= 1;
                if self.newlines == 0 {
                    self.newline();
                }
                self.raw("```");
                self.block(2);
            }
            Action::Table => {
                self.tables.pop();
                self.block(2);
            }
            Action::Row => self.end_row(),
            Action::Cell => {
                self.cells -= 1;
                self.raw(" |");
            }
            Action::Nothing | Action::Hidden => {}
        }
    }

    /// `href` as an absolute link target; None for an empty one or a script.
    fn resolve(&self, href: &str) -> Option<String> {
        self.base.as_ref().and_then(|base| absolute(base, href))
    }
}

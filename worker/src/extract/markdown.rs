//! Markdown of the page's main content, written in one iterative pass over the parsed tree
//! (no second parse, no recursion): headings, paragraphs, emphasis, code, links, images,
//! lists, quotes and tables, in the style htmd used (`*   ` bullets, `1.  ` numbers, fenced
//! code, `* * *` rules).
//!
//! Invariant: the output is written once, front to back, into one string: its cost is
//! linear in the page, list and quote indentation stops growing after [`MAX_INDENT`] levels,
//! the output stops at [`MAX_BYTES`] (reported as a cut), and the [`Budget`] is ticked per
//! node.

use ego_tree::{NodeRef, iter::Edge};
use scraper::{Node, node::Element};

use super::{
    budget::{Budget, Cut, Cuts},
    walk::INVISIBLE,
};
use crate::error::FetchError;

/// The markdown kept, in bytes.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
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
    spans: [usize; 4],
    /// A list item's marker was just written: its content starts on the same line.
    item_start: bool,
    full: bool,
}

/// Markdown of the content under `start`.
pub fn render(
    start: NodeRef<'_, Node>,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<String, FetchError> {
    let mut w = Writer {
        break_prefix: usize::MAX,
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
                    let action = if hidden > 0 || INVISIBLE.contains(&el.name()) {
                        hidden += 1;
                        Action::Hidden
                    } else {
                        w.open(el)
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
    fn open(&mut self, el: &Element) -> Action {
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
            | "dt" | "dd" | "address" | "caption" => {
                self.block(1);
                Action::Block(1)
            }
            "br" => {
                self.line_break();
                Action::Nothing
            }
            "ul" | "ol" => self.list(el),
            "li" => self.item(),
            "blockquote" => {
                self.block(2);
                self.push_prefix("> ");
                Action::Quote
            }
            "pre" => {
                self.block(2);
                self.content("```");
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
            "code" | "kbd" | "samp" if self.pre == 0 => self.span(Span::Code, "`", "`"),
            "a" => match el.attr("href").map(str::trim).filter(|h| !h.is_empty()) {
                Some(href) => self.span(Span::Link, "[", &format!("]({})", link_target(href))),
                None => Action::Nothing,
            },
            "img" => {
                if let Some(src) = el.attr("src").map(str::trim).filter(|s| !s.is_empty()) {
                    let alt = escape(el.attr("alt").unwrap_or_default(), false);
                    self.content(&format!("![{alt}]({})", link_target(src)));
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

    fn span(&mut self, span: Span, open: &str, close: &str) -> Action {
        if self.spans[span as usize] > 0 {
            return Action::Nothing;
        }
        self.spans[span as usize] += 1;
        self.marker(open.into(), close.into());
        Action::Inline(span)
    }

    /// A span's markers: the opening one is written just before the first content inside
    /// it, and both are left out if none comes.
    fn marker(&mut self, open: String, close: String) {
        self.markers.push(Marker { open, close });
    }

    fn pop_marker(&mut self) {
        let Some(marker) = self.markers.pop() else {
            return;
        };
        if self.written > self.markers.len() {
            self.written = self.markers.len();
            self.raw(&marker.close);
        }
    }

    fn list(&mut self, el: &Element) -> Action {
        // A list that opens an item starts on the next line.
        self.item_start = false;
        self.block(if self.lists.is_empty() { 2 } else { 1 });
        let start = el.attr("start").and_then(|s| s.trim().parse().ok());
        self.lists.push(List {
            ordered: el.name() == "ol",
            next: start.unwrap_or(1),
        });
        Action::List
    }

    fn item(&mut self) -> Action {
        self.block(1);
        let marker = match self.lists.last_mut() {
            Some(List {
                ordered: true,
                next,
            }) => {
                *next += 1;
                format!("{}.  ", *next - 1)
            }
            _ => "*   ".to_owned(),
        };
        self.content(&marker);
        self.push_prefix("    ");
        self.item_start = true;
        Action::Item
    }

    fn row(&mut self) -> Action {
        if self.cells > 0 {
            // A table inside a cell: its rows run on in the cell.
            self.space = true;
        } else {
            self.block(1);
            self.content("|");
        }
        if let Some(table) = self.tables.last_mut() {
            table.cells = 0;
        }
        Action::Row
    }

    fn end_row(&mut self) {
        let Some(table) = self.tables.last_mut() else {
            return;
        };
        table.rows += 1;
        let separator = (table.rows == 1 && table.cells > 0 && self.cells == 0)
            .then(|| format!("|{}", " --- |".repeat(table.cells)));
        if let Some(separator) = separator {
            self.newline();
            self.raw(&separator);
        }
        self.block(1);
    }

    fn push_prefix(&mut self, add: &str) {
        self.prefixes.push(self.prefix.len());
        if self.prefixes.len() <= MAX_INDENT {
            self.prefix.push_str(add);
        }
    }

    fn pop_prefix(&mut self) {
        if let Some(len) = self.prefixes.pop() {
            self.prefix.truncate(len);
        }
    }

    /// Asks for `n` newlines before the next content (a space inside a table cell).
    fn block(&mut self, n: u8) {
        if self.cells > 0 {
            self.space = true;
        } else if !self.item_start {
            self.breaks = self.breaks.max(n);
            self.break_prefix = self.break_prefix.min(self.prefix.len());
            self.space = false;
        }
    }

    fn text(&mut self, text: &str) {
        if self.pre > 0 {
            for (i, line) in text.split('\n').enumerate() {
                if self.full {
                    return;
                }
                if i > 0 {
                    self.newline();
                }
                if !line.is_empty() {
                    self.content(line);
                }
            }
            return;
        }
        let escape_text = self.spans[Span::Code as usize] == 0;
        self.space |= text.starts_with(|c: char| c.is_whitespace());
        for (i, word) in text.split_whitespace().enumerate() {
            if self.full {
                return;
            }
            self.space |= i > 0;
            let at_line_start = self.breaks > 0 || self.newlines > 0 || self.out.is_empty();
            let word = if escape_text {
                escape(word, at_line_start && !self.space)
            } else {
                word.into()
            };
            self.content(&word);
        }
        self.space |= text.ends_with(|c: char| c.is_whitespace());
    }

    /// Writes inline content: the pending breaks or space first, then unwritten markers.
    fn content(&mut self, s: &str) {
        self.flush();
        for marker in &self.markers[self.written..] {
            self.out.push_str(&marker.open);
        }
        self.written = self.markers.len();
        self.raw(s);
        self.item_start = false;
    }

    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
        self.newlines = 0;
        self.full |= self.out.len() > MAX_BYTES;
    }

    fn flush(&mut self) {
        let want = std::mem::take(&mut self.breaks);
        let space = std::mem::take(&mut self.space);
        let shared = std::mem::replace(&mut self.break_prefix, usize::MAX);
        if self.out.is_empty() {
            return;
        }
        if want == 0 {
            if space && self.newlines == 0 && !self.out.ends_with(' ') {
                self.out.push(' ');
            }
            return;
        }
        if self.newlines == 0 {
            let kept = self.out.trim_end_matches(' ').len();
            self.out.truncate(kept);
        }
        while self.newlines < want {
            self.newline_sharing(shared);
        }
    }

    fn newline(&mut self) {
        self.newline_sharing(usize::MAX);
    }

    /// Ends the line; when the line ended was blank, it keeps only the first `shared` bytes
    /// of the prefix, without trailing spaces.
    fn newline_sharing(&mut self, shared: usize) {
        if self.newlines > 0 {
            let line_start = self.out.len() - self.tail_prefix;
            self.out.truncate(line_start);
            let kept = &self.prefix[..shared.min(self.prefix.len())];
            self.out.push_str(kept.trim_end());
        }
        self.out.push('\n');
        self.out.push_str(&self.prefix);
        self.tail_prefix = self.prefix.len();
        self.newlines = self.newlines.saturating_add(1);
        self.full |= self.out.len() > MAX_BYTES;
    }

    fn line_break(&mut self) {
        if self.cells > 0 || self.out.is_empty() {
            self.space = true;
            return;
        }
        self.flush();
        self.out.push_str("  ");
        self.newline();
    }

    fn finish(self) -> String {
        let mut out = self.out;
        let mut end = out.trim_end().len().min(MAX_BYTES);
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out
    }
}

/// A link target, in angle brackets when it has spaces or parentheses.
fn link_target(url: &str) -> String {
    if url.contains([' ', '(', ')']) {
        format!("<{}>", url.replace(['<', '>'], ""))
    } else {
        url.to_owned()
    }
}

/// `word` with markdown's inline markers escaped, and, at the start of a line, what would
/// otherwise read as a heading, quote, list or rule.
fn escape(word: &str, line_start: bool) -> std::borrow::Cow<'_, str> {
    let special = |c: char| matches!(c, '\\' | '*' | '_' | '`' | '[' | ']');
    let starts_block = line_start
        && (word.starts_with(['#', '>', '-', '+', '='])
            || word
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .starts_with('.')
                && word.starts_with(|c: char| c.is_ascii_digit()));
    if !starts_block && !word.contains(special) {
        return word.into();
    }
    let mut out = String::with_capacity(word.len() + 4);
    if starts_block && !word.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('\\');
    }
    let mut numbered = starts_block && word.starts_with(|c: char| c.is_ascii_digit());
    for c in word.chars() {
        if special(c) || (numbered && c == '.') {
            out.push('\\');
        }
        numbered &= c.is_ascii_digit();
        out.push(c);
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scraper::Html;

    use super::*;

    fn markdown(html: &str) -> (String, Cuts) {
        let doc = Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        let mut cuts = Cuts::default();
        let body = doc
            .tree
            .root()
            .descendants()
            .find(|n| n.value().as_element().is_some_and(|e| e.name() == "body"))
            .expect("body");
        let md = render(body, &mut budget, &mut cuts).expect("rendered");
        (md, cuts)
    }

    #[test]
    fn blocks_and_spans_are_written_in_htmd_style() {
        let (md, cuts) = markdown(
            "<h1>Title <em>here</em></h1><p>Some <b>bold</b>, <a href='/x'>a link</a> and \
             <code>a_b</code>.<br>Next line</p><hr><ul><li>one</li><li>two<ol start=3>\
             <li>three</li></ol></li></ul><blockquote><p>quoted</p><p>twice</p></blockquote>\
             <pre>let x = 1;\n  y</pre><table><tr><th>h1</th><th>h2</th></tr>\
             <tr><td>a</td><td><img src='i.png' alt='pic'></td></tr></table><script>no()</script>",
        );
        let expected = "# Title *here*\n\nSome **bold**, [a link](/x) and `a_b`.  \nNext line\n\n\
             * * *\n\n*   one\n*   two\n    3.  three\n\n> quoted\n>\n> twice\n\n\
             ```\nlet x = 1;\n  y\n```\n\n| h1 | h2 |\n| --- | --- |\n| a | ![pic](i.png) |";
        assert_eq!(md, expected);
        assert!(cuts.is_empty());
    }

    #[test]
    fn text_that_reads_as_markdown_is_escaped() {
        let (md, _) = markdown("<p># not a heading</p><p>1. not a list, a*b_c [d]</p>");
        assert_eq!(
            md,
            "\\# not a heading\n\n1\\. not a list, a\\*b\\_c \\[d\\]"
        );
    }

    #[test]
    fn empty_and_nested_spans_write_nothing_extra() {
        let (md, _) = markdown("<p><b></b><b>x<b>y</b></b><a href='/a'></a></p>");
        assert_eq!(md, "**xy**");
    }

    #[test]
    fn deep_lists_stop_indenting_and_the_output_stays_linear() {
        let depth = 200;
        let html = format!(
            "{}deep{}",
            "<ul><li>x".repeat(depth),
            "</li></ul>".repeat(depth)
        );
        let (md, _) = markdown(&html);
        let widest = md.lines().map(str::len).max().unwrap_or(0);
        assert!(widest <= MAX_INDENT * 4 + 10, "{widest}");
        assert_eq!(md.lines().count(), depth);
    }

    #[test]
    fn markdown_past_its_cap_is_cut_and_reported() {
        let html = format!("<p>{}</p>", "word ".repeat(MAX_BYTES / 4));
        let (md, cuts) = markdown(&html);
        assert!(md.len() <= MAX_BYTES + 16);
        assert!(cuts.contains(Cut::Markdown));
    }
}

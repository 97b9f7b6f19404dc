//! The writer's structure: spans and their markers, lists and their items, table rows,
//! and the prefixes (indentation, quote markers) written after each newline.
//!
//! Invariant: a span's markers are written only around content, once per kind however
//! deeply spans nest; prefixes stop growing past [`MAX_INDENT`] levels.

use scraper::node::Element;

use super::{Action, List, MAX_INDENT, Marker, Span, Writer};

impl Writer {
    pub(super) fn span(&mut self, span: Span, open: &str, close: &str) -> Action {
        if self.spans[span as usize] > 0 {
            return Action::Nothing;
        }
        self.spans[span as usize] += 1;
        self.marker(open.into(), close.into());
        Action::Inline(span)
    }

    /// A span's markers: the opening one is written just before the first content inside
    /// it, and both are left out if none comes.
    pub(super) fn marker(&mut self, open: String, close: String) {
        self.markers.push(Marker { open, close });
    }

    pub(super) fn pop_marker(&mut self) {
        let Some(marker) = self.markers.pop() else {
            return;
        };
        if self.written > self.markers.len() {
            self.written = self.markers.len();
            self.raw(&marker.close);
        }
    }

    pub(super) fn list(&mut self, el: &Element) -> Action {
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

    pub(super) fn item(&mut self) -> Action {
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

    pub(super) fn row(&mut self) -> Action {
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

    pub(super) fn end_row(&mut self) {
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

    pub(super) fn push_prefix(&mut self, add: &str) {
        self.prefixes.push(self.prefix.len());
        if self.prefixes.len() <= MAX_INDENT {
            self.prefix.push_str(add);
        }
    }

    pub(super) fn pop_prefix(&mut self) {
        if let Some(len) = self.prefixes.pop() {
            self.prefix.truncate(len);
        }
    }
}

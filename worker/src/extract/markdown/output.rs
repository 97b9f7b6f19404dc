//! The writer's output: text, pending line breaks and spaces, and the cap.
//!
//! Invariant: breaks and spaces asked for are written lazily, just before the next content,
//! so blocks that hold nothing leave no blank lines; the output stops past [`MAX_BYTES`].

use super::{MAX_BYTES, Span, Writer, escape::escape};

impl Writer {
    /// Asks for `n` newlines before the next content (a space inside a table cell).
    pub(super) fn block(&mut self, n: u8) {
        if self.cells > 0 {
            self.space = true;
        } else if !self.item_start {
            self.breaks = self.breaks.max(n);
            self.break_prefix = self.break_prefix.min(self.prefix.len());
            self.space = false;
        }
    }

    pub(super) fn text(&mut self, text: &str) {
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
    pub(super) fn content(&mut self, s: &str) {
        self.flush();
        for marker in &self.markers[self.written..] {
            self.out.push_str(&marker.open);
        }
        self.written = self.markers.len();
        self.raw(s);
        self.item_start = false;
    }

    pub(super) fn raw(&mut self, s: &str) {
        self.out.push_str(s);
        self.newlines = 0;
        self.full |= self.out.len() > MAX_BYTES;
    }

    pub(super) fn flush(&mut self) {
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

    pub(super) fn newline(&mut self) {
        self.newline_sharing(usize::MAX);
    }

    /// Ends the line; when the line ended was blank, it keeps only the first `shared` bytes
    /// of the prefix, without trailing spaces.
    pub(super) fn newline_sharing(&mut self, shared: usize) {
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

    pub(super) fn line_break(&mut self) {
        if self.cells > 0 || self.out.is_empty() {
            self.space = true;
            return;
        }
        self.flush();
        self.out.push_str("  ");
        self.newline();
    }

    pub(super) fn finish(self) -> String {
        let mut out = self.out;
        let mut end = out.trim_end().len().min(MAX_BYTES);
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out
    }
}

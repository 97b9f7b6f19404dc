//! The pure decisions of the markdown writer: how a word is escaped, where a link points
//! and in what form it is written, and which language a code block declares.
//!
//! Invariant: a link target that leaves here is absolute (resolved against the page's base)
//! and cannot end the markdown link early; scripts (`javascript:`) are never link targets.

use ego_tree::NodeRef;
use scraper::Node;
use url::Url;

/// `href` resolved against `base`, written as a markdown link target; None when it is
/// empty, does not resolve, or runs a script.
pub fn absolute(base: &Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = base.join(href).ok()?;
    if matches!(url.scheme(), "javascript" | "vbscript") {
        return None;
    }
    Some(link_target(url.as_str()))
}

/// The language a `<pre>` declares, on itself or on the `<code>` it holds
/// (`language-rust`, `lang-rust`, or `highlight-source-rust`).
pub fn code_language(pre: NodeRef<'_, Node>) -> Option<String> {
    let code = pre
        .children()
        .find(|c| c.value().as_element().is_some_and(|e| e.name() == "code"));
    [Some(pre), code]
        .into_iter()
        .flatten()
        .filter_map(|n| n.value().as_element())
        .flat_map(|el| el.classes())
        .find_map(|class| {
            ["language-", "lang-", "highlight-source-"]
                .iter()
                .find_map(|prefix| class.strip_prefix(prefix))
        })
        .filter(|lang| {
            !lang.is_empty()
                && lang
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '#' | '_' | '.'))
        })
        .map(str::to_owned)
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
pub fn escape(word: &str, line_start: bool) -> std::borrow::Cow<'_, str> {
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

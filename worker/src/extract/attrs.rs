//! At most [`MAX_ATTRIBUTES`] attributes per tag reach the parser. html5ever checks each new
//! attribute against all the tag's earlier ones, so a tag with n attributes costs n²/2
//! comparisons (200,000 attributes: minutes). This pass finds tags the way the HTML
//! tokenizer does (comments, raw-text elements such as `<script>` and `<style>`, quoted
//! values) in one linear scan, and drops the attributes past the cap from the text.
//!
//! Invariant: the page comes back unchanged (borrowed) unless a tag had too many
//! attributes; every cut is made at ASCII delimiters, so the result is valid UTF-8.

use std::borrow::Cow;

/// Attributes kept per tag. Real tags have a few dozen at most.
pub const MAX_ATTRIBUTES: usize = 1_000;

/// Elements whose content the tokenizer reads as text up to their end tag.
const RAW_TEXT: [&[u8]; 9] = [
    b"script",
    b"style",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
    b"noscript",
    b"textarea",
    b"title",
];

/// The page with every tag's attributes past [`MAX_ATTRIBUTES`] removed, and whether any
/// were.
pub fn cap_attributes(html: &str) -> (Cow<'_, str>, bool) {
    let bytes = html.as_bytes();
    let mut drops: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while let Some(lt) = find(bytes, at, b'<') {
        at = match bytes.get(lt + 1) {
            Some(b'!') if bytes[lt..].starts_with(b"<!--") => {
                find_seq(bytes, lt + 2, b"-->").map_or(bytes.len(), |end| end + 3)
            }
            Some(b'!' | b'?') => find(bytes, lt + 1, b'>').map_or(bytes.len(), |end| end + 1),
            Some(b'/') if bytes.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) => {
                tag(bytes, lt + 2, &mut drops).end
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let scanned = tag(bytes, lt + 1, &mut drops);
                if scanned.name.eq_ignore_ascii_case(b"plaintext") {
                    // Everything after it is text.
                    break;
                }
                match RAW_TEXT
                    .iter()
                    .find(|raw| raw.eq_ignore_ascii_case(scanned.name))
                {
                    Some(raw) => raw_text_end(bytes, scanned.end, raw),
                    None => scanned.end,
                }
            }
            _ => lt + 1,
        };
    }
    if drops.is_empty() {
        return (Cow::Borrowed(html), false);
    }
    let mut out = String::with_capacity(html.len());
    let mut from = 0;
    for (start, end) in drops {
        out.push_str(&html[from..start]);
        from = end;
    }
    out.push_str(&html[from..]);
    (Cow::Owned(out), true)
}

struct Scanned<'a> {
    name: &'a [u8],
    /// Just past the tag's `>`, or the end of the page.
    end: usize,
}

/// Reads a tag from its name at `start`, recording the byte ranges of the attributes past
/// the cap.
fn tag<'a>(bytes: &'a [u8], start: usize, drops: &mut Vec<(usize, usize)>) -> Scanned<'a> {
    let mut at = start;
    while at < bytes.len() && !ends_name(bytes[at]) {
        at += 1;
    }
    let name = &bytes[start..at];
    let mut count = 0;
    loop {
        while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b'/') {
            at += 1;
        }
        match bytes.get(at) {
            None => return Scanned { name, end: at },
            Some(b'>') => return Scanned { name, end: at + 1 },
            Some(_) => {}
        }
        let attribute = at;
        at = attribute_end(bytes, at);
        count += 1;
        if count > MAX_ATTRIBUTES {
            match drops.last_mut() {
                Some(last) if last.1 == attribute => last.1 = at,
                _ => drops.push((attribute, at)),
            }
        }
    }
}

/// The end of the attribute starting at `at`: its name, and its value if it has one.
fn attribute_end(bytes: &[u8], mut at: usize) -> usize {
    // The first character belongs to the name even when it is `=`.
    at += 1;
    while at < bytes.len() && !ends_name(bytes[at]) && bytes[at] != b'=' {
        at += 1;
    }
    let mut after = at;
    while after < bytes.len() && bytes[after].is_ascii_whitespace() {
        after += 1;
    }
    if bytes.get(after) != Some(&b'=') {
        return at;
    }
    at = after + 1;
    while at < bytes.len() && bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    match bytes.get(at) {
        Some(&quote @ (b'"' | b'\'')) => find(bytes, at + 1, quote).map_or(bytes.len(), |q| q + 1),
        _ => {
            while at < bytes.len() && !bytes[at].is_ascii_whitespace() && bytes[at] != b'>' {
                at += 1;
            }
            at
        }
    }
}

fn ends_name(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'/' || b == b'>'
}

/// Where the raw text of `name` ends: at its end tag, or the end of the page.
fn raw_text_end(bytes: &[u8], mut at: usize, name: &[u8]) -> usize {
    while let Some(lt) = find(bytes, at, b'<') {
        let tail = &bytes[lt + 1..];
        if tail.first() == Some(&b'/')
            && tail.len() > name.len()
            && tail[1..=name.len()].eq_ignore_ascii_case(name)
        {
            return lt;
        }
        at = lt + 1;
    }
    bytes.len()
}

fn find(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    let rest = bytes.get(from..)?;
    rest.iter().position(|&b| b == needle).map(|p| p + from)
}

fn find_seq(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let rest = bytes.get(from..)?;
    rest.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn many(n: usize) -> String {
        (0..n).map(|i| format!(" a{i}=\"v>{i}\"")).collect()
    }

    #[test]
    fn a_normal_page_is_borrowed_unchanged() {
        let page = r#"<p class="x" id=y data-a='1>2'>text</p><!-- <b c d> --><script>if (a<b) {}</script>"#;
        let (out, cut) = cap_attributes(page);
        assert!(matches!(out, Cow::Borrowed(_)) && !cut);
    }

    #[test]
    fn attributes_past_the_cap_are_dropped_and_the_rest_kept() {
        let page = format!(
            "<div{}>kept text</div><p id=after>",
            many(MAX_ATTRIBUTES + 500)
        );
        let (out, cut) = cap_attributes(&page);
        assert!(cut);
        let doc = scraper::Html::parse_document(&out);
        let div = doc
            .select(&scraper::Selector::parse("div").expect("selector"))
            .next()
            .expect("div");
        assert_eq!(div.value().attrs().count(), MAX_ATTRIBUTES);
        assert_eq!(div.value().attr("a0"), Some("v>0"));
        assert_eq!(div.text().collect::<String>(), "kept text");
        assert!(out.contains("<p id=after>"));
    }

    #[test]
    fn attribute_like_text_in_comments_and_scripts_is_left_alone() {
        let inner = many(MAX_ATTRIBUTES + 10);
        let page =
            format!("<!--<x{inner}>--><script>'<x{inner}>'</script><style><x{inner}></style>");
        let (out, cut) = cap_attributes(&page);
        assert!(!cut);
        assert_eq!(out, page);
    }
}

//! Hostile pages, built in memory: shared by `tests/hostile.rs` and the pipeline bench.

use std::collections::BTreeMap;

use bytes::Bytes;

pub const NORMAL: &str = "<html><head><title>Fine</title></head><body><main><h1>A normal page</h1>\
    <p>Text and <a href='/next'>a link</a>.</p></main></body></html>";

/// `open` `n` times, the deepest content, `close` `n` times.
pub fn nested(open: &str, close: &str, n: usize) -> String {
    format!(
        "<html><body>{}<a href='/deepest'>deepest</a>{}</body></html>",
        open.repeat(n),
        close.repeat(n)
    )
}

/// The pages, by name, built once.
pub fn pages() -> BTreeMap<&'static str, Bytes> {
    let attributes: String = (0..200_000).map(|i| format!(" a{i}=\"{i}\"")).collect();
    let links: String = (0..300_000)
        .map(|i| format!("<a href='/l/{i}'>{i}</a>"))
        .collect();
    let line = format!(
        "<html><body><p>{}</p></body></html>",
        "lorem ipsum dolor sit amet ".repeat(20_000_000 / 27)
    );
    [
        ("divs", nested("<div>", "</div>", 20_000)),
        ("bold", nested("<b>", "</b>", 100_000)),
        ("lists", nested("<ul><li>", "</li></ul>", 20_000)),
        (
            "tables",
            nested("<table><tr><td>", "</td></tr></table>", 5_000),
        ),
        (
            "unclosed",
            format!("<html><body>{}deepest", "<div>".repeat(50_000)),
        ),
        (
            "attributes",
            format!("<html><body><div{attributes}>deepest</div>"),
        ),
        ("links", format!("<html><body>{links}</body></html>")),
        ("line", line),
        ("normal", NORMAL.to_owned()),
    ]
    .into_iter()
    .map(|(name, page)| (name, Bytes::from(page)))
    .collect()
}

//! The markdown writer's cases, each on a small page.

use std::time::Duration;

use scraper::Html;

use super::*;

const BASE: &str = "https://shop.test/dir/page.html";

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
    let base = Url::parse(BASE).expect("base");
    let md = render(body, &base, &mut budget, &mut cuts).expect("rendered");
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
    let expected = "# Title *here*\n\nSome **bold**, [a link](https://shop.test/x) and `a_b`.  \nNext line\n\n\
         * * *\n\n*   one\n*   two\n    3.  three\n\n> quoted\n>\n> twice\n\n\
         ```\nlet x = 1;\n  y\n```\n\n| h1 | h2 |\n| --- | --- |\n| a | ![pic](https://shop.test/dir/i.png) |";
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

#[test]
fn scripts_styles_templates_and_embedded_objects_write_nothing() {
    let (md, _) = markdown(
        "<p>before</p><script>document.body.insertAdjacentHTML('x')</script>\
         <style>p{}</style><noscript>enable js</noscript><template><p>tpl</p></template>\
         <svg><text>chart</text></svg><iframe>frame</iframe><p>after</p>",
    );
    assert_eq!(md, "before\n\nafter");
}

#[test]
fn links_and_images_are_absolute_and_scripts_are_not_links() {
    let (md, _) = markdown(
        "<p><a href='p1.html'>rel</a> <a href='//cdn.test/x'>proto</a> \
         <a href='#top'>frag</a> <a href='javascript:void(0)'>js</a> \
         <a href='/a b(1)'>odd</a> <img src='../img/w.png' alt=' a  pic '></p>",
    );
    assert_eq!(
        md,
        "[rel](https://shop.test/dir/p1.html) [proto](https://cdn.test/x) \
         [frag](https://shop.test/dir/page.html#top) js \
         [odd](<https://shop.test/a%20b(1)>) ![a pic](https://shop.test/img/w.png)"
    );
}

#[test]
fn inline_elements_keep_the_whitespace_between_them() {
    let (md, _) = markdown(
        "<ul><li><a href=/p1.html>Widget</a> <span class=price>$10</span></li>\n\
         <li><a href=/p2.html>Gadget</a>\n  <span>$12</span></li></ul>\
         <p><b>bold</b><i>glued</i> and <em>spaced</em> </p>",
    );
    assert_eq!(
        md,
        "*   [Widget](https://shop.test/p1.html) $10\n*   [Gadget](https://shop.test/p2.html) $12\n\n\
         **bold***glued* and *spaced*"
    );
}

#[test]
fn code_blocks_are_fenced_with_their_language() {
    let (md, _) = markdown(
        "<pre><code class='hljs language-rust'>fn main() {\n    x();\n}</code></pre>\
         <pre class=lang-py>print(1)</pre><pre>plain</pre>",
    );
    assert_eq!(
        md,
        "```rust\nfn main() {\n    x();\n}\n```\n\n```py\nprint(1)\n```\n\n```\nplain\n```"
    );
}

#[test]
fn nested_lists_tables_quotes_and_strikes_keep_their_structure() {
    let (md, _) = markdown(
        "<ol><li>one<ul><li>a</li><li>b<ul><li>deep</li></ul></li></ul></li><li>two</li></ol>\
         <table><thead><tr><th>Name</th><th>Price</th></tr></thead>\
         <tbody><tr><td>Widget</td><td><del>$12</del> $10</td></tr></tbody></table>\
         <blockquote>said <strong>this</strong><br>and that</blockquote>",
    );
    assert_eq!(
        md,
        "1.  one\n    *   a\n    *   b\n        *   deep\n2.  two\n\n\
         | Name | Price |\n| --- | --- |\n| Widget | ~~$12~~ $10 |\n\n\
         > said **this**  \n> and that"
    );
}

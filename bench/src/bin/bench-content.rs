//! The content comparison's ScraperX side: reads pages as JSON lines on stdin
//! (`{"id", "url", "html"}`), runs the worker's extraction on each as a job would, and
//! writes one JSON line per page to stdout with its outputs: `text` and `markdown` of the
//! whole page, `main_text` and `main_markdown` with `only_main_content`, and the
//! milliseconds each took. `bench/content.py` scores them against the labelled bodies.
//!
//! Usage: `bench-content < pages.jsonl > outputs.jsonl`

use std::{
    io::{BufRead, Write},
    time::Instant,
};

use anyhow::Context;
use scraperx_worker::extract::{Content, extract};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Page {
    id: String,
    url: String,
    html: String,
}

fn main() -> anyhow::Result<()> {
    let whole = Content::markdown(true);
    let main = Content {
        only_main_content: true,
        ..Content::markdown(true)
    };
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let page: Page = serde_json::from_str(&line?).context("a page line")?;
        let base = url::Url::parse(&page.url).context("the page's url")?;
        let started = Instant::now();
        let all = extract(&page.html, &base, None, &whole)?;
        let whole_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let picked = extract(&page.html, &base, None, &main)?;
        let main_ms = started.elapsed().as_secs_f64() * 1e3;
        let line = json!({
            "id": page.id,
            "text": all.text,
            "markdown": all.markdown,
            "main_text": picked.text,
            "main_markdown": picked.markdown,
            "whole_ms": whole_ms,
            "main_ms": main_ms,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

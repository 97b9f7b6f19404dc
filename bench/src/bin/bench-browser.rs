//! Comparison (c): ScraperX's browser engine against Playwright, on bench-site's
//! JavaScript pages (`/js/N`, done when `#ready` exists), with Debian's Chromium:
//!
//! - ScraperX: `BrowserPool::render` with `contexts` isolated contexts at once, each page
//!   in a context of its own behind a relay of its own (`ProxyRelay::direct`), as the
//!   worker renders a job without a proxy provider; waiting for `#ready`;
//! - the ceiling, a bare CDP loop: the same Chromium launched the same way, `contexts` tabs
//!   in its default context, each page opened, polled for `#ready` every 10 ms, read and
//!   closed: no isolation, no relay, nothing else.
//!
//! Pages/s and the peak resident memory of Chromium's processes (sampled every 200 ms).
//!
//!     bench-browser --site http://127.0.0.1:PORT [--contexts 4] [--pages N]

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt;
use scraperx_bench::{PeakSampler, arg, result};
use scraperx_worker::{
    browser::{BrowserPool, BrowserSettings, RenderRequest, launch},
    relay::ProxyRelay,
};

const COMPARISON: &str = "browser";

fn chromium() -> std::path::PathBuf {
    std::env::var("SCRX_CHROMIUM")
        .unwrap_or_else(|_| "/usr/bin/chromium".into())
        .into()
}

fn request(site: &str, n: usize, relay: &ProxyRelay) -> anyhow::Result<RenderRequest> {
    Ok(RenderRequest {
        url: format!("{site}/js/{n}").parse()?,
        timeout: Duration::from_secs(60),
        wait_for: Some("#ready".into()),
        wait_time: Duration::ZERO,
        wait_until: Default::default(),
        screenshot: false,
        screenshot_mode: Default::default(),
        pdf: false,
        block: Vec::new(),
        fingerprint: None,
        solver: None,
        proxy_server: Some(relay.endpoint()),
        actions: Vec::new(),
        emulation: Default::default(),
    })
}

async fn render(pool: &BrowserPool, site: &str, n: usize) -> anyhow::Result<()> {
    // A relay of the page's own: loopback is allowed here because the site is on loopback.
    let relay = ProxyRelay::direct(true).await?;
    let out = pool.render(&request(site, n, &relay)?).await?;
    if !String::from_utf8_lossy(&out.page.body).contains("Rendered paragraph 49") {
        bail!("page {n} was not rendered");
    }
    Ok(())
}

async fn scraperx(site: &str, k: usize, pages: usize) -> anyhow::Result<()> {
    let pool = BrowserPool::new(BrowserSettings {
        executable: chromium(),
        contexts: k,
        pages_per_browser: 100_000,
        allow_private: true,
        max_bytes: 20 << 20,
    });
    render(&pool, site, 0).await?; // launch and first page, not timed
    let pid = pool.browser_pid().await.unwrap_or_default();
    let side = "ScraperX browser engine (a context and a relay per page)";
    measure(side, pid, k, pages, |n| render(&pool, site, n)).await
}

/// Renders pages 1..=`pages`, `k` at once, with `render`; prints pages/s and the peak
/// memory meanwhile of the Chromium `browser_pid` and its processes.
async fn measure<F, Fut>(
    side: &str,
    browser_pid: u32,
    k: usize,
    pages: usize,
    render: F,
) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let sampler = PeakSampler::tree(browser_pid);
    let started = Instant::now();
    let failures = futures::stream::iter(1..=pages)
        .map(render)
        .buffer_unordered(k)
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    let secs = started.elapsed().as_secs_f64();
    if failures > 0 {
        bail!("{side}: {failures} of {pages} pages failed");
    }
    let rate = pages as f64 / secs;
    result(
        COMPARISON,
        &format!("pages/s, {k} contexts"),
        side,
        rate,
        "pages/s",
    );
    let rss = sampler.peak();
    result(
        COMPARISON,
        &format!("browser RSS, {k} contexts"),
        side,
        rss,
        "MiB",
    );
    Ok(())
}

async fn bare_page(browser: &chromiumoxide::Browser, url: String) -> anyhow::Result<()> {
    let page = browser.new_page(url.as_str()).await?;
    loop {
        let ready: bool = page
            .evaluate("document.querySelector('#ready') !== null")
            .await?
            .into_value()
            .unwrap_or(false);
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let html = page.content().await?;
    page.close().await?;
    if !html.contains("Rendered paragraph 49") {
        bail!("{url} was not rendered");
    }
    Ok(())
}

async fn bare(site: &str, k: usize, pages: usize) -> anyhow::Result<()> {
    let profile = launch::new_profile();
    let launch::Launched {
        browser,
        mut handler,
        process,
        ..
    } = launch::launch(&chromium(), &profile, 512, None).await?;
    let pid = process.id().unwrap_or_default();
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    bare_page(&browser, format!("{site}/js/0")).await?;
    let side = "ceiling: bare CDP loop (tabs, no isolation)";
    let measured = measure(side, pid, k, pages, |n| {
        bare_page(&browser, format!("{site}/js/{n}"))
    })
    .await;
    drop(browser);
    drop(process);
    events.abort();
    let _ = std::fs::remove_dir_all(&profile);
    measured
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let site = arg("site", "");
    if site.is_empty() {
        bail!("--site is required (the address bench-site printed)");
    }
    let k: usize = arg("contexts", "4").parse()?;
    let pages: usize = match arg("pages", "0").parse()? {
        0 => (40 * k).max(60),
        n => n,
    };
    scraperx(&site, k, pages).await?;
    // The pool's Chromium is gone before the bare loop's memory is sampled.
    tokio::time::sleep(Duration::from_secs(1)).await;
    bare(&site, k, pages).await?;
    Ok(())
}

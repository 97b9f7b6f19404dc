//! The browser engines against Debian's Chromium and pages served here.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, http::header, routing::get};
use common::{chromium, serve};
use scraperx_core::domain::ResourceType;
use scraperx_worker::browser::{BrowserPool, BrowserSettings, Fingerprint, RenderRequest};

fn pool(allow_private: bool) -> BrowserPool {
    BrowserPool::new(BrowserSettings {
        executable: chromium(),
        contexts: 2,
        pages_per_browser: 50,
        allow_private,
        max_bytes: 2 << 20,
    })
}

const JS_PAGE: &str = r#"<html><head><title>Rendered</title></head><body>
<div id="shell">loading</div><img src="/pixel.png">
<script>setTimeout(() => { const d = document.createElement('div'); d.id = 'late';
  d.textContent = 'rendered by script'; document.body.appendChild(d); }, 300);</script>
</body></html>"#;

const PROBE: &str = r#"<html><body><pre id="probe"></pre><script>
document.getElementById('probe').textContent = JSON.stringify({
  webdriver: navigator.webdriver, platform: navigator.platform, ua: navigator.userAgent,
  languages: navigator.languages, tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  width: screen.width, plugins: navigator.plugins.length,
  brands: navigator.userAgentData ? navigator.userAgentData.brands.map(b => b.brand + '/' + b.version) : null,
  uaPlatform: navigator.userAgentData ? navigator.userAgentData.platform : null });
</script></body></html>"#;

fn site(pixels: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/js",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], JS_PAGE) }),
        )
        .route(
            "/probe",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], PROBE) }),
        )
        .route(
            "/pixel.png",
            get(move || {
                pixels.fetch_add(1, Ordering::SeqCst);
                async { ([(header::CONTENT_TYPE, "image/png")], Vec::<u8>::new()) }
            }),
        )
}

fn request(url: String) -> RenderRequest {
    common::render_request(url, Duration::from_secs(20))
}

#[tokio::test]
async fn javascript_is_rendered_and_the_page_captured_as_png_and_pdf() {
    let pixels = Arc::new(AtomicUsize::new(0));
    let addr = serve(site(pixels.clone())).await;
    let pool = pool(true);
    let mut req = request(format!("http://{addr}/js"));
    req.wait_for = Some("#late".into());
    req.screenshot = true;
    req.pdf = true;
    let out = pool.render(&req).await.expect("render");
    let html = String::from_utf8_lossy(&out.page.body).to_string();
    assert!(html.contains("rendered by script"), "{html}");
    assert_eq!(out.page.status, 200);
    assert!(out.page.timings.render_ms.is_some());
    // The document's response headers, as the network saw them.
    assert_eq!(
        out.page.headers.get("content-type").map(String::as_str),
        Some("text/html"),
        "{:?}",
        out.page.headers
    );
    let png = out.screenshot.expect("screenshot");
    let img = image::load_from_memory(&png).expect("a PNG");
    assert!(img.width() > 100 && img.height() > 100);
    assert!(out.pdf.expect("pdf").starts_with(b"%PDF"));
    assert_eq!(
        pixels.load(Ordering::SeqCst),
        1,
        "images load unless blocked"
    );
}

#[tokio::test]
async fn blocked_resource_classes_never_leave_the_browser() {
    let pixels = Arc::new(AtomicUsize::new(0));
    let addr = serve(site(pixels.clone())).await;
    let pool = pool(true);
    let mut req = request(format!("http://{addr}/js"));
    req.block = vec![ResourceType::Image];
    let out = pool.render(&req).await.expect("render");
    assert_eq!(pixels.load(Ordering::SeqCst), 0);
    assert!(out.blocked_requests >= 1);
}

#[tokio::test]
async fn a_page_cannot_reach_private_addresses_through_its_requests() {
    let pixels = Arc::new(AtomicUsize::new(0));
    let addr = serve(site(pixels.clone())).await;
    let pool = pool(false);
    // The document itself is not on the network; what it loads is. Nothing is blocked by
    // class, so the images are not paused: Chromium hands them to the job's direct relay,
    // which refuses them on the connection (the address rule where DNS rebinding loses).
    let doc = format!(
        "data:text/html,<img src=\"http://{addr}/pixel.png\"><img src=\"http://localhost:{}/pixel.png\">",
        addr.port()
    );
    let out = pool.render(&request(doc)).await.expect("render");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        pixels.load(Ordering::SeqCst),
        0,
        "no request reached the private server"
    );
    assert_eq!(out.blocked_requests, 2);
    // And a private page itself is refused.
    let err = pool
        .render(&request(format!("http://{addr}/js")))
        .await
        .expect_err("blocked");
    assert!(
        matches!(err, scraperx_worker::error::FetchError::Blocked(_))
            || err.to_string().contains("navigation"),
        "{err}"
    );
}

#[tokio::test]
async fn stealth_applies_a_coherent_fingerprint_before_page_scripts_run() {
    let addr = serve(site(Arc::default())).await;
    let pool = pool(true);
    let plain = pool
        .render(&request(format!("http://{addr}/probe")))
        .await
        .expect("render");
    let plain_html = String::from_utf8_lossy(&plain.page.body).to_string();
    assert!(
        plain_html.contains("\"webdriver\":true"),
        "headless Chromium announces itself: {plain_html}"
    );

    let fp = Fingerprint {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into(),
        platform: "Win32".into(),
        languages: vec!["de-DE".into(), "de".into()],
        screen_width: 1920,
        screen_height: 1080,
        device_pixel_ratio: 1.0,
        timezone: "Europe/Berlin".into(),
        locale: "de-DE".into(),
        webgl_vendor: "Google Inc. (NVIDIA)".into(),
        webgl_renderer: "ANGLE (NVIDIA)".into(),
        hardware_concurrency: 8,
        device_memory: 8,
        mobile: false,
        fonts: Vec::new(),
    };
    let mut req = request(format!("http://{addr}/probe"));
    req.fingerprint = Some(fp);
    let out = pool.render(&req).await.expect("render");
    let html = String::from_utf8_lossy(&out.page.body).to_string();
    let start = html.find("<pre id=\"probe\">").expect("probe") + "<pre id=\"probe\">".len();
    let end = start + html[start..].find("</pre>").expect("probe end");
    let probe: serde_json::Value =
        serde_json::from_str(&html[start..end].replace("&quot;", "\"")).expect("json");
    assert_eq!(probe["webdriver"], false, "{probe}");
    assert_eq!(probe["platform"], "Win32");
    assert!(
        probe["ua"]
            .as_str()
            .is_some_and(|u| u.contains("Windows NT 10.0"))
    );
    assert_eq!(probe["languages"], serde_json::json!(["de-DE", "de"]));
    assert_eq!(probe["tz"], "Europe/Berlin");
    assert_eq!(probe["width"], 1920);
    // Chromium's own PDF plugins, not a scripted stand-in.
    assert_eq!(probe["plugins"], 5);
    // The Client Hints agree with the user agent's platform, and both claim the engine's
    // own version, not the table's 131.
    assert_eq!(probe["uaPlatform"], "Windows", "{probe}");
    let major = plain_html
        .split("HeadlessChrome/")
        .nth(1)
        .and_then(|v| v.split('.').next())
        .expect("the engine's version");
    let brands = probe["brands"].to_string();
    assert!(
        brands.contains(&format!("Google Chrome/{major}"))
            && brands.contains(&format!("Chromium/{major}")),
        "{brands}"
    );
    assert!(
        probe["ua"]
            .as_str()
            .is_some_and(|u| u.contains(&format!("Chrome/{major}.0.0.0"))),
        "{probe}"
    );
}

const LATE_FETCH: &str = r#"<html><body><div id="out">waiting</div><script>
setTimeout(() => fetch('/slow').then(r => r.text()).then(t => {
  document.getElementById('out').textContent = t; }), 50);
</script></body></html>"#;

#[tokio::test]
async fn network_idle_waits_for_requests_made_after_load() {
    let addr = serve(
        Router::new()
            .route(
                "/late",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], LATE_FETCH) }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    "arrived over the network"
                }),
            ),
    )
    .await;
    let pool = pool(true);
    let at_load = pool
        .render(&request(format!("http://{addr}/late")))
        .await
        .expect("render at load");
    assert!(
        !String::from_utf8_lossy(&at_load.page.body).contains("arrived over the network"),
        "the load event comes before the late request ends"
    );
    let mut req = request(format!("http://{addr}/late"));
    req.wait_until = scraperx_core::domain::WaitUntil::NetworkIdle0;
    let idle = pool.render(&req).await.expect("render at network idle");
    let html = String::from_utf8_lossy(&idle.page.body).to_string();
    assert!(html.contains("arrived over the network"), "{html}");
    assert!(
        idle.page.timings.render_ms.unwrap_or(0) >= 600,
        "{:?}",
        idle.page.timings
    );
}

#[tokio::test]
async fn a_browser_that_dies_is_replaced_and_one_that_served_its_pages_is_recycled() {
    let addr = serve(site(Arc::default())).await;
    let pool = BrowserPool::new(BrowserSettings {
        executable: chromium(),
        contexts: 1,
        pages_per_browser: 2,
        allow_private: true,
        max_bytes: 2 << 20,
    });
    let url = format!("http://{addr}/probe");
    pool.render(&request(url.clone())).await.expect("first");
    let first = pool.browser_pid().await.expect("a browser");
    let killed = std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_crash = pool.render(&request(url.clone())).await;
    assert!(after_crash.is_ok(), "{:?}", after_crash.err());
    let second = pool.browser_pid().await.expect("a browser");
    assert_ne!(first, second, "relaunched after the crash");
    pool.render(&request(url.clone())).await.expect("third");
    assert_eq!(pool.browser_pid().await, Some(second), "same browser");
    pool.render(&request(url)).await.expect("fourth");
    let third = pool.browser_pid().await.expect("a browser");
    assert_ne!(second, third, "recycled after its pages");
}

#[tokio::test]
async fn a_page_that_grows_past_the_cap_fails_as_too_large() {
    let addr = serve(Router::new().route(
        "/grow",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><script>document.body.insertAdjacentHTML('beforeend', \
                 '<p>' + 'x'.repeat(3 * 1024 * 1024) + '</p>');</script></body></html>",
            )
        }),
    ))
    .await;
    let err = pool(true)
        .render(&request(format!("http://{addr}/grow")))
        .await
        .expect_err("3 MB against a 2 MB cap");
    assert!(
        matches!(err, scraperx_worker::error::FetchError::TooLarge(_)),
        "{err:?}"
    );
}

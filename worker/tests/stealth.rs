//! The stealth engine against open-source bot detectors, served here on loopback: BotD and
//! FingerprintJS (npm, pinned, installed by scripts/lib/detectors.sh) and our own reading
//! of every tell, on the page, in a same-origin iframe, in a cross-site (out-of-process)
//! iframe and in a web worker (tests/detectors/); the native-function checks of everything
//! the disguise replaced, in every one of those contexts and in an iframe a script creates
//! (`native.js`, against the honest engine's reading); and a font probe measuring families
//! as FingerprintJS does (`fonts.js`), in the DOM and on a canvas on the page and in a worker,
//! and by `local()`.
//! The browser engine stays honest.

/// bench/stealth/run.sh's side-by-side table.
#[path = "stealth/bench.rs"]
mod bench;
mod common;

use std::{path::PathBuf, time::Duration};

use axum::{Router, http::header, routing::get};
use common::{Harness, chromium, render_request, serve};
use scraperx_core::{domain::Engine, pg::NewJob};
use scraperx_worker::browser::{BrowserPool, BrowserSettings, Fingerprint};
use serde_json::Value;
use sqlx::PgPool;

const DONE: &str = "#verdict[data-done]";
const CONTEXTS: [&str; 4] = ["main", "iframe", "oopif", "worker"];
/// native.html's contexts: `created` is an iframe its script appends and reads at once.
const NATIVE_CONTEXTS: [&str; 5] = ["main", "created", "iframe", "oopif", "worker"];

/// Where scripts/lib/detectors.sh installed the detectors (installing them if needed).
fn detectors() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/lib/detectors.sh");
    let out = std::process::Command::new(script)
        .output()
        .expect("scripts/lib/detectors.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn text(
    kind: &'static str,
    body: String,
) -> impl Fn() -> std::future::Ready<([(header::HeaderName, &'static str); 1], String)> + Clone {
    move || std::future::ready(([(header::CONTENT_TYPE, kind)], body.clone()))
}

/// The detector pages and the detectors' own browser bundles; the page's address, its
/// cross-site iframe served by the same server under `localhost`.
async fn detector_site() -> String {
    let dir = detectors().join("node_modules/@fingerprintjs");
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).expect("detector bundle");
    let (html, js) = ("text/html", "text/javascript");
    let pages = [
        ("/detect.html", html, include_str!("detectors/detect.html")),
        ("/frame.html", html, include_str!("detectors/frame.html")),
        ("/probe.js", js, include_str!("detectors/probe.js")),
        ("/worker.js", js, include_str!("detectors/worker.js")),
        ("/native.html", html, include_str!("detectors/native.html")),
        (
            "/native-frame.html",
            html,
            include_str!("detectors/native-frame.html"),
        ),
        ("/native.js", js, include_str!("detectors/native.js")),
        (
            "/native-worker.js",
            js,
            include_str!("detectors/native-worker.js"),
        ),
        ("/fonts.html", html, include_str!("detectors/fonts.html")),
        ("/fonts.js", js, include_str!("detectors/fonts.js")),
        (
            "/fonts-worker.js",
            js,
            include_str!("detectors/fonts-worker.js"),
        ),
    ];
    let router = pages
        .into_iter()
        .fold(Router::new(), |router, (path, kind, body)| {
            router.route(path, get(text(kind, body.into())))
        })
        .route("/botd.esm.js", get(text(js, read("botd/dist/botd.esm.js"))))
        .route(
            "/fp.esm.js",
            get(text(js, read("fingerprintjs/dist/fp.esm.js"))),
        );
    let addr = serve(router).await;
    format!("http://{addr}/detect.html?cross=localhost:{}", addr.port())
}

fn pool() -> BrowserPool {
    BrowserPool::new(BrowserSettings {
        executable: chromium(),
        contexts: 2,
        pages_per_browser: 50,
        allow_private: true,
        max_bytes: 4 << 20,
    })
}

/// The page's verdict: the JSON its script wrote into `#verdict`.
fn verdict(html: &str) -> Value {
    let open = "<pre id=\"verdict\" data-done=\"1\">";
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("no verdict in {html}"))
        + open.len();
    let end = start + html[start..].find("</pre>").expect("verdict end");
    let json = html[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).expect("verdict json")
}

async fn render(pool: &BrowserPool, url: &str, fp: Option<Fingerprint>) -> Value {
    let mut req = render_request(url.to_owned(), Duration::from_secs(40));
    req.wait_for = Some(DONE.into());
    req.fingerprint = fp;
    let out = pool.render(&req).await.expect("render");
    verdict(&String::from_utf8_lossy(&out.page.body))
}

/// The engine's major version, from what the honest browser engine says of itself.
fn engine_major(honest: &Value) -> String {
    let ua = honest["main"]["userAgent"].as_str().expect("user agent");
    let at = ua.find("HeadlessChrome/").expect("headless") + "HeadlessChrome/".len();
    ua[at..].split('.').next().expect("major").to_owned()
}

/// Every tell of `reading` (one context's) agrees with `fp` on an engine of `major`.
fn assert_disguised(context: &str, r: &Value, fp: &Fingerprint, major: &str) {
    let botd = &r["botd"];
    assert_eq!(botd["bot"], false, "{context}: BotD says bot: {botd}");
    assert_eq!(botd["fired"], serde_json::json!([]), "{context}: {botd}");
    let ua = r["userAgent"].as_str().unwrap_or_default();
    assert!(
        ua.contains(&format!("Chrome/{major}.0.0.0")) && !ua.contains("Headless"),
        "{context}: {ua}"
    );
    assert!(
        !r["appVersion"]
            .as_str()
            .unwrap_or_default()
            .contains("Headless"),
        "{context}"
    );
    let hints = &r["clientHints"];
    let brands = hints["brands"].to_string();
    assert!(
        brands.contains(&format!("Chromium/{major}\""))
            && brands.contains(&format!("Google Chrome/{major}\"")),
        "{context}: {brands}"
    );
    assert!(
        hints["fullVersionList"]
            .to_string()
            .contains(&format!("Chromium/{major}.")),
        "{context}: {hints}"
    );
    assert_eq!(r["platform"], fp.platform.as_str(), "{context}");
    assert_eq!(r["languages"], serde_json::json!(fp.languages), "{context}");
    assert_eq!(r["timezone"], fp.timezone.as_str(), "{context}");
    assert_eq!(
        r["hardwareConcurrency"], fp.hardware_concurrency,
        "{context}"
    );
    assert_eq!(r["deviceMemory"], fp.device_memory, "{context}");
    assert_eq!(
        r["webgl"]["vendor"],
        fp.webgl_vendor.as_str(),
        "{context}: {}",
        r["webgl"]
    );
    assert_eq!(
        r["webgl"]["renderer"],
        fp.webgl_renderer.as_str(),
        "{context}"
    );
    assert_eq!(
        r["artefacts"],
        serde_json::json!([]),
        "{context}: CDP artefacts"
    );
    assert_eq!(
        r["runtimeEnabled"], false,
        "{context}: Runtime.enable shows"
    );
    if context == "worker" {
        // WorkerNavigator has no webdriver, as in any Chrome.
        assert!(r["webdriver"].is_null(), "{context}: {}", r["webdriver"]);
        return;
    }
    assert_eq!(
        r["webdriver"], false,
        "{context}: webdriver must be false, not undefined"
    );
    assert_eq!(r["screen"]["width"], fp.screen_width, "{context}");
    assert_eq!(r["screen"]["height"], fp.screen_height, "{context}");
    assert_eq!(r["plugins"]["isPluginArray"], true, "{context}");
    assert_eq!(r["plugins"]["length"], 5, "{context}: {}", r["plugins"]);
    assert_eq!(r["chrome"]["type"], "object", "{context}");
    assert_eq!(
        r["chrome"]["keys"],
        serde_json::json!(["app", "csi", "loadTimes"]),
        "{context}"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn botd_finds_no_bot_under_any_fingerprint_on_the_page_in_iframes_and_in_a_worker(
    pool_pg: PgPool,
) {
    let h = Harness::new(pool_pg).await;
    let rows = h.db.usable_fingerprints().await.expect("fingerprints");
    assert!(rows.len() >= 3, "the table's fingerprints: {}", rows.len());
    let url = detector_site().await;
    let pool = pool();
    let major = engine_major(&render(&pool, &url, None).await);
    let mut visitors = Vec::new();
    for row in &rows {
        let fp = Fingerprint::from_row(row);
        let v = render(&pool, &url, Some(fp.clone())).await;
        for context in CONTEXTS {
            assert_disguised(context, &v[context], &fp, &major);
        }
        visitors.push(v["visitorId"].as_str().expect("visitor id").to_owned());
    }
    let mut distinct = visitors.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        visitors.len(),
        "FingerprintJS: different fingerprints, different ids: {visitors:?}"
    );
}

/// Every check of `honest` (the browser engine's, all native) reads the same in `ours`.
fn assert_native(label: &str, ours: &Value, honest: &Value) {
    let (Some(ours), Some(honest)) = (ours.as_object(), honest.as_object()) else {
        panic!("{label}: no checks: {ours} / {honest}");
    };
    for (key, native) in honest {
        assert_eq!(
            ours.get(key),
            Some(native),
            "{label}: {key} differs from native"
        );
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn every_function_the_disguise_installs_reads_as_native_in_every_context(pool_pg: PgPool) {
    let h = Harness::new(pool_pg).await;
    let url = detector_site()
        .await
        .replace("/detect.html", "/native.html");
    let pool = pool();
    let honest = render(&pool, &url, None).await;
    for row in h.db.usable_fingerprints().await.expect("fingerprints") {
        let fp = Fingerprint::from_row(&row);
        let v = render(&pool, &url, Some(fp.clone())).await;
        for context in NATIVE_CONTEXTS {
            let label = format!("{} {context}", fp.platform);
            assert_native(&label, &v[context]["checks"], &honest[context]["checks"]);
            // Not a bare realm that passes for having nothing replaced: the disguise is on.
            let claims = &v[context]["claims"];
            assert_eq!(claims["deviceMemory"], fp.device_memory, "{label}");
            assert_eq!(
                claims["webgl"]["vendor"],
                fp.webgl_vendor.as_str(),
                "{label}"
            );
            assert_eq!(claims["platform"], fp.platform.as_str(), "{label}");
            if context != "worker" {
                assert_eq!(claims["screenWidth"], fp.screen_width, "{label}");
            }
        }
    }
}

/// Families Blink finds under each other's name on every platform.
const BLINK_ALIASES: [(&str, &str); 3] = [
    ("Arial", "Helvetica"),
    ("Times New Roman", "Times"),
    ("Courier New", "Courier"),
];

/// Families only a Linux machine has.
const LINUX_FAMILIES: [&str; 8] = [
    "DejaVu Sans",
    "DejaVu Sans Mono",
    "Liberation Sans",
    "Liberation Mono",
    "Noto Color Emoji",
    "Carlito",
    "Arimo",
    "Bitstream Vera Sans Mono",
];

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("a list: {v}"))
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_font_probe_finds_the_claimed_platform_s_families_and_no_linux_one_in_pages_and_workers(
    pool_pg: PgPool,
) {
    let h = Harness::new(pool_pg).await;
    let url = detector_site().await.replace("/detect.html", "/fonts.html");
    let pool = pool();
    let mut platforms = Vec::new();
    for row in h.db.usable_fingerprints().await.expect("fingerprints") {
        let fp = Fingerprint::from_row(&row);
        let Some(profile) = fp.font_profile() else {
            continue;
        };
        let claimed = |f: &str| profile.families().iter().any(|c| c == f);
        let v = render(&pool, &url, Some(fp.clone())).await;
        let present = strings(&v["present"]);
        let expected: Vec<String> = strings(&v["probed"])
            .into_iter()
            .filter(|f| {
                claimed(f)
                    || BLINK_ALIASES
                        .iter()
                        .any(|(a, b)| (f == b && claimed(a)) || (f == a && claimed(b)))
            })
            .collect();
        assert_eq!(present, expected, "{}: the families found", fp.platform);
        // A canvas, on the page and in a worker, finds the same.
        assert_eq!(strings(&v["canvas"]), present, "{}: canvas", fp.platform);
        assert_eq!(strings(&v["worker"]), present, "{}: worker", fp.platform);
        // `local()` finds a claimed family's regular face by its name, never a Linux font.
        let local = strings(&v["local"]);
        assert!(
            local.contains(&"Arial".to_owned()) && local.iter().all(|f| claimed(f)),
            "{}: local() finds {local:?}",
            fp.platform
        );
        for linux in LINUX_FAMILIES {
            assert!(
                !present.iter().any(|f| f == linux),
                "{}: {linux}",
                fp.platform
            );
        }
        let fpjs = strings(&v["fingerprintjs"]);
        assert!(
            !fpjs.is_empty() && fpjs.iter().all(|f| present.contains(f)),
            "{}: FingerprintJS's fonts {fpjs:?}",
            fp.platform
        );
        platforms.push(fp.platform.clone());
    }
    assert!(
        platforms.len() >= 2,
        "fingerprints with fonts: {platforms:?}"
    );
    // The browser engine keeps the machine's own fonts.
    let honest = render(&pool, &url, None).await;
    assert!(strings(&honest["present"]).contains(&"DejaVu Sans".to_owned()));
    assert!(strings(&honest["local"]).contains(&"DejaVu Sans".to_owned()));
}

#[tokio::test]
async fn the_browser_engine_says_it_is_headless_and_botd_calls_it_a_bot() {
    let url = detector_site().await;
    let v = render(&pool(), &url, None).await;
    let main = &v["main"];
    assert_eq!(main["botd"]["bot"], true, "{}", main["botd"]);
    assert_eq!(main["botd"]["kind"], "headless_chrome");
    assert!(
        main["userAgent"]
            .as_str()
            .is_some_and(|u| u.contains("HeadlessChrome/")),
        "{}",
        main["userAgent"]
    );
    assert_eq!(main["webdriver"], true);
}

/// A stealth job through the worker on the detector page, in session `session` and from
/// `country` if given: its verdict and the fingerprint it wore.
async fn stealth_job(
    h: &Harness,
    org: &scraperx_core::pg::Organization,
    url: &str,
    session: &str,
    country: Option<&str>,
) -> (Value, String) {
    let mut job = NewJob::get(url);
    job.engine = Engine::Stealth;
    job.proxy_session_id = Some(session.into());
    job.proxy_country = country.map(str::to_owned);
    job.options.wait_for = Some(DONE.into());
    let id = h.submit(org, job).await;
    let html = h.completed_content(org, id, Duration::from_secs(60)).await;
    let events = h.db.list_job_events(org.id, id).await.expect("events");
    let applied = events
        .iter()
        .find(|e| e.event_type.to_string() == "job.fingerprint_applied")
        .and_then(|e| e.event_data.as_ref())
        .map(|d| d.0["fingerprint_id"].to_string())
        .expect("a fingerprint applied");
    (verdict(&html), applied)
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_sticky_session_keeps_one_fingerprintjs_visitor_id_across_its_jobs(pool_pg: PgPool) {
    let h = Harness::new(pool_pg).await;
    let url = detector_site().await;
    let org = h.org(500).await;
    let (_stop, _w) = h.start(h.browser_config(&[Engine::Stealth]));
    let (first, worn) = stealth_job(&h, &org, &url, "basket-7", None).await;
    for _ in 0..2 {
        let (again, worn_again) = stealth_job(&h, &org, &url, "basket-7", None).await;
        assert_eq!(worn_again, worn, "one fingerprint per session");
        assert_eq!(again["visitorId"], first["visitorId"]);
        assert_eq!(
            again["main"]["botd"]["bot"], false,
            "{}",
            again["main"]["botd"]
        );
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_stealth_job_from_a_proxy_country_keeps_that_country_s_clock_everywhere(pool_pg: PgPool) {
    let h = Harness::new(pool_pg).await;
    let url = detector_site().await;
    let org = h.org(500).await;
    let (_stop, _w) = h.start(h.browser_config(&[Engine::Stealth]));
    // The datacenter tier without a provider goes direct: the country still sets the clock.
    let (v, _) = stealth_job(&h, &org, &url, "tokyo-1", Some("JP")).await;
    for context in CONTEXTS {
        assert_eq!(v[context]["timezone"], "Asia/Tokyo", "{context}");
        assert_eq!(v[context]["botd"]["bot"], false, "{context}");
    }
}

//! The stealth engine's disguise: a coherent fingerprint (user agent and Client Hints on the
//! real engine's version, platform, screen, device pixel ratio, timezone, locale, languages,
//! hardware, WebGL vendor and renderer, fonts) from the `fingerprints` table. The overrides
//! Chromium offers through CDP are applied to the page and, by [`super::cover`], to every
//! frame and worker it opens, before their first script; only what CDP cannot override
//! (device memory, available screen, WebGL strings, a worker's platform) is set by a script
//! run first (`first.js`, [`Scripts`]); the fonts are the browser's own, launched with the
//! claimed platform's font profile ([`fonts`]).
//!
//! Invariant: the claimed browser is the running one. The user agent's and Client Hints'
//! Chrome version is the engine's own ([`user_agent`]), never the table's, so a feature
//! probe cannot catch the lie; `navigator.webdriver` is false (Chromium's own, from its
//! launch flags), never a scripted stand-in; the plugins are Chromium's own `PluginArray`.
//! What the first script replaces passes the native-function checks: each replacement is
//! an object-literal getter or method (a native function's name, length and own
//! properties, no `prototype`, not a constructor) put where the native one was, with its
//! descriptor's flags, only where the context has it; `Function.prototype.toString`
//! answers `function name() { [native code] }` for every function holding the page's token,
//! in every realm of the page; an error a replacement throws (a wrong receiver) has its
//! stack taken again from the caller, so it holds no frame of ours. Known limits: V8 writes
//! a function's real source into the message of `class extends fn` (the error's type and
//! "not a constructor" are native), and a page's `valueOf` run by WebGL's `getParameter` on
//! an argument sees the replacement's frame in its own stack.

pub mod fonts;

use chromiumoxide::{
    Page,
    cdp::browser_protocol::emulation::{
        SetDeviceMetricsOverrideParams, SetTouchEmulationEnabledParams, UserAgentBrandVersion,
        UserAgentMetadata,
    },
};
use scraperx_core::pg::FingerprintRow;
use serde::Serialize;
use serde_json::Value;

use crate::error::FetchError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fingerprint {
    /// The table's user agent; its Chrome version is replaced by the engine's.
    pub user_agent: String,
    pub platform: String,
    /// Also the `Accept-Language` header, which Chromium weighs (`de-DE,de;q=0.9`).
    pub languages: Vec<String>,
    pub screen_width: u32,
    pub screen_height: u32,
    pub device_pixel_ratio: f64,
    pub timezone: String,
    pub locale: String,
    pub webgl_vendor: String,
    pub webgl_renderer: String,
    pub hardware_concurrency: u32,
    pub device_memory: u32,
    /// A phone's: a mobile viewport with touch.
    pub mobile: bool,
    /// The font families the claimed platform has ([`fonts`]); empty: the machine's own.
    pub fonts: Vec<String>,
}

impl Fingerprint {
    /// The table's row, with coherent defaults for its gaps.
    pub fn from_row(row: &FingerprintRow) -> Self {
        let nav = row
            .navigator_properties
            .as_ref()
            .map(|j| j.0.clone())
            .unwrap_or_default();
        let webgl = row
            .webgl_properties
            .as_ref()
            .map(|j| j.0.clone())
            .unwrap_or_default();
        let text =
            |v: &Value, k: &str, d: &str| v.get(k).and_then(Value::as_str).unwrap_or(d).to_owned();
        let number = |k: &str, d: u32| {
            nav.get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(d)
        };
        let locale = row.locale.clone().unwrap_or_else(|| "en-US".into());
        let languages = nav
            .get("languages")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_else(|| vec![locale.clone()]);
        let dimension = |v: Option<i32>, d: u32| v.and_then(|w| u32::try_from(w).ok()).unwrap_or(d);
        Self {
            user_agent: row.user_agent.clone(),
            platform: text(&nav, "platform", "Win32"),
            languages,
            screen_width: dimension(row.screen_width, 1920),
            screen_height: dimension(row.screen_height, 1080),
            device_pixel_ratio: row.device_pixel_ratio.unwrap_or(1.0),
            timezone: row
                .timezone
                .clone()
                .unwrap_or_else(|| "America/New_York".into()),
            locale,
            webgl_vendor: text(&webgl, "vendor", "Google Inc."),
            webgl_renderer: text(&webgl, "renderer", "ANGLE"),
            hardware_concurrency: number("hardwareConcurrency", 8),
            device_memory: number("deviceMemory", 8),
            mobile: row.user_agent.contains("Mobile"),
            fonts: row.font_list.clone().unwrap_or_default(),
        }
    }

    /// The fonts the stealth browser wearing this fingerprint is launched with.
    pub fn font_profile(&self) -> Option<fonts::FontProfile> {
        fonts::FontProfile::new(&self.platform, &self.fonts)
    }
}

/// The engine's full version (`156.0.8078.114`) from `Browser.getVersion`'s product
/// (`HeadlessChrome/156.0.8078.114`).
pub fn engine_version(product: &str) -> Option<String> {
    let version = product.rsplit_once('/').map_or(product, |(_, v)| v);
    version
        .split('.')
        .next()
        .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        .then(|| version.to_owned())
}

/// `user_agent` claiming the engine's major version, reduced as Chrome reduces it
/// (`Chrome/156.0.0.0`); an Edge user agent's `Edg/` token follows the same major.
pub fn user_agent(user_agent: &str, engine: &str) -> String {
    let major = engine.split('.').next().unwrap_or(engine);
    let reduced = format!("{major}.0.0.0");
    let mut out = user_agent.to_owned();
    for marker in ["Chrome/", "Edg/"] {
        if let Some(at) = out.find(marker).map(|i| i + marker.len()) {
            let end = out[at..]
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .map_or(out.len(), |n| at + n);
            out.replace_range(at..end, &reduced);
        }
    }
    out
}

/// The User-Agent Client Hints (`navigator.userAgentData`, `Sec-CH-UA*`) of a Chrome or
/// Edge user agent running `engine` (the full version). Other user agents get none.
pub fn client_hints(user_agent: &str, engine: &str) -> Option<UserAgentMetadata> {
    if !user_agent.contains("Chrome/") {
        return None;
    }
    let major = engine.split('.').next().unwrap_or(engine);
    let brand = if user_agent.contains("Edg/") {
        "Microsoft Edge"
    } else {
        "Google Chrome"
    };
    let (platform, platform_version) = if user_agent.contains("Windows NT") {
        ("Windows", "15.0.0")
    } else if user_agent.contains("Android") {
        ("Android", "14.0.0")
    } else if user_agent.contains("Mac OS X") {
        ("macOS", "14.5.0")
    } else if user_agent.contains("CrOS") {
        ("Chrome OS", "16093.0.0")
    } else {
        ("Linux", "6.5.0")
    };
    let mobile = user_agent.contains("Mobile");
    let (grease, grease_version) = grease(major);
    let list = |version: &str, grease_version: &str| {
        shuffle(
            major,
            [
                UserAgentBrandVersion::new(grease.clone(), grease_version),
                UserAgentBrandVersion::new("Chromium", version),
                UserAgentBrandVersion::new(brand, version),
            ],
        )
    };
    Some(UserAgentMetadata {
        brands: Some(list(major, &grease_version)),
        full_version_list: Some(list(engine, &format!("{grease_version}.0.0.0"))),
        platform: platform.into(),
        platform_version: platform_version.into(),
        architecture: if platform == "Android" { "arm" } else { "x86" }.into(),
        model: String::new(),
        mobile,
        bitness: Some("64".into()),
        wow64: Some(false),
        form_factors: Some(vec![if mobile { "Mobile" } else { "Desktop" }.into()]),
    })
}

/// Chromium's GREASE brand and version for a major version (its `user_agent_utils.cc`),
/// so the brand list reads exactly as the real Chrome of that version writes it.
pub fn grease(major: &str) -> (String, String) {
    const CHARS: [char; 11] = [' ', '(', ':', '-', '.', '/', ')', ';', '=', '?', '_'];
    const VERSIONS: [&str; 3] = ["8", "99", "24"];
    let seed: usize = major.parse().unwrap_or(0);
    let brand = format!(
        "Not{}A{}Brand",
        CHARS[seed % CHARS.len()],
        CHARS[(seed + 1) % CHARS.len()]
    );
    (brand, VERSIONS[seed % VERSIONS.len()].to_owned())
}

/// The three brands (GREASE, Chromium, the browser) in Chromium's order for `major`.
fn shuffle(major: &str, brands: [UserAgentBrandVersion; 3]) -> Vec<UserAgentBrandVersion> {
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let order = ORDERS[major.parse::<usize>().unwrap_or(0) % ORDERS.len()];
    let mut slots: [Option<UserAgentBrandVersion>; 3] = Default::default();
    for (brand, at) in brands.into_iter().zip(order) {
        slots[at] = Some(brand);
    }
    slots.into_iter().flatten().collect()
}

/// The first script's source (`first.js`): an expression taking the configuration.
const FIRST: &str = include_str!("first.js");

/// The first scripts of one page: its documents' and its workers'. Both carry one fresh
/// token, so every realm of the page recognises the functions any of them installed.
#[derive(Debug, Clone)]
pub struct Scripts {
    pub document: String,
    pub worker: String,
}

impl Scripts {
    pub fn new(fp: &Fingerprint) -> Self {
        let token = format!("scrx{}", uuid::Uuid::new_v4().simple());
        Self {
            document: first_script(fp, false, &token),
            worker: first_script(fp, true, &token),
        }
    }
}

/// What a document runs first: device memory, its screen (for out-of-process iframes, which
/// the page's device metrics do not reach) and WebGL's unmasked vendor and renderer; a
/// worker: device memory, WebGL, and its navigator's platform (which CDP's override does not
/// reach in workers).
fn first_script(fp: &Fingerprint, worker: bool, token: &str) -> String {
    let screen = serde_json::json!({
        "width": fp.screen_width,
        "height": fp.screen_height,
        "availWidth": fp.screen_width,
        "availHeight": fp.screen_height.saturating_sub(40),
    });
    let config = serde_json::json!({
        "deviceMemory": fp.device_memory,
        "platform": worker.then_some(fp.platform.as_str()),
        "screen": (!worker).then_some(screen),
        "webgl": { "vendor": fp.webgl_vendor, "renderer": fp.webgl_renderer },
    });
    format!("{}({config});", FIRST.replace("SCRX_MARK", token))
}

/// `Emulation.setUserAgentOverride`'s parameters for `fp` on `engine`.
pub fn user_agent_override(fp: &Fingerprint, engine: &str) -> Value {
    serde_json::json!({
        "userAgent": user_agent(&fp.user_agent, engine),
        "acceptLanguage": fp.languages.join(","),
        "platform": fp.platform,
        "userAgentMetadata": client_hints(&fp.user_agent, engine),
    })
}

/// Applies what only the page's own session may set: its screen (the other session,
/// chromiumoxide's, sets a viewport of its own) and the document script. Call before
/// navigating; [`super::cover`] applies the rest.
pub async fn apply(page: &Page, fp: &Fingerprint, scripts: &Scripts) -> Result<(), FetchError> {
    let fail = |what: &str, e: chromiumoxide::error::CdpError| {
        FetchError::Browser(format!("stealth {what}: {e}"))
    };
    let mut metrics = SetDeviceMetricsOverrideParams::new(
        i64::from(fp.screen_width),
        i64::from(fp.screen_height),
        fp.device_pixel_ratio,
        fp.mobile,
    );
    metrics.screen_width = Some(i64::from(fp.screen_width));
    metrics.screen_height = Some(i64::from(fp.screen_height));
    page.execute(metrics).await.map_err(|e| fail("screen", e))?;
    if fp.mobile {
        let mut touch = SetTouchEmulationEnabledParams::new(true);
        touch.max_touch_points = Some(5);
        page.execute(touch).await.map_err(|e| fail("touch", e))?;
    }
    page.evaluate_on_new_document(scripts.document.as_str())
        .await
        .map_err(|e| fail("script", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn the_user_agent_claims_the_engine_s_major_version_reduced_as_chrome_reduces_it() {
        assert_eq!(
            user_agent(WINDOWS, "156.0.8078.114"),
            WINDOWS.replace("131.0.0.0", "156.0.0.0")
        );
        let edge = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.80";
        let claimed = user_agent(edge, "156.0.8078.114");
        assert!(
            claimed.contains("Chrome/156.0.0.0 ") && claimed.ends_with("Edg/156.0.0.0"),
            "{claimed}"
        );
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(user_agent(firefox, "156.0.8078.114"), firefox);
    }

    #[test]
    fn the_engine_version_comes_from_the_browser_s_product() {
        assert_eq!(
            engine_version("HeadlessChrome/156.0.8078.114").as_deref(),
            Some("156.0.8078.114")
        );
        assert_eq!(
            engine_version("Chrome/131.0.6778.85").as_deref(),
            Some("131.0.6778.85")
        );
        assert_eq!(engine_version("Chrome/"), None);
    }

    #[test]
    fn a_page_s_document_and_worker_scripts_share_one_fresh_token() {
        let fingerprint = |platform: &str| Fingerprint {
            user_agent: WINDOWS.into(),
            platform: platform.into(),
            languages: vec!["en-US".into()],
            screen_width: 1920,
            screen_height: 1080,
            device_pixel_ratio: 1.0,
            timezone: "UTC".into(),
            locale: "en-US".into(),
            webgl_vendor: "v".into(),
            webgl_renderer: "r".into(),
            hardware_concurrency: 8,
            device_memory: 8,
            mobile: false,
            fonts: Vec::new(),
        };
        let token = |script: &str| {
            let at = script.find("/* scrx").expect("a token") + 3;
            script[at..at + 36].to_owned()
        };
        let (first, second) = (
            Scripts::new(&fingerprint("Win32")),
            Scripts::new(&fingerprint("Win32")),
        );
        assert!(!first.document.contains("SCRX_MARK"));
        assert_eq!(token(&first.document), token(&first.worker));
        assert_ne!(token(&first.document), token(&second.document));
    }

    #[test]
    fn the_grease_brand_is_the_one_chromium_writes_for_the_version() {
        // As Chromium 156 itself reports it: "Not:A-Brand/8", first.
        assert_eq!(grease("156"), ("Not:A-Brand".into(), "8".into()));
        let hints = client_hints(WINDOWS, "156.0.8078.114").expect("hints");
        let brands: Vec<String> = hints
            .brands
            .expect("brands")
            .into_iter()
            .map(|b| format!("{}/{}", b.brand, b.version))
            .collect();
        assert_eq!(
            brands,
            ["Not:A-Brand/8", "Chromium/156", "Google Chrome/156"]
        );
        assert_eq!(grease("131"), ("Not_A Brand".into(), "24".into()));
    }

    #[test]
    fn client_hints_follow_the_user_agent_and_the_engine() {
        let edge = client_hints("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.80", "156.0.8078.114")
            .expect("edge");
        assert_eq!(edge.platform, "macOS");
        let full = edge.full_version_list.expect("full versions");
        assert_eq!(
            (full[2].brand.as_str(), full[2].version.as_str()),
            ("Microsoft Edge", "156.0.8078.114")
        );
        let brands = edge.brands.expect("brands");
        assert!(
            brands
                .iter()
                .all(|b| b.brand == "Not:A-Brand" || b.version == "156")
        );
        let phone = client_hints("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36", "156.0.8078.114")
            .expect("android");
        assert!(phone.mobile && phone.platform == "Android" && phone.architecture == "arm");
        assert!(
            client_hints(
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "156.0.8078.114"
            )
            .is_none(),
            "Firefox sends no Client Hints"
        );
    }

    #[test]
    fn the_accept_language_override_lists_the_languages_chromium_then_weighs() {
        let fp = Fingerprint {
            user_agent: WINDOWS.into(),
            platform: "Win32".into(),
            languages: vec!["de-DE".into(), "de".into(), "en".into()],
            screen_width: 1920,
            screen_height: 1080,
            device_pixel_ratio: 1.0,
            timezone: "Europe/Berlin".into(),
            locale: "de-DE".into(),
            webgl_vendor: "v".into(),
            webgl_renderer: "r".into(),
            hardware_concurrency: 4,
            device_memory: 8,
            mobile: false,
            fonts: Vec::new(),
        };
        let params = user_agent_override(&fp, "156.0.8078.114");
        assert_eq!(params["acceptLanguage"], "de-DE,de,en");
        assert_eq!(params["userAgentMetadata"]["platform"], "Windows");
        let scripts = Scripts::new(&fp);
        assert!(scripts.worker.contains(r#""platform":"Win32""#));
        assert!(scripts.document.contains(r#""platform":null"#));
    }
}

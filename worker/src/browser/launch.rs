//! Chromium's launch, done here rather than by chromiumoxide so that three things hold:
//! every flag reaches Chromium exactly as written in [`flags`] (two dashes, once each);
//! Chromium's sandbox is on, and when the worker runs as root (where Chromium refuses to
//! sandbox) Chromium runs as an unprivileged user, [`UNPRIVILEGED`]; and WebRTC sends no UDP
//! outside the context's proxy, so a page can neither go around the relay with it nor learn
//! the machine's addresses from its candidates (`RTCPeerConnection` itself stays, as in any
//! browser, so fingerprints stay plausible). A stealth browser is launched with its font
//! profile's fontconfig configuration ([`super::stealth::fonts`]), written in its profile;
//! the browser engine's keeps the machine's fonts.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use chromiumoxide::{
    Browser, Handler,
    handler::{HandlerConfig, viewport::Viewport},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use super::stealth::fonts::FontProfile;
use crate::error::FetchError;

/// How long Chromium has to print its DevTools address.
const LAUNCH: Duration = Duration::from_secs(20);
/// Each CDP call's own bound.
const CDP_REQUEST: Duration = Duration::from_secs(30);
/// The user and group Chromium runs as when the worker is root: `nobody`.
pub const UNPRIVILEGED: (u32, u32) = (65534, 65534);

/// The command line, without the executable. `profile` is the user-data directory.
pub fn flags(profile: &Path, js_heap_mib: u32) -> Vec<String> {
    let fixed = [
        // Chromium's one headless mode since 132, named so the flag cannot mean the old one.
        "--headless=new",
        "--hide-scrollbars",
        "--mute-audio",
        "--remote-debugging-port=0",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-breakpad",
        "--disable-client-side-phishing-detection",
        "--disable-component-extensions-with-background-pages",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        // `navigator.webdriver` false, as in a browser a person drives, though Chromium runs
        // under automation (`--enable-automation`, which its hang handling relies on: the
        // hostile tests); the browser engine says it is automated per page instead
        // (`Emulation.setAutomationOverride`).
        "--disable-blink-features=AutomationControlled",
        "--disable-features=TranslateUI",
        "--disable-hang-monitor",
        "--disable-ipc-flooding-protection",
        "--disable-popup-blocking",
        "--disable-prompt-on-repost",
        "--disable-renderer-backgrounding",
        "--disable-sync",
        "--enable-automation",
        "--enable-blink-features=IdleDetection",
        "--enable-features=NetworkService,NetworkServiceInProcess",
        "--force-color-profile=srgb",
        "--lang=en_US",
        "--metrics-recording-only",
        "--no-default-browser-check",
        "--no-first-run",
        "--password-store=basic",
        "--use-mock-keychain",
    ];
    let mut out: Vec<String> = fixed.iter().map(|f| (*f).to_owned()).collect();
    out.push(format!("--js-flags=--max-old-space-size={js_heap_mib}"));
    out.push(format!("--user-data-dir={}", profile.display()));
    out
}

/// Who Chromium runs as: itself when the worker is not root, else [`UNPRIVILEGED`].
fn run_as() -> Option<(u32, u32)> {
    let worker_uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    (worker_uid == 0).then_some(UNPRIVILEGED)
}

/// A launched Chromium: the connection, its event loop, and the process (killed on drop).
pub struct Launched {
    pub browser: Browser,
    pub handler: Handler,
    pub process: Child,
    /// Its DevTools address, for the stealth engine's own connection.
    pub ws: String,
}

/// Starts Chromium on a fresh `profile` (created here, owned by the user Chromium runs as)
/// and connects to it.
pub async fn launch(
    executable: &Path,
    profile: &Path,
    js_heap_mib: u32,
    fonts: Option<&FontProfile>,
) -> Result<Launched, FetchError> {
    let user = run_as();
    prepare_profile(profile, user)?;
    let mut cmd = Command::new(executable);
    if let Some(fonts) = fonts {
        let config = profile.join("fonts.conf");
        std::fs::write(&config, fonts.config(&profile.join("fontconfig")))
            .map_err(|e| FetchError::Browser(format!("fonts {}: {e}", config.display())))?;
        cmd.env("FONTCONFIG_FILE", &config);
    }
    cmd.args(flags(profile, js_heap_mib))
        // Chromium's caches and settings under the profile, not the worker's home.
        .env("HOME", profile)
        .env("XDG_CONFIG_HOME", profile.join(".config"))
        .env("XDG_CACHE_HOME", profile.join(".cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some((uid, gid)) = user {
        // std drops the supplementary groups too when it changes the user as root.
        cmd.uid(uid).gid(gid);
    }
    let mut process = cmd
        .spawn()
        .map_err(|e| FetchError::Browser(format!("launch {}: {e}", executable.display())))?;
    let ws = match tokio::time::timeout(LAUNCH, devtools_address(&mut process)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(FetchError::Browser(
                "launch: no DevTools address in time".into(),
            ));
        }
    };
    let config = HandlerConfig {
        viewport: Some(Viewport::default()),
        request_timeout: CDP_REQUEST,
        ..HandlerConfig::default()
    };
    let (browser, handler) = Browser::connect_with_config(ws.clone(), config)
        .await
        .map_err(|e| FetchError::Browser(format!("connect: {e}")))?;
    Ok(Launched {
        browser,
        handler,
        process,
        ws,
    })
}

/// The profile's preferences: WebRTC's IP handling policy, no UDP but through a proxy (so no
/// host candidate either), which the browser contexts the jobs open inherit. (The
/// `--force-webrtc-ip-handling-policy` switch does not reach those contexts: tested.)
const PREFERENCES: &str = r#"{"webrtc":{"ip_handling_policy":"disable_non_proxied_udp","multiple_routes_enabled":false,"nonproxied_udp_enabled":false}}"#;

/// A fresh profile directory the browser's user owns, holding [`PREFERENCES`].
fn prepare_profile(profile: &Path, user: Option<(u32, u32)>) -> Result<(), FetchError> {
    let fail =
        |e: std::io::Error| FetchError::Browser(format!("profile {}: {e}", profile.display()));
    let default = profile.join("Default");
    std::fs::create_dir_all(&default).map_err(fail)?;
    let preferences = default.join("Preferences");
    std::fs::write(&preferences, PREFERENCES).map_err(fail)?;
    if let Some((uid, gid)) = user {
        for path in [profile, default.as_path(), preferences.as_path()] {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(fail)?;
        }
    }
    Ok(())
}

/// Reads Chromium's standard error up to the line naming its DevTools socket; the lines
/// before it are kept for the error when Chromium exits first.
async fn devtools_address(process: &mut Child) -> Result<String, FetchError> {
    let stderr = process
        .stderr
        .take()
        .ok_or_else(|| FetchError::Browser("launch: no standard error".into()))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| FetchError::Browser(format!("launch: {e}")))?
    {
        if let Some((_, ws)) = line.rsplit_once("listening on ")
            && ws.starts_with("ws")
        {
            return Ok(ws.trim().to_owned());
        }
        seen.push(line);
    }
    let tail = seen.split_off(seen.len().saturating_sub(5)).join(" | ");
    Err(FetchError::Browser(format!(
        "launch: Chromium exited: {tail}"
    )))
}

/// The profile's path for a new browser.
pub fn new_profile() -> PathBuf {
    std::env::temp_dir().join(format!("scrx-chromium-{}", uuid::Uuid::new_v4().simple()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_exactly_two_leading_dashes_and_appears_once() {
        let flags = flags(Path::new("/tmp/p"), 512);
        for f in &flags {
            assert!(f.starts_with("--") && !f.starts_with("---"), "{f}");
        }
        let mut names: Vec<&str> = flags
            .iter()
            .map(|f| f.split('=').next().unwrap_or(f))
            .collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a flag is given twice: {flags:?}");
        assert!(flags.iter().any(|f| f == "--disable-gpu"));
        assert!(
            flags
                .iter()
                .any(|f| f == "--js-flags=--max-old-space-size=512")
        );
        assert!(!flags.iter().any(|f| f.contains("no-sandbox")));
        assert!(flags.iter().any(|f| f == "--headless=new"));
    }
}

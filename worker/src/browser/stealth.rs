//! The stealth engine's disguise: a coherent fingerprint (user agent, Accept-Language,
//! platform, screen, device pixel ratio, timezone, locale, languages, WebGL vendor and
//! renderer, plugins) applied before any page script runs, with `navigator.webdriver`
//! hidden. Fingerprints come from the `fingerprints` table.

use chromiumoxide::{
    Page,
    cdp::browser_protocol::emulation::{
        SetDeviceMetricsOverrideParams, SetLocaleOverrideParams, SetTimezoneOverrideParams,
        SetUserAgentOverrideParams, UserAgentBrandVersion, UserAgentMetadata,
    },
};
use serde::Serialize;

use crate::error::FetchError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fingerprint {
    pub user_agent: String,
    pub accept_language: String,
    pub platform: String,
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
}

fn js(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The script run in every new document before the page's own scripts.
pub fn script(fp: &Fingerprint) -> String {
    format!(
        r#"(() => {{
  const define = (obj, name, value) => {{
    try {{ Object.defineProperty(obj, name, {{ get: () => value, configurable: true }}); }} catch (e) {{}}
  }};
  define(Navigator.prototype, 'webdriver', undefined);
  define(Navigator.prototype, 'platform', {platform});
  define(Navigator.prototype, 'languages', Object.freeze({languages}));
  define(Navigator.prototype, 'language', {language});
  define(Navigator.prototype, 'hardwareConcurrency', {cores});
  define(Navigator.prototype, 'deviceMemory', {memory});
  define(Screen.prototype, 'width', {width});
  define(Screen.prototype, 'height', {height});
  define(Screen.prototype, 'availWidth', {width});
  define(Screen.prototype, 'availHeight', {height} - 40);
  define(window, 'devicePixelRatio', {dpr});
  const plugins = ['PDF Viewer', 'Chrome PDF Viewer', 'Chromium PDF Viewer'].map(name => ({{
    name, filename: 'internal-pdf-viewer', description: 'Portable Document Format', length: 1 }}));
  define(Navigator.prototype, 'plugins', Object.assign(plugins, {{ item: i => plugins[i], namedItem: n => plugins.find(p => p.name === n) }}));
  if (!window.chrome) {{ window.chrome = {{ runtime: {{}}, app: {{ isInstalled: false }} }}; }}
  for (const proto of [WebGLRenderingContext.prototype, (window.WebGL2RenderingContext || WebGLRenderingContext).prototype]) {{
    const original = proto.getParameter;
    proto.getParameter = function (p) {{
      if (p === 37445) return {vendor};
      if (p === 37446) return {renderer};
      return original.call(this, p);
    }};
  }}
}})();"#,
        platform = js(&fp.platform),
        languages = js(&fp.languages),
        language = js(&fp
            .languages
            .first()
            .cloned()
            .unwrap_or_else(|| fp.locale.clone())),
        cores = fp.hardware_concurrency,
        memory = fp.device_memory,
        width = fp.screen_width,
        height = fp.screen_height,
        dpr = fp.device_pixel_ratio,
        vendor = js(&fp.webgl_vendor),
        renderer = js(&fp.webgl_renderer),
    )
}

/// The User-Agent Client Hints (`navigator.userAgentData`, `Sec-CH-UA*`) that match a
/// Chrome or Edge user agent, so they do not give the real browser away. Other user
/// agents get none (Chromium's own would contradict them either way).
pub fn client_hints(user_agent: &str) -> Option<UserAgentMetadata> {
    let version_after = |marker: &str| {
        let at = user_agent.find(marker)? + marker.len();
        let full: String = user_agent[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let major = full.split('.').next().filter(|m| !m.is_empty())?.to_owned();
        Some((major, full))
    };
    let (major, full) = version_after("Chrome/")?;
    let brand = match version_after("Edg/") {
        Some(_) => "Microsoft Edge",
        None => "Google Chrome",
    };
    let (brand_major, brand_full) = version_after("Edg/").unwrap_or((major.clone(), full.clone()));
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
    let list = |chromium: &str, branded: &str, grease: &str| {
        vec![
            UserAgentBrandVersion::new("Not_A Brand", grease),
            UserAgentBrandVersion::new("Chromium", chromium),
            UserAgentBrandVersion::new(brand, branded),
        ]
    };
    Some(UserAgentMetadata {
        brands: Some(list(&major, &brand_major, "8")),
        full_version_list: Some(list(&full, &brand_full, "8.0.0.0")),
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

/// Applies `fp` to `page`; call before navigating.
pub async fn apply(page: &Page, fp: &Fingerprint) -> Result<(), FetchError> {
    let fail = |what: &str, e: chromiumoxide::error::CdpError| {
        FetchError::Browser(format!("stealth {what}: {e}"))
    };
    let mut ua = SetUserAgentOverrideParams::new(fp.user_agent.clone());
    ua.accept_language = Some(fp.accept_language.clone());
    ua.platform = Some(fp.platform.clone());
    ua.user_agent_metadata = client_hints(&fp.user_agent);
    page.execute(ua).await.map_err(|e| fail("user agent", e))?;
    page.execute(SetDeviceMetricsOverrideParams::new(
        i64::from(fp.screen_width),
        i64::from(fp.screen_height),
        fp.device_pixel_ratio,
        false,
    ))
    .await
    .map_err(|e| fail("screen", e))?;
    page.execute(SetTimezoneOverrideParams::new(fp.timezone.clone()))
        .await
        .map_err(|e| fail("timezone", e))?;
    page.execute(SetLocaleOverrideParams {
        locale: Some(fp.locale.clone()),
    })
    .await
    .map_err(|e| fail("locale", e))?;
    page.evaluate_on_new_document(script(fp))
        .await
        .map_err(|e| fail("script", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::client_hints;

    #[test]
    fn client_hints_follow_the_user_agent() {
        let edge = client_hints("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.80")
            .expect("edge");
        assert_eq!(edge.platform, "macOS");
        let full = edge.full_version_list.expect("full versions");
        assert_eq!(
            (full[2].brand.as_str(), full[2].version.as_str()),
            ("Microsoft Edge", "130.0.2849.80")
        );
        let phone = client_hints("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36")
            .expect("android");
        assert!(phone.mobile && phone.platform == "Android" && phone.architecture == "arm");
        assert!(
            client_hints("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
                .is_none(),
            "Firefox sends no Client Hints"
        );
    }
}

//! The stealth engine's disguise: a coherent fingerprint (user agent, Accept-Language,
//! platform, screen, device pixel ratio, timezone, locale, languages, WebGL vendor and
//! renderer, plugins) applied before any page script runs, with `navigator.webdriver`
//! hidden. Fingerprints come from the `fingerprints` table.

use chromiumoxide::{
    Page,
    cdp::browser_protocol::emulation::{
        SetDeviceMetricsOverrideParams, SetLocaleOverrideParams, SetTimezoneOverrideParams,
        SetUserAgentOverrideParams,
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

/// Applies `fp` to `page`; call before navigating.
pub async fn apply(page: &Page, fp: &Fingerprint) -> Result<(), FetchError> {
    let fail = |what: &str, e: chromiumoxide::error::CdpError| {
        FetchError::Browser(format!("stealth {what}: {e}"))
    };
    let mut ua = SetUserAgentOverrideParams::new(fp.user_agent.clone());
    ua.accept_language = Some(fp.accept_language.clone());
    ua.platform = Some(fp.platform.clone());
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

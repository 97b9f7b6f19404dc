//! The browser engine's emulation of a job's location and device: the languages it claims
//! (`Accept-Language`, `navigator.languages`, its locale), its timezone, and a phone's
//! viewport, touch and user agent. The stealth engine carries the same through its
//! fingerprint ([`super::stealth`]) instead, to every frame and worker.
//!
//! Invariant: a job that asks for none of it costs no CDP call ([`Emulation::is_empty`]);
//! what is asked for is in place before the page navigates.

use chromiumoxide::{
    Page,
    cdp::browser_protocol::emulation::{
        SetDeviceMetricsOverrideParams, SetLocaleOverrideParams, SetTimezoneOverrideParams,
        SetTouchEmulationEnabledParams, SetUserAgentOverrideParams,
    },
};
use scraperx_core::pg::FingerprintRow;

use crate::error::FetchError;

/// A phone to pretend to be: its user agent (from the fingerprints table), its viewport in
/// CSS pixels and its pixel ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub user_agent: String,
    pub width: u32,
    pub height: u32,
    pub scale: f64,
}

impl Device {
    /// The phone a mobile fingerprint row describes (a Pixel's size for its gaps).
    pub fn from_row(row: &FingerprintRow) -> Self {
        let size = |v: Option<i32>, d: u32| v.and_then(|n| u32::try_from(n).ok()).unwrap_or(d);
        Self {
            user_agent: row.user_agent.clone(),
            width: size(row.screen_width, 412),
            height: size(row.screen_height, 915),
            scale: row.device_pixel_ratio.unwrap_or(2.625),
        }
    }
}

/// What a job asks the browser to claim; empty fields leave the browser's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Emulation {
    /// Most preferred first; the first is also the locale.
    pub languages: Vec<String>,
    pub timezone: Option<String>,
    pub device: Option<Device>,
}

impl Emulation {
    pub fn is_empty(&self) -> bool {
        self.languages.is_empty() && self.timezone.is_none() && self.device.is_none()
    }

    /// The user agent override, when one is needed: the phone's (claiming the running
    /// engine's version), else the browser's own with the languages.
    pub fn user_agent_override(
        &self,
        own_user_agent: &str,
        engine: &str,
    ) -> Option<SetUserAgentOverrideParams> {
        if self.languages.is_empty() && self.device.is_none() {
            return None;
        }
        let mut params = match &self.device {
            Some(device) => {
                let ua = super::stealth::user_agent(&device.user_agent, engine);
                let mut p = SetUserAgentOverrideParams::new(ua);
                p.user_agent_metadata = super::stealth::client_hints(&device.user_agent, engine);
                p
            }
            None => SetUserAgentOverrideParams::new(own_user_agent),
        };
        if !self.languages.is_empty() {
            // Unweighted: Chromium weighs the list itself (`de-DE,de;q=0.9`).
            params.accept_language = Some(self.languages.join(","));
        }
        Some(params)
    }
}

/// Applies `emulation` to `page` before it navigates.
pub async fn apply(
    page: &Page,
    emulation: &Emulation,
    own_user_agent: &str,
    engine: &str,
) -> Result<(), FetchError> {
    if emulation.is_empty() {
        return Ok(());
    }
    let fail = |what: &str, e: chromiumoxide::error::CdpError| {
        FetchError::Browser(format!("emulation {what}: {e}"))
    };
    if let Some(ua) = emulation.user_agent_override(own_user_agent, engine) {
        page.execute(ua).await.map_err(|e| fail("user agent", e))?;
    }
    if let Some(locale) = emulation.languages.first() {
        let params = SetLocaleOverrideParams {
            locale: Some(locale.clone()),
        };
        page.execute(params).await.map_err(|e| fail("locale", e))?;
    }
    if let Some(zone) = &emulation.timezone {
        page.execute(SetTimezoneOverrideParams::new(zone.clone()))
            .await
            .map_err(|e| fail("timezone", e))?;
    }
    if let Some(device) = &emulation.device {
        let (w, h) = (i64::from(device.width), i64::from(device.height));
        let mut metrics = SetDeviceMetricsOverrideParams::new(w, h, device.scale, true);
        metrics.screen_width = Some(w);
        metrics.screen_height = Some(h);
        page.execute(metrics)
            .await
            .map_err(|e| fail("viewport", e))?;
        let mut touch = SetTouchEmulationEnabledParams::new(true);
        touch.max_touch_points = Some(5);
        page.execute(touch).await.map_err(|e| fail("touch", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIXEL: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";

    #[test]
    fn nothing_asked_means_no_override() {
        let none = Emulation::default();
        assert!(none.is_empty());
        assert!(
            none.user_agent_override("HeadlessChrome", "156.0.1.2")
                .is_none()
        );
    }

    #[test]
    fn languages_keep_the_browser_s_own_user_agent_and_a_phone_brings_its_own() {
        let langs = Emulation {
            languages: vec!["de-DE".into(), "de".into()],
            ..Emulation::default()
        };
        let ua = langs
            .user_agent_override("Mozilla/5.0 HeadlessChrome/156", "156.0.1.2")
            .expect("override");
        assert_eq!(ua.user_agent, "Mozilla/5.0 HeadlessChrome/156");
        assert_eq!(ua.accept_language.as_deref(), Some("de-DE,de"));
        let phone = Emulation {
            device: Some(Device {
                user_agent: PIXEL.into(),
                width: 412,
                height: 915,
                scale: 2.625,
            }),
            ..Emulation::default()
        };
        let ua = phone
            .user_agent_override("HeadlessChrome", "156.0.1.2")
            .expect("override");
        assert!(ua.user_agent.contains("Android 14") && ua.user_agent.contains("Chrome/156.0.0.0"));
        assert!(ua.user_agent_metadata.is_some_and(|m| m.mobile));
        assert_eq!(ua.accept_language, None);
    }
}

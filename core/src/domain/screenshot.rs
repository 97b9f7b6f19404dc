//! How a job's screenshot is taken (`options.screenshot_mode`): the full page (the
//! default) or the viewport only, PNG (the default) or JPEG at a quality, at the browser's
//! viewport or one of the job's own size. Whatever the mode, a screenshot is priced once,
//! as [`super::pricing::SCREENSHOT_CREDITS`].
//!
//! Invariant: [`ScreenshotMode::validate`] holds every bound, once; the worker and the APIs
//! only read them.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A viewport's size in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

/// The screenshot's extent, encoding and viewport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenshotMode {
    /// The whole page (true, the default), or only what the viewport shows.
    #[serde(default = "full_page")]
    pub full_page: bool,
    /// JPEG at this quality (1 to 100); absent: PNG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
    /// The viewport the page is laid out in before the capture; absent: the browser's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<Viewport>,
}

fn full_page() -> bool {
    true
}

impl Default for ScreenshotMode {
    fn default() -> Self {
        Self {
            full_page: true,
            quality: None,
            viewport: None,
        }
    }
}

impl ScreenshotMode {
    /// A viewport's width and height, at least.
    pub const MIN_VIEWPORT: u32 = 100;
    /// A viewport's width, at most.
    pub const MAX_VIEWPORT_WIDTH: u32 = 3_840;
    /// A viewport's height, at most.
    pub const MAX_VIEWPORT_HEIGHT: u32 = 4_320;

    /// Checks the quality and the viewport; the error names `options.screenshot_mode.<field>`.
    pub fn validate(&self) -> Result<()> {
        if let Some(q) = self.quality
            && !(1..=100).contains(&q)
        {
            return Err(Error::validation(
                "options.screenshot_mode.quality",
                "must be between 1 and 100",
            ));
        }
        if let Some(v) = self.viewport {
            let fits = |n: u32, max: u32| (Self::MIN_VIEWPORT..=max).contains(&n);
            if !fits(v.width, Self::MAX_VIEWPORT_WIDTH)
                || !fits(v.height, Self::MAX_VIEWPORT_HEIGHT)
            {
                return Err(Error::validation(
                    "options.screenshot_mode.viewport",
                    format!(
                        "width must be between {min} and {} and height between {min} and {}",
                        Self::MAX_VIEWPORT_WIDTH,
                        Self::MAX_VIEWPORT_HEIGHT,
                        min = Self::MIN_VIEWPORT,
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the capture is a JPEG (a quality was asked for).
    pub fn is_jpeg(&self) -> bool {
        self.quality.is_some()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_default_is_a_full_page_png() {
        let mode: ScreenshotMode = serde_json::from_value(json!({})).expect("mode");
        assert_eq!(mode, ScreenshotMode::default());
        assert!(mode.full_page && !mode.is_jpeg());
    }

    #[test]
    fn quality_and_viewport_out_of_range_are_refused_by_field() {
        let bad = |v| {
            let mode: ScreenshotMode = serde_json::from_value(v).expect("mode");
            match mode.validate() {
                Err(Error::Validation { field, .. }) => field,
                other => panic!("expected a validation error, got {other:?}"),
            }
        };
        assert!(bad(json!({"quality": 0})).ends_with("quality"));
        assert!(bad(json!({"quality": 101})).ends_with("quality"));
        assert!(bad(json!({"viewport": {"width": 50, "height": 600}})).ends_with("viewport"));
        let ok: ScreenshotMode = serde_json::from_value(json!({"full_page": false, "quality": 80,
                "viewport": {"width": 800, "height": 600}}))
        .expect("mode");
        assert!(ok.validate().is_ok() && ok.is_jpeg());
    }
}

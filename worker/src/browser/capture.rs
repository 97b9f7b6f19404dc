//! The job's screenshot as its `screenshot_mode` asks: the full page (CDP
//! `Page.captureScreenshot` beyond the viewport) or the viewport only, PNG or JPEG at a
//! quality; a viewport of the job's own size set before navigation, so the page is laid out
//! in it.
//!
//! Invariant: a capture larger than the render's byte cap fails the render
//! ([`FetchError::TooLarge`]), whatever its encoding.

use bytes::Bytes;
use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        emulation::SetDeviceMetricsOverrideParams, page::CaptureScreenshotFormat,
    },
    page::ScreenshotParams,
};
use scraperx_core::domain::ScreenshotMode;

use crate::error::FetchError;

/// Lays the page out in the mode's viewport, if it names one (before navigation).
pub async fn apply_viewport(page: &Page, mode: &ScreenshotMode) -> Result<(), FetchError> {
    let Some(v) = mode.viewport else {
        return Ok(());
    };
    let (w, h) = (i64::from(v.width), i64::from(v.height));
    let mut metrics = SetDeviceMetricsOverrideParams::new(w, h, 1.0, false);
    metrics.screen_width = Some(w);
    metrics.screen_height = Some(h);
    page.execute(metrics)
        .await
        .map_err(|e| FetchError::Browser(format!("screenshot viewport: {e}")))?;
    Ok(())
}

/// The CDP parameters of a capture in `mode`.
pub fn params(mode: &ScreenshotMode) -> ScreenshotParams {
    let builder = ScreenshotParams::builder().full_page(mode.full_page);
    match mode.quality {
        Some(q) => builder
            .format(CaptureScreenshotFormat::Jpeg)
            .quality(i64::from(q)),
        None => builder.format(CaptureScreenshotFormat::Png),
    }
    .build()
}

/// Takes the screenshot; more than `cap` bytes fails the render.
pub async fn screenshot(
    page: &Page,
    mode: &ScreenshotMode,
    cap: usize,
) -> Result<Bytes, FetchError> {
    let bytes = page
        .screenshot(params(mode))
        .await
        .map_err(|e| FetchError::Browser(format!("screenshot: {e}")))?;
    if bytes.len() > cap {
        return Err(FetchError::TooLarge(cap));
    }
    Ok(Bytes::from(bytes))
}

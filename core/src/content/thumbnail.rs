//! Screenshot thumbnails: the top of the page (at most 16:10 of its width, so a full-page
//! capture gives the part a person sees first), scaled to [`THUMB_WIDTH`] pixels wide.

use std::io::Cursor;

use image::{ImageFormat, imageops::FilterType};

use crate::{Error, Result};

pub const THUMB_WIDTH: u32 = 320;

/// A decoded screenshot's size and its PNG thumbnail.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub png: Vec<u8>,
}

/// Decodes `png` and renders its thumbnail. CPU-bound: call it from a blocking task.
pub fn render(png: &[u8]) -> Result<Thumbnail> {
    let img = image::load_from_memory_with_format(png, ImageFormat::Png)
        .map_err(|e| Error::validation("screenshot", format!("not a PNG image: {e}")))?;
    let (width, height) = (img.width(), img.height());
    let visible = height.min((width * 10 / 16).max(1));
    let top = img.crop_imm(0, 0, width, visible);
    let thumb_w = THUMB_WIDTH.min(width);
    let thumb_h = ((u64::from(visible) * u64::from(thumb_w)) / u64::from(width.max(1))).max(1);
    let thumb = top.resize_exact(
        thumb_w,
        u32::try_from(thumb_h).unwrap_or(1),
        FilterType::Triangle,
    );
    let mut out = Cursor::new(Vec::new());
    thumb
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| Error::Storage(format!("thumbnail encoding: {e}")))?;
    Ok(Thumbnail {
        width,
        height,
        png: out.into_inner(),
    })
}

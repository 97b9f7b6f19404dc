//! Screenshot thumbnails: the top of the page (at most 16:10 of its width, so a full-page
//! capture gives the part a person sees first), scaled to [`THUMB_WIDTH`] pixels wide, as a
//! PNG whatever the screenshot's encoding (PNG, or JPEG when a quality was asked for).

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

/// A screenshot's encoding: PNG or JPEG, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Png,
    Jpeg,
}

impl Encoding {
    /// The encoding of `image`, if it is a PNG or a JPEG.
    pub fn of(image: &[u8]) -> Result<Self> {
        match image::guess_format(image) {
            Ok(ImageFormat::Png) => Ok(Self::Png),
            Ok(ImageFormat::Jpeg) => Ok(Self::Jpeg),
            _ => Err(Error::validation("screenshot", "not a PNG or JPEG image")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
        }
    }
}

/// Decodes `image` (a PNG or a JPEG) and renders its thumbnail. CPU-bound: call it from a
/// blocking task.
pub fn render(image: &[u8]) -> Result<Thumbnail> {
    let encoding = Encoding::of(image)?;
    let img = image::load_from_memory_with_format(image, encoding.format())
        .map_err(|e| Error::validation("screenshot", format!("not a readable image: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
        let img = image::DynamicImage::new_rgb8(width, height);
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encoded");
        out.into_inner()
    }

    #[test]
    fn a_png_or_a_jpeg_gets_a_png_thumbnail_of_its_top() {
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            let thumb = render(&encoded(format, 640, 2000)).expect("thumbnail");
            assert_eq!((thumb.width, thumb.height), (640, 2000), "{format:?}");
            let small =
                image::load_from_memory_with_format(&thumb.png, ImageFormat::Png).expect("a PNG");
            assert_eq!(
                (small.width(), small.height()),
                (THUMB_WIDTH, 200),
                "{format:?}"
            );
        }
        assert!(render(b"GIF89a").is_err(), "neither PNG nor JPEG");
    }
}

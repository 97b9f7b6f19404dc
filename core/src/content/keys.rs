//! Object keys (seed 001 §5.3): `{org}/{yyyy}/{mm}/{dd}/{job}/{type}.{ext}`. The date is the
//! job's creation date in UTC, not the time of the upload (the seed used local time at
//! upload), so every object of a job sits under one prefix that can be computed later.

use chrono::{DateTime, Utc};

use crate::domain::{JobId, OrgId};

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind<'a> {
    /// Page content, with the extension its content type maps to.
    Content {
        content_type: &'a str,
    },
    Screenshot,
    /// The job's screenshot as a JPEG (a quality was asked for).
    ScreenshotJpeg,
    ScreenshotThumb,
    /// A screenshot taken by the job's action at this index.
    ActionScreenshot {
        step: usize,
    },
    /// The thumbnail of the screenshot the action at this index took.
    ActionScreenshotThumb {
        step: usize,
    },
    Pdf,
    Metadata,
}

impl ObjectKind<'_> {
    fn file_name(&self) -> String {
        match self {
            ObjectKind::Content { content_type } => {
                format!("content.{}", extension(content_type))
            }
            ObjectKind::Screenshot => "screenshot.png".into(),
            ObjectKind::ScreenshotJpeg => "screenshot.jpg".into(),
            ObjectKind::ScreenshotThumb => "screenshot_thumb.png".into(),
            ObjectKind::ActionScreenshot { step } => format!("action_{step}_screenshot.png"),
            ObjectKind::ActionScreenshotThumb { step } => {
                format!("action_{step}_screenshot_thumb.png")
            }
            ObjectKind::Pdf => "page.pdf".into(),
            ObjectKind::Metadata => "metadata.json".into(),
        }
    }
}

/// The extension for a content type (parameters such as `charset` ignored).
pub fn extension(content_type: &str) -> &'static str {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/html" | "application/xhtml+xml" => "html",
        "text/plain" => "txt",
        "text/markdown" => "md",
        "text/csv" => "csv",
        "application/json" | "application/ld+json" => "json",
        "application/xml" | "text/xml" | "application/rss+xml" | "application/atom+xml" => "xml",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

/// The prefix under which every object of a job lives, ending in `/`.
pub fn job_prefix(org: OrgId, job: JobId, created_at: DateTime<Utc>) -> String {
    format!("{org}/{}/{job}/", created_at.format("%Y/%m/%d"))
}

pub fn object_key(org: OrgId, job: JobId, created_at: DateTime<Utc>, kind: ObjectKind) -> String {
    format!("{}{}", job_prefix(org, job, created_at), kind.file_name())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn keys_follow_the_seed_pattern_in_utc() {
        let org: OrgId = "00000000-0000-0000-0000-0000000000aa"
            .parse()
            .expect("uuid");
        let job: JobId = "00000000-0000-0000-0000-0000000000bb"
            .parse()
            .expect("uuid");
        let at = Utc
            .with_ymd_and_hms(2025, 1, 31, 23, 59, 0)
            .single()
            .expect("date");
        assert_eq!(
            object_key(
                org,
                job,
                at,
                ObjectKind::Content {
                    content_type: "text/html; charset=utf-8"
                }
            ),
            format!("{org}/2025/01/31/{job}/content.html")
        );
        assert_eq!(
            object_key(org, job, at, ObjectKind::ScreenshotThumb),
            format!("{org}/2025/01/31/{job}/screenshot_thumb.png")
        );
        assert_eq!(
            object_key(org, job, at, ObjectKind::ActionScreenshot { step: 3 }),
            format!("{org}/2025/01/31/{job}/action_3_screenshot.png")
        );
        assert_eq!(extension("application/octet-stream"), "bin");
    }
}

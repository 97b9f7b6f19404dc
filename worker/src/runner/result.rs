//! The result row of a fetched page, built without I/O: what the page, the detectors and
//! the CAPTCHA solver reported ([`of_page`]), then each stored artifact and the extraction
//! added as the driver produces them. Every value is clamped into its column's type, never
//! a panic.

use scraperx_core::{
    content::{Screenshot, StoredObject},
    domain::ContentStorage,
    pg::NewJobResult,
};
use sha2::{Digest, Sha256};

use crate::{captcha::CaptchaOutcome, detect::Detection, extract::Extraction, fetch::FetchedPage};

fn ms(v: Option<u32>) -> Option<i32> {
    v.and_then(|v| i32::try_from(v).ok())
}

/// The row for `page`, with what was detected on it (and `protection_seen` on a stage
/// escalated from) and what the solver did; no content, artifacts or extraction yet.
pub fn of_page(
    page: &FetchedPage,
    detection: &Detection,
    protection_seen: Option<&'static str>,
    captcha: Option<&CaptchaOutcome>,
) -> NewJobResult {
    let t = page.timings;
    NewJobResult {
        status_code: Some(i32::from(page.status)),
        headers: serde_json::to_value(&page.headers).ok(),
        content_type: page.content_type.clone(),
        content_length: i64::try_from(page.body.len()).ok(),
        final_url: Some(page.final_url.to_string()),
        redirect_count: i32::try_from(page.redirect_count).unwrap_or(i32::MAX),
        content_hash: Some(hex::encode(Sha256::digest(&page.body))),
        dns_time_ms: ms(t.dns_ms),
        connect_time_ms: ms(t.connect_ms),
        tls_time_ms: ms(t.tls_ms),
        ttfb_ms: ms(t.ttfb_ms),
        download_time_ms: ms(t.download_ms),
        render_time_ms: ms(t.render_ms),
        total_time_ms: ms(Some(t.total_ms)),
        protection_detected: detection.protection.or(protection_seen).map(str::to_owned),
        captcha_encountered: detection.captcha.is_some() || captcha.is_some(),
        captcha_type: captcha
            .map(|c| c.kind.clone())
            .or_else(|| detection.captcha.map(str::to_owned)),
        captcha_solved: captcha.is_some_and(|c| c.solved),
        captcha_solve_time_ms: captcha.and_then(|c| i32::try_from(c.solve_ms).ok()),
        detection_score: Some(detection.score),
        status_text: reqwest::StatusCode::from_u16(page.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .map(str::to_owned),
        cookies: (!page.cookies.is_empty())
            .then(|| serde_json::to_value(&page.cookies).ok())
            .flatten(),
        content_encoding: page.content_encoding.clone(),
        proxy_ip: page.proxy.as_ref().and_then(|p| p.ip),
        proxy_country: page.proxy.as_ref().and_then(|p| p.country.clone()),
        proxy_provider: page.proxy.as_ref().map(|p| p.provider.clone()),
        ..NewJobResult::default()
    }
}

/// Where the body goes: inline when it is text no larger than `inline_limit`, to object
/// storage when it is anything else but empty, nowhere when empty.
pub fn storage_for(page: &FetchedPage, inline_limit: usize) -> ContentStorage {
    let text_like = page
        .content_type
        .as_deref()
        .is_none_or(scraperx_core::content::store::is_text);
    if text_like && page.body.len() <= inline_limit {
        ContentStorage::Inline
    } else if !page.body.is_empty() {
        ContentStorage::Minio
    } else {
        ContentStorage::None
    }
}

pub fn with_inline(result: &mut NewJobResult, body: &[u8]) {
    result.content_storage = Some(ContentStorage::Inline);
    result.content_inline = Some(String::from_utf8_lossy(body).into_owned());
}

pub fn with_stored_content(result: &mut NewJobResult, stored: StoredObject) {
    result.content_storage = Some(ContentStorage::Minio);
    result.content_minio_bucket = Some(stored.bucket.name().to_owned());
    result.content_minio_key = Some(stored.key);
    result.content_compressed = stored.compressed;
}

pub fn with_screenshot(result: &mut NewJobResult, shot: Screenshot) {
    result.screenshot_minio_bucket = Some(shot.full.bucket.name().to_owned());
    result.screenshot_minio_key = Some(shot.full.key);
    result.screenshot_thumbnail_key = Some(shot.thumbnail.key);
    result.screenshot_width = i32::try_from(shot.width).ok();
    result.screenshot_height = i32::try_from(shot.height).ok();
}

pub fn with_pdf(result: &mut NewJobResult, pages: i32, stored: StoredObject) {
    result.pdf_page_count = Some(pages);
    result.pdf_minio_bucket = Some(stored.bucket.name().to_owned());
    result.pdf_minio_key = Some(stored.key);
}

pub fn with_extraction(result: &mut NewJobResult, extraction: Extraction) {
    result.extracted_links = Some(extraction.links_json());
    result.extracted_images = Some(extraction.images_json());
    result.extracted_title = extraction.title;
    result.extracted_text = Some(extraction.text);
    result.extracted_data = extraction.data;
    result.extracted_markdown = extraction.markdown;
    result.extracted_html = extraction.html;
    result.extracted_metadata =
        (!extraction.metadata.is_empty()).then_some(serde_json::Value::Object(extraction.metadata));
}

/// Pages in a PDF: its page objects (`/Type /Page`, not the `/Pages` tree nodes), which
/// Chromium writes uncompressed.
pub fn pdf_pages(pdf: &[u8]) -> i32 {
    let mut pages = 0;
    let mut rest = pdf;
    while let Some(at) = rest.windows(5).position(|w| w == b"/Type") {
        rest = &rest[at + 5..];
        let after = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let tail = &rest[after..];
        if tail.starts_with(b"/Page") && !tail.starts_with(b"/Pages") {
            pages += 1;
        }
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: u16, content_type: Option<&str>, body: &'static [u8]) -> FetchedPage {
        FetchedPage {
            status,
            final_url: url::Url::parse("https://example.test/a").expect("url"),
            redirect_count: 0,
            headers: std::collections::BTreeMap::new(),
            content_type: content_type.map(str::to_owned),
            content_encoding: None,
            cookies: Vec::new(),
            body: bytes::Bytes::from_static(body),
            timings: crate::fetch::Timings::default(),
            proxy: None,
        }
    }

    #[test]
    fn a_page_s_row_carries_its_status_hash_and_what_was_detected() {
        let p = page(403, Some("text/html"), b"<html>blocked</html>");
        let d = Detection {
            protection: None,
            captcha: Some("turnstile"),
            score: 0.9,
            js_shell: false,
        };
        let r = of_page(&p, &d, Some("cloudflare"), None);
        assert_eq!(r.status_code, Some(403));
        assert_eq!(r.status_text.as_deref(), Some("Forbidden"));
        assert_eq!(r.content_length, Some(20));
        assert_eq!(
            r.content_hash.as_deref(),
            Some(hex::encode(Sha256::digest(b"<html>blocked</html>")).as_str())
        );
        assert_eq!(
            r.protection_detected.as_deref(),
            Some("cloudflare"),
            "the protection seen on an earlier stage is kept"
        );
        assert!(r.captcha_encountered && !r.captcha_solved);
        assert_eq!(r.captcha_type.as_deref(), Some("turnstile"));
    }

    #[test]
    fn a_solved_captcha_is_recorded_with_its_solve_time() {
        let p = page(200, Some("text/html"), b"ok");
        let solved = CaptchaOutcome {
            kind: "recaptcha".into(),
            solved: true,
            solve_ms: 1200,
            error: None,
        };
        let r = of_page(&p, &Detection::default(), None, Some(&solved));
        assert!(r.captcha_encountered && r.captcha_solved);
        assert_eq!(
            (r.captcha_type.as_deref(), r.captcha_solve_time_ms),
            (Some("recaptcha"), Some(1200))
        );
    }

    #[test]
    fn small_text_is_inline_binary_or_large_goes_to_storage_and_empty_nowhere() {
        assert_eq!(
            storage_for(&page(200, Some("text/html"), b"hello"), 10),
            ContentStorage::Inline
        );
        assert_eq!(
            storage_for(&page(200, None, b"hello"), 10),
            ContentStorage::Inline
        );
        assert_eq!(
            storage_for(&page(200, Some("text/html"), b"hello world"), 10),
            ContentStorage::Minio
        );
        assert_eq!(
            storage_for(&page(200, Some("image/png"), b"png"), 10),
            ContentStorage::Minio
        );
        assert_eq!(
            storage_for(&page(204, Some("image/png"), b""), 10),
            ContentStorage::None
        );
    }

    #[test]
    fn pdf_pages_count_page_objects_not_the_page_tree() {
        let pdf = b"<< /Type /Pages /Kids [1 0 R 2 0 R] >> << /Type /Page >> << /Type/Page >>";
        assert_eq!(pdf_pages(pdf), 2);
        assert_eq!(pdf_pages(b"not a pdf"), 0);
    }
}

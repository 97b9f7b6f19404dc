//! What a customer's text may be when it goes onto the wire: a request header a worker
//! forwards to a target, a URL it fetches or posts a webhook to. A header name is an RFC 9110
//! token; a header value and a URL hold no control character (CR and LF above all), so no
//! value can end a header early and smuggle another, or a second request, after it.

use crate::{Error, Result};

/// The longest webhook URL accepted (a job's own or a registered endpoint's).
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;
/// What a webhook URL must be, in the words of the validation error.
const WEBHOOK_URL_RULE: &str =
    "must be an http(s) URL of at most 2 KB, without spaces or control characters";

/// The one webhook URL rule, for a job's `webhook_url` and a registered webhook's `url`:
/// http or https, at most [`MAX_WEBHOOK_URL_LEN`] bytes and clean on the wire, or the
/// validation error names `field`.
pub fn check_webhook_url(field: &str, url: &str) -> Result<()> {
    if is_webhook_url(url) {
        Ok(())
    } else {
        Err(Error::validation(field, WEBHOOK_URL_RULE))
    }
}

/// A URL a webhook may be posted to: http or https, at most [`MAX_WEBHOOK_URL_LEN`] bytes,
/// and clean on the wire.
fn is_webhook_url(url: &str) -> bool {
    url.len() <= MAX_WEBHOOK_URL_LEN
        && is_clean_url(url)
        && url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// A header name: one or more RFC 9110 `tchar`s.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value: no control character but horizontal tab (RFC 9110 `field-value`).
pub fn is_header_value(value: &str) -> bool {
    !value.chars().any(|c| c.is_control() && c != '\t')
}

/// A URL as written: no control character and no whitespace (which URL parsers drop or
/// encode silently, so what was checked would differ from what is stored).
pub fn is_clean_url(url: &str) -> bool {
    !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_webhook_url_is_http_or_https_short_and_clean() {
        assert!(is_webhook_url("https://hooks.example.com/x?y=1"));
        assert!(is_webhook_url("http://hooks.example.com/"));
        assert!(!is_webhook_url("ftp://hooks.example.com/"));
        assert!(!is_webhook_url("https://hooks.example.com/a b"));
        assert!(!is_webhook_url("https://hooks.example.com/\r\nX: y"));
        let long = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_LEN));
        assert!(!is_webhook_url(&long));
    }

    #[test]
    fn a_refused_webhook_url_names_the_field_it_came_in() {
        check_webhook_url("webhook_url", "https://hooks.example.com/").expect("accepted");
        let Err(Error::Validation { field, message }) = check_webhook_url("url", "ftp://x.test/")
        else {
            panic!("refused")
        };
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("url", WEBHOOK_URL_RULE)
        );
    }

    use super::*;

    #[test]
    fn a_header_name_is_a_token_and_a_value_has_no_line_break() {
        assert!(is_header_name("X-Custom_1"));
        for bad in ["", "X Custom", "X:Y", "X-\r\nY", "Ünï"] {
            assert!(!is_header_name(bad), "{bad:?}");
        }
        assert!(is_header_value("a value\twith tab, ünïcode"));
        for bad in ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b", "a\u{7f}b"] {
            assert!(!is_header_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_url_with_a_line_break_or_a_space_is_not_clean() {
        assert!(is_clean_url("https://example.com/a?b=c"));
        for bad in [
            "https://example.com/\r\nX: y",
            "https://exa\tmple.com/",
            "https://example.com/ a",
            "https://example.com/\u{85}",
        ] {
            assert!(!is_clean_url(bad), "{bad:?}");
        }
    }
}

//! The URL key: two forms of one page give one key, so the frontier stores it once. The
//! key is the URL with its scheme and host in lower case (the `url` crate's parse already
//! does that), without fragment, credentials or default port, with one trailing-slash form
//! (none, except the root), an empty query dropped, and the whole query dropped on request.
//! Only http and https URLs have a key.

use url::Url;

/// The normalised form of `url`, or None when it is not an http(s) URL with a host.
pub fn normalize(url: &Url, strip_query: bool) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    let mut u = url.clone();
    u.set_fragment(None);
    // Neither fails on an http(s) URL with a host.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.port().is_some() && u.port() == default_port(u.scheme()) {
        let _ = u.set_port(None);
    }
    if strip_query || u.query() == Some("") {
        u.set_query(None);
    }
    let path = u.path().to_owned();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        u.set_path(if trimmed.is_empty() { "/" } else { trimmed });
    }
    Some(u)
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str, strip: bool) -> Option<String> {
        normalize(&Url::parse(s).expect("url"), strip).map(String::from)
    }

    #[test]
    fn forms_of_one_page_share_one_key() {
        let forms = [
            "http://Shop.Test/a/b",
            "HTTP://shop.test:80/a/b",
            "http://shop.test/a/b/",
            "http://shop.test/a/b#reviews",
            "http://user:pw@shop.test/a/b",
            "http://shop.test/a/b?",
            "http://shop.test/a/./c/../b",
        ];
        for form in forms {
            assert_eq!(
                key(form, false).as_deref(),
                Some("http://shop.test/a/b"),
                "{form}"
            );
        }
    }

    #[test]
    fn the_root_keeps_its_slash_and_https_drops_443() {
        assert_eq!(
            key("https://shop.test:443", false).as_deref(),
            Some("https://shop.test/")
        );
        assert_eq!(
            key("https://shop.test//", false).as_deref(),
            Some("https://shop.test/")
        );
    }

    #[test]
    fn another_port_or_scheme_is_another_page() {
        assert_eq!(
            key("http://shop.test:8080/a/", false).as_deref(),
            Some("http://shop.test:8080/a")
        );
        assert_ne!(
            key("https://shop.test/a", false),
            key("http://shop.test/a", false)
        );
    }

    #[test]
    fn the_query_is_kept_unless_asked_to_strip_it() {
        assert_eq!(
            key("http://shop.test/a?p=2#x", false).as_deref(),
            Some("http://shop.test/a?p=2")
        );
        assert_eq!(
            key("http://shop.test/a/?p=2", true).as_deref(),
            Some("http://shop.test/a")
        );
    }

    #[test]
    fn only_http_and_https_urls_have_a_key() {
        for other in [
            "mailto:a@shop.test",
            "ftp://shop.test/a",
            "javascript:void(0)",
            "data:text/plain,x",
        ] {
            assert_eq!(key(other, false), None, "{other}");
        }
    }
}

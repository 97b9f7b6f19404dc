//! Recognising bot protection and CAPTCHAs by their markers, and JavaScript shells (pages
//! that are empty until a script renders them): what makes the auto engine escalate.

use std::collections::BTreeMap;

/// What a response looks like to the detector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    /// cloudflare, akamai, datadome or perimeterx.
    pub protection: Option<&'static str>,
    /// recaptcha, hcaptcha, turnstile or a vendor's own.
    pub captcha: Option<&'static str>,
    /// 0 (nothing seen) to 1 (certainly a challenge).
    pub score: f64,
    /// The page is an empty shell that needs JavaScript.
    pub js_shell: bool,
}

impl Detection {
    /// A challenge stands between us and the content.
    pub fn challenged(&self) -> bool {
        self.score >= 0.5
    }
}

const PROTECTIONS: [(&str, &[&str]); 4] = [
    (
        "cloudflare",
        &[
            "cf-browser-verification",
            "challenge-platform",
            "cf_chl_",
            "just a moment...",
            "cf-mitigated",
        ],
    ),
    (
        "akamai",
        &["_abck", "ak_bmsc", "akamai-bot", "reference #18."],
    ),
    (
        "datadome",
        &["datadome", "captcha-delivery.com", "dd_cookie"],
    ),
    (
        "perimeterx",
        &["px-captcha", "_pxappid", "perimeterx", "human challenge"],
    ),
];

const CAPTCHAS: [(&str, &str); 3] = [
    ("recaptcha", "g-recaptcha"),
    ("hcaptcha", "h-captcha"),
    ("turnstile", "cf-turnstile"),
];

/// Looks at the status, headers and body of a response.
pub fn detect(status: u16, headers: &BTreeMap<String, String>, body: &str) -> Detection {
    let lower = body.to_ascii_lowercase();
    let header_text = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
        .to_ascii_lowercase();
    let mut d = Detection::default();
    for (name, markers) in PROTECTIONS {
        let hits = markers
            .iter()
            .filter(|m| lower.contains(*m) || header_text.contains(*m))
            .count();
        if hits > 0 {
            d.protection = Some(name);
            d.score = d.score.max(0.3 + 0.2 * hits as f64);
        }
    }
    for (name, marker) in CAPTCHAS {
        if lower.contains(marker) {
            d.captcha = Some(name);
            d.score = d.score.max(0.8);
        }
    }
    if d.protection.is_some() && matches!(status, 403 | 429 | 503) {
        d.score = d.score.max(0.9);
    }
    d.score = d.score.min(1.0);
    d.js_shell = is_js_shell(&lower);
    d
}

/// Little visible text, scripts present, and a typical mount point.
fn is_js_shell(lower: &str) -> bool {
    let body = lower.find("<body").map_or(lower, |i| &lower[i..]);
    let scripts = body.matches("<script").count();
    let mut text = String::new();
    let mut in_tag = false;
    let mut in_script = false;
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("<script") {
            in_script = true;
        } else if rest.starts_with("</script") {
            in_script = false;
        }
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag && !in_script && !c.is_whitespace() => text.push(c),
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    let mount = [
        "id=\"root\"",
        "id=\"app\"",
        "id=\"__next\"",
        "id=\"__nuxt\"",
        "ng-app",
    ]
    .iter()
    .any(|m| body.contains(m));
    scripts > 0 && text.len() < 200 && (mount || text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_captchas_and_shells_are_recognised() {
        let none = BTreeMap::new();
        let cf = detect(
            503,
            &none,
            "<title>Just a moment...</title><div id=\"challenge-platform\"></div>",
        );
        assert_eq!((cf.protection, cf.challenged()), (Some("cloudflare"), true));
        let dd = detect(
            403,
            &none,
            "<script src=\"https://ct.captcha-delivery.com/c.js\"></script>",
        );
        assert_eq!(dd.protection, Some("datadome"));
        let captcha = detect(
            200,
            &none,
            "<form><div class=\"g-recaptcha\" data-sitekey=\"x\"></div></form>",
        );
        assert_eq!(
            (captcha.captcha, captcha.challenged()),
            (Some("recaptcha"), true)
        );
        let shell = detect(
            200,
            &none,
            "<html><body><div id=\"root\"></div><script src=\"/app.js\"></script></body></html>",
        );
        assert!(shell.js_shell && !shell.challenged());
        let article = format!(
            "<html><body><article>{}</article><script>x()</script></body></html>",
            "words ".repeat(100)
        );
        let plain = detect(200, &none, &article);
        assert_eq!(plain, Detection::default());
    }
}

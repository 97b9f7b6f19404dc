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

/// A vendor's markers. `block` markers belong to its challenge and block pages; `presence`
/// markers (its cookies, its script on ordinary pages) only say the vendor is there.
struct Vendor {
    name: &'static str,
    block: &'static [&'static str],
    presence: &'static [&'static str],
}

const VENDORS: [Vendor; 4] = [
    Vendor {
        name: "cloudflare",
        block: &[
            "cf-browser-verification",
            "cf_chl_",
            "just a moment...",
            "cf-mitigated: challenge",
            "attention required! | cloudflare",
        ],
        presence: &["challenge-platform", "__cf_bm", "cf-ray:"],
    },
    Vendor {
        name: "akamai",
        block: &["reference #18.", "akamai-bot"],
        presence: &["_abck", "ak_bmsc", "bm_sz"],
    },
    Vendor {
        name: "datadome",
        block: &["captcha-delivery.com", "dd_cookie_test"],
        presence: &["datadome"],
    },
    Vendor {
        name: "perimeterx",
        block: &["px-captcha", "human challenge", "press & hold"],
        presence: &["_pxappid", "perimeterx", "_px3"],
    },
];

const CAPTCHAS: [(&str, &str); 3] = [
    ("recaptcha", "g-recaptcha"),
    ("hcaptcha", "h-captcha"),
    ("turnstile", "cf-turnstile"),
];

/// A page with more visible text than this is content, not a challenge page.
const CONTENT_TEXT: usize = 1_500;

/// Looks at the status, headers and body of a response. A block marker, or a vendor's or a
/// CAPTCHA's presence on a refusal (403, 429, 503) or on a page with little else on it, is
/// a challenge; presence alone on an ordinary page is recorded, not escalated.
pub fn detect(status: u16, headers: &BTreeMap<String, String>, body: &str) -> Detection {
    let lower = body.to_ascii_lowercase();
    let header_text = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
        .to_ascii_lowercase();
    let seen = |m: &&&str| lower.contains(**m) || header_text.contains(**m);
    let refused = matches!(status, 403 | 429 | 503);
    let text = visible_text(&lower);
    let bare = text.len() < CONTENT_TEXT;
    let mut d = Detection::default();
    for vendor in &VENDORS {
        let blocks = vendor.block.iter().filter(seen).count();
        let present = vendor.presence.iter().filter(seen).count();
        if blocks + present == 0 {
            continue;
        }
        let score = if blocks > 0 {
            0.6 + 0.1 * blocks as f64
        } else if refused {
            0.7
        } else {
            0.1 + 0.1 * present.min(3) as f64
        };
        if score > d.score || d.protection.is_none() {
            d.protection = Some(vendor.name);
        }
        d.score = d.score.max(score);
    }
    for (name, marker) in CAPTCHAS {
        if lower.contains(marker) {
            d.captcha = Some(name);
            // A widget on a form among content is part of the page, not in its way.
            d.score = d.score.max(if bare || refused { 0.8 } else { 0.4 });
        }
    }
    if d.protection.is_some() && refused {
        d.score = d.score.max(0.9);
    }
    d.score = d.score.min(1.0);
    d.js_shell = is_js_shell(&lower, &text);
    d
}

/// The visible text of a page (outside tags and scripts), whitespace dropped.
fn visible_text(lower: &str) -> String {
    let body = lower.find("<body").map_or(lower, |i| &lower[i..]);
    let mut text = String::new();
    let mut in_tag = false;
    let mut in_script = false;
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("<script") || rest.starts_with("<style") {
            in_script = true;
        } else if rest.starts_with("</script") || rest.starts_with("</style") {
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
    text
}

/// Little visible text, scripts present, and a typical mount point.
fn is_js_shell(lower: &str, text: &str) -> bool {
    let body = lower.find("<body").map_or(lower, |i| &lower[i..]);
    let scripts = body.matches("<script").count();
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

    #[test]
    fn a_vendors_presence_on_an_ordinary_page_is_noted_not_escalated() {
        let none = BTreeMap::new();
        let article = format!(
            "<html><body><article>{}</article>\
             <script src=\"/cdn-cgi/challenge-platform/scripts/jsd/main.js\"></script></body></html>",
            "words of a long article ".repeat(100)
        );
        let cookies: BTreeMap<String, String> =
            [("set-cookie".to_owned(), "__cf_bm=abc; path=/".to_owned())].into();
        let ordinary = detect(200, &cookies, &article);
        assert_eq!(ordinary.protection, Some("cloudflare"));
        assert!(!ordinary.challenged(), "{ordinary:?}");
        let refused = detect(403, &cookies, "<html><body>Forbidden</body></html>");
        assert!(refused.challenged(), "{refused:?}");

        let akamai_cookie: BTreeMap<String, String> =
            [("set-cookie".to_owned(), "_abck=xyz; path=/".to_owned())].into();
        assert!(!detect(200, &akamai_cookie, &article).challenged());
        let blocked = detect(
            403,
            &none,
            "<html><body>Access Denied. Reference #18.2f3e4b5c</body></html>",
        );
        assert_eq!(
            (blocked.protection, blocked.challenged()),
            (Some("akamai"), true)
        );

        let contact = format!(
            "<html><body><article>{}</article><form><div class=\"g-recaptcha\" data-sitekey=\"k\"></div></form></body></html>",
            "our shop sells many things ".repeat(100)
        );
        let form = detect(200, &none, &contact);
        assert_eq!(form.captcha, Some("recaptcha"));
        assert!(
            !form.challenged(),
            "a CAPTCHA on a form among content: {form:?}"
        );
    }
}

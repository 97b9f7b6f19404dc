//! What a crawl follows: the start host (and `www.` of it or without it), its subdomains
//! when allowed, any host when external links are allowed; then the include patterns (one
//! must match, when there are any) and the exclude patterns (none may match), on the path
//! or on the full URL. The start page itself is always in scope.

use regex::Regex;
use url::Url;

use super::options::{CrawlOptions, compile};
use crate::Result;

/// Why a link is or is not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Follow,
    /// Another host (or a subdomain, when subdomains are not allowed).
    External,
    /// No include pattern matches.
    NotIncluded,
    /// An exclude pattern matches.
    Excluded,
}

/// A crawl's scope, its patterns compiled once.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The start host without a leading `www.`.
    site: String,
    allow_subdomains: bool,
    allow_external: bool,
    full_url: bool,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Scope {
    /// The scope of a crawl starting at `start` (whose options were validated, so the
    /// patterns compile; an error here means they were not).
    pub fn new(start: &Url, options: &CrawlOptions) -> Result<Self> {
        let host = start.host_str().unwrap_or_default().to_ascii_lowercase();
        Ok(Self {
            site: strip_www(&host).to_owned(),
            allow_subdomains: options.allow_subdomains,
            allow_external: options.allow_external_links,
            full_url: options.match_full_url,
            include: compile("include_paths", &options.include_paths)?,
            exclude: compile("exclude_paths", &options.exclude_paths)?,
        })
    }

    /// Whether the crawl follows `url`, a link found on one of its pages.
    pub fn judge(&self, url: &Url) -> Verdict {
        if !self.allow_external && !self.on_site(url) {
            return Verdict::External;
        }
        let target = if self.full_url {
            url.as_str()
        } else {
            url.path()
        };
        if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(target)) {
            return Verdict::NotIncluded;
        }
        if self.exclude.iter().any(|r| r.is_match(target)) {
            return Verdict::Excluded;
        }
        Verdict::Follow
    }

    /// The start host, with or without `www.`, or (when allowed) a subdomain of it.
    pub fn on_site(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let host = strip_www(&host);
        host == self.site
            || (self.allow_subdomains
                && matches!(url.host(), Some(url::Host::Domain(_)))
                && host
                    .strip_suffix(self.site.as_str())
                    .is_some_and(|rest| rest.ends_with('.')))
    }
}

fn strip_www(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(json: serde_json::Value) -> Scope {
        let o: CrawlOptions = serde_json::from_value(json).expect("options");
        Scope::new(&url("https://shop.test/"), &o).expect("scope")
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn the_start_host_is_followed_with_or_without_www_and_other_hosts_are_not() {
        let s = scope(serde_json::json!({}));
        assert_eq!(s.judge(&url("https://shop.test/a")), Verdict::Follow);
        assert_eq!(s.judge(&url("http://www.shop.test/a")), Verdict::Follow);
        assert_eq!(s.judge(&url("https://blog.shop.test/a")), Verdict::External);
        assert_eq!(s.judge(&url("https://evilshop.test/a")), Verdict::External);
        assert_eq!(s.judge(&url("https://other.test/a")), Verdict::External);
    }

    #[test]
    fn subdomains_are_followed_when_allowed_but_not_lookalikes() {
        let s = scope(serde_json::json!({"allow_subdomains": true}));
        assert_eq!(s.judge(&url("https://blog.shop.test/a")), Verdict::Follow);
        assert_eq!(s.judge(&url("https://a.b.shop.test/")), Verdict::Follow);
        assert_eq!(s.judge(&url("https://evilshop.test/a")), Verdict::External);
        assert_eq!(s.judge(&url("https://shop.test.evil/a")), Verdict::External);
    }

    #[test]
    fn external_links_are_followed_when_allowed() {
        let s = scope(serde_json::json!({"allow_external_links": true}));
        assert_eq!(s.judge(&url("https://other.test/a")), Verdict::Follow);
    }

    #[test]
    fn include_and_exclude_patterns_apply_to_the_path_by_default() {
        let s =
            scope(serde_json::json!({"include_paths": ["^/blog/"], "exclude_paths": ["/draft"]}));
        assert_eq!(s.judge(&url("https://shop.test/blog/1")), Verdict::Follow);
        assert_eq!(
            s.judge(&url("https://shop.test/shop/1")),
            Verdict::NotIncluded
        );
        assert_eq!(
            s.judge(&url("https://shop.test/blog/draft-2")),
            Verdict::Excluded
        );
        // The host is not part of the path: a path pattern cannot match it.
        let s = scope(serde_json::json!({"include_paths": ["shop\\.test"]}));
        assert_eq!(s.judge(&url("https://shop.test/a")), Verdict::NotIncluded);
    }

    #[test]
    fn patterns_apply_to_the_full_url_when_asked() {
        let s = scope(
            serde_json::json!({"include_paths": ["^https://shop\\.test/.*\\?page="], "match_full_url": true}),
        );
        assert_eq!(
            s.judge(&url("https://shop.test/list?page=2")),
            Verdict::Follow
        );
        assert_eq!(
            s.judge(&url("https://shop.test/list")),
            Verdict::NotIncluded
        );
    }
}

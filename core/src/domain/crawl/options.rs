//! What a crawl may do, with its defaults and limits: the one place they are set. Unknown
//! fields are refused; [`CrawlOptions::validate`] names the first field out of range, and
//! compiles every pattern, so a crawl that is accepted never fails on a bad regex later.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

text_enum! {
    /// Whether sitemaps seed the frontier: not at all, alongside the links, or alone.
    #[derive(Default)]
    pub enum SitemapMode {
        Skip => "skip",
        #[default]
        Include => "include",
        Only => "only",
    }
}

/// A crawl's options (`crawls.options`). Field names follow the API's snake case; the
/// camel-case names of other crawlers (`maxDepth`) are accepted too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlOptions {
    /// Links followed from the start page, at most (0: the start page alone). Default 10.
    #[serde(alias = "maxDepth")]
    pub max_depth: u32,
    /// Pages scraped, at most (default 1,000; at most 100,000).
    pub limit: u32,
    /// Regexes: when any is given, a link is followed only when one matches its path
    /// (or its full URL with `match_full_url`).
    #[serde(alias = "includePaths")]
    pub include_paths: Vec<String>,
    /// Regexes: a link matching any is not followed.
    #[serde(alias = "excludePaths")]
    pub exclude_paths: Vec<String>,
    /// Match `include_paths` and `exclude_paths` against the full URL instead of the path.
    #[serde(alias = "matchFullUrl")]
    pub match_full_url: bool,
    /// Follow links to subdomains of the start host.
    #[serde(alias = "allowSubdomains")]
    pub allow_subdomains: bool,
    /// Follow links to other hosts.
    #[serde(alias = "allowExternalLinks")]
    pub allow_external_links: bool,
    /// Treat URLs differing only in their query as one page (the query is dropped).
    #[serde(alias = "ignoreQueryParameters")]
    pub ignore_query: bool,
    /// Sitemaps (robots.txt `Sitemap:` lines and `/sitemap.xml`): skip, include or only.
    pub sitemap: SitemapMode,
    /// Discover URLs without scraping them: only the start page is scraped (and charged);
    /// its links and the sitemaps' pages are recorded, never fetched. What `/v1/map` runs.
    #[serde(alias = "discoverOnly")]
    pub discover_only: bool,
    /// In a discovery, pages besides the start page scraped (and charged) for their links,
    /// breadth first: the shallow part of a map (0 to 50; default 0).
    #[serde(alias = "discoverPages")]
    pub discover_pages: u32,
    /// Follow links robots.txt disallows (it is obeyed by default, whatever the
    /// deployment's own setting for single jobs).
    #[serde(alias = "ignoreRobotsTxt")]
    pub ignore_robots_txt: bool,
    /// Pages of this crawl being scraped at once, at most (default 10; 1 to 100).
    #[serde(alias = "maxConcurrency")]
    pub max_concurrency: u32,
    /// Milliseconds between two page submissions of this crawl (0 to 60,000), on top of
    /// the fleet's per-domain politeness. A delay submits one page at a time.
    #[serde(alias = "delay")]
    pub delay_ms: u32,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            limit: Self::DEFAULT_LIMIT,
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            match_full_url: false,
            allow_subdomains: false,
            allow_external_links: false,
            ignore_query: false,
            sitemap: SitemapMode::Include,
            discover_only: false,
            discover_pages: 0,
            ignore_robots_txt: false,
            max_concurrency: Self::DEFAULT_CONCURRENCY,
            delay_ms: 0,
        }
    }
}

impl CrawlOptions {
    pub const DEFAULT_MAX_DEPTH: u32 = 10;
    pub const MAX_DEPTH: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 1_000;
    pub const MAX_LIMIT: u32 = 100_000;
    pub const DEFAULT_CONCURRENCY: u32 = 10;
    pub const MAX_CONCURRENCY: u32 = 100;
    pub const MAX_DELAY_MS: u32 = 60_000;
    pub const MAX_DISCOVER_PAGES: u32 = 50;
    pub const MAX_PATTERNS: usize = 50;
    pub const MAX_PATTERN_LEN: usize = 1_024;
    /// Compiled size a pattern may reach (the regex crate's own bound, tightened).
    pub const MAX_REGEX_BYTES: usize = 256 * 1024;

    /// Checks every range and compiles every pattern; the error names the field's path.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::validation(field, message));
        if self.max_depth > Self::MAX_DEPTH {
            return bad("max_depth", format!("must be at most {}", Self::MAX_DEPTH));
        }
        if !(1..=Self::MAX_LIMIT).contains(&self.limit) {
            return bad(
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            );
        }
        if !(1..=Self::MAX_CONCURRENCY).contains(&self.max_concurrency) {
            let max = Self::MAX_CONCURRENCY;
            return bad("max_concurrency", format!("must be between 1 and {max}"));
        }
        if self.discover_pages > Self::MAX_DISCOVER_PAGES {
            let max = Self::MAX_DISCOVER_PAGES;
            return bad("discover_pages", format!("must be at most {max}"));
        }
        if self.delay_ms > Self::MAX_DELAY_MS {
            let max = Self::MAX_DELAY_MS;
            return bad("delay_ms", format!("must be at most {max} ms"));
        }
        for (field, patterns) in [
            ("include_paths", &self.include_paths),
            ("exclude_paths", &self.exclude_paths),
        ] {
            compile(field, patterns)?;
        }
        Ok(())
    }

    /// Pages submitted at once: one while a delay spaces them out.
    pub fn concurrency(&self) -> u32 {
        if self.delay_ms > 0 {
            1
        } else {
            self.max_concurrency
        }
    }
}

/// The patterns of `field`, compiled, or the first one that does not compile.
pub(super) fn compile(field: &str, patterns: &[String]) -> Result<Vec<regex::Regex>> {
    if patterns.len() > CrawlOptions::MAX_PATTERNS {
        let max = CrawlOptions::MAX_PATTERNS;
        return Err(Error::validation(field, format!("at most {max} patterns")));
    }
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.is_empty() || p.len() > CrawlOptions::MAX_PATTERN_LEN {
                let max = CrawlOptions::MAX_PATTERN_LEN;
                return Err(Error::validation(
                    format!("{field}[{i}]"),
                    format!("must be 1 to {max} characters"),
                ));
            }
            regex::RegexBuilder::new(p)
                .size_limit(CrawlOptions::MAX_REGEX_BYTES)
                .build()
                .map_err(|e| {
                    let message = match e {
                        regex::Error::CompiledTooBig(_) => "too large once compiled".to_owned(),
                        other => format!("not a valid regex: {}", first_line(&other.to_string())),
                    };
                    Error::validation(format!("{field}[{i}]"), message)
                })
        })
        .collect()
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(json: serde_json::Value) -> CrawlOptions {
        serde_json::from_value(json).expect("options")
    }

    #[test]
    fn defaults_are_depth_ten_a_thousand_pages_ten_at_once_and_sitemaps_included() {
        let o = opts(serde_json::json!({}));
        assert_eq!((o.max_depth, o.limit, o.max_concurrency), (10, 1_000, 10));
        assert_eq!(o.sitemap, SitemapMode::Include);
        assert!(!o.allow_external_links && !o.allow_subdomains);
        o.validate().expect("defaults are valid");
    }

    #[test]
    fn camel_case_names_of_other_crawlers_are_accepted() {
        let o = opts(
            serde_json::json!({"maxDepth": 2, "allowSubdomains": true, "includePaths": ["^/a"]}),
        );
        assert_eq!(o.max_depth, 2);
        assert!(o.allow_subdomains);
        assert_eq!(o.include_paths, ["^/a"]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<CrawlOptions>(serde_json::json!({"depth": 2})).is_err());
    }

    #[test]
    fn each_range_is_checked_and_named() {
        let cases = [
            (serde_json::json!({"max_depth": 101}), "max_depth"),
            (serde_json::json!({"limit": 0}), "limit"),
            (serde_json::json!({"limit": 100_001}), "limit"),
            (serde_json::json!({"max_concurrency": 0}), "max_concurrency"),
            (serde_json::json!({"delay_ms": 60_001}), "delay_ms"),
            (
                serde_json::json!({"include_paths": ["("]}),
                "include_paths[0]",
            ),
            (
                serde_json::json!({"exclude_paths": ["ok", ""]}),
                "exclude_paths[1]",
            ),
        ];
        for (json, field) in cases {
            match opts(json.clone()).validate() {
                Err(Error::Validation { field: f, .. }) => assert_eq!(f, field, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_pattern_too_large_once_compiled_is_refused() {
        let o = opts(serde_json::json!({"include_paths": ["(\\w{1000}){1000}"]}));
        let err = o.validate().expect_err("too big");
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn a_delay_submits_one_page_at_a_time() {
        let o = opts(serde_json::json!({"max_concurrency": 8, "delay_ms": 500}));
        assert_eq!(o.concurrency(), 1);
        assert_eq!(
            opts(serde_json::json!({"max_concurrency": 8})).concurrency(),
            8
        );
    }
}

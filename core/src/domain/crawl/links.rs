//! Which of a page's links a crawl may add to its frontier, before anything is asked of the
//! network: below the maximum depth, http(s), short and clean enough to be a job's URL, in
//! scope, each URL key once. What needs the network (robots.txt, the address rule) is the
//! worker's, on what this leaves.

use url::Url;

use super::{CrawlOptions, Scope, Verdict, frontier, normalize};
use crate::{domain::wire_text, pg::NewJob};

/// A link the crawl may follow: the URL to fetch (as found, without its fragment) and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub url: Url,
    pub key: String,
}

/// The link as a candidate, when it is one (scope and depth aside).
pub fn candidate(link: &str, options: &CrawlOptions) -> Option<Candidate> {
    if link.len() > NewJob::MAX_URL_LEN || !wire_text::is_clean_url(link) {
        return None;
    }
    let mut url = Url::parse(link).ok()?;
    let key = normalize(&url, options.ignore_query)?;
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(Candidate {
        url,
        key: key.into(),
    })
}

/// The links of a page at `depth` the crawl follows, each key once, in page order.
pub fn candidates(
    links: &[String],
    depth: i32,
    scope: &Scope,
    options: &CrawlOptions,
) -> Vec<Candidate> {
    if !frontier::within_depth(depth, options) {
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::new();
    links
        .iter()
        .filter_map(|l| candidate(l, options))
        .filter(|c| scope.judge(&c.url) == Verdict::Follow)
        .filter(|c| seen.insert(c.key.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_page_s_links_are_kept_once_each_in_scope_and_below_the_depth() {
        let o = CrawlOptions {
            max_depth: 2,
            ..CrawlOptions::default()
        };
        let scope = Scope::new(&Url::parse("http://site.test/").expect("url"), &o).expect("scope");
        let found = links(&[
            "http://site.test/a",
            "http://site.test/a/",
            "http://SITE.test:80/a#top",
            "http://other.test/x",
            "mailto:someone@site.test",
            "http://site.test/b?q=1",
        ]);
        let c = candidates(&found, 1, &scope, &o);
        let keys: Vec<&str> = c.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["http://site.test/a", "http://site.test/b?q=1"]);
        assert_eq!(
            c[0].url.as_str(),
            "http://site.test/a",
            "fetched as found, first form"
        );
        assert!(
            candidates(&found, 2, &scope, &o).is_empty(),
            "depth 2 is the last level"
        );
    }

    #[test]
    fn urls_no_job_could_take_are_not_candidates() {
        let o = CrawlOptions::default();
        let long = format!("http://site.test/{}", "a".repeat(NewJob::MAX_URL_LEN));
        assert_eq!(candidate(&long, &o), None);
        assert_eq!(candidate("http://site.test/a\nb", &o), None);
        assert_eq!(
            candidate("http://u:p@site.test/a#f", &o).map(|c| c.url.to_string()),
            Some("http://site.test/a".into())
        );
    }
}

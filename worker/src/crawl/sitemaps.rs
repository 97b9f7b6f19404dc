//! A crawl's sitemaps, read once, when its start page is expanded: the `Sitemap:` lines of
//! the start origin's robots.txt (through the politeness cache), else `/sitemap.xml`;
//! indexes followed breadth first, at most core's `sitemap::MAX_FILES` files; the pages
//! kept are those the crawl's scope follows. A sitemap that cannot be fetched or read
//! adds nothing: the crawl goes on from its links.

use std::{collections::HashSet, time::Duration};

use scraperx_core::{
    domain::{
        HttpMethod,
        crawl::{
            Scope, Verdict,
            links::{Candidate, candidate},
            sitemap::{self, Sitemap},
        },
    },
    pg::Crawl,
};
use url::Url;

use super::Crawler;
use crate::fetch::FetchRequest;

const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The in-scope pages the crawl's sitemaps list, each key once, up to the crawl's limit.
pub(super) async fn pages(crawler: &Crawler, crawl: &Crawl) -> Vec<Candidate> {
    let Ok(start) = crawl.start_url() else {
        return Vec::new();
    };
    let options = &crawl.options.0;
    let Ok(scope) = Scope::new(&start, options) else {
        return Vec::new();
    };
    let mut queue = sources(crawler, &start).await;
    let mut read = HashSet::new();
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let limit = usize::try_from(options.limit).unwrap_or(usize::MAX);
    while let Some(at) = queue.pop() {
        if read.len() >= sitemap::MAX_FILES || found.len() >= limit {
            break;
        }
        if !read.insert(at.to_string()) || scope.judge(&at) == Verdict::External {
            continue;
        }
        match fetch(crawler, &at).await {
            Some(Sitemap::Index(more)) => queue.extend(more.into_iter().rev()),
            Some(Sitemap::Pages(pages)) => {
                for page in pages {
                    if let Some(c) = candidate(page.as_str(), options)
                        && scope.judge(&c.url) == Verdict::Follow
                        && seen.insert(c.key.clone())
                    {
                        found.push(c);
                    }
                }
            }
            None => {}
        }
    }
    found.truncate(limit);
    found
}

/// robots.txt's sitemaps, else `/sitemap.xml` (first to read last in the list).
async fn sources(crawler: &Crawler, start: &Url) -> Vec<Url> {
    let robots_url = start.join("/robots.txt").ok();
    let robots = crawler.politeness.robots(start, &crawler.http).await;
    let mut named = match (robots, robots_url) {
        (Some(body), Some(at)) => sitemap::from_robots(&body, &at),
        _ => Vec::new(),
    };
    if named.is_empty() {
        named.extend(sitemap::default_location(start));
    }
    named.reverse();
    named
}

async fn fetch(crawler: &Crawler, at: &Url) -> Option<Sitemap> {
    let page = crawler
        .http
        .fetch(&FetchRequest {
            url: at.clone(),
            method: HttpMethod::Get,
            headers: Default::default(),
            body: None,
            timeout: FETCH_TIMEOUT,
        })
        .await
        .ok()?;
    (page.status == 200).then(|| sitemap::parse(&page.body, &page.final_url))?
}

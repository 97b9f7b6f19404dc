//! How far and how fast a crawl goes, as pure decisions over its counts: which links a
//! finished page may add (depth, the page limit), how many pages to submit now (the
//! concurrency cap, the delay), and whether the crawl is over.

use super::CrawlOptions;

/// A crawl's frontier, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct FrontierCounts {
    /// Pages found that count toward the limit (waiting, submitted or done).
    pub discovered: i64,
    pub waiting: i64,
    /// Submitted and not yet finished.
    pub in_flight: i64,
    /// Finished pages (their jobs completed, failed or were canceled).
    pub done: i64,
    /// Found and never scraped (robots.txt, private address, duplicate).
    pub skipped: i64,
}

/// Whether a link found on a page at `depth` may be followed (its own depth is one more).
pub fn within_depth(page_depth: i32, options: &CrawlOptions) -> bool {
    i64::from(page_depth) < i64::from(options.max_depth)
}

/// How many new pages the frontier may still take before the limit.
pub fn room(counts: &FrontierCounts, options: &CrawlOptions) -> usize {
    usize::try_from((i64::from(options.limit) - counts.discovered).max(0)).unwrap_or(0)
}

/// How many waiting pages to submit now: up to the concurrency cap (one at a time while a
/// delay spaces submissions, and none before the delay has passed). A discovery scrapes its
/// start page alone first, then at most `discover_pages` more, breadth first.
pub fn to_submit(counts: &FrontierCounts, options: &CrawlOptions, delay_passed: bool) -> usize {
    if options.delay_ms > 0 && !delay_passed {
        return 0;
    }
    let free = i64::from(options.concurrency()) - counts.in_flight;
    let mut n = free.min(counts.waiting);
    if options.discover_only {
        let started = counts.in_flight + counts.done;
        if started == 0 || counts.done == 0 {
            // The start page, once: it waits first (breadth first), and the rest waits for
            // what it links to.
            return usize::from(started == 0 && counts.waiting > 0);
        }
        n = n.min(discovery_budget(options) - started);
    }
    usize::try_from(n.max(0)).unwrap_or(0)
}

/// The pages a discovery scrapes, the start page included.
fn discovery_budget(options: &CrawlOptions) -> i64 {
    1 + i64::from(options.discover_pages)
}

/// A crawl is over when nothing waits and nothing is in flight; a discovery when nothing
/// is in flight and its budget of scraped pages is spent or nothing is left to scrape
/// (what waits then is what it discovered).
pub fn is_finished(counts: &FrontierCounts, options: &CrawlOptions) -> bool {
    if options.discover_only {
        let spent = counts.done >= discovery_budget(options);
        return counts.in_flight == 0 && counts.done > 0 && (spent || counts.waiting == 0);
    }
    counts.waiting == 0 && counts.in_flight == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(limit: u32, depth: u32, concurrency: u32, delay_ms: u32) -> CrawlOptions {
        CrawlOptions {
            limit,
            max_depth: depth,
            max_concurrency: concurrency,
            delay_ms,
            ..CrawlOptions::default()
        }
    }

    #[test]
    fn links_are_followed_only_below_the_maximum_depth() {
        let o = opts(100, 2, 5, 0);
        assert!(within_depth(0, &o));
        assert!(within_depth(1, &o));
        assert!(!within_depth(2, &o));
        assert!(
            !within_depth(0, &opts(100, 0, 5, 0)),
            "depth 0 is the start page alone"
        );
    }

    #[test]
    fn the_frontier_takes_no_page_past_the_limit() {
        let o = opts(10, 5, 5, 0);
        let c = |discovered| FrontierCounts {
            discovered,
            ..Default::default()
        };
        assert_eq!(room(&c(3), &o), 7);
        assert_eq!(room(&c(10), &o), 0);
        assert_eq!(room(&c(12), &o), 0);
    }

    #[test]
    fn submissions_fill_the_concurrency_cap_and_no_more() {
        let o = opts(100, 5, 4, 0);
        let c = |waiting, in_flight| FrontierCounts {
            waiting,
            in_flight,
            ..Default::default()
        };
        assert_eq!(to_submit(&c(10, 0), &o, true), 4);
        assert_eq!(to_submit(&c(10, 3), &o, true), 1);
        assert_eq!(to_submit(&c(2, 0), &o, true), 2);
        assert_eq!(to_submit(&c(10, 4), &o, true), 0);
        assert_eq!(to_submit(&c(10, 6), &o, true), 0);
    }

    #[test]
    fn a_delay_submits_one_page_once_it_has_passed() {
        let o = opts(100, 5, 4, 200);
        let c = |waiting, in_flight| FrontierCounts {
            waiting,
            in_flight,
            ..Default::default()
        };
        assert_eq!(to_submit(&c(10, 0), &o, false), 0);
        assert_eq!(to_submit(&c(10, 0), &o, true), 1);
        assert_eq!(to_submit(&c(10, 1), &o, true), 0);
    }

    #[test]
    fn a_crawl_is_over_when_nothing_waits_or_runs() {
        let c = |waiting, in_flight| FrontierCounts {
            waiting,
            in_flight,
            done: 5,
            ..Default::default()
        };
        let o = CrawlOptions::default();
        assert!(is_finished(&c(0, 0), &o));
        assert!(!is_finished(&c(1, 0), &o));
        assert!(!is_finished(&c(0, 1), &o));
    }

    #[test]
    fn a_discovery_scrapes_its_start_page_alone_and_ends_with_it() {
        let o = CrawlOptions {
            discover_only: true,
            ..CrawlOptions::default()
        };
        let c = |waiting, in_flight, done| FrontierCounts {
            waiting,
            in_flight,
            done,
            ..Default::default()
        };
        assert_eq!(to_submit(&c(1, 0, 0), &o, true), 1);
        assert_eq!(to_submit(&c(0, 1, 0), &o, true), 0);
        assert_eq!(
            to_submit(&c(500, 0, 1), &o, true),
            0,
            "what it found is never scraped"
        );
        assert!(!is_finished(&c(0, 1, 0), &o));
        assert!(is_finished(&c(500, 0, 1), &o));
    }

    #[test]
    fn a_shallow_discovery_scrapes_its_budget_of_linked_pages_after_the_start_page() {
        let o = CrawlOptions {
            discover_only: true,
            discover_pages: 3,
            max_concurrency: 2,
            ..CrawlOptions::default()
        };
        let c = |waiting, in_flight, done| FrontierCounts {
            waiting,
            in_flight,
            done,
            ..Default::default()
        };
        assert_eq!(to_submit(&c(1, 0, 0), &o, true), 1, "the start page first");
        assert_eq!(to_submit(&c(0, 1, 0), &o, true), 0);
        assert_eq!(
            to_submit(&c(40, 0, 1), &o, true),
            2,
            "within the concurrency cap"
        );
        assert_eq!(to_submit(&c(38, 2, 1), &o, true), 0);
        assert_eq!(
            to_submit(&c(38, 1, 2), &o, true),
            1,
            "the last of the budget"
        );
        assert_eq!(to_submit(&c(37, 0, 4), &o, true), 0, "the budget is spent");
        assert!(!is_finished(&c(40, 0, 1), &o));
        assert!(!is_finished(&c(37, 1, 3), &o));
        assert!(is_finished(&c(37, 0, 4), &o));
        assert!(
            is_finished(&c(0, 0, 2), &o),
            "a site with fewer pages than the budget ends when they are read"
        );
    }
}

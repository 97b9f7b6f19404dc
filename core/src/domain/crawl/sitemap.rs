//! Reading sitemaps (sitemaps.org): a `<urlset>` lists pages, a `<sitemapindex>` lists more
//! sitemaps; either may come gzipped (sniffed by its magic bytes, whatever the name or
//! headers say). Sources: the `Sitemap:` lines of robots.txt, then `/sitemap.xml`. Bounded:
//! at most [`MAX_BYTES`] once inflated and [`MAX_LOCS`] entries per file, and the crawl
//! reads at most [`MAX_FILES`] files, so a hostile sitemap cannot exhaust a worker.

use std::io::Read;

use url::Url;

/// Inflated size a sitemap may reach (the protocol's own bound).
pub const MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Entries read from one file (the protocol's own bound).
pub const MAX_LOCS: usize = 50_000;
/// Sitemap files one crawl reads, indexes included.
pub const MAX_FILES: usize = 50;

/// What a sitemap file lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sitemap {
    /// Pages.
    Pages(Vec<Url>),
    /// Other sitemaps.
    Index(Vec<Url>),
}

/// The sitemaps robots.txt names (`Sitemap:` lines, any case), resolved against its URL.
pub fn from_robots(robots: &str, robots_url: &Url) -> Vec<Url> {
    robots
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case("sitemap")
                .then(|| robots_url.join(value.trim()).ok())
                .flatten()
        })
        .take(MAX_FILES)
        .collect()
}

/// Where a site's sitemap is when robots.txt names none.
pub fn default_location(site: &Url) -> Option<Url> {
    site.join("/sitemap.xml").ok()
}

/// Parses a sitemap file, inflating it first when gzipped; None when it is neither a
/// `<urlset>` nor a `<sitemapindex>` (or is too large).
pub fn parse(body: &[u8], at: &Url) -> Option<Sitemap> {
    let text = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_BYTES)
            .read_to_string(&mut out)
            .ok()?;
        out
    } else {
        String::from_utf8_lossy(body.get(..usize::try_from(MAX_BYTES).ok()?.min(body.len()))?)
            .into_owned()
    };
    let index = match root_element(&text)? {
        "sitemapindex" => true,
        "urlset" => false,
        _ => return None,
    };
    let locs = locs(&text).filter_map(|l| at.join(&unescape(l)).ok());
    let locs: Vec<Url> = locs.take(MAX_LOCS).collect();
    Some(if index {
        Sitemap::Index(locs)
    } else {
        Sitemap::Pages(locs)
    })
}

/// The local name of the first element (after the XML declaration and comments).
fn root_element(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        let start = rest.find('<')?;
        rest = &rest[start + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
        let name = &rest[..end];
        return Some(name.rsplit(':').next().unwrap_or(name));
    }
}

/// The text of every `<loc>` element, trimmed (CDATA unwrapped).
fn locs(text: &str) -> impl Iterator<Item = &str> {
    text.split("<loc>").skip(1).filter_map(|part| {
        let value = part.split("</loc>").next()?.trim();
        let value = value
            .strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
            .unwrap_or(value)
            .trim();
        (!value.is_empty()).then_some(value)
    })
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn at() -> Url {
        Url::parse("https://shop.test/sitemap.xml").expect("url")
    }

    #[test]
    fn a_urlset_lists_its_pages_unescaped() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <!-- made by hand -->
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
              <url><loc>https://shop.test/a</loc><lastmod>2026-01-01</lastmod></url>
              <url><loc> https://shop.test/b?x=1&amp;y=2 </loc></url>
              <url><loc><![CDATA[/c]]></loc></url>
            </urlset>"#;
        let Some(Sitemap::Pages(pages)) = parse(xml.as_bytes(), &at()) else {
            panic!("pages");
        };
        let pages: Vec<&str> = pages.iter().map(Url::as_str).collect();
        assert_eq!(
            pages,
            [
                "https://shop.test/a",
                "https://shop.test/b?x=1&y=2",
                "https://shop.test/c"
            ]
        );
    }

    #[test]
    fn an_index_lists_sitemaps_even_gzipped() {
        let xml = "<sitemapindex><sitemap><loc>https://shop.test/s1.xml.gz</loc></sitemap></sitemapindex>";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(xml.as_bytes()).expect("gzip");
        let body = gz.finish().expect("gzip");
        assert_eq!(
            parse(&body, &at()),
            Some(Sitemap::Index(vec![
                Url::parse("https://shop.test/s1.xml.gz").expect("url")
            ]))
        );
    }

    #[test]
    fn a_page_that_is_not_a_sitemap_is_none() {
        assert_eq!(
            parse(b"<html><body><loc>x</loc></body></html>", &at()),
            None
        );
        assert_eq!(parse(b"not xml at all", &at()), None);
        assert_eq!(parse(&[0x1f, 0x8b, 0, 1, 2], &at()), None);
    }

    #[test]
    fn robots_txt_sitemap_lines_are_read_in_any_case() {
        let robots = "User-agent: *\nDisallow: /private\nSitemap: https://shop.test/s.xml\nsitemap:/other.xml\n";
        let found = from_robots(
            robots,
            &Url::parse("https://shop.test/robots.txt").expect("url"),
        );
        let found: Vec<&str> = found.iter().map(Url::as_str).collect();
        assert_eq!(
            found,
            ["https://shop.test/s.xml", "https://shop.test/other.xml"]
        );
    }
}

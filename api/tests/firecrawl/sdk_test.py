"""Firecrawl's official Python SDK (firecrawl-py, unchanged) against ScraperX.

Run by api/tests/firecrawl_sdk.rs with FC_API_URL, FC_API_KEY and SITE (a loopback test
site: / links to /p1.html../p5.html and /private.html, which robots.txt disallows).
Each check asserts; the last line printed is a JSON summary.
"""

import json
import os
import time
import urllib.request

from firecrawl import Firecrawl
from firecrawl.v2.types import ScrapeOptions, ScreenshotFormat

fc = Firecrawl(api_key=os.environ["FC_API_KEY"], api_url=os.environ["FC_API_URL"])
site = os.environ["SITE"]
summary = {}

# Scrape, in each supported format.
doc = fc.scrape(f"{site}/p1.html")
assert "Widget One" in (doc.markdown or ""), doc
assert doc.metadata.title == "Page 1", doc.metadata
assert doc.metadata.status_code == 200, doc.metadata
assert doc.metadata.source_url == f"{site}/p1.html", doc.metadata

doc = fc.scrape(f"{site}/p1.html", formats=["rawHtml", "links", "images"])
assert "<h1>Widget One</h1>" in doc.raw_html, doc.raw_html
assert f"{site}/p2.html" in doc.links, doc.links
assert f"{site}/img/1.png" in doc.images, doc.images
assert doc.markdown is None, "markdown was not asked for"

doc = fc.scrape(f"{site}/p1.html", formats=["html"])
assert "Widget One" in doc.html, doc.html
for unwanted in ("<script", "<style", "<!--", "<head", "Home"):
    assert unwanted not in doc.html, (unwanted, doc.html)
assert doc.markdown is None and doc.raw_html is None, "only html was asked for"
assert doc.metadata.description == "Widget 1 page", doc.metadata
assert doc.metadata.og_title == "Widget One", doc.metadata
assert doc.metadata.language == "en", doc.metadata
assert doc.metadata.favicon == f"{site}/favicon.ico", doc.metadata

doc = fc.scrape(f"{site}/p1.html", formats=["html"], only_main_content=False)
assert f'href="{site}/p2.html"' in doc.html, doc.html
assert f'src="{site}/img/1.png"' in doc.html, doc.html
assert "<nav>" in doc.html and "<script" not in doc.html, doc.html

doc = fc.scrape(f"{site}/p1.html", formats=["html"], exclude_tags=["h1"])
assert "Widget One" not in doc.html and "costs" in doc.html, doc.html

doc = fc.scrape(f"{site}/p1.html", formats=[ScreenshotFormat(full_page=True)])
assert doc.screenshot and doc.screenshot.startswith("http"), doc.screenshot
with urllib.request.urlopen(doc.screenshot, timeout=30) as r:
    assert r.read(8) == b"\x89PNG\r\n\x1a\n", "the screenshot URL serves a PNG"


def image_of(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# The viewport only (Firecrawl's "screenshot"), at a viewport of its own size.
doc = fc.scrape(
    f"{site}/p1.html",
    formats=[ScreenshotFormat(viewport={"width": 640, "height": 400})],
)
assert png_size(image_of(doc.screenshot)) == (640, 400), "the viewport, as a PNG"

# A JPEG at a quality.
doc = fc.scrape(f"{site}/p1.html", formats=[ScreenshotFormat(full_page=True, quality=40)])
assert image_of(doc.screenshot)[:3] == b"\xff\xd8\xff", "a JPEG"
summary["scrape"] = "markdown, rawHtml, html, links, images, screenshots"

# An option ScraperX cannot honour is a clear error naming it.
try:
    fc.scrape(f"{site}/p1.html", formats=["summary"])
    raise AssertionError("the summary format was accepted")
except AssertionError:
    raise
except Exception as e:  # the SDK's own error type for a 400
    assert "summary" in str(e), str(e)

# Batch scrape, polled by the SDK until done; documents come in pages (next).
urls = [f"{site}/p{n}.html" for n in (1, 2, 3)]
job = fc.batch_scrape(urls, formats=["markdown"], poll_interval=1, wait_timeout=180)
assert job.status == "completed", job
assert job.total == 3 and job.completed == 3, job
assert sorted(d.metadata.source_url for d in job.data) == sorted(urls), job.data
assert all(d.markdown for d in job.data), job.data
summary["batch"] = len(job.data)

# Crawl, polled until done, every page's document through next links.
crawl = fc.crawl(
    f"{site}/",
    limit=6,
    poll_interval=1,
    timeout=240,
    scrape_options=ScrapeOptions(formats=["markdown", "links"]),
)
assert crawl.status == "completed", crawl
scraped = sorted(d.metadata.source_url for d in crawl.data)
assert scraped == sorted([f"{site}/"] + [f"{site}/p{n}.html" for n in range(1, 6)]), scraped
assert all(d.links is not None for d in crawl.data), crawl.data
errors = fc.get_crawl_errors(crawl.id)
assert f"{site}/private.html" in errors.robots_blocked, errors
summary["crawl"] = len(crawl.data)

# A crawl canceled while it runs.
started = fc.start_crawl(f"{site}/", limit=50, delay=30)
assert fc.cancel_crawl(started.id) is True
status = fc.get_crawl_status(started.id)
assert status.status == "cancelled", status
summary["cancel"] = status.status

# Map.
found = fc.map(f"{site}/")
links = [link.url for link in found.links]
for n in range(1, 6):
    assert f"{site}/p{n}.html" in links, links
summary["map"] = len(links)

print(json.dumps(summary))

"""Scrapy's side of comparison (a): fetch every page of bench-site and extract its links,
writing one JSON line per page, at CONCURRENT_REQUESTS = --concurrency. Prints its figures
as RESULT lines (see bench/src/lib.rs); the peak resident memory is measured around it by
bench/run.sh (/usr/bin/time).

    scrapy runspider scrapy_pages.py -a site=http://127.0.0.1:PORT -a pages=10000 \
        -s CONCURRENT_REQUESTS=8 -o /tmp/out.jsonl
"""

import time

import scrapy
from scrapy import signals


class Pages(scrapy.Spider):
    name = "bench_pages"
    custom_settings = {
        "ROBOTSTXT_OBEY": False,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "COOKIES_ENABLED": False,
        "RETRY_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }

    def __init__(self, site, pages="10000", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = site
        self.pages = int(pages)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.closed_report, signal=signals.spider_closed)
        return spider

    async def start(self):
        for n in range(self.pages):
            yield scrapy.Request(f"{self.site}/page/{n}", dont_filter=True)

    def parse(self, response):
        yield {
            "url": response.url,
            "title": response.css("title::text").get(),
            "links": [response.urljoin(h) for h in response.css("a::attr(href)").getall()],
        }

    def opened(self, spider):
        self.started = time.monotonic()

    def closed_report(self, spider):
        elapsed = time.monotonic() - self.started
        done = self.crawler.stats.get_value("item_scraped_count", 0)
        c = self.crawler.settings.getint("CONCURRENT_REQUESTS")
        print(f"RESULT\tpipeline\tpages/s, c={c}\tpeer: Scrapy {scrapy.__version__}\t{done / elapsed:.3f}\tpages/s", flush=True)
        if done != self.pages:
            print(f"scrapy: only {done} of {self.pages} pages", flush=True)

"""Scrapy's side of comparison (e): a CrawlSpider crawls bench-site from /page/0, following
every /page/ link (Scrapy's own duplicate filter), extracting each page's title and links,
until CLOSESPIDER_PAGECOUNT pages were crawled, at CONCURRENT_REQUESTS. Prints its figures as
RESULT lines (see bench/src/lib.rs); its peak resident memory is measured around it by
bench/run.sh (/usr/bin/time).

    scrapy runspider scrapy_crawl.py -a site=http://127.0.0.1:PORT -a pages=10000 \
        -s CONCURRENT_REQUESTS=8 -o /tmp/out.jsonl
"""

import time

import scrapy
from scrapy import signals
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class Site(CrawlSpider):
    name = "bench_crawl"
    custom_settings = {
        "ROBOTSTXT_OBEY": False,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "COOKIES_ENABLED": False,
        "RETRY_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        # Breadth first, as ScraperX's frontier.
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
    }
    rules = (Rule(LinkExtractor(allow=r"/page/\d+$"), callback="parse_item", follow=True),)

    def __init__(self, site, pages="10000", *args, **kwargs):
        self.site = site
        self.pages = int(pages)
        self.start_urls = [f"{site}/page/0"]
        super().__init__(*args, **kwargs)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        crawler.settings.set("CLOSESPIDER_PAGECOUNT", int(kwargs.get("pages", 10000)), priority="spider")
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.closed_report, signal=signals.spider_closed)
        return spider

    def parse_start_url(self, response):
        return self.parse_item(response)

    def parse_item(self, response):
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
        print(f"RESULT\tcrawl\tpages/s, c={c}\tpeer: Scrapy {scrapy.__version__} CrawlSpider\t{done / elapsed:.3f}\tpages/s", flush=True)
        if done < self.pages:
            print(f"scrapy: only {done} of {self.pages} pages", flush=True)

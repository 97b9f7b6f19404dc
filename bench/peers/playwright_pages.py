"""Playwright's side of comparison (c): Debian's Chromium (executable_path, no browser
download) renders bench-site's JavaScript pages (/js/N) in --contexts isolated contexts at
once, each page in a fresh context as ScraperX renders each job, waiting for #ready and
reading the rendered HTML. Prints pages/s and the peak resident memory of the browser's
processes (sampled every 200 ms from /proc) as RESULT lines (see bench/src/lib.rs).

    python playwright_pages.py --site http://127.0.0.1:PORT --contexts 4 [--pages 200]
"""

import argparse
import asyncio
import os
import threading
import time
from importlib.metadata import version

from playwright.async_api import async_playwright

SIDE = f"peer: Playwright {version('playwright')} (Python)"


def chromium_rss_kib(root):
    """The resident memory of the Chromium processes below process `root`."""
    children, rss = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        children.setdefault(fields.get("PPid", "0").strip(), []).append(pid)
        if fields.get("Name", "").strip().startswith("chrom"):
            rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, list(children.get(str(root), []))
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", required=True)
    parser.add_argument("--contexts", type=int, default=4)
    parser.add_argument("--pages", type=int, default=0)
    args = parser.parse_args()
    k = args.contexts
    pages = args.pages or max(60, 40 * k)
    peak = [0]
    sampling = [True]

    def sample():
        while sampling[0]:
            peak[0] = max(peak[0], chromium_rss_kib(os.getpid()))
            time.sleep(0.2)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium")
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        queue = asyncio.Queue()
        for n in range(pages):
            queue.put_nowait(n)

        async def render_one(n):
            context = await browser.new_context()
            try:
                page = await context.new_page()
                await page.goto(f"{args.site}/js/{n}")
                await page.wait_for_selector("#ready")
                html = await page.content()
                assert "Rendered paragraph 49" in html
            finally:
                await context.close()

        async def loop():
            while not queue.empty():
                await render_one(queue.get_nowait())

        await render_one(0)  # launch and first page, not timed
        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(k)))
        took = time.monotonic() - started
        sampling[0] = False
        await browser.close()
    print(f"RESULT\tbrowser\tpages/s, {k} contexts\t{SIDE}\t{pages / took:.3f}\tpages/s", flush=True)
    print(f"RESULT\tbrowser\tbrowser RSS, {k} contexts\t{SIDE}\t{peak[0] / 1024:.3f}\tMiB", flush=True)


asyncio.run(main())

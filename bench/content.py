#!/usr/bin/env python3
"""Content extraction: ScraperX beside trafilatura and html2text on the pages of the
article-extraction benchmark (181 news and blog pages with hand-labelled article bodies;
the same pages are the `scrapinghub` part of Bevendorff et al.'s web content extraction
benchmark), scored as that benchmark scores: F1 over token 4-shingles against the labelled
body, precision and recall averaged over the pages.

Usage: content.py --data DIR --bin PATH/bench-content [--limit N]

DIR holds the benchmark's `ground-truth.json` and `html/*.html.gz`. Prints a table and
RESULT lines (bench/report.py's format) on stdout.
"""

import argparse
import gzip
import json
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

TOKEN = re.compile(r"\w+", re.UNICODE)
# Markdown link and image targets: `](https://...)`, and `<...>` autolinks.
TARGET = re.compile(r"\]\((?:<[^>]*>|[^)\s]*)\)")


def shingles(text, n=4):
    tokens = TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def tp_fp_fn(true, pred):
    t, p = shingles(true), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score(rows):
    """F1 from the mean of the pages' precisions and recalls, as the benchmark computes it."""

    def ratio(a, b, fp, fn):
        if fp == fn == 0:
            return 1.0
        return a / (a + b) if a + b else 0.0

    precision = statistics.mean(ratio(tp, fp, fp, fn) for tp, fp, fn in rows if tp + fp > 0)
    recall = statistics.mean(ratio(tp, fn, fp, fn) for tp, fp, fn in rows if tp + fn > 0)
    return 2 * precision * recall / (precision + recall), precision, recall


def load(data, limit):
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf8"))
    pages = []
    for key in sorted(truth)[: limit or None]:
        with gzip.open(data / "html" / f"{key}.html.gz", "rt", encoding="utf8") as f:
            pages.append({"id": key, "url": truth[key].get("url") or "https://example.com/", "html": f.read()})
    return truth, pages


def peers(pages):
    import html2text
    import trafilatura

    out = {"trafilatura": {}, "html2text": {}}
    times = {"trafilatura": 0.0, "html2text": 0.0}
    for page in pages:
        started = time.perf_counter()
        out["trafilatura"][page["id"]] = trafilatura.extract(page["html"], include_comments=False) or ""
        times["trafilatura"] += time.perf_counter() - started
        started = time.perf_counter()
        h = html2text.HTML2Text()
        h.ignore_links = True
        h.ignore_images = True
        out["html2text"][page["id"]] = h.handle(page["html"])
        times["html2text"] += time.perf_counter() - started
    versions = {"trafilatura": version("trafilatura"), "html2text": version("html2text")}
    return out, times, versions


def scraperx(pages, binary):
    feed = "".join(json.dumps(p) + "\n" for p in pages)
    done = subprocess.run([binary], input=feed, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    out = {
        "ScraperX markdown, only_main_content": {r["id"]: r["main_markdown"] or "" for r in rows},
        "ScraperX markdown, only_main_content, link targets left out": {
            r["id"]: TARGET.sub("]", r["main_markdown"] or "") for r in rows
        },
        "ScraperX text, only_main_content": {r["id"]: r["main_text"] for r in rows},
        "ScraperX markdown, whole page": {r["id"]: r["markdown"] or "" for r in rows},
        "ScraperX text, whole page": {r["id"]: r["text"] for r in rows},
    }
    times = {
        "main": sum(r["main_ms"] for r in rows) / 1e3,
        "whole": sum(r["whole_ms"] for r in rows) / 1e3,
    }
    return out, times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    truth, pages = load(args.data, args.limit)
    print(f"[bench] content: {len(pages)} pages from {args.data}", file=sys.stderr)
    ours, our_times = scraperx(pages, args.bin)
    theirs, their_times, versions = peers(pages)
    systems = {**ours, **{f"{k} {versions[k]}": v for k, v in theirs.items()}}
    print(f"{'':<62} {'F1':>6} {'prec.':>6} {'recall':>6}")
    for name, outputs in systems.items():
        rows = [tp_fp_fn(truth[p["id"]].get("articleBody", ""), outputs[p["id"]]) for p in pages]
        f1, precision, recall = score(rows)
        print(f"{name:<62} {f1:6.3f} {precision:6.3f} {recall:6.3f}")
        print(f"RESULT\tcontent\tF1\t{name}\t{f1:.3f}\tF1")
    pages_n = len(pages)
    print(
        f"seconds for {pages_n} pages: ScraperX whole page {our_times['whole']:.2f}, "
        f"only_main_content {our_times['main']:.2f}; trafilatura {their_times['trafilatura']:.2f}, "
        f"html2text {their_times['html2text']:.2f}"
    )


if __name__ == "__main__":
    main()

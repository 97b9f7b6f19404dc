#!/usr/bin/env bash
# Content extraction: ScraperX's markdown and text (whole page, and only_main_content)
# beside trafilatura and html2text on the 181 labelled pages of the article-extraction
# benchmark, scored as that benchmark scores (bench/content.py). Needs no services.
#
#   bench/content.sh [DATA_DIR]          (also: bench/run.sh content [DATA_DIR])
#
# DATA_DIR holds the benchmark's ground-truth.json and html/; without it, BENCH_CONTENT_DATA,
# else a clone kept in ~/.cache/scraperx-bench/article-extraction-benchmark, made on the
# first run (git clone of BENCH_CONTENT_REPO). The data is never committed here.
# BENCH_CONTENT_LIMIT=N scores the first N pages only; BENCH_SKIP_BUILD=1 uses the release
# binary as it is.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
repo=${BENCH_CONTENT_REPO:-https://github.com/scrapinghub/article-extraction-benchmark}
data=${1:-${BENCH_CONTENT_DATA:-$HOME/.cache/scraperx-bench/article-extraction-benchmark}}
if [ ! -f "$data/ground-truth.json" ]; then
  echo "[bench] content: no data in $data; cloning $repo" >&2
  mkdir -p "$(dirname "$data")"
  if ! git clone --quiet --depth 1 "$repo" "$data"; then
    echo "[bench] content: could not fetch the benchmark; pass its directory (ground-truth.json, html/) as the argument" >&2
    exit 2
  fi
fi
bench/install-peers.sh content
tools=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}
py=$(ls -d "$tools"/bench-py-trafilatura*/bin | tail -1)
# The build below and the binaries run come from the same place.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/scraperx-target}
target=$CARGO_TARGET_DIR
if [ "${BENCH_SKIP_BUILD:-}" != 1 ]; then
  echo "[bench] building bench-content (release)" >&2
  flock /tmp/scraperx-cargo.lock cargo build --release --quiet -p scraperx-bench --bin bench-content
fi
exec "$py/python" bench/content.py --data "$data" --bin "$target/release/bench-content" \
  --limit "${BENCH_CONTENT_LIMIT:-0}"

#!/usr/bin/env bash
# Installs the peers the benchmarks compare against, pinned, from their registries, under
# ~/.cache/scraperx-tools (SCRX_TOOLS_DIR): Scrapy and Playwright (PyPI) in one virtualenv,
# BullMQ (npm) in a node folder, wrk (Debian) as the http ceiling, and trafilatura and
# html2text (PyPI) in a virtualenv of their own for the content comparison. With the
# argument `content`, only the last. Playwright drives
# Debian's Chromium through executable_path, so no browser is downloaded. Idempotent: each
# part is redone only when its stamp is missing. Prints nothing on stdout.
set -euo pipefail

SCRAPY_VERSION=${SCRAPY_VERSION:-2.19.0}
PLAYWRIGHT_VERSION=${PLAYWRIGHT_VERSION:-1.65.2}
BULLMQ_VERSION=${BULLMQ_VERSION:-6.7.0}
IOREDIS_VERSION=${IOREDIS_VERSION:-5.9.2}
TRAFILATURA_VERSION=${TRAFILATURA_VERSION:-2.3.1}
HTML2TEXT_VERSION=${HTML2TEXT_VERSION:-2025.4.15}
# trafilatura needs lxml's cleaner, a package of its own since lxml 5.2.
LXML_HTML_CLEAN_VERSION=${LXML_HTML_CLEAN_VERSION:-0.4.6}
tools=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}
mkdir -p "$tools"
exec 9>"$tools/bench-peers.lock"
flock 9

# A virtualenv at $1 with the pinned packages that follow, made once (its stamp).
pip_venv() {
  local dir=$1
  shift
  [ -f "$dir/.installed" ] && return 0
  echo "[bench] installing $* into $dir" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  touch "$dir/.installed"
}

pip_venv "$tools/bench-py-trafilatura$TRAFILATURA_VERSION-html2text$HTML2TEXT_VERSION" \
  "trafilatura==$TRAFILATURA_VERSION" "html2text==$HTML2TEXT_VERSION" \
  "lxml_html_clean==$LXML_HTML_CLEAN_VERSION"
[ "${1:-}" = content ] && exit 0

pip_venv "$tools/bench-py-scrapy$SCRAPY_VERSION-playwright$PLAYWRIGHT_VERSION" \
  "scrapy==$SCRAPY_VERSION" "playwright==$PLAYWRIGHT_VERSION"

node_dir=$tools/bench-node-bullmq$BULLMQ_VERSION-ioredis$IOREDIS_VERSION
if [ ! -f "$node_dir/.installed" ]; then
  echo "[bench] installing bullmq@$BULLMQ_VERSION (ioredis@$IOREDIS_VERSION, its Redis client) into $node_dir" >&2
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "bullmq@$BULLMQ_VERSION" "ioredis@$IOREDIS_VERSION" >&2)
  touch "$node_dir/.installed"
fi

if ! command -v wrk >/dev/null; then
  echo "[bench] installing wrk (Debian)" >&2
  if ! apt-get install -y -qq wrk >&2; then
    apt-get update -qq >&2 && apt-get install -y -qq wrk >&2
  fi
fi

#!/usr/bin/env bash
# Stealth, side by side: the detector pages of worker/tests/detectors (BotD, FingerprintJS
# and our own reading of each tell) through puppeteer-extra with its stealth plugin and
# through ScraperX's browser and stealth engines (every fingerprint of the table), all on
# Debian's Chromium. Prints a table of verdicts; BENCHMARKS.md's "Stealth" section holds
# the last one. Needs the services (scripts/services.sh) for the fingerprints table.
#
#   bench/stealth/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=bench/stealth

scripts/lib/detectors.sh >/dev/null
# puppeteer-extra and its stealth plugin (npm, pinned by package-lock.json), under ~/.cache.
tools=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}/stealth-bench
if ! cmp -s "$here/package-lock.json" "$tools/package-lock.json" || [ ! -f "$tools/.installed" ]; then
  mkdir -p "$tools"
  rm -f "$tools/.installed"
  cp "$here/package.json" "$here/package-lock.json" "$tools/"
  npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >&2
  touch "$tools/.installed"
fi
cp "$here/puppeteer.mjs" "$tools/"

eval "$(scripts/services.sh env)"
export SCRX_STEALTH_BENCH="$tools/puppeteer.mjs"
cargo test -p scraperx-worker --test stealth -- --ignored --nocapture side_by_side 2>&1 |
  grep -E '^(\| |Chromium [0-9])'

#!/usr/bin/env bash
# Installs Firecrawl's official SDKs, pinned, under ~/.cache when they are missing:
# firecrawl-py (PyPI) into a virtualenv of its own, and @mendable/firecrawl-js (npm) from
# the committed package-lock (api/tests/firecrawl/) with `npm ci`. Prints two lines: the
# venv's python, then the folder holding node_modules. api/tests/firecrawl_sdk.rs runs them
# against ScraperX; scripts/test.sh calls this first so a fresh clone has them.
set -euo pipefail

FIRECRAWL_PY_VERSION=${FIRECRAWL_PY_VERSION:-4.54.0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}
venv=$tools/firecrawl-py-$FIRECRAWL_PY_VERSION
lock_hash=$(sha256sum "$here/api/tests/firecrawl/package-lock.json" | cut -c1-12)
js=$tools/firecrawl-js-$lock_hash
mkdir -p "$tools"

# Each written only once its install has finished: an install stopped halfway is redone.
if [ ! -f "$venv/.installed" ]; then
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$venv/.installed" ]; then
    echo "[firecrawl] installing firecrawl-py==$FIRECRAWL_PY_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "firecrawl-py==$FIRECRAWL_PY_VERSION" >&2
    touch "$venv/.installed"
  fi
  exec 9>&-
fi
if [ ! -f "$js/.installed" ]; then
  exec 8>"$js.lock"
  flock 8
  if [ ! -f "$js/.installed" ]; then
    echo "[firecrawl] installing @mendable/firecrawl-js from the package-lock into $js" >&2
    rm -rf "$js"
    mkdir -p "$js"
    cp "$here/api/tests/firecrawl/package.json" "$here/api/tests/firecrawl/package-lock.json" "$js/"
    npm ci --prefix "$js" --no-audit --no-fund --loglevel=error >&2
    touch "$js/.installed"
  fi
fi
echo "$venv/bin/python"
echo "$js"

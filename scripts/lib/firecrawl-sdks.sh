#!/usr/bin/env bash
# Installs Firecrawl's official SDKs, pinned, under ~/.cache when they are missing:
# firecrawl-py (PyPI) into a virtualenv of its own, and @mendable/firecrawl-js (npm) from
# the committed package-lock (api/tests/firecrawl/) with `npm ci`. Prints two lines: the
# venv's python, then the folder holding node_modules. api/tests/firecrawl.rs runs them
# against ScraperX; scripts/test.sh calls this first so a fresh clone has them.
set -euo pipefail
# shellcheck source=scripts/lib/install-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/install-once.sh"

FIRECRAWL_PY_VERSION=${FIRECRAWL_PY_VERSION:-4.54.0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}
venv=$tools/firecrawl-py-$FIRECRAWL_PY_VERSION
lock_hash=$(sha256sum "$here/api/tests/firecrawl/package-lock.json" | cut -c1-12)
js=$tools/firecrawl-js-$lock_hash

install_py() { pip_venv "$1" "firecrawl-py==$FIRECRAWL_PY_VERSION"; }
install_js() {
  cp "$here/api/tests/firecrawl/package.json" "$here/api/tests/firecrawl/package-lock.json" "$1/"
  npm ci --prefix "$1" --no-audit --no-fund --loglevel=error >&2
}
install_once "$venv" firecrawl-py install_py
install_once "$js" firecrawl-js install_js
echo "$venv/bin/python"
echo "$js"

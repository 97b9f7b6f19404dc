#!/usr/bin/env bash
# Installs the open-source bot detectors the stealth tests serve (npm, pinned): BotD
# (@fingerprintjs/botd) and FingerprintJS (@fingerprintjs/fingerprintjs), under ~/.cache,
# when they are missing, and prints the folder holding their node_modules.
# worker/tests/stealth.rs serves their browser bundles (UMD) on loopback; scripts/test.sh
# calls this first so a fresh clone has them.
set -euo pipefail

BOTD_VERSION=${BOTD_VERSION:-2.0.0}
FINGERPRINTJS_VERSION=${FINGERPRINTJS_VERSION:-5.2.0}
dir=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}/detectors-botd-$BOTD_VERSION-fpjs-$FINGERPRINTJS_VERSION
# Written only once npm has finished: an install stopped halfway is redone.
stamp=$dir/.installed

if [ ! -f "$stamp" ]; then
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    echo "[detectors] installing @fingerprintjs/botd@$BOTD_VERSION and @fingerprintjs/fingerprintjs@$FINGERPRINTJS_VERSION into $dir" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    echo '{"name":"scraperx-detectors","private":true}' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error --save-exact \
      "@fingerprintjs/botd@$BOTD_VERSION" "@fingerprintjs/fingerprintjs@$FINGERPRINTJS_VERSION" >&2
    touch "$stamp"
  fi
fi
echo "$dir"

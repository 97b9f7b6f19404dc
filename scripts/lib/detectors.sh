#!/usr/bin/env bash
# Installs the open-source bot detectors the stealth tests serve (npm, pinned): BotD
# (@fingerprintjs/botd) and FingerprintJS (@fingerprintjs/fingerprintjs), under ~/.cache,
# when they are missing, and prints the folder holding their node_modules.
# worker/tests/stealth.rs serves their browser bundles (UMD) on loopback; scripts/test.sh
# calls this first so a fresh clone has them.
set -euo pipefail
# shellcheck source=scripts/lib/install-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/install-once.sh"

BOTD_VERSION=${BOTD_VERSION:-2.0.0}
FINGERPRINTJS_VERSION=${FINGERPRINTJS_VERSION:-5.2.0}
dir=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}/detectors-botd-$BOTD_VERSION-fpjs-$FINGERPRINTJS_VERSION
install() {
  echo '{"name":"scraperx-detectors","private":true}' >"$1/package.json"
  npm install --prefix "$1" --no-audit --no-fund --loglevel=error --save-exact \
    "@fingerprintjs/botd@$BOTD_VERSION" "@fingerprintjs/fingerprintjs@$FINGERPRINTJS_VERSION" >&2
}
install_once "$dir" detectors install
echo "$dir"

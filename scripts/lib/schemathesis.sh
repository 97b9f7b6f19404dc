#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned) into a virtualenv of its own under ~/.cache when it
# is missing, and prints the path of its command. api/tests/fuzz.rs runs it against the
# API's own OpenAPI document; scripts/test.sh calls this first so a fresh clone has it.
set -euo pipefail
# shellcheck source=scripts/lib/install-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/install-once.sh"

SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
venv=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}/schemathesis-$SCHEMATHESIS_VERSION
install() { pip_venv "$1" "schemathesis==$SCHEMATHESIS_VERSION"; }
install_once "$venv" schemathesis install
echo "$venv/bin/schemathesis"

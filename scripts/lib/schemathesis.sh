#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned) into a virtualenv of its own under ~/.cache when it
# is missing, and prints the path of its command. api/tests/fuzz.rs runs it against the
# API's own OpenAPI document; scripts/test.sh calls this first so a fresh clone has it.
set -euo pipefail

SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
venv=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}/schemathesis-$SCHEMATHESIS_VERSION
# Written only once pip has finished: an install stopped halfway is redone.
stamp=$venv/.installed

if [ ! -f "$stamp" ]; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    echo "[schemathesis] installing schemathesis==$SCHEMATHESIS_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
    touch "$stamp"
  fi
fi
echo "$venv/bin/schemathesis"

#!/usr/bin/env bash
# The main job on a fresh machine: install and start the services, build, apply the schema,
# create the demo organization and print an API key for it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/scraperx-target}

scripts/services.sh up
eval "$(scripts/services.sh env)"
cargo build --locked --release -p scraperx-api -p scraperx-worker -p scraperx-operator
"$CARGO_TARGET_DIR/release/scraperx-api" bootstrap "${1:-demo}"
"$CARGO_TARGET_DIR/release/scraperx-worker" check

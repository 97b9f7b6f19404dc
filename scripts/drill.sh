#!/usr/bin/env bash
# The fault drill at full scale: worker processes over private Postgres, Redis and MinIO
# under 2,000 jobs; kill -9 of workers, Redis restarting empty, Postgres crashing, MinIO
# stopped, Chromium killed mid-page. Prints, per fault: jobs submitted, completed, failed,
# lost, charged twice, and how long the jobs in flight took to be taken up again (p50, max).
#   scripts/drill.sh [jobs]      (default 2000; the test suite runs the same drill with 300)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/scraperx-target}
export CARGO_INCREMENTAL=0
scripts/services.sh up
eval "$(scripts/services.sh env)"
# SCRX_DRILL_FAULTS=kill,redis picks faults; SCRX_DRILL_LOG=info sets the workers' log filter.
SCRX_DRILL_JOBS=${1:-2000} cargo test --locked -p scraperx-worker --test drill -- --nocapture

#!/usr/bin/env bash
# Every test, against the real services: formatting, lints, unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/scraperx-target}
# No incremental cache: it only helps edit-compile loops, and grows by gigabytes per run.
export CARGO_INCREMENTAL=0

scripts/services.sh up
eval "$(scripts/services.sh env)"
SCRX_SCRATCH=${SCRX_SCRATCH:-/tmp/scraperx}
# The operator's end-to-end tests run against a real kube-apiserver and etcd.
e2e/control-plane.sh up
eval "$(e2e/control-plane.sh env)"
# The API's fuzz test (api/tests/fuzz.rs) runs schemathesis, from PyPI, pinned.
echo "== schemathesis: $(scripts/lib/schemathesis.sh)"
# The stealth tests (worker/tests/stealth.rs) serve BotD and FingerprintJS, from npm, pinned.
echo "== detectors: $(scripts/lib/detectors.sh)"
# The Firecrawl compatibility tests (api/tests/firecrawl.rs) run Firecrawl's official SDKs:
# firecrawl-py (PyPI) and @mendable/firecrawl-js (npm, from api/tests/firecrawl/package-lock.json).
echo "== firecrawl SDKs: $(scripts/lib/firecrawl-sdks.sh | tr '\n' ' ')"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary, the doc-tests last).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
[ "$status" = 0 ] || exit "$status"

# The Redis tests again, on the 3-master cluster (seed 001 §4.1): the same test code, since
# every test reads its Redis with RedisConfig::from_env. Tests on private servers (outages,
# the drill) and those without Redis are not repeated.
echo "== the Redis tests again, on the Redis Cluster"
cluster_log=$(mktemp)
trap 'rm -f "$log" "$cluster_log"' EXIT
set +e
(
  export REDIS_URL=$SCRX_REDIS_CLUSTER_URL SCRX_REDIS_CLUSTER=true
  cargo test --locked -p scraperx-core --test hot --test queue --test sweep --test crawls &&
  cargo test --locked -p scraperx-api --test api --test account --test actions --test crawls \
    --test crawl_restart --test firecrawl --test hostile_input --test scrape --test security &&
  cargo test --locked -p scraperx-worker --test worker --test engines --test fairness \
    --test crawl --test webhooks --test politeness --test process --test batch_cancel \
    --test content &&
  cargo test --locked -p scraperx-operator --test controllers
) 2>&1 | tee "$cluster_log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "on the cluster: %d passed, %d failed\n", p, f }' "$cluster_log"
[ "$status" = 0 ] || exit "$status"

# The main job itself, on ports and a state folder of its own (below the kernel's ephemeral
# range, 32768 and up, so a test's outgoing connection cannot hold one of them): the whole platform comes up,
# scrapes through the API and runs a ScrapeBatch through kubectl, then stops.
echo "== scripts/run.sh --check --dev"
SCRX_RUN_DIR="$SCRX_SCRATCH/run-check" SCRX_RUN_API_PORT=28180 SCRX_RUN_OPERATOR_PORT=28181 \
  SCRX_RUN_HTTP_WORKER_PORT=28182 SCRX_RUN_BROWSER_WORKER_PORT=28183 SCRX_RUN_DEMO_PORT=28190 \
  scripts/run.sh --check --dev

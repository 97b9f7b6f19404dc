#!/usr/bin/env bash
# The chart on a real Kubernetes node, end to end (its own command: it builds release images
# and a cluster, which the 90-minute CI run has no room for; see the README):
#
#   e2e/node-e2e.sh [--pages N] [--delay SECONDS] [--profile release|dev] [--engine http|browser] [--keep]
#
# 1. PostgreSQL, Redis and MinIO run on this machine (scripts/services.sh); the node
#    (e2e/node.sh) reaches them through forwarders on its own address.
# 2. The images are built (scripts/images.sh) and imported into the node's containerd, and the
#    chart is installed with helm: CRDs, the migration Job, the API, the operator, and one
#    WorkerPool at 0 replicas (http workers, or with --engine browser Chromium's, sandboxed).
# 3. A site served by this script on the node's address answers N pages, each after a delay,
#    and a ScrapeBatch of them is applied with kubectl.
# 4. It watches the operator scale the pool up from 0, the batch reach Succeeded, the queue
#    empty and the pool scale back to 0 while its pods drain; then checks in PostgreSQL that
#    every job completed once and was charged once, and prints the two times asked of it:
#    batch applied -> first worker pod Ready, and queue empty -> zero worker pods.
#
# --keep leaves the release and the node running (e2e/node.sh down stops the node).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRX_SCRATCH=${SCRX_SCRATCH:-/tmp/scraperx}
WORK="$SCRX_SCRATCH/node-e2e"
PAGES=40
DELAY=1.5
KEEP=0
PROFILE=release
ENGINE=http
while [ $# -gt 0 ]; do
  case "$1" in
    --pages) PAGES=$2; shift 2 ;;
    --delay) DELAY=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --profile) PROFILE=$2; shift 2 ;;
    --engine) ENGINE=$2; shift 2 ;;
    *) echo "usage: $0 [--pages N] [--delay SECONDS] [--profile release|dev] [--engine http|browser] [--keep]" >&2; exit 2 ;;
  esac
done
NS=scraperx
RELEASE=scrx
TAG=e2e
SITE_PORT=38080
POOL=$ENGINE

log() { printf '[node-e2e] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

mkdir -p "$WORK"
"$ROOT/scripts/services.sh" up
eval "$("$ROOT/scripts/services.sh" env)"
"$ROOT/e2e/node.sh" up
eval "$("$ROOT/e2e/node.sh" env)"
kubectl() { "$SCRX_KUBECTL" "$@"; }
helm() { "$SCRX_HELM" "$@"; }
psql_() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# shellcheck source=e2e/lib/node-e2e-parts.sh
. "$ROOT/e2e/lib/node-e2e-parts.sh"

BACKGROUND=()
cleanup() {
  local pid
  for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "$KEEP" = 0 ]; then
    helm uninstall "$RELEASE" -n "$NS" --wait --timeout 2m >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

t=$(now_ms); "$ROOT/scripts/images.sh" --profile "$PROFILE" --tag "$TAG" --import "$SCRX_NODE_CONTAINERD"
log "images built and imported in $(secs_since "$t") s"
forward_services
serve_site
t=$(now_ms); install_chart; log "chart installed and API and operator Ready in $(secs_since "$t") s"
organization_key
balance_before=$(psql_ -c "SELECT credits_balance FROM organizations WHERE id = '$ORG'")
run_batch
check_ledger "$balance_before"
report

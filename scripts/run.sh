#!/usr/bin/env bash
# The main job: the whole platform on this machine, in the foreground.
#
#   ./scripts/run.sh [--no-k8s] [--demo-slug SLUG]
#
# Installs and starts what is missing (PostgreSQL, Redis, MinIO, Chromium; the local
# Kubernetes control plane), builds the binaries, applies the schema and buckets, starts the
# API, an http worker, a browser-and-stealth worker and the operator, then proves it works:
# it serves a small demo site, scrapes a page of it through the API and runs a ScrapeBatch of
# it through kubectl. Ctrl-C (or SIGTERM) stops everything this run started, workers first so
# they drain. Running it again starts only what is missing.
#
#   --no-k8s          no control plane and no operator (the REST API and workers only)
#   --demo-slug SLUG  the demo organization (default: demo)
#   --check           stop after the self-check, with its status (scripts/test.sh uses it)
#   --dev             build and run the dev profile instead of release (faster to build)
#
# Ports (environment): SCRX_RUN_API_PORT (58080), SCRX_RUN_OPERATOR_PORT (58081),
# SCRX_RUN_HTTP_WORKER_PORT (58082), SCRX_RUN_BROWSER_WORKER_PORT (58083),
# SCRX_RUN_DEMO_PORT (58090). Logs and state: SCRX_RUN_DIR (default /tmp/scraperx/run).
# Secrets at rest are sealed with SCRX_SECRETS_KEY when set, else with a key made on the
# first run and kept in the state folder ($SCRX_RUN_DIR/secrets.key).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/scraperx-target}
export SCRX_SCRATCH=${SCRX_SCRATCH:-/tmp/scraperx}
RUN=${SCRX_RUN_DIR:-$SCRX_SCRATCH/run}
LOGS="$RUN/logs"
API_PORT=${SCRX_RUN_API_PORT:-58080}
OPERATOR_PORT=${SCRX_RUN_OPERATOR_PORT:-58081}
HTTP_WORKER_PORT=${SCRX_RUN_HTTP_WORKER_PORT:-58082}
BROWSER_WORKER_PORT=${SCRX_RUN_BROWSER_WORKER_PORT:-58083}
DEMO_PORT=${SCRX_RUN_DEMO_PORT:-58090}
API="http://127.0.0.1:$API_PORT"
DEMO="http://127.0.0.1:$DEMO_PORT"
K8S=1
SLUG=demo
CHECK_ONLY=0
PROFILE=release

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --no-k8s) K8S=0 ;;
    --demo-slug) SLUG=${2:?--demo-slug needs a value}; shift ;;
    --check) CHECK_ONLY=1 ;;
    --dev) PROFILE=dev ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

mkdir -p "$LOGS"
# shellcheck source=scripts/lib/run-steps.sh
. "$ROOT/scripts/lib/run-steps.sh"
# shellcheck source=scripts/lib/run-procs.sh
. "$ROOT/scripts/lib/run-procs.sh"
# shellcheck source=scripts/lib/run-demo.sh
. "$ROOT/scripts/lib/run-demo.sh"

trap 'on_exit' EXIT
trap 'echo; note "stopping"; exit 130' INT
trap 'note "stopping"; exit 143' TERM

T0=$(now_ms)
step "services (PostgreSQL, Redis, MinIO, Chromium)" start_services
eval "$(scripts/services.sh env)"
if [ "$K8S" = 1 ]; then
  step "Kubernetes control plane (etcd, kube-apiserver)" start_control_plane
  eval "$(e2e/control-plane.sh env)"
fi
step "build (cargo build --profile $PROFILE)" build_binaries
BIN="$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo release)"
step "schema and buckets (scraperx-api migrate)" "$BIN/scraperx-api" migrate
ensure_secrets_key
step "API on $API" start_api
step "demo organization and key" demo_key
step "http worker" start_worker http "http" "$HTTP_WORKER_PORT"
step "browser and stealth worker" start_worker browser "browser,stealth" "$BROWSER_WORKER_PORT"
if [ "$K8S" = 1 ]; then
  step "CRDs" kubectl apply --server-side --force-conflicts -f "$ROOT/crds/scraperx.yaml" -o name
  step "operator" start_operator
fi
step "demo site on $DEMO" start_demo_site
note "platform up in $(( ($(now_ms) - T0) / 1000 )) s"
banner
step "self-check: scrape through the API" check_scrape
if [ "$K8S" = 1 ]; then
  step "self-check: a ScrapeBatch through kubectl" check_batch
fi
[ "$CHECK_ONLY" = 1 ] && { note "self-check passed; stopping"; exit 0; }
note "serving; Ctrl-C stops what this run started (logs: $LOGS)"
wait_forever

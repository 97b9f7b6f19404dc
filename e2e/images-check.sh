#!/usr/bin/env bash
# Tests the three images scripts/images.sh built, from their archives, in a private containerd
# (no Docker): each image starts, as its own user (10001) and without privileges, and answers.
#
#   e2e/images-check.sh [--tag TAG] [--registry PREFIX] [--out DIR] [--strict]
#   scripts/images.sh --check      (builds the images first, then runs this)
#
# What it does, each step timed:
#   1. starts a containerd of its own (config, root, state and socket under
#      $SCRX_SCRATCH/images-containerd, runc runtime) and imports the archives (their full
#      names must survive the import);
#   2. each image's `--help`, through its own entrypoint: exit 0, and its commands named;
#   3. Chromium in the worker image renders "Hello 你好 こんにちは 😀" to a PNG as uid 10001
#      with its sandbox on (no --no-sandbox): the PNG must hold dark text pixels in the Latin
#      and CJK rows and colour pixels in the emoji row (kept for a look in
#      $SCRX_SCRATCH/images-containerd/render/), fontconfig must list fonts holding each
#      script's characters, and while Chromium shows the page its renderers must run in a PID
#      namespace of their own under seccomp-bpf. Under ctr's defaults (no seccomp profile),
#      then under the chart's pod security (containerd's default seccomp profile, which is
#      RuntimeDefault, every capability dropped, read-only root, a tmpfs at /tmp): there the
#      sandbox cannot start, since that profile refuses unshare(CLONE_NEWUSER) to a process
#      without CAP_SYS_ADMIN (shown with `unshare --user`); reported as a warning (--strict:
#      a failure);
#   4. the real services (scripts/services.sh up; a database of its own, scraperx_images) and
#      a private control plane (e2e/control-plane.sh with its own ports and scratch dir, so the
#      operator reconciles nobody else's objects) with the CRDs; `scraperx-api migrate`, then
#      each serve command (api serve, worker run, operator run) detached on its own port until
#      /healthz (and /readyz of the API and operator) answers 200, and the operator takes its
#      maintenance Lease; the API and operator run under the chart's pod security, the worker
#      under the same without the seccomp profile;
#   5. one browser job end to end: `scraperx-api bootstrap` makes a key, the API image takes a
#      scrape with engine browser and a screenshot of the page served on loopback, and the
#      worker image's Chromium renders it;
#   6. a summary line per image; the containerd, its containers and the control plane are
#      stopped on exit (the shared services are left running, as scripts/services.sh leaves
#      them).
# Needs root (containerd). Exit status 0 only when every check passed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRX_SCRATCH=${SCRX_SCRATCH:-/tmp/scraperx}
OUT=${SCRX_IMAGES_DIR:-$HOME/.cache/scraperx-images}
TAG=dev
REGISTRY=localhost/scraperx
TARGETS=(api worker operator)
CHECK_DIR="$SCRX_SCRATCH/images-containerd"
SOCK="$CHECK_DIR/containerd.sock"
NS=scraperx-check
API_PORT=${SCRX_IMAGES_API_PORT:-58180}
OPERATOR_PORT=${SCRX_IMAGES_OPERATOR_PORT:-58181}
WORKER_PORT=${SCRX_IMAGES_WORKER_PORT:-58182}
PAGE_PORT=${SCRX_IMAGES_PAGE_PORT:-58190}
DB_NAME=scraperx_images
K8S_SCRATCH="$CHECK_DIR/k8s-scratch"
K8S_PORTS=(SCRX_ETCD_PORT=52479 SCRX_ETCD_PEER_PORT=52480 SCRX_APISERVER_PORT=56543)
declare -A SIZE HELP HEALTH
FAILED=()
WARNED=()
STRICT=0
TIMES=()
PAGE_PID=""

log() { printf '[images-check] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
fail() { log "FAIL: $*"; FAILED+=("$*"); }

# shellcheck source=scripts/lib/common.sh
. "$REPO/scripts/lib/common.sh"

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) TAG=${2:?}; shift 2 ;;
      --registry) REGISTRY=${2:?}; shift 2 ;;
      --out) OUT=${2:?}; shift 2 ;;
      --strict) STRICT=1; shift ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [ "$(id -u)" = 0 ] || die "run as root (containerd)"
  local t
  for t in "${TARGETS[@]}"; do
    [ -f "$(archive_path "$t")" ] || die "no $(archive_path "$t"); run scripts/images.sh first"
  done
}

image_name() { echo "$REGISTRY/scraperx-$1:$TAG"; }
archive_path() { echo "$OUT/archives/scraperx-$1-$TAG.tar"; }
ctr_() { ctr -a "$SOCK" -n "$NS" "$@"; }

# --- containerd --------------------------------------------------------------------------------

write_containerd_config() {
  cat >"$CHECK_DIR/config.toml" <<TOML
version = 2
root = "$CHECK_DIR/root"
state = "$CHECK_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CHECK_DIR/opt"
[plugins."io.containerd.runtime.v2.task"]
  platforms = ["linux/amd64"]
TOML
}

start_containerd() {
  mkdir -p "$CHECK_DIR/logs" "$CHECK_DIR/render"
  write_containerd_config
  if [ -f "$CHECK_DIR/containerd.pid" ] && kill -0 "$(cat "$CHECK_DIR/containerd.pid")" 2>/dev/null; then
    log "a containerd of this check is still running; stopping it first"
    stop_containerd
  fi
  log "starting containerd (socket $SOCK, log $CHECK_DIR/logs/containerd.log)"
  nohup containerd --config "$CHECK_DIR/config.toml" >"$CHECK_DIR/logs/containerd.log" 2>&1 &
  echo $! >"$CHECK_DIR/containerd.pid"
  for _ in $(seq 1 100); do ctr -a "$SOCK" version >/dev/null 2>&1 && return; sleep 0.1; done
  tail -n 20 "$CHECK_DIR/logs/containerd.log" >&2
  die "containerd did not come up"
}

# Every container of the check's namespace, then containerd itself.
stop_containerd() {
  local pid id
  if ctr -a "$SOCK" version >/dev/null 2>&1; then
    for id in $(ctr_ containers ls -q 2>/dev/null); do
      ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
      ctr_ task delete -f "$id" >/dev/null 2>&1 || true
      ctr_ containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  [ -f "$CHECK_DIR/containerd.pid" ] || return 0
  pid=$(cat "$CHECK_DIR/containerd.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$CHECK_DIR/containerd.pid" "$SOCK" "$SOCK.ttrpc"
  log "containerd stopped"
}

# The archives, imported; each must come back under its full name.
import_archives() {
  local t name have
  # What an earlier check imported goes (its content is collected with it).
  ctr_ images ls -q | xargs -r ctr -a "$SOCK" -n "$NS" images rm >/dev/null
  for t in "${TARGETS[@]}"; do
    name=$(image_name "$t")
    ctr_ images import "$(archive_path "$t")" >/dev/null
    have=$(ctr_ images ls -q)
    if grep -qx "$name" <<<"$have"; then
      SIZE[$t]=$(ctr_ images ls | awk -v n="$name" '$1 == n { print $4, $5 }')
      log "imported $name (${SIZE[$t]})"
    else
      fail "$t: $name not found after import (ctr has: $(tr '\n' ' ' <<<"$have"))"
    fi
  done
}

# ENTRY: the image's entrypoint, one word a line, read from the archive's own config.
entrypoint_of() {
  python3 - "$(archive_path "$1")" <<'PY'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    manifest = json.load(tar.extractfile("manifest.json"))[0]
    config = json.load(tar.extractfile(manifest["Config"]))["config"]
print("\n".join(config.get("Entrypoint") or []))
PY
}

# RUN_OPTS (extra ctr run options) apply to the next run_fg/run_bg.
RUN_OPTS=()
# The chart's pod security, as ctr options: containerd's default seccomp profile (what
# RuntimeDefault is), every capability dropped (ctr 1.6 drops them by name only; no new
# privileges is ctr's default), a read-only root and an emptyDir-like tmpfs at /tmp.
# NO_SECCOMP is the same without the seccomp profile.
NO_SECCOMP=(--read-only --mount "type=tmpfs,src=tmpfs,dst=/tmp,options=nosuid:nodev:mode=1777")
for cap in CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP \
           NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE; do
  NO_SECCOMP+=(--cap-drop "CAP_$cap")
done
POD_SECURITY=(--seccomp "${NO_SECCOMP[@]}")

# run_fg T ID ARGS...: the image's entrypoint with ARGS, in the foreground, removed after.
run_fg() {
  local t=$1 id=$2 entry
  shift 2
  mapfile -t entry < <(entrypoint_of "$t")
  ctr_ run --rm --net-host "${RUN_OPTS[@]}" "$(image_name "$t")" "$id" "${entry[@]}" "$@"
}

# run_bg T ID ARGS...: the same, detached, its output in $CHECK_DIR/logs/ID.log.
run_bg() {
  local t=$1 id=$2 entry
  shift 2
  mapfile -t entry < <(entrypoint_of "$t")
  ctr_ run -d --net-host --log-uri "file://$CHECK_DIR/logs/$id.log" "${RUN_OPTS[@]}" \
    "$(image_name "$t")" "$id" "${entry[@]}" "$@" >/dev/null
}

stop_bg() {
  ctr_ task kill -s SIGTERM "$1" >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do
    [ "$(ctr_ task ls | awk -v id="$1" '$1 == id { print $3 }')" = RUNNING ] || break
    sleep 0.2
  done
  ctr_ task delete -f "$1" >/dev/null 2>&1 || true
  ctr_ containers delete "$1" >/dev/null 2>&1 || true
}

# --- --help ------------------------------------------------------------------------------------

check_help() {
  local t=$1 out commands
  case "$t" in
    api) commands="serve migrate bootstrap" ;;
    worker) commands="run check" ;;
    operator) commands="run maintenance backup restore" ;;
  esac
  RUN_OPTS=()
  if ! out=$(run_fg "$t" "help-$t" --help 2>&1); then
    fail "$t --help exited non-zero: $(echo "$out" | tail -n 3)"
    return 1
  fi
  local c
  for c in $commands; do
    grep -qE "^  $c( |$)" <<<"$out" || { fail "$t --help does not name $c"; return 1; }
  done
  log "$t --help: exit 0, names: $commands"
}

# --- Chromium in the worker image ----------------------------------------------------------------

write_page() {
  cat >"$CHECK_DIR/render/page.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><style>
  body { margin: 0; background: #fff; color: #000; font: 56px/100px sans-serif; }
  div { height: 100px; white-space: nowrap; padding-left: 20px; }
</style></head><body>
<div>Hello</div><div>你好 こんにちは</div><div>😀</div><div>Hello 你好 こんにちは 😀</div>
</body></html>
HTML
  chown -R 10001:10001 "$CHECK_DIR/render"
}

# png_bands FILE: for each 100-pixel row band, its dark pixels and colourful pixels.
png_bands() {
  python3 - "$1" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and not interlace, (depth, ctype, interlace)
bpp = 4 if ctype == 6 else 3
raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
for top in range(0, min(h, 400), 100):
    dark = colour = 0
    for line in rows[top:top + 100]:
        for x in range(0, stride, bpp):
            r, g, b = line[x], line[x + 1], line[x + 2]
            dark += max(r, g, b) < 100
            colour += max(r, g, b) - min(r, g, b) > 80
    print(dark, colour)
PY
}

# fontconfig in the image must give sans-serif text of each script a font that has its
# characters (what Chromium asks fontconfig for).
check_fonts() {
  local chars family
  for chars in "Latin:48 65 6c 6f" "Chinese:4f60 597d" "Japanese:3053 3093 306b 3061 306f" "emoji:1f600"; do
    # fc-list names only fonts that hold every one of the characters.
    family=$(run_raw worker "fonts-$$" fc-list ":charset=${chars#*:}" family 2>&1 | sort | paste -sd '|') || true
    [ -n "$family" ] || { fail "worker: no font for ${chars%%:*}"; return 1; }
    log "  ${chars%%:*}: sans-serif is $(run_raw worker "fonts-$$" fc-match "sans-serif:charset=${chars#*:}" family); fonts with it: ${family//|/, }"
  done
  log "  Arial is $(run_raw worker "fonts-$$" fc-match Arial family), Times New Roman $(run_raw worker "fonts-$$" fc-match 'Times New Roman' family)"
}

# run_raw T ID COMMAND...: a command of the image other than its entrypoint (RUN_OPTS apply).
run_raw() {
  local t=$1 id=$2
  shift 2
  ctr_ run --rm --net-host "${RUN_OPTS[@]}" "$(image_name "$t")" "$id" "$@"
}

# Chromium's processes while it shows the page: the sandboxed ones are in a PID namespace of
# their own (two NSpid levels) under a seccomp-bpf filter (Seccomp: 2).
SANDBOX_PROBE='
/usr/bin/chromium --headless=new --disable-gpu --remote-debugging-port=0 file:///render/page.html 2>/tmp/chromium.err &
pid=$!
sleep 5
for s in /proc/[0-9]*/status; do
  type=$(grep -a -o -- "--type=[a-z-]*" "${s%/status}/cmdline" 2>/dev/null | head -n 1)
  [ -n "$type" ] || continue
  printf "%s uid=%s nspid=[%s] seccomp=%s\n" "$type" "$(awk "/^Uid:/ {print \$2}" "$s")" \
    "$(awk "/^NSpid:/ {\$1=\"\"; print substr(\$0, 2)}" "$s")" "$(awk "/^Seccomp:/ {print \$2}" "$s")"
done
kill "$pid"
grep -i -m3 sandbox /tmp/chromium.err || true'

# render LABEL: the page as a PNG and the sandbox probe, under RUN_OPTS (set by the caller).
render() {
  local label=$1 out bands sandboxed
  RUN_OPTS+=(--mount "type=bind,src=$CHECK_DIR/render,dst=/render,options=rbind:rw")
  rm -f "$CHECK_DIR/render/$label.png"
  if ! out=$(run_raw worker "render-$label-$$" /usr/bin/tini -- /usr/bin/chromium --headless=new \
      --disable-gpu --hide-scrollbars --window-size=900,400 "--screenshot=/render/$label.png" \
      file:///render/page.html 2>&1) || [ ! -s "$CHECK_DIR/render/$label.png" ]; then
    echo "$out" >"$CHECK_DIR/logs/render-$label.log"
    fail "worker Chromium ($label): no screenshot; $(grep -m 3 -iE 'sandbox|fatal|denied|operation not permitted' <<<"$out" | tr '\n' ' ')"
    return 1
  fi
  mapfile -t bands < <(png_bands "$CHECK_DIR/render/$label.png")
  log "  $label: $CHECK_DIR/render/$label.png; per row (dark, colour pixels): ${bands[*]/#/[}"
  [ "${bands[0]%% *}" -gt 500 ] || fail "worker Chromium ($label): no Latin text pixels (${bands[0]})"
  [ "${bands[1]%% *}" -gt 1500 ] || fail "worker Chromium ($label): no CJK text pixels (${bands[1]})"
  [ "${bands[2]##* }" -gt 500 ] || fail "worker Chromium ($label): no colour emoji pixels (${bands[2]})"
  out=$(run_raw worker "probe-$label-$$" /usr/bin/tini -- /bin/sh -c "$SANDBOX_PROBE" 2>&1) || true
  echo "$out" >"$CHECK_DIR/logs/sandbox-$label.log"
  sed 's/^/    /' <<<"$out" | head -n 8 >&2
  sandboxed=$(grep -cE -- '--type=renderer .*nspid=\[[0-9]+( [0-9]+)+\] seccomp=2' <<<"$out" || true)
  [ "$sandboxed" -gt 0 ] || { fail "worker Chromium ($label): no renderer in its own PID namespace under seccomp-bpf"; return 1; }
  log "  $label: $sandboxed sandboxed renderer(s): own PID namespace, seccomp-bpf"
}

# As ctr runs a container by default (no seccomp profile), then as the chart's pods run.
check_chromium() {
  write_page
  RUN_OPTS=()
  check_fonts || true
  RUN_OPTS=()
  render ctr-defaults || true
  # Under the chart's profile Chromium's sandbox cannot start (check_seccomp shows why); a
  # finding about the pod's profile, not the image, so a warning: --strict makes it a failure.
  RUN_OPTS=("${POD_SECURITY[@]}")
  local before=${#FAILED[@]}
  render pod-security || true
  if [ "$STRICT" = 0 ] && [ ${#FAILED[@]} -gt "$before" ]; then
    WARNED+=("${FAILED[@]:$before}")
    FAILED=("${FAILED[@]:0:$before}")
  fi
}

# --- the serve commands against the real services ------------------------------------------------

# The shared services (left running), a database of this check's own, and a private control
# plane (stopped on exit) whose kubeconfig the operator's container reads.
start_dependencies() {
  "$REPO/scripts/services.sh" up
  eval "$("$REPO/scripts/services.sh" env)"
  DB_URL="${DATABASE_URL%/*}/$DB_NAME"
  local psql=${PG_BIN:-/usr/lib/postgresql/15/bin}/psql
  "$psql" "${DATABASE_URL%/*}/postgres" -v ON_ERROR_STOP=1 -q \
    -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME"
  log "database $DB_NAME created afresh"
  env SCRX_SCRATCH="$K8S_SCRATCH" "${K8S_PORTS[@]}" "$REPO/e2e/control-plane.sh" up
  mkdir -p "$CHECK_DIR/kube"
  install -m 0400 -o 10001 -g 10001 "$K8S_SCRATCH/k8s/kubeconfig" "$CHECK_DIR/kube/kubeconfig"
}

stop_control_plane() {
  [ -d "$K8S_SCRATCH/k8s" ] || return 0
  env SCRX_SCRATCH="$K8S_SCRATCH" "${K8S_PORTS[@]}" "$REPO/e2e/control-plane.sh" down || true
}

# The environment of each component, as an env file (only its own role's MinIO keys).
write_env_files() {
  mkdir -p "$CHECK_DIR/env"
  local common="DATABASE_URL=$DB_URL
REDIS_URL=$REDIS_URL
S3_ENDPOINT=$S3_ENDPOINT
SCRX_QUEUE_NAMESPACE=images-check
SCRX_ALLOW_PRIVATE_TARGETS=true
SCRX_LOG_FORMAT=json"
  umask 077
  printf '%s\nS3_API_ACCESS_KEY=%s\nS3_API_SECRET_KEY=%s\nS3_ADMIN_ACCESS_KEY=%s\nS3_ADMIN_SECRET_KEY=%s\nSCRX_API_ADDR=127.0.0.1:%s\n' \
    "$common" "$S3_API_ACCESS_KEY" "$S3_API_SECRET_KEY" "$S3_ADMIN_ACCESS_KEY" "$S3_ADMIN_SECRET_KEY" \
    "$API_PORT" >"$CHECK_DIR/env/api.env"
  printf '%s\nS3_WORKER_ACCESS_KEY=%s\nS3_WORKER_SECRET_KEY=%s\nSCRX_WORKER_ADDR=127.0.0.1:%s\nSCRX_WORKER_ENGINES=http,browser\nSCRX_WORKER_CONCURRENCY=2\nSCRX_BROWSER_CONTEXTS=1\n' \
    "$common" "$S3_WORKER_ACCESS_KEY" "$S3_WORKER_SECRET_KEY" "$WORKER_PORT" >"$CHECK_DIR/env/worker.env"
  printf '%s\nS3_ADMIN_ACCESS_KEY=%s\nS3_ADMIN_SECRET_KEY=%s\nSCRX_OPERATOR_ADDR=127.0.0.1:%s\nKUBECONFIG=/etc/scraperx/kubeconfig\nPOD_NAMESPACE=default\n' \
    "$common" "$S3_ADMIN_ACCESS_KEY" "$S3_ADMIN_SECRET_KEY" "$OPERATOR_PORT" >"$CHECK_DIR/env/operator.env"
  umask 022
}

# wait_200 URL SECONDS: until URL answers 200.
wait_200() {
  local i
  for i in $(seq 1 $(($2 * 5))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}

# serve T ID PORT PATHS ARGS...: starts the image detached with ARGS and waits for each path.
serve() {
  local t=$1 id=$2 port=$3 paths=$4 path got=()
  shift 4
  run_bg "$t" "$id" "$@" || { fail "$t: ctr run failed"; return 1; }
  for path in $paths; do
    if wait_200 "http://127.0.0.1:$port$path" 60; then
      got+=("$path 200")
    else
      fail "$t: $path did not answer 200 within 60 s; its log: $(tail -n 3 "$CHECK_DIR/logs/$id.log" | cut -c1-300)"
      HEALTH[$t]="FAIL (${got[*]:-} $path no)"
      return 1
    fi
  done
  HEALTH[$t]="ok (${got[*]})"
  log "$t: ${HEALTH[$t]} on 127.0.0.1:$port"
}

check_api() {
  RUN_OPTS=("${POD_SECURITY[@]}" --env-file "$CHECK_DIR/env/api.env")
  local out
  out=$(run_fg api "migrate-$$" migrate 2>&1) || { fail "api migrate: $(tail -n 3 <<<"$out")"; return 1; }
  log "api migrate: ok (schema and buckets)"
  serve api api-serve "$API_PORT" "/healthz /readyz" serve
}

# kube_api METHOD PATH [JSON]: the private control plane's API, as its admin.
kube_api() {
  local server token
  server=$(awk '/server:/ { print $2 }' "$CHECK_DIR/kube/kubeconfig")
  token=$(awk '/token:/ { print $2 }' "$CHECK_DIR/kube/kubeconfig")
  curl -sSk -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data-binary "$3"} "$server$2"
}

# The CRDs (crds/scraperx.yaml) on the private control plane, as the chart installs them.
apply_crds() {
  local crd
  while IFS= read -r crd; do
    kube_api POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions "$crd" \
      | jq -r '"  CRD " + (.metadata.name // .message)' >&2
  done < <(python3 -c 'import json, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d: print(json.dumps(d))' "$REPO/crds/scraperx.yaml")
}

# The operator answers its health endpoints and, as the only replica, takes the maintenance
# Lease on the control plane.
check_operator() {
  apply_crds
  RUN_OPTS=("${POD_SECURITY[@]}" --env-file "$CHECK_DIR/env/operator.env"
    --mount "type=bind,src=$CHECK_DIR/kube/kubeconfig,dst=/etc/scraperx/kubeconfig,options=rbind:ro")
  serve operator operator-run "$OPERATOR_PORT" "/healthz /readyz" run || return 1
  local holder=""
  for _ in $(seq 1 60); do
    holder=$(kube_api GET /apis/coordination.k8s.io/v1/namespaces/default/leases/scraperx-operator-maintenance \
      | jq -r '.spec.holderIdentity // empty')
    [ -n "$holder" ] && break
    sleep 0.5
  done
  if [ -z "$holder" ]; then
    fail "operator: no holder of the Lease scraperx-operator-maintenance after 30 s"
    HEALTH[operator]="${HEALTH[operator]}, Lease not taken"
    return 1
  fi
  HEALTH[operator]="${HEALTH[operator]%)}, Lease held)"
  log "operator: holds the Lease scraperx-operator-maintenance ($holder)"
}

# The worker runs as the chart's pods do but without the seccomp profile, which stops
# Chromium's sandbox (see check_chromium and check_seccomp).
check_worker() {
  RUN_OPTS=("${NO_SECCOMP[@]}" --env-file "$CHECK_DIR/env/worker.env")
  serve worker worker-run "$WORKER_PORT" "/healthz" run
}

# Why the sandbox fails under the chart's profile: the user namespace it starts with.
check_seccomp() {
  local t out
  for t in NO_SECCOMP POD_SECURITY; do
    local -n opts=$t
    RUN_OPTS=("${opts[@]}")
    out=$(run_raw worker "userns-$t-$$" unshare --user id -u 2>&1) || true
    log "  unshare --user as uid 10001, $t: $out"
  done
}

# One browser job through both images: a key from `bootstrap`, a scrape with a screenshot of
# the page served on loopback, run by the worker's Chromium.
check_browser_job() {
  local key resp status shot
  RUN_OPTS=("${POD_SECURITY[@]}" --env-file "$CHECK_DIR/env/api.env")
  key=$(run_fg api "bootstrap-$$" bootstrap images-check 2>/dev/null | awk '/^api key:/ { print $3 }')
  [ -n "$key" ] || { fail "api bootstrap printed no key"; return 1; }
  python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$CHECK_DIR/render" \
    >"$CHECK_DIR/logs/page-server.log" 2>&1 &
  PAGE_PID=$!
  wait_200 "http://127.0.0.1:$PAGE_PORT/page.html" 10 || { fail "page server did not start"; return 1; }
  resp=$(curl -sS --max-time 120 "http://127.0.0.1:$API_PORT/v1/scrape" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://127.0.0.1:$PAGE_PORT/page.html\", \"engine\": \"browser\", \"screenshot\": true}")
  status=$(jq -r '.status // empty' <<<"$resp")
  shot=$(jq -r '.screenshot_url // empty' <<<"$resp")
  if [ "$status" != completed ] || [ -z "$shot" ]; then
    fail "browser job: status ${status:-none}: $(cut -c1-300 <<<"$resp")"
    return 1
  fi
  curl -fsS --max-time 30 -o "$CHECK_DIR/render/browser-job.png" "$shot" \
    || { fail "browser job: screenshot_url did not answer"; return 1; }
  log "browser job: completed by the worker image's Chromium; screenshot $(du -h "$CHECK_DIR/render/browser-job.png" | cut -f1) at $CHECK_DIR/render/browser-job.png"
}

# --- summary and main ----------------------------------------------------------------------------

summary() {
  local t
  log "summary:"
  for t in "${TARGETS[@]}"; do
    printf '  %-44s %10s  --help %-4s  health %s\n' "$(image_name "$t")" "${SIZE[$t]:-?}" \
      "${HELP[$t]:-?}" "${HEALTH[$t]:-not run}" >&2
  done
  log "timings:"
  printf '  %s\n' "${TIMES[@]}" >&2
  if [ ${#WARNED[@]} -gt 0 ]; then
    log "${#WARNED[@]} warning(s) (failures with --strict):"
    printf '  - %s\n' "${WARNED[@]}" >&2
  fi
  if [ ${#FAILED[@]} -gt 0 ]; then
    log "${#FAILED[@]} check(s) failed:"
    printf '  - %s\n' "${FAILED[@]}" >&2
    return 1
  fi
  log "every check passed"
}

cleanup() {
  [ -z "$PAGE_PID" ] || kill "$PAGE_PID" 2>/dev/null || true
  stop_containerd
  stop_control_plane
}

main() {
  parse_args "$@"
  trap cleanup EXIT
  timed "containerd" start_containerd
  timed "import" import_archives
  local t
  for t in "${TARGETS[@]}"; do
    if timed "--help $t" check_help "$t"; then HELP[$t]=ok; else HELP[$t]=FAIL; fi
  done
  timed "Chromium in the worker image" check_chromium
  check_seccomp
  timed "services and control plane" start_dependencies
  write_env_files
  timed "api: migrate, serve" check_api || true
  timed "worker: run" check_worker || true
  timed "operator: run" check_operator || true
  if [ "${HEALTH[api]:-}" != "${HEALTH[api]#ok}" ] && [ "${HEALTH[worker]:-}" != "${HEALTH[worker]#ok}" ]; then
    timed "browser job through api and worker" check_browser_job || true
  fi
  summary
}

# Sourced, it only defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi

# Steps of scripts/run.sh: one line per step with its duration; builds show their progress.
# Sourced by run.sh (which sets ROOT, RUN, LOGS, K8S).

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
note() { printf '    %s\n' "$*"; }

# step NAME COMMAND...: runs COMMAND in this shell (so it may set variables), then prints
# how long it took; a failure stops run.sh with the step's name.
step() {
  local name=$1; shift
  local t0; t0=$(now_ms)
  printf '==> %s\n' "$name"
  if ! "$@"; then
    printf '!!  %s failed after %.1f s\n' "$name" "$(( $(now_ms) - t0 ))e-3"
    exit 1
  fi
  local ms=$(( $(now_ms) - t0 ))
  printf '    done in %d.%01d s\n' $(( ms / 1000 )) $(( ms % 1000 / 100 ))
}

# What was running before this run, so Ctrl-C stops only what this run started.
SERVICES_BEFORE=""
PLANE_WAS_UP=0

start_services() {
  SERVICES_BEFORE=$("$ROOT/scripts/services.sh" status 2>/dev/null | awk -F: '/: up/ { print $1 }' | tr '\n' ' ')
  SCRX_GO_VERBOSE=1 "$ROOT/scripts/services.sh" up
}

start_control_plane() {
  local port=${SCRX_APISERVER_PORT:-56443}
  if curl -fsk "https://127.0.0.1:$port/livez" >/dev/null 2>&1 || curl -sk -o /dev/null "https://127.0.0.1:$port/" 2>/dev/null; then
    PLANE_WAS_UP=1
  fi
  SCRX_GO_VERBOSE=1 "$ROOT/e2e/control-plane.sh" up
}

build_binaries() {
  # cargo prints its own progress; nothing is hidden.
  cargo build --locked --profile "$PROFILE" -p scraperx-api -p scraperx-worker -p scraperx-operator
}

# Stops the services and the control plane this run started (not those it found running).
stop_platform_services() {
  if [ "$K8S" = 1 ] && [ "$PLANE_WAS_UP" = 0 ]; then
    "$ROOT/e2e/control-plane.sh" down 2>&1 | sed 's/^/    /' || true
  fi
  local started=() s
  for s in postgres redis minio; do
    case " $SERVICES_BEFORE " in *" $s "*) ;; *) started+=("$s") ;; esac
  done
  if [ ${#started[@]} -gt 0 ]; then
    "$ROOT/scripts/services.sh" down "${started[@]}" 2>&1 | sed 's/^/    /' || true
  fi
}

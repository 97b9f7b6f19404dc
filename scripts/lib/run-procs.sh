# The platform's own processes for scripts/run.sh: each in its own session (so Ctrl-C in the
# terminal reaches run.sh alone, which then stops them in order: workers first, to drain),
# with a pid file and a log under $RUN. Sourced by run.sh (which sets RUN, LOGS, BIN, ...).

STARTED=()
LOCAL_GRACE_SECS=${SCRX_RUN_WORKER_GRACE_SECS:-10}

pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
alive() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
healthy() { curl -fs -o /dev/null --max-time 2 "$1"; }

# start_proc NAME HEALTH_URL COMMAND...: starts COMMAND unless NAME is running and healthy,
# then waits (up to 60 s) for HEALTH_URL; a process that dies shows its log's tail.
start_proc() {
  local name=$1 health=$2; shift 2
  if alive "$name" && healthy "$health"; then
    note "$name already running (pid $(pid_of "$name")); left as it is"
    return 0
  fi
  if healthy "$health"; then
    note "something else answers $health; stop it or change the port (see run.sh --help)"
    return 1
  fi
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  STARTED+=("$name")
  local i
  for i in $(seq 1 300); do
    healthy "$health" && { note "$name up (pid $(pid_of "$name"), log $LOGS/$name.log)"; return 0; }
    if ! alive "$name"; then
      note "$name exited; the end of $LOGS/$name.log:"
      tail -n 20 "$LOGS/$name.log" | sed 's/^/      /'
      return 1
    fi
    sleep 0.2
  done
  note "$name did not answer $health within 60 s; see $LOGS/$name.log"
  return 1
}

# The key that seals webhook, job and proxy secrets at rest (SCRX_SECRETS_KEY): yours when
# set; otherwise one made on the first run and kept with the state (mode 600), since what the
# database holds sealed opens only with it. Exported, never on a command line.
ensure_secrets_key() {
  if [ -z "${SCRX_SECRETS_KEY:-}" ]; then
    local file="$RUN/secrets.key"
    [ -s "$file" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$file")
    SCRX_SECRETS_KEY=$(cat "$file")
  fi
  export SCRX_SECRETS_KEY
}

# The settings every local process shares: text logs (these files are read by people) and
# private targets allowed (the demo site, and anything you serve yourself, is on loopback).
local_env() {
  echo "SCRX_LOG_FORMAT=${SCRX_LOG_FORMAT:-text}" "SCRX_ALLOW_PRIVATE_TARGETS=true"
}

start_api() {
  # shellcheck disable=SC2046
  start_proc api "$API/healthz" env $(local_env) SCRX_API_ADDR="127.0.0.1:$API_PORT" \
    "$BIN/scraperx-api" serve
}

# start_worker NAME ENGINES PORT
start_worker() {
  # shellcheck disable=SC2046
  start_proc "worker-$1" "http://127.0.0.1:$3/healthz" env $(local_env) \
    SCRX_WORKER_ENGINES="$2" SCRX_WORKER_ADDR="127.0.0.1:$3" SCRX_WORKER_ID="local-$1" \
    SCRX_WORKER_GRACE_SECS="$LOCAL_GRACE_SECS" "$BIN/scraperx-worker" run
}

start_operator() {
  # shellcheck disable=SC2046
  start_proc operator "http://127.0.0.1:$OPERATOR_PORT/healthz" env $(local_env) \
    SCRX_OPERATOR_ADDR="127.0.0.1:$OPERATOR_PORT" POD_NAMESPACE=default POD_NAME=local-operator \
    "$BIN/scraperx-operator" run
}

# stop_procs NAME...: SIGTERM to each at once, then waits for all (SIGKILL past the grace).
stop_procs() {
  local name pid waited
  for name in "$@"; do
    alive "$name" && kill -TERM "$(pid_of "$name")" 2>/dev/null || true
  done
  for name in "$@"; do
    pid=$(pid_of "$name")
    [ -n "$pid" ] || continue
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt $(( (LOCAL_GRACE_SECS + 5) * 10 )) ]; do
      sleep 0.1; waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      note "$name did not stop in time: killed"
    else
      note "$name stopped"
    fi
    rm -f "$RUN/$name.pid"
  done
}

was_started() { local s; for s in "${STARTED[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# Stops what this run started: workers first (they drain their jobs), then the rest.
on_exit() {
  local status=$?
  trap - EXIT INT TERM
  [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null || true
  local workers=() others=() n
  for n in worker-browser worker-http; do was_started "$n" && workers+=("$n"); done
  for n in operator api demo-site; do was_started "$n" && others+=("$n"); done
  [ ${#workers[@]} -gt 0 ] && stop_procs "${workers[@]}"
  [ ${#others[@]} -gt 0 ] && stop_procs "${others[@]}"
  stop_platform_services
  exit "$status"
}

SLEEPER=""
wait_forever() {
  # Wakes on a signal at once (sleep in the background, wait in the foreground).
  while true; do
    sleep 3600 &
    SLEEPER=$!
    wait "$SLEEPER" || true
  done
}

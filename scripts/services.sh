#!/usr/bin/env bash
# Installs (when missing) and starts or stops the real services ScraperX runs on:
# PostgreSQL 15, PgBouncer in front of it (transaction pooling, seed 001 §8.2), Redis (one
# node, and a cluster of 3 masters and 3 replicas, seed 001 §4.1) and MinIO, all on loopback,
# with their data under one scratch dir.
#
#   scripts/services.sh up      install what is missing, start what is not running (idempotent)
#   scripts/services.sh down [postgres|pgbouncer|redis|redis-cluster|minio ...]
#                               stop everything this script started (or only those named)
#   scripts/services.sh status  show what is running
#   scripts/services.sh env     print the environment variables that point at the services
#
# Everything is configurable from the environment; defaults live here and only here.
set -euo pipefail

SCRX_SCRATCH=${SCRX_SCRATCH:-/tmp/scraperx}
SCRX_PG_PORT=${SCRX_PG_PORT:-55432}
SCRX_PGBOUNCER_PORT=${SCRX_PGBOUNCER_PORT:-56432}
SCRX_PGBOUNCER_PASSWORD=${SCRX_PGBOUNCER_PASSWORD:-scraperx-pgbouncer}
SCRX_REDIS_PORT=${SCRX_REDIS_PORT:-56379}
# The cluster's six nodes listen on this port and the five after it, their cluster bus 100
# above each (below the kernel's ephemeral range, so no outgoing connection holds one).
SCRX_REDIS_CLUSTER_PORT=${SCRX_REDIS_CLUSTER_PORT:-27001}
SCRX_MINIO_PORT=${SCRX_MINIO_PORT:-59000}
SCRX_MINIO_CONSOLE_PORT=${SCRX_MINIO_CONSOLE_PORT:-59001}
SCRX_MINIO_USER=${SCRX_MINIO_USER:-scraperx}
SCRX_MINIO_PASSWORD=${SCRX_MINIO_PASSWORD:-scraperx-secret}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
GOBIN_DIR=${GOBIN:-$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin}
MINIO_VERSION=${MINIO_VERSION:-latest}
MC_VERSION=${MC_VERSION:-latest}
SCRX_MINIO_API_SECRET=${SCRX_MINIO_API_SECRET:-scraperx-api-secret}
SCRX_MINIO_WORKER_SECRET=${SCRX_MINIO_WORKER_SECRET:-scraperx-worker-secret}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# SCRX_GO_VERBOSE=1 shows each package as go builds it (scripts/run.sh sets it).
GO_VERBOSE=$([ "${SCRX_GO_VERBOSE:-0}" = 1 ] && echo -v || true)

log() { printf '[services] %s\n' "$*" >&2; }

# shellcheck source=scripts/lib/common.sh
. "$SCRIPT_DIR/lib/common.sh"

install_postgres() {
  if [ ! -x "$PG_BIN/pg_ctl" ]; then apt_install postgresql-15 postgresql-contrib-15; fi
  if [ ! -f /usr/share/postgresql/15/extension/pgcrypto.control ]; then apt_install postgresql-contrib-15; fi
}

install_pgbouncer() {
  # Debian's 1.18: no prepared statements in transaction mode (core/src/pg/sql.rs copes).
  command -v pgbouncer >/dev/null 2>&1 || apt_install pgbouncer
  # The package may start a system instance on 6432; ScraperX runs its own, so leave that one alone.
}

install_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  # The backup commands and their restore drill: redis-cli --rdb and redis-check-rdb.
  command -v redis-check-rdb >/dev/null 2>&1 || apt_install redis-tools
  # The Debian package starts a system instance on 6379; ScraperX runs its own, so leave that one alone.
}

# The fonts the stealth engine's font profiles rename to a claimed platform's families
# (worker/src/browser/stealth/fonts.rs); the worker image in the Dockerfile installs the same.
STEALTH_FONTS="fonts-dejavu-core fonts-liberation fonts-crosextra-carlito fonts-crosextra-caladea fonts-urw-base35 fonts-noto-color-emoji fonts-noto-cjk"

install_chromium() {
  # The worker's browser and stealth engines drive it headless (chromiumoxide).
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  local pkg missing=()
  for pkg in $STEALTH_FONTS; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

minio_bin() { echo "$GOBIN_DIR/minio"; }

install_minio() {
  if [ ! -x "$(minio_bin)" ]; then
    log "building MinIO from source (go install github.com/minio/minio@$MINIO_VERSION); this takes a few minutes once"
    GOFLAGS=-mod=mod go install $GO_VERBOSE "github.com/minio/minio@$MINIO_VERSION"
  fi
}

mc_bin() { echo "$GOBIN_DIR/mc"; }

install_mc() {
  # MinIO's client, for users and policies (Debian's `mc` is Midnight Commander: use the path).
  if [ ! -x "$(mc_bin)" ]; then
    log "building the MinIO client (go install github.com/minio/mc@$MC_VERSION)"
    GOFLAGS=-mod=mod go install $GO_VERBOSE "github.com/minio/mc@$MC_VERSION"
  fi
}

pg_running() { [ -f "$SCRX_SCRATCH/pg/data/postmaster.pid" ] && su postgres -c "$PG_BIN/pg_ctl -D '$SCRX_SCRATCH/pg/data' status" >/dev/null 2>&1; }

start_postgres() {
  local dir="$SCRX_SCRATCH/pg"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initdb $dir/data"
    su postgres -c "$PG_BIN/initdb -D '$dir/data' -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8" >/dev/null
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $SCRX_PG_PORT
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
shared_preload_libraries = 'pg_stat_statements'
CONF
  fi
  if pg_running; then log "postgres already running on $SCRX_PG_PORT"; return; fi
  log "starting postgres on 127.0.0.1:$SCRX_PG_PORT"
  su postgres -c "$PG_BIN/pg_ctl -D '$dir/data' -l '$dir/postgres.log' -w -t 60 start" >/dev/null
  su postgres -c "$PG_BIN/psql -h 127.0.0.1 -p $SCRX_PG_PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='scraperx'\"" | grep -q 1 \
    || su postgres -c "$PG_BIN/createdb -h 127.0.0.1 -p $SCRX_PG_PORT -U postgres scraperx"
}

pgbouncer_running() { [ -f "$SCRX_SCRATCH/pgbouncer/pgbouncer.pid" ] && kill -0 "$(cat "$SCRX_SCRATCH/pgbouncer/pgbouncer.pid")" 2>/dev/null; }

# Seed 001 §8.2's settings, except what a loopback set-up changes (see ARCHITECTURE.md):
# loopback only, every database forwarded (the tests' per-test databases included),
# and the local superuser as the admin. Written on every `up`, so it follows the ports.
write_pgbouncer_ini() {
  local dir=$1
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$SCRX_PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $SCRX_PGBOUNCER_PORT
unix_socket_dir = $dir
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
auth_type = md5
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 50
min_pool_size = 10
reserve_pool_size = 10
reserve_pool_timeout = 3
max_db_connections = 100
max_user_connections = 100
server_connect_timeout = 3
server_idle_timeout = 600
client_idle_timeout = 0
query_timeout = 60
query_wait_timeout = 30
autodb_idle_timeout = 60
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
stats_period = 60
admin_users = postgres
# sqlx sends it at start-up; PgBouncer refuses start-up parameters it does not track.
ignore_startup_parameters = extra_float_digits
INI
  printf '"postgres" "%s"\n' "$SCRX_PGBOUNCER_PASSWORD" >"$dir/userlist.txt"
  chown postgres:postgres "$dir/pgbouncer.ini" "$dir/userlist.txt"
  chmod 600 "$dir/userlist.txt"
}

start_pgbouncer() {
  local dir="$SCRX_SCRATCH/pgbouncer"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  write_pgbouncer_ini "$dir"
  if pgbouncer_running; then log "pgbouncer already running on $SCRX_PGBOUNCER_PORT"; return; fi
  log "starting pgbouncer on 127.0.0.1:$SCRX_PGBOUNCER_PORT (transaction pooling)"
  # PgBouncer refuses to run as root.
  su postgres -c "pgbouncer -d '$dir/pgbouncer.ini'"
  for _ in $(seq 1 50); do
    PGPASSWORD="$SCRX_PGBOUNCER_PASSWORD" "$PG_BIN/psql" -h 127.0.0.1 -p "$SCRX_PGBOUNCER_PORT" -U postgres \
      -d scraperx -tAc 'SELECT 1' >/dev/null 2>&1 && return
    sleep 0.1
  done
  log "pgbouncer did not come up; see $dir/pgbouncer.log"; exit 1
}

redis_cli() { redis-cli -h 127.0.0.1 -p "$SCRX_REDIS_PORT" "$@"; }

start_redis() {
  local dir="$SCRX_SCRATCH/redis"
  mkdir -p "$dir"
  if redis_cli ping >/dev/null 2>&1; then log "redis already running on $SCRX_REDIS_PORT"; return; fi
  log "starting redis on 127.0.0.1:$SCRX_REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$SCRX_REDIS_PORT" --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no \
    --protected-mode no
  for _ in $(seq 1 50); do redis_cli ping >/dev/null 2>&1 && return; sleep 0.1; done
  log "redis did not come up"; exit 1
}

cluster_ports() { seq "$SCRX_REDIS_CLUSTER_PORT" $((SCRX_REDIS_CLUSTER_PORT + 5)); }
# Ok when every node says so and every replica's link to its master is up (a replica that
# never synced would refuse to take over from a failed master).
cluster_ok() {
  local port
  for port in $(cluster_ports); do
    redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null \
      | grep -Eq '^(role:master|master_link_status:up)' || return 1
  done
}

# Seed 001 §4.1: 3 masters, each with a replica, on loopback. A short node timeout (2 s) so a
# stopped master's replica takes over in seconds (the failover test stops one). Nothing is
# persisted; when any node is missing the whole cluster is made again, empty.
start_redis_cluster() {
  local dir="$SCRX_SCRATCH/redis-cluster" port nodes=()
  if cluster_ok; then log "redis cluster already running on $SCRX_REDIS_CLUSTER_PORT+5"; return; fi
  stop_redis_cluster
  rm -rf "$dir"
  log "starting a redis cluster (3 masters, 3 replicas) on 127.0.0.1:$SCRX_REDIS_CLUSTER_PORT+5"
  for port in $(cluster_ports); do
    mkdir -p "$dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/$port" --daemonize yes \
      --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" --save "" \
      --appendonly no --protected-mode no --cluster-enabled yes \
      --cluster-port $((port + 100)) --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 2000
    nodes+=("127.0.0.1:$port")
  done
  for port in $(cluster_ports); do
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { log "redis cluster not created; see $dir/create.log"; exit 1; }
  for _ in $(seq 1 100); do cluster_ok && return; sleep 0.1; done
  log "redis cluster did not become ok; see $dir/*/redis.log"; exit 1
}

stop_redis_cluster() {
  local port stopped=0
  for port in $(cluster_ports); do
    if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
      redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
      stopped=1
    fi
  done
  if [ "$stopped" = 1 ]; then log "redis cluster stopped"; fi
}

minio_up() { curl -fsS "http://127.0.0.1:$SCRX_MINIO_PORT/minio/health/live" >/dev/null 2>&1; }

start_minio() {
  local dir="$SCRX_SCRATCH/minio"
  mkdir -p "$dir/data"
  if minio_up; then log "minio already running on $SCRX_MINIO_PORT"; return; fi
  log "starting minio on 127.0.0.1:$SCRX_MINIO_PORT"
  MINIO_ROOT_USER="$SCRX_MINIO_USER" MINIO_ROOT_PASSWORD="$SCRX_MINIO_PASSWORD" \
  MINIO_BROWSER=off MINIO_UPDATE=off \
    nohup "$(minio_bin)" server "$dir/data" --address "127.0.0.1:$SCRX_MINIO_PORT" \
      --console-address "127.0.0.1:$SCRX_MINIO_CONSOLE_PORT" >"$dir/minio.log" 2>&1 &
  echo $! >"$dir/minio.pid"
  for _ in $(seq 1 150); do minio_up && return; sleep 0.2; done
  log "minio did not come up; see $dir/minio.log"; exit 1
}

mc_() { "$(mc_bin)" --config-dir "$SCRX_SCRATCH/mc" --quiet "$@"; }

# Seed 001 §5.5: separate MinIO users for the API (read, list, delete, presign) and the
# workers (write and read). Policies live in scripts/minio/. Idempotent.
provision_minio() {
  mc_ alias set scrx "http://127.0.0.1:$SCRX_MINIO_PORT" "$SCRX_MINIO_USER" "$SCRX_MINIO_PASSWORD" >/dev/null
  local role secret
  for role in api worker; do
    if [ "$role" = api ]; then secret=$SCRX_MINIO_API_SECRET; else secret=$SCRX_MINIO_WORKER_SECRET; fi
    mc_ admin policy create scrx "scraperx-$role" "$SCRIPT_DIR/minio/scraperx-$role.json" >/dev/null
    mc_ admin user add scrx "scraperx-$role" "$secret" >/dev/null
    if ! mc_ admin user info scrx "scraperx-$role" --json | grep -q "\"policyName\": *\"scraperx-$role\""; then
      mc_ admin policy attach scrx "scraperx-$role" --user "scraperx-$role" >/dev/null
    fi
  done
  log "minio users scraperx-api and scraperx-worker provisioned"
}

print_env() {
  cat <<ENV
export DATABASE_URL=postgres://postgres@127.0.0.1:$SCRX_PG_PORT/scraperx
export SCRX_PGBOUNCER_URL=postgres://postgres:$SCRX_PGBOUNCER_PASSWORD@127.0.0.1:$SCRX_PGBOUNCER_PORT/scraperx
export REDIS_URL=redis://127.0.0.1:$SCRX_REDIS_PORT
export SCRX_REDIS_CLUSTER_URL=$(cluster_ports | sed 's|^|redis://127.0.0.1:|' | paste -sd, -)
export S3_ENDPOINT=http://127.0.0.1:$SCRX_MINIO_PORT
export S3_ADMIN_ACCESS_KEY=$SCRX_MINIO_USER
export S3_ADMIN_SECRET_KEY=$SCRX_MINIO_PASSWORD
export S3_API_ACCESS_KEY=scraperx-api
export S3_API_SECRET_KEY=$SCRX_MINIO_API_SECRET
export S3_WORKER_ACCESS_KEY=scraperx-worker
export S3_WORKER_SECRET_KEY=$SCRX_MINIO_WORKER_SECRET
export SCRX_CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
ENV
}

case "${1:-up}" in
  up)
    install_postgres; install_pgbouncer; install_redis; install_minio; install_mc; install_chromium
    start_postgres; start_pgbouncer; start_redis; start_redis_cluster; start_minio; provision_minio
    log "all services up"
    ;;
  down)
    shift || true
    names=${*:-pgbouncer postgres redis redis-cluster minio}
    for name in $names; do
      case "$name" in
        postgres) if pg_running; then su postgres -c "$PG_BIN/pg_ctl -D '$SCRX_SCRATCH/pg/data' -m fast stop" >/dev/null; log "postgres stopped"; fi ;;
        pgbouncer) if pgbouncer_running; then kill "$(cat "$SCRX_SCRATCH/pgbouncer/pgbouncer.pid")"; log "pgbouncer stopped"; fi ;;
        redis-cluster) stop_redis_cluster ;;
        redis) if redis_cli ping >/dev/null 2>&1; then redis_cli shutdown nosave >/dev/null 2>&1 || true; log "redis stopped"; fi ;;
        minio) if [ -f "$SCRX_SCRATCH/minio/minio.pid" ]; then kill "$(cat "$SCRX_SCRATCH/minio/minio.pid")" 2>/dev/null || true; rm -f "$SCRX_SCRATCH/minio/minio.pid"; log "minio stopped"; fi ;;
        *) echo "unknown service $name" >&2; exit 2 ;;
      esac
    done
    ;;
  status)
    pg_running && echo "postgres: up ($SCRX_PG_PORT)" || echo "postgres: down"
    pgbouncer_running && echo "pgbouncer: up ($SCRX_PGBOUNCER_PORT)" || echo "pgbouncer: down"
    redis_cli ping >/dev/null 2>&1 && echo "redis: up ($SCRX_REDIS_PORT)" || echo "redis: down"
    cluster_ok && echo "redis cluster: up ($SCRX_REDIS_CLUSTER_PORT-$((SCRX_REDIS_CLUSTER_PORT + 5)))" || echo "redis cluster: down"
    minio_up && echo "minio: up ($SCRX_MINIO_PORT)" || echo "minio: down"
    ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac

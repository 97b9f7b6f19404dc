# The steps of e2e/node-e2e.sh (sourced by it; its variables and helpers are in scope).

# PostgreSQL, Redis and MinIO listen on loopback; pods reach them at the same ports on the
# node's address through socat.
forward_services() {
  local url port
  for url in "$DATABASE_URL" "$REDIS_URL" "$S3_ENDPOINT"; do
    port=$(printf '%s' "$url" | sed -E 's#^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*#\2#')
    socat "TCP-LISTEN:$port,bind=$SCRX_NODE_IP,fork,reuseaddr" "TCP:127.0.0.1:$port" &
    BACKGROUND+=($!)
  done
}

# URL $1 with its loopback host replaced by the node's address.
on_node() { printf '%s' "$1" | sed "s#127.0.0.1#$SCRX_NODE_IP#"; }

# N pages on the node's address, each answered after DELAY seconds (so that jobs are in
# flight while the pool scales), each with a title naming it.
serve_site() {
  python3 - "$SCRX_NODE_IP" "$SITE_PORT" "$DELAY" >"$WORK/site.log" 2>&1 <<'PY' &
import http.server, sys, time
host, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(delay)
        body = f"<html><head><title>page {self.path}</title></head><body><h1>{self.path}</h1><p>node e2e</p></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer((host, port), Page).serve_forever()
PY
  BACKGROUND+=($!)
}

connection_secret() {
  kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl -n "$NS" create secret generic scraperx-connection \
    --from-literal=DATABASE_URL="$(on_node "$DATABASE_URL")" \
    --from-literal=REDIS_URL="$(on_node "$REDIS_URL")" \
    --from-literal=S3_ENDPOINT="$(on_node "$S3_ENDPOINT")" \
    --from-literal=S3_API_ACCESS_KEY="$S3_API_ACCESS_KEY" --from-literal=S3_API_SECRET_KEY="$S3_API_SECRET_KEY" \
    --from-literal=S3_WORKER_ACCESS_KEY="$S3_WORKER_ACCESS_KEY" --from-literal=S3_WORKER_SECRET_KEY="$S3_WORKER_SECRET_KEY" \
    --from-literal=S3_ADMIN_ACCESS_KEY="$S3_ADMIN_ACCESS_KEY" --from-literal=S3_ADMIN_SECRET_KEY="$S3_ADMIN_SECRET_KEY" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
}

# The chart with the images imported here, one API replica, and one pool of $ENGINE workers
# from 0 to 3 replicas (the site is on a private address, which the jobs may reach here).
install_chart() {
  connection_secret
  cat >"$WORK/values.yaml" <<YAML
image: { registry: localhost/scraperx, tag: $TAG, pullPolicy: Never }
api:
  replicas: 1
  env: [{ name: SCRX_ALLOW_PRIVATE_TARGETS, value: "true" }]
  service: { type: NodePort, port: 80, nodePort: 30080 }
operator:
  env: [{ name: SCRX_ALLOW_PRIVATE_TARGETS, value: "true" }]
workerPools:
  - name: $POOL
    engine: $ENGINE
    minReplicas: 0
    maxReplicas: 3
    targetJobsPerReplica: 4
    drainGracePeriodSeconds: 30
    scaleDown: { stabilizationWindowSeconds: 10, maxStep: 3 }
    env: [{ name: SCRX_ALLOW_PRIVATE_TARGETS, value: "true" }]
YAML
  helm upgrade --install "$RELEASE" "$ROOT/charts/scraperx" -n "$NS" -f "$WORK/values.yaml" \
    --wait --timeout 5m >/dev/null \
    || { kubectl -n "$NS" get pods -o wide >&2; fail "helm install did not become Ready"; }
  kubectl -n "$NS" get pods -o wide | sed 's/^/    /' >&2
}

# An organization and its API key, made by the API's image in a one-off pod on the node
# (`scraperx-api bootstrap` needs the admin keys, which the API's pods are not given).
organization_key() {
  local pod=node-e2e-bootstrap out phase="" i
  kubectl -n "$NS" delete pod "$pod" --ignore-not-found >/dev/null
  kubectl -n "$NS" run "$pod" --restart=Never --image "localhost/scraperx/scraperx-api:$TAG" \
    --image-pull-policy Never --overrides "{\"spec\": {\"containers\": [{\"name\": \"$pod\",
      \"image\": \"localhost/scraperx/scraperx-api:$TAG\", \"imagePullPolicy\": \"Never\",
      \"args\": [\"bootstrap\", \"node-e2e-$(date +%s)\"],
      \"envFrom\": [{\"secretRef\": {\"name\": \"scraperx-connection\"}}]}]}}" >/dev/null
  for i in $(seq 1 120); do
    phase=$(kubectl -n "$NS" get pod "$pod" -o jsonpath='{.status.phase}')
    case "$phase" in Succeeded|Failed) break ;; esac
    sleep 0.5
  done
  out=$(kubectl -n "$NS" logs "$pod")
  kubectl -n "$NS" delete pod "$pod" --wait=false >/dev/null
  [ "$phase" = Succeeded ] || fail "bootstrap pod: $phase: $out"
  KEY=$(printf '%s\n' "$out" | awk -F': *' '/^api key:/ { print $2 }')
  ORG=$(printf '%s\n' "$out" | sed -nE 's/^organization: .* \(([0-9a-f-]+)\)$/\1/p')
  [ -n "$KEY" ] && [ -n "$ORG" ] || fail "bootstrap printed no key: $out"
  log "organization $ORG"
}

worker_pods() {
  kubectl -n "$NS" get pods -l "app.kubernetes.io/name=scraperx-worker,app.kubernetes.io/instance=$POOL" \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
}

# Follows the log of every worker pod as it appears (kept in $WORK/logs for the drain check).
follow_logs() {
  local pod
  mkdir -p "$WORK/logs"
  for pod in $(worker_pods | awk '{ print $1 }'); do
    [ -e "$WORK/logs/$pod.log" ] && continue
    kubectl -n "$NS" logs -f "$pod" >"$WORK/logs/$pod.log" 2>&1 &
    BACKGROUND+=($!)
  done
}

batch_manifest() {
  local i
  printf 'apiVersion: scraperx.io/v1alpha1\nkind: ScrapeBatch\nmetadata: { name: node-e2e }\n'
  printf 'spec:\n  organizationRef: { name: node-e2e-key, key: apiKey }\n  engine: %s\n  urls:\n' "$ENGINE"
  for i in $(seq 1 "$PAGES"); do printf '    - http://%s:%s/p/%s\n' "$SCRX_NODE_IP" "$SITE_PORT" "$i"; done
}

# Applies the batch and watches it: first worker pod Ready, Succeeded, queue empty, no pods.
run_batch() {
  kubectl -n "$NS" create secret generic node-e2e-key --from-literal=apiKey="$KEY" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl -n "$NS" delete scrapebatch node-e2e --ignore-not-found >/dev/null
  batch_manifest >"$WORK/batch.yaml"
  [ -z "$(worker_pods)" ] || fail "the pool is not at 0 pods before the batch"
  rm -rf "$WORK/logs"
  T_APPLY=$(now_ms)
  kubectl -n "$NS" apply -f "$WORK/batch.yaml" >/dev/null
  T_READY="" T_DONE="" T_EMPTY="" T_ZERO="" MAX_PODS=0
  local deadline=$(( T_APPLY + 900000 )) pods count ready depth phase
  while [ "$(now_ms)" -lt "$deadline" ]; do
    pods=$(worker_pods)
    follow_logs
    count=$(printf '%s' "$pods" | awk 'NF { n++ } END { print n + 0 }')
    ready=$(printf '%s' "$pods" | awk '$2 == "True" { n++ } END { print n + 0 }')
    [ "$count" -gt "$MAX_PODS" ] && MAX_PODS=$count
    [ -z "$T_READY" ] && [ "$ready" -gt 0 ] && T_READY=$(now_ms) && log "first worker pod Ready"
    phase=$(kubectl -n "$NS" get scrapebatch node-e2e -o jsonpath='{.status.phase}' 2>/dev/null || true)
    [ -z "$T_DONE" ] && [ "$phase" = Succeeded ] && T_DONE=$(now_ms) && log "batch Succeeded"
    [ "$phase" = Failed ] && fail "the batch failed: $(kubectl -n "$NS" get scrapebatch node-e2e -o yaml)"
    depth=$(kubectl -n "$NS" get workerpool "$POOL" -o jsonpath='{.status.queueDepth}' 2>/dev/null || true)
    [ -z "$T_EMPTY" ] && [ -n "$T_DONE" ] && [ "${depth:-1}" = 0 ] && T_EMPTY=$(now_ms) && log "queue empty"
    if [ -n "$T_EMPTY" ] && [ "$count" = 0 ]; then T_ZERO=$(now_ms); log "no worker pods left"; return 0; fi
    sleep 0.5
  done
  fail "timed out: ready=${T_READY:-no} succeeded=${T_DONE:-no} empty=${T_EMPTY:-no}; $(worker_pods)"
}

# Every job of the batch completed exactly once and was charged once: no job charged above
# its price, and the organization's balance fell by exactly what the jobs record.
check_ledger() {
  local before=$1 row completed other over charged attempts after
  row=$(psql_ -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'completed'),
      count(*) FILTER (WHERE status <> 'completed'),
      count(*) FILTER (WHERE credits_charged > credits_estimated),
      COALESCE(sum(credits_charged), 0), COALESCE(max(attempts), 0)
    FROM scrape_jobs WHERE organization_id = '$ORG'")
  read -r completed other over charged attempts <<<"$row"
  after=$(psql_ -c "SELECT credits_balance FROM organizations WHERE id = '$ORG'")
  log "jobs: $completed completed, $other not, $over charged above their price; credits: $charged charged, balance $before -> $after; most attempts of a job: $attempts"
  [ "$completed" = "$PAGES" ] || fail "$completed of $PAGES jobs completed"
  [ "$other" = 0 ] || fail "$other jobs did not complete"
  [ "$over" = 0 ] || fail "$over jobs were charged above their price"
  [ $((before - after)) = "$charged" ] || fail "the balance fell by $((before - after)), the jobs record $charged"
}

# The stopped pods' logs, then the figures.
report() {
  local seen stopped
  seen=$(find "$WORK/logs" -name '*.log' | wc -l)
  stopped=$(cat "$WORK"/logs/*.log 2>/dev/null | grep -c '"shutdown requested"' || true)
  log "worker pods: $seen seen (at most $MAX_PODS at once), $stopped told to stop and drain (SIGTERM); logs in $WORK/logs"
  [ "$stopped" = "$seen" ] || fail "$((seen - stopped)) worker pods were not stopped by SIGTERM"
  printf '\n  node e2e: %s pages through a ScrapeBatch on a real node\n' "$PAGES"
  printf '    batch applied -> first worker pod Ready   %6.1f s\n' "$(awk -v a="$T_APPLY" -v b="$T_READY" 'BEGIN { print (b - a) / 1000 }')"
  printf '    batch applied -> Succeeded                %6.1f s\n' "$(awk -v a="$T_APPLY" -v b="$T_DONE" 'BEGIN { print (b - a) / 1000 }')"
  printf '    queue empty -> zero worker pods           %6.1f s\n\n' "$(awk -v a="$T_EMPTY" -v b="$T_ZERO" 'BEGIN { print (b - a) / 1000 }')"
}

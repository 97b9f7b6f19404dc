# The demo of scripts/run.sh: a small site served from here, the demo organization's key,
# the "ready" banner, and the self-check (one scrape through the API, one ScrapeBatch
# through kubectl). Sourced by run.sh (which sets API, DEMO, RUN, BIN, SLUG, K8S).

KEY=""

# json FIELD [FIELD...]: reads a JSON document on stdin and prints the value at that path.
json() {
  python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else (v or {}).get(k)
print("" if v is None else v)' "$@"
}

write_demo_site() {
  local dir="$RUN/demo-site" i
  mkdir -p "$dir/products"
  cat >"$dir/index.html" <<'HTML'
<!doctype html><html><head><title>ScraperX demo shop</title></head>
<body><main><h1>Demo shop</h1><p>Three products, served by scripts/run.sh.</p>
<ul><li><a href="/products/1.html">Lamp</a></li><li><a href="/products/2.html">Chair</a></li>
<li><a href="/products/3.html">Desk</a></li></ul></main></body></html>
HTML
  for i in 1 2 3; do
    printf '<!doctype html><html><head><title>Product %s</title></head><body><main><h1>Product %s</h1><p class="price">%s0 EUR</p><a href="/">Home</a></main></body></html>\n' \
      "$i" "$i" "$i" >"$dir/products/$i.html"
  done
}

start_demo_site() {
  write_demo_site
  start_proc demo-site "$DEMO/" python3 -m http.server --bind 127.0.0.1 --directory "$RUN/demo-site" "$DEMO_PORT"
}

# The demo organization's key: the one kept in $RUN/demo-key while the API still accepts it,
# else a new one from `scraperx-api bootstrap` (which creates the organization once).
demo_key() {
  local file="$RUN/demo-key" code
  if [ -s "$file" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$file")" "$API/v1/credits")
    if [ "$code" != 401 ]; then
      KEY=$(cat "$file"); note "reusing the demo key in $file"; return 0
    fi
  fi
  local out
  out=$("$BIN/scraperx-api" bootstrap "$SLUG" 2>>"$LOGS/bootstrap.log") || { cat "$LOGS/bootstrap.log" >&2; return 1; }
  KEY=$(printf '%s\n' "$out" | awk -F': *' '/^api key:/ { print $2 }')
  [ -n "$KEY" ] || { note "bootstrap printed no key"; return 1; }
  (umask 077; printf '%s\n' "$KEY" >"$file")
  note "new key for organization $SLUG, kept in $file"
}

banner() {
  [ "$K8S" = 1 ] && write_demo_batch
  cat <<TEXT

  ScraperX is running.
    API          $API   (OpenAPI: $API/v1/openapi.json)
    demo key     $KEY
    demo site    $DEMO/
    logs         $LOGS/   (api.log, worker-http.log, worker-browser.log, operator.log)

  Scrape a page (from another terminal):
    curl -s $API/v1/scrape -H 'Authorization: Bearer $KEY' \\
      -H 'Content-Type: application/json' -d '{"url": "$DEMO/products/1.html", "markdown": true}'
TEXT
  if [ "$K8S" = 1 ]; then
    cat <<TEXT

  Run a ScrapeBatch:
    export KUBECONFIG=$KUBECONFIG
    kubectl create -f $RUN/demo-batch.yaml && kubectl get scrapebatches -w
TEXT
  fi
  echo
}

check_scrape() {
  local url="$DEMO/" resp job status credits title
  resp=$(curl -sS --max-time 90 "$API/v1/scrape" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d "{\"url\": \"$url\", \"engine\": \"http\"}")
  job=$(printf '%s' "$resp" | json job_id)
  status=$(printf '%s' "$resp" | json status)
  credits=$(printf '%s' "$resp" | json credits_charged)
  if [ -z "$job" ] || [ "$status" != completed ]; then
    note "the scrape did not complete: $resp"; return 1
  fi
  title=$(curl -sS "$API/v1/jobs/$job/result" -H "Authorization: Bearer $KEY" | json extracted title)
  note "scrape of $url: status $status, title \"$title\", $credits credit(s) charged (job $job)"
}

# A ScrapeBatch of the demo site's products; each `kubectl create -f` makes a new one.
write_demo_batch() {
  cat >"$RUN/demo-batch.yaml" <<YAML
apiVersion: scraperx.io/v1alpha1
kind: ScrapeBatch
metadata:
  generateName: demo-
spec:
  organizationRef: { name: scraperx-demo-key, key: apiKey }
  engine: http
  urls:
    - $DEMO/products/1.html
    - $DEMO/products/2.html
    - $DEMO/products/3.html
YAML
}

check_batch() {
  local name phase="" i
  kubectl create secret generic scraperx-demo-key --from-literal=apiKey="$KEY" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  name=$(kubectl create -f "$RUN/demo-batch.yaml" -o jsonpath='{.metadata.name}')
  for i in $(seq 1 300); do
    phase=$(kubectl get scrapebatch "$name" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    case "$phase" in Succeeded|Failed) break ;; esac
    sleep 0.2
  done
  kubectl get scrapebatch "$name" | sed 's/^/    /'
  local batch credits
  batch=$(kubectl get scrapebatch "$name" -o jsonpath='{.status.batchId}')
  credits=$(curl -sS "$API/v1/jobs?batch_id=$batch&limit=100" -H "Authorization: Bearer $KEY" \
    | python3 -c 'import json,sys; print(sum(j["credits_charged"] for j in json.load(sys.stdin)["data"]))')
  note "ScrapeBatch $name: $phase, $(kubectl get scrapebatch "$name" -o jsonpath='{.status.progress}') pages, ${credits:-?} credit(s) charged (batch $batch)"
  [ "$phase" = Succeeded ]
}

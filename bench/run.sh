#!/usr/bin/env bash
# ScraperX against its peers, side by side, in one run on this machine:
#
#   bench/run.sh [pipeline] [queue] [browser] [batch] [crawl] [latency] [retention] [scale] [pool]   (none named: all, in that order)
#   bench/run.sh content [DATA_DIR]                       (content extraction: bench/content.sh)
#
# Installs the peers (bench/install-peers.sh), builds the release binaries, serves the
# benchmark site (bench-site) on loopback to both sides, runs each comparison's sides back
# to back, and prints each figure beside its peer with the ratio (bench/report.py). The raw
# RESULT lines are kept in $SCRX_SCRATCH/bench/. Needs the services (scripts/services.sh up).
# Settings: BENCH_PAGES (10000), BENCH_CONCURRENCY ("8 32"), BENCH_CONTEXTS ("1 4 8"),
# BENCH_BROWSER_PAGES (0: 40 per context, at least 60),
# BENCH_LATENCY_JOBS and BENCH_RETENTION_JOBS (1000000), BENCH_BATCH_URLS (100000, the
# ScrapeBatch path), BENCH_SKIP_BUILD=1 (use the release binaries as they are).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${1:-}" = content ]; then
  shift
  exec bench/content.sh "$@"
fi
eval "$(scripts/services.sh env)"
bench/install-peers.sh
tools=${SCRX_TOOLS_DIR:-$HOME/.cache/scraperx-tools}
py=$(ls -d "$tools"/bench-py-scrapy*/bin | tail -1)
node_dir=$(ls -d "$tools"/bench-node-bullmq* | tail -1)
# The build below and the binaries run come from the same place.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/scraperx-target}
target=$CARGO_TARGET_DIR
pages=${BENCH_PAGES:-10000}
concurrency=${BENCH_CONCURRENCY:-8 32}
contexts=${BENCH_CONTEXTS:-1 4 8}
browser_pages=${BENCH_BROWSER_PAGES:-0}
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(pipeline queue browser batch crawl latency retention scale pool)

bin=$target/release
if [ "${BENCH_SKIP_BUILD:-}" != 1 ]; then
  echo "[bench] building release binaries" >&2
  flock /tmp/scraperx-cargo.lock cargo build --release --quiet \
    -p scraperx-bench -p scraperx-worker -p scraperx-api --bins
fi

out_dir=${SCRX_SCRATCH:-/tmp/scraperx}/bench
mkdir -p "$out_dir"
out=$out_dir/results-$(date -u +%Y%m%dT%H%M%SZ).tsv
: >"$out"
record() { tee -a "$out" | grep -v '^RESULT' >&2 || true; }

site_log=$out_dir/site.log
"$bin/bench-site" --pages "$pages" >"$site_log" 2>&1 &
site_pid=$!
trap 'kill $site_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$site_log" ] && break; sleep 0.1; done
site=$(head -1 "$site_log")
echo "[bench] site $site ($pages pages); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

run_pipeline() {
  for c in $concurrency; do
    echo "[bench] pipeline c=$c: wrk" >&2
    rps=$(BENCH_PAGES=$pages wrk -t2 -c"$c" -d10s -s bench/peers/wrk_pages.lua "$site" | awk '/Requests\/sec/ {print $2}')
    printf 'RESULT\tpipeline\tpages/s, c=%s\tceiling: wrk (fetch only)\t%s\tpages/s\n' "$c" "$rps" | record
    echo "[bench] pipeline c=$c: Scrapy" >&2
    /usr/bin/time -f 'PEAK_RSS_KB %M' -o "$out_dir/scrapy-time.txt" \
      "$py/scrapy" runspider bench/peers/scrapy_pages.py -a site="$site" -a pages="$pages" \
      -s CONCURRENT_REQUESTS="$c" -s CONCURRENT_REQUESTS_PER_DOMAIN="$c" \
      -O "$out_dir/scrapy-pages.jsonl" | record
    kb=$(awk '/PEAK_RSS_KB/ {print $2}' "$out_dir/scrapy-time.txt")
    printf 'RESULT\tpipeline\tpeak RSS, c=%s\tpeer: Scrapy\t%s\tMiB\n' "$c" "$(awk -v kb="$kb" 'BEGIN { print kb / 1024 }')" | record
    echo "[bench] pipeline c=$c: ScraperX" >&2
    "$bin/bench-pipeline" --site "$site" --pages "$pages" --concurrency "$c" \
      --worker "$bin/scraperx-worker" | record
  done
}

run_queue() {
  echo "[bench] queue: BullMQ" >&2
  (cd "$node_dir" && node "$root/bench/peers/bullmq_queue.mjs") | record
  echo "[bench] queue: ScraperX" >&2
  "$bin/bench-queue" | record
}

run_browser() {
  for k in $contexts; do
    echo "[bench] browser, $k contexts: Playwright" >&2
    "$py/python" bench/peers/playwright_pages.py --site "$site" --contexts "$k" --pages "$browser_pages" | record
    echo "[bench] browser, $k contexts: ScraperX and the bare CDP loop" >&2
    "$bin/bench-browser" --site "$site" --contexts "$k" --pages "$browser_pages" | record
  done
}

# 100,000 URLs through REST (bench-batch), then through a ScrapeBatch
# (operator/benches/batch.rs, on the control plane of e2e/control-plane.sh).
run_batch() {
  echo "[bench] batch submission: REST" >&2
  "$bin/bench-batch" --api "$bin/scraperx-api" --site "$site" | record
  echo "[bench] batch submission: ScrapeBatch" >&2
  e2e/control-plane.sh up >&2
  eval "$(e2e/control-plane.sh env)"
  flock /tmp/scraperx-cargo.lock cargo bench --quiet -p scraperx-operator --bench batch | record
}

run_crawl() {
  for c in $concurrency; do
    echo "[bench] crawl c=$c: Scrapy CrawlSpider" >&2
    /usr/bin/time -f 'PEAK_RSS_KB %M' -o "$out_dir/scrapy-crawl-time.txt" \
      "$py/scrapy" runspider bench/peers/scrapy_crawl.py -a site="$site" -a pages="$pages" \
      -s CONCURRENT_REQUESTS="$c" -s CONCURRENT_REQUESTS_PER_DOMAIN="$c" \
      -O "$out_dir/scrapy-crawl.jsonl" | record
    kb=$(awk '/PEAK_RSS_KB/ {print $2}' "$out_dir/scrapy-crawl-time.txt")
    printf 'RESULT\tcrawl\tpeak RSS, c=%s\tpeer: Scrapy CrawlSpider\t%s\tMiB\n' "$c" "$(awk -v kb="$kb" 'BEGIN { print kb / 1024 }')" | record
    echo "[bench] crawl c=$c: ScraperX" >&2
    "$bin/bench-crawl" --site "$site" --pages "$pages" --concurrency "$c" \
      --worker "$bin/scraperx-worker" | record
  done
}

# Seed 001 §10.3's latency targets with 1,000,000 jobs in the table (bench-latency).
run_latency() {
  echo "[bench] latency against seed 001 §10.3 (1,000,000 jobs)" >&2
  "$bin/bench-latency" --api "$bin/scraperx-api" --site "$site" --jobs "${BENCH_LATENCY_JOBS:-1000000}" | record
}

# Retention against a plain DELETE: 1,000,000 old jobs archived, a month of events dropped.
run_retention() {
  echo "[bench] retention (1,000,000 old jobs, a month of events) against a plain DELETE" >&2
  "$bin/bench-retention" --jobs "${BENCH_RETENTION_JOBS:-1000000}" | record
}

# Redis Cluster against one Redis, PgBouncer against PostgreSQL direct (seed 001 §4.1, §8.2).
run_scale() {
  echo "[bench] scale-out: one Redis and the cluster, PostgreSQL direct and through PgBouncer" >&2
  "$bin/bench-scale" --api "$bin/scraperx-api" | record
}

# The WorkerPool's reaction to its queue (operator/tests/bench_pool.rs, run with --ignored):
# the operator's controllers against the real kube-apiserver of e2e/control-plane.sh.
run_pool() {
  echo "[bench] WorkerPool reaction" >&2
  e2e/control-plane.sh up >&2
  eval "$(e2e/control-plane.sh env)"
  flock /tmp/scraperx-cargo.lock cargo test --release --quiet -p scraperx-operator \
    --test bench_pool -- --ignored --nocapture | record
}

for s in "${sections[@]}"; do
  case $s in
    pipeline | queue | browser | batch | crawl | latency | retention | scale | pool) "run_$s" ;;
    *) echo "unknown comparison: $s (pipeline, queue, browser, batch, crawl, latency, retention, scale, pool)" >&2; exit 2 ;;
  esac
done

echo "[bench] load after: $(cut -d' ' -f1-3 /proc/loadavg); raw figures: $out" >&2
python3 bench/report.py "$out"

#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for the operator's end-to-end tests: etcd and
# kube-apiserver, built from Go modules (go.mod here) and started the way controller-runtime's
# envtest starts them. No kubelet, scheduler or controller-manager: objects are stored and
# validated by the real API server, and nothing runs them.
#
#   e2e/control-plane.sh up     build (once) and start; idempotent
#   e2e/control-plane.sh down   stop
#   e2e/control-plane.sh build  only build (once) etcd, kube-apiserver and helm
#   e2e/control-plane.sh env    print KUBECONFIG for the running plane (and SCRX_HELM)
#
# Helm is built the same way (once), for the chart's tests against this API server.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRX_SCRATCH=${SCRX_SCRATCH:-/tmp/scraperx}
DIR="$SCRX_SCRATCH/k8s"
BIN=${SCRX_E2E_BIN:-$HOME/.cache/scraperx-e2e/bin}
ETCD_PORT=${SCRX_ETCD_PORT:-52379}
ETCD_PEER_PORT=${SCRX_ETCD_PEER_PORT:-52380}
API_PORT=${SCRX_APISERVER_PORT:-56443}
TOKEN=${SCRX_APISERVER_TOKEN:-scraperx-e2e-admin-token}
HELM_VERSION=v3.16.4
# SCRX_GO_VERBOSE=1 shows each package as go builds it (scripts/run.sh sets it).
GO_VERBOSE=$([ "${SCRX_GO_VERBOSE:-0}" = 1 ] && echo -v || true)

log() { printf '[control-plane] %s\n' "$*" >&2; }

build() {
  mkdir -p "$BIN"
  if [ ! -x "$BIN/etcd" ] || [ ! -x "$BIN/kube-apiserver" ]; then
    log "building etcd and kube-apiserver from Go modules (once; several minutes)"
    local v; v=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$HERE/go.mod")
    local pkg=k8s.io/component-base/version
    local minor; minor=$(echo "$v" | cut -d. -f2)
    (cd "$HERE" && go build $GO_VERBOSE -mod=readonly -o "$BIN/etcd" ./cmd/etcd \
      && go build $GO_VERBOSE -mod=readonly -ldflags "-X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
           -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
  fi
  if [ ! -x "$BIN/helm" ]; then
    log "building helm $HELM_VERSION from Go modules (once)"
    (cd /tmp && GOBIN="$BIN" GOFLAGS=-mod=mod go install $GO_VERBOSE "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  fi
}

api_up() { curl -fsk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; }
etcd_up() { curl -fs "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1; }

kubeconfig() {
  cat >"$DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$API_PORT
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: e2e
  context: {cluster: e2e, user: admin, namespace: default}
current-context: e2e
KC
}

up() {
  build
  mkdir -p "$DIR/etcd" "$DIR/certs"
  if ! etcd_up; then
    log "starting etcd on 127.0.0.1:$ETCD_PORT"
    nohup "$BIN/etcd" --data-dir "$DIR/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync \
      >"$DIR/etcd.log" 2>&1 &
    echo $! >"$DIR/etcd.pid"
    for _ in $(seq 1 100); do etcd_up && break; sleep 0.1; done
    etcd_up || { log "etcd did not come up; see $DIR/etcd.log"; exit 1; }
  fi
  if ! api_up; then
    [ -f "$DIR/certs/sa.key" ] || openssl genrsa -out "$DIR/certs/sa.key" 2048 2>/dev/null
    openssl rsa -in "$DIR/certs/sa.key" -pubout -out "$DIR/certs/sa.pub" 2>/dev/null
    echo "$TOKEN,admin,admin,system:masters" >"$DIR/certs/tokens.csv"
    log "starting kube-apiserver on 127.0.0.1:$API_PORT"
    nohup "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
      --bind-address 127.0.0.1 --secure-port "$API_PORT" --cert-dir "$DIR/certs" \
      --token-auth-file "$DIR/certs/tokens.csv" --authorization-mode RBAC \
      --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
      --disable-admission-plugins ServiceAccount \
      --service-account-issuer "https://127.0.0.1:$API_PORT" \
      --service-account-key-file "$DIR/certs/sa.pub" --service-account-signing-key-file "$DIR/certs/sa.key" \
      >"$DIR/apiserver.log" 2>&1 &
    echo $! >"$DIR/apiserver.pid"
    for _ in $(seq 1 300); do api_up && break; sleep 0.2; done
    api_up || { log "kube-apiserver did not come up; see $DIR/apiserver.log"; exit 1; }
  fi
  kubeconfig
  log "control plane up; KUBECONFIG=$DIR/kubeconfig"
}

down() {
  for p in apiserver etcd; do
    if [ -f "$DIR/$p.pid" ]; then
      pid=$(cat "$DIR/$p.pid")
      kill "$pid" 2>/dev/null || true
      # Wait for the port to be free before anyone starts a new one.
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$DIR/$p.pid"; log "$p stopped"
    fi
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  build) build ;;
  env) echo "export KUBECONFIG=$DIR/kubeconfig"; echo "export SCRX_HELM=$BIN/helm" ;;
  *) echo "usage: $0 up|down|build|env" >&2; exit 2 ;;
esac

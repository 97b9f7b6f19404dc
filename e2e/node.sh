#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for the chart's end-to-end run
# (e2e/node-e2e.sh): etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kube-proxy and a kubelet, all built from the Go modules in go.mod (the same
# k8s.io/kubernetes as the control plane of the operator's tests), with containerd and runc
# (Debian) as the runtime, Debian's CNI plugins (a bridge) as the pod network and a pause
# image built here. Nothing is pulled: the node runs only images imported into its containerd.
#
#   e2e/node.sh up      install, build (once) and start; idempotent
#   e2e/node.sh down    stop every component, remove the pods' containers and the bridge
#   e2e/node.sh env     print KUBECONFIG, SCRX_NODE_IP, SCRX_NODE_CONTAINERD and SCRX_HELM
#
# Separate from e2e/control-plane.sh (loopback, no kubelet, used by `scripts/test.sh`): its
# own etcd, its own API server on the node's address (pods reach it through the `kubernetes`
# Service), its own folder ($SCRX_SCRATCH/node) and its own certificates. Every component
# authenticates with one admin token: a test cluster, on a bridge only this machine reaches.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRX_SCRATCH=${SCRX_SCRATCH:-/tmp/scraperx}
DIR="$SCRX_SCRATCH/node"
BIN=${SCRX_E2E_BIN:-$HOME/.cache/scraperx-e2e/bin}
# The node's address: the pod bridge's gateway. Pods reach the host (API server, and
# whatever the e2e run serves for them) here.
NODE_IP=${SCRX_NODE_IP:-10.244.0.1}
POD_CIDR=${SCRX_NODE_POD_CIDR:-10.244.0.0/24}
SERVICE_CIDR=10.96.0.0/24
KUBERNETES_SERVICE_IP=10.96.0.1
BRIDGE=scrx0
NODE_NAME=scrx-node
ETCD_PORT=53379
ETCD_PEER_PORT=53380
API_PORT=6443
TOKEN=${SCRX_NODE_TOKEN:-scraperx-node-admin-token}
PAUSE_IMAGE=localhost/scraperx/pause:e2e
SOCK="$DIR/containerd/containerd.sock"
COMPONENTS="kubelet kube-controller-manager kube-scheduler kube-proxy kubectl"

log() { printf '[node] %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

install_packages() {
  install_commands containerd:containerd ctr:containerd runc:runc iptables:iptables \
    conntrack:conntrack buildah:buildah socat:socat openssl:openssl
  [ -x /usr/lib/cni/bridge ] || apt_install containernetworking-plugins
}

build() {
  "$HERE/control-plane.sh" build
  local c missing=0
  for c in $COMPONENTS pause; do [ -x "$BIN/$c" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  log "building $COMPONENTS and pause from Go modules (once; ten minutes and more)"
  local v; v=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$HERE/go.mod")
  local pkg=k8s.io/component-base/version minor; minor=$(echo "$v" | cut -d. -f2)
  local pkgs=()
  for c in $COMPONENTS; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$HERE" && go build -mod=readonly \
      -ldflags "-X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
      -o "$BIN/" "${pkgs[@]}" \
    && CGO_ENABLED=0 go build -mod=readonly -o "$BIN/pause" ./cmd/pause)
}

# The pod bridge, holding the node's address before any pod exists (the CNI bridge plugin
# then reuses it), and forwarding with bridged traffic through iptables (Services).
network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr show dev "$BRIDGE" | grep -q "inet $NODE_IP/" || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  mkdir -p "$DIR/cni" "$DIR/cni-ipam"
  cat >"$DIR/cni/10-scrx.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "scrx",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$DIR/cni-ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
}

# A CA of the node's own, the API server's serving certificate (the node address, the
# `kubernetes` Service's address and names) and the ServiceAccount signing key.
certificates() {
  local c="$DIR/certs"
  mkdir -p "$c"
  [ -f "$c/ca.key" ] && [ -f "$c/apiserver.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=scraperx-node-ca" \
    -keyout "$c/ca.key" -out "$c/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$c/apiserver.key" -out "$c/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:%s,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
    "$NODE_IP" "$KUBERNETES_SERVICE_IP" >"$c/apiserver.ext"
  openssl x509 -req -in "$c/apiserver.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
    -days 3650 -extfile "$c/apiserver.ext" -out "$c/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$c/sa.key" 2048 2>/dev/null
  openssl rsa -in "$c/sa.key" -pubout -out "$c/sa.pub" 2>/dev/null
  echo "$TOKEN,admin,admin,system:masters" >"$c/tokens.csv"
}

kubeconfig() {
  cat >"$DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: node
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $DIR/certs/ca.crt
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: node
  context: {cluster: node, user: admin, namespace: default}
current-context: node
KC
  chmod 600 "$DIR/kubeconfig"
}

# Starts "$@" in the background as component $1's process, logging to $DIR/<name>.log.
start() {
  local name=$1; shift
  nohup "$@" >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}
running() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
# Waits up to $2 seconds for "${@:3}" to succeed; fails naming component $1's log.
wait_for() {
  local name=$1 secs=$2; shift 2
  local i
  for i in $(seq 1 $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "$name did not come up in $secs s; last lines of $DIR/$name.log:"
  tail -n 20 "$DIR/$name.log" >&2
  return 1
}

etcd_up() { curl -fs "http://127.0.0.1:$ETCD_PORT/health"; }
api_up() { curl -fs --cacert "$DIR/certs/ca.crt" -H "Authorization: Bearer $TOKEN" "https://$NODE_IP:$API_PORT/readyz"; }

control_plane() {
  mkdir -p "$DIR/etcd"
  running etcd || start etcd "$BIN/etcd" --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
  wait_for etcd 20 etcd_up
  local c="$DIR/certs"
  running apiserver || start apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port "$API_PORT" \
    --tls-cert-file "$c/apiserver.crt" --tls-private-key-file "$c/apiserver.key" \
    --token-auth-file "$c/tokens.csv" --authorization-mode RBAC \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$c/sa.pub" --service-account-signing-key-file "$c/sa.key"
  wait_for apiserver 240 api_up
  running controller-manager || start controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$DIR/kubeconfig" --authentication-kubeconfig "$DIR/kubeconfig" \
    --authorization-kubeconfig "$DIR/kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 10257 \
    --service-account-private-key-file "$c/sa.key" --root-ca-file "$c/ca.crt" \
    --use-service-account-credentials=false --cluster-name scraperx-node
  running scheduler || start scheduler "$BIN/kube-scheduler" --kubeconfig "$DIR/kubeconfig" \
    --authentication-kubeconfig "$DIR/kubeconfig" --authorization-kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259
}

containerd_config() {
  mkdir -p "$DIR/containerd"
  cat >"$DIR/containerd/config.toml" <<TOML
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$DIR/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni"
TOML
}

# runc, with a container's negative oom_score_adj raised to 0 first. Root on these machines
# lacks CAP_SYS_RESOURCE (the VM withholds it), so no process may lower its oom_score_adj,
# and runc fails ("failed to update /proc/self/oom_score_adj: Permission denied") for the
# pause container (-998) and Guaranteed pods (-997). containerd 1.6's restrict_oom_score_adj
# (set above) clamps containers but not the pause container.
runc_wrapper() {
  cat >"$DIR/containerd/runc" <<'SH'
#!/bin/sh
prev=""
for a in "$@"; do
  if [ "$prev" = "--bundle" ] && [ -f "$a/config.json" ]; then
    sed -i -E 's/"oomScoreAdj": *-[0-9]+/"oomScoreAdj":0/' "$a/config.json"
  fi
  prev=$a
done
exec runc "$@"
SH
  chmod +x "$DIR/containerd/runc"
}

ctr_() { ctr -a "$SOCK" -n k8s.io "$@"; }

# The pause image: the static binary built from cmd/pause, alone in an image from scratch.
pause_image() {
  ctr_ images ls -q | grep -qx "$PAUSE_IMAGE" && return 0
  local b archive="$DIR/pause.tar"
  b=$(buildah --storage-driver vfs from scratch)
  buildah --storage-driver vfs copy "$b" "$BIN/pause" /pause >/dev/null
  buildah --storage-driver vfs config --entrypoint '["/pause"]' --user 65535:65535 "$b"
  buildah --storage-driver vfs commit --rm "$b" "$PAUSE_IMAGE" >/dev/null
  rm -f "$archive"
  buildah --storage-driver vfs push "$PAUSE_IMAGE" "docker-archive:$archive:$PAUSE_IMAGE" >/dev/null
  ctr_ images import "$archive" >/dev/null
  ctr_ images label "$PAUSE_IMAGE" io.cri-containerd.pinned=pinned >/dev/null
}

runtime() {
  containerd_config
  runc_wrapper
  running containerd || start containerd containerd --config "$DIR/containerd/config.toml"
  wait_for containerd 30 ctr -a "$SOCK" version
  pause_image
}

kubelet_config() {
  mkdir -p "$DIR/kubelet"
  cat >"$DIR/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# The API server calls the kubelet (logs, exec) without a client certificate.
authentication: { anonymous: { enabled: true }, webhook: { enabled: false } }
authorization: { mode: AlwaysAllow }
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
# This machine mounts cgroup v1 controllers (its kernel and init are not ours to change).
failCgroupV1: false
failSwapOn: false
resolvConf: /etc/resolv.conf
podCIDR: $POD_CIDR
maxPods: 60
serializeImagePulls: false
evictionHard: { memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2% }
YAML
}

node_ready() {
  "$BIN/kubectl" --kubeconfig "$DIR/kubeconfig" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}

node_components() {
  kubelet_config
  running kubelet || start kubelet "$BIN/kubelet" --config "$DIR/kubelet/config.yaml" \
    --kubeconfig "$DIR/kubeconfig" --root-dir "$DIR/kubelet/root" --cert-dir "$DIR/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
  running proxy || start proxy "$BIN/kube-proxy" --kubeconfig "$DIR/kubeconfig" \
    --hostname-override "$NODE_NAME" --cluster-cidr "$POD_CIDR" --proxy-mode iptables \
    --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 \
    --conntrack-max-per-core 0
  wait_for kubelet 120 node_ready
}

up() {
  local t0; t0=$(now_ms)
  install_packages
  timed "build" build
  network
  certificates
  kubeconfig
  timed "etcd, API server, controller manager, scheduler" control_plane
  timed "containerd and the pause image" runtime
  timed "kubelet and kube-proxy, node Ready" node_components
  log "node $NODE_NAME Ready at $NODE_IP in $(( ($(now_ms) - t0) / 1000 )) s; KUBECONFIG=$DIR/kubeconfig"
}

stop() {
  local name=$1 pid
  [ -f "$DIR/$name.pid" ] || return 0
  pid=$(cat "$DIR/$name.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$DIR/$name.pid"
  log "$name stopped"
}

# The pods' containers go with containerd's shims; their mounts and the bridge with them.
down() {
  stop kubelet
  stop proxy
  if [ -S "$SOCK" ]; then
    local t
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$t" 2>/dev/null || true; done
    sleep 1
    for t in $(ctr_ containers ls -q 2>/dev/null); do ctr_ tasks rm -f "$t" >/dev/null 2>&1 || true; ctr_ containers rm "$t" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io -address $SOCK" 2>/dev/null || true
  stop scheduler
  stop controller-manager
  stop apiserver
  stop etcd
  grep " $DIR/" /proc/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  env)
    echo "export KUBECONFIG=$DIR/kubeconfig"
    echo "export SCRX_NODE_IP=$NODE_IP"
    echo "export SCRX_NODE_CONTAINERD=$SOCK"
    echo "export SCRX_HELM=$BIN/helm"
    echo "export SCRX_KUBECTL=$BIN/kubectl"
    ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac

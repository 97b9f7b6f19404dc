#!/usr/bin/env bash
# Builds the three ScraperX images (api, worker, operator) from the repository's Dockerfile
# without a Docker daemon and without reaching an image registry, and exports each as an
# archive `ctr images import` takes. Every step is timed.
#
#   scripts/images.sh [--tag TAG] [--profile release|dev] [--registry PREFIX] [--out DIR]
#                     [--refresh-base] [--import SOCKET] [--check]
#
#   --tag TAG          image tag (default: dev)
#   --profile P        cargo profile of the binaries: release (default) or dev
#   --registry PREFIX  image names are PREFIX/scraperx-<binary>:TAG, as the chart names them
#                      (default localhost/scraperx: `--set image.registry=localhost/scraperx`)
#   --out DIR          archives, the cached base and the build context (default
#                      $SCRX_IMAGES_DIR, else ~/.cache/scraperx-images)
#   --refresh-base     debootstrap a new base even when a cached one exists
#   --import SOCKET    import the archives into that containerd's k8s.io namespace
#                      (`ctr -a SOCKET -n k8s.io images import`), e.g. a kind or k3s node's
#   --check            then test them: e2e/images-check.sh (each image's --help, its serve
#                      command's health endpoints against the real services, and Chromium's
#                      sandboxed rendering of Latin, CJK and emoji in the worker image)
#
# The steps:
#   1. tools: buildah, debootstrap, containerd and runc from apt when missing;
#   2. binaries: `cargo build` on the host, under the shared cargo lock, into
#      CARGO_TARGET_DIR (default ~/.cache/scraperx-target), copied to the build context;
#   3. base: `debootstrap --variant=minbase bookworm`, trimmed the way debian:bookworm-slim is
#      (apt sources for bookworm, -updates and -security, no docs, man pages or locales, the
#      same apt and dpkg settings), cached as a tarball and committed with buildah as
#      localhost/scraperx/debian:bookworm-<date>-slim (the Dockerfile's DEBIAN_IMAGE);
#   4. images: `buildah build --target <binary>` with BINARIES=prebuilt (the Rust stage is
#      skipped: --skip-unused-stages), vfs storage, chroot isolation, host network;
#   5. archives: docker-archive tarballs, named inside with the full image name.
# Needs root (debootstrap, buildah). Users with Docker or BuildKit need none of this:
# `docker build --target api .` compiles from source (see the Dockerfile's header).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${SCRX_IMAGES_DIR:-$HOME/.cache/scraperx-images}
TAG=dev
PROFILE=release
REGISTRY=localhost/scraperx
REFRESH_BASE=0
IMPORT_SOCKET=""
CHECK=0
TARGETS=(api worker operator pgbouncer)
SUITE=bookworm
MIRROR=${SCRX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SCRX_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/scraperx-target} CARGO_INCREMENTAL=0
BUILDAH=(buildah --storage-driver vfs)
TIMES=()

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=scripts/lib/common.sh
. "$REPO/scripts/lib/common.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) TAG=${2:?}; shift 2 ;;
      --profile) PROFILE=${2:?}; shift 2 ;;
      --registry) REGISTRY=${2:?}; shift 2 ;;
      --out) OUT=${2:?}; shift 2 ;;
      --refresh-base) REFRESH_BASE=1; shift ;;
      --import) IMPORT_SOCKET=${2:?}; shift 2 ;;
      --check) CHECK=1; shift ;;
      -h|--help) usage ;;
      *) log "unknown option $1"; usage ;;
    esac
  done
  case "$PROFILE" in release|dev) ;; *) die "--profile is release or dev, not $PROFILE" ;; esac
  [ "$(id -u)" = 0 ] || die "run as root (debootstrap and buildah need it)"
}

image_name() { echo "$REGISTRY/scraperx-$1:$TAG"; }
archive_path() { echo "$OUT/archives/scraperx-$1-$TAG.tar"; }

# buildah (with its containers-common configuration), debootstrap, and containerd and runc
# for --import and --check.
install_tools() {
  install_commands buildah:buildah debootstrap:debootstrap containerd:containerd \
    ctr:containerd runc:runc
  log "buildah $(buildah --version | awk '{print $3}'), $(containerd --version | awk '{print $3}')" \
      "containerd, runc $(runc --version | awk 'NR==1{print $3}')"
}

# The three binaries, built on the host (the machine is bookworm, as the images are, so the
# glibc they link against is the images'), copied into the build context's dist/.
build_binaries() {
  local dir=release
  [ "$PROFILE" = dev ] && dir=debug
  log "cargo build --profile $PROFILE (CARGO_TARGET_DIR=$CARGO_TARGET_DIR; waits for the shared cargo lock)"
  (cd "$REPO" && flock -o /tmp/scraperx-cargo.lock cargo build --profile "$PROFILE" --locked \
    -p scraperx-api -p scraperx-worker -p scraperx-operator)
  mkdir -p "$OUT/context/dist"
  for bin in scraperx-api scraperx-worker scraperx-operator; do
    install -m 0755 "$CARGO_TARGET_DIR/$dir/$bin" "$OUT/context/dist/$bin"
  done
  log "binaries: $(du -ch "$OUT"/context/dist/* | awk 'END{print $1}') in $OUT/context/dist"
}

# dpkg and apt settings of debian:bookworm-slim (debuerreotype's): no docs, man pages or
# locales installed; no caches, translations or unpacked indexes kept; no services started.
write_slim_settings() {
  local r=$1
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
# Slim image: no documentation, manual pages or translations (copyright files stay).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
CFG
  echo force-unsafe-io >"$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf '#!/bin/sh\n# No services start in an image build.\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 0755 "$r/usr/sbin/policy-rc.d"
  rm -f "$r/etc/apt/sources.list"
  cat >"$r/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

# Brings the rootfs up to date from -updates and -security (as the dated images are), then
# removes what the slim settings exclude and what the bootstrap left behind.
upgrade_and_trim() {
  local r=$1
  mount -t proc proc "$r/proc"
  if ! chroot "$r" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
      'apt-get update -qq && apt-get dist-upgrade -y -qq && apt-get clean' >>"$OUT/base/debootstrap.log" 2>&1; then
    tail -n 20 "$OUT/base/debootstrap.log" >&2
    umount "$r/proc"
    die "apt-get dist-upgrade in the new rootfs failed"
  fi
  umount "$r/proc"
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r"/usr/share/{groff,info,linda,locale,man}/* "$r"/usr/share/lintian/overrides/*
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* "$r"/var/cache/debconf/*-old \
    "$r"/var/lib/dpkg/*-old "$r"/var/log/bootstrap.log "$r"/tmp/* "$r"/root/.bash_history
  find "$r/var/log" -type f -exec truncate -s 0 {} +
  # The runtime brings its own; these are the build machine's.
  rm -f "$r/etc/resolv.conf" "$r/etc/hostname"
  : >"$r/etc/machine-id"
}

# BASE_TARBALL: debootstrap --variant=minbase into a fresh dir, slimmed, tarred (without the
# device nodes debootstrap made: the runtime mounts /dev) under $OUT/base.
make_base_tarball() {
  local date r
  date=$(date -u +%Y%m%d)
  r="$OUT/base/rootfs-$date"
  BASE_TARBALL="$OUT/base/debian-$SUITE-$date-slim.tar"
  rm -rf "$r"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (log: $OUT/base/debootstrap.log)"
  debootstrap --variant=minbase --components=main "$SUITE" "$r" "$MIRROR" >"$OUT/base/debootstrap.log" 2>&1 \
    || { tail -n 20 "$OUT/base/debootstrap.log" >&2; die "debootstrap failed"; }
  write_slim_settings "$r"
  upgrade_and_trim "$r"
  tar --numeric-owner --xattrs --xattrs-include='*' --exclude='./dev/*' -C "$r" \
    -cf "$BASE_TARBALL.partial" .
  mv "$BASE_TARBALL.partial" "$BASE_TARBALL"
  rm -rf "$r"
  log "base rootfs: $(du -h "$BASE_TARBALL" | cut -f1) in $BASE_TARBALL"
}

# BASE_IMAGE: the newest cached tarball (or a new one) as a local image, committed once.
base_image() {
  BASE_TARBALL=$(ls -1 "$OUT"/base/debian-"$SUITE"-*-slim.tar 2>/dev/null | sort | tail -n 1 || true)
  local date ctr fresh=0
  if [ -z "$BASE_TARBALL" ] || [ "$REFRESH_BASE" = 1 ]; then
    timed "debootstrap and trim" make_base_tarball
    fresh=1
  else
    log "cached base rootfs $BASE_TARBALL (--refresh-base for a new one)"
  fi
  date=$(basename "$BASE_TARBALL" | sed -E 's/.*-([0-9]{8})-slim\.tar$/\1/')
  BASE_IMAGE="localhost/scraperx/debian:$SUITE-$date-slim"
  if [ "$fresh" = 0 ] && "${BUILDAH[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE already in buildah's storage"
    return
  fi
  ctr=$("${BUILDAH[@]}" from --quiet scratch)
  "${BUILDAH[@]}" add --quiet "$ctr" "$BASE_TARBALL" /
  "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash --label "org.opencontainers.image.description=Debian $SUITE, debootstrap minbase, slim ($date)" "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
  log "base image $BASE_IMAGE committed"
}

# One final target of the Dockerfile, from the prebuilt binaries. The build's output goes to
# a log; its STEP lines are shown.
build_image() {
  local t=$1 logf="$OUT/logs/build-$1.log"
  local version revision
  version=$(awk -F'"' '/^\[workspace.package\]/ { p = 1 } p && /^version/ { print $2; exit }' "$REPO/Cargo.toml")
  revision=$(git -C "$REPO" rev-parse --short=12 HEAD)
  [ -z "$(git -C "$REPO" status --porcelain --untracked-files=no)" ] || revision="$revision-dirty"
  log "buildah build --target $t -> $(image_name "$t") (log: $logf)"
  "${BUILDAH[@]}" build --isolation chroot --network host --layers --skip-unused-stages=true \
    --build-arg BINARIES=prebuilt --build-arg DEBIAN_IMAGE="$BASE_IMAGE" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --target "$t" -t "$(image_name "$t")" -f "$REPO/Dockerfile" "$OUT/context" >"$logf" 2>&1 \
    || { tail -n 30 "$logf" >&2; die "buildah build --target $t failed"; }
  grep -E 'STEP [0-9]+/[0-9]+: (FROM|COPY|RUN)' "$logf" | sed 's/^/  /' | cut -c1-120 >&2 || true
  remove_stage_leftovers "$logf"
}

# buildah 1.28 leaves the working container of a stage that is only a FROM (`FROM
# binaries-${BINARIES} AS binaries`) behind after each build: remove those, and only those.
remove_stage_leftovers() {
  local id
  for id in $(sed -nE 's/.*STEP 1\/1: FROM ([0-9a-f]{64}) AS binaries$/\1/p' "$1"); do
    "${BUILDAH[@]}" containers -q --filter "ancestor=$id" | xargs -r "${BUILDAH[@]}" rm >/dev/null
  done
}

# The image as a docker-archive whose manifest names it in full (ctr keeps that name).
export_image() {
  local t=$1 name archive
  name=$(image_name "$t")
  archive=$(archive_path "$t")
  rm -f "$archive"
  "${BUILDAH[@]}" push --quiet "$name" "docker-archive:$archive:$name"
}

import_images() {
  local t
  for t in "${TARGETS[@]}"; do
    ctr -a "$IMPORT_SOCKET" -n k8s.io images import "$(archive_path "$t")" >/dev/null
  done
  log "in $IMPORT_SOCKET (k8s.io):"
  ctr -a "$IMPORT_SOCKET" -n k8s.io images ls | awk 'NR == 1 || /scraperx-/' >&2
}

summary() {
  local t name
  log "images:"
  for t in "${TARGETS[@]}"; do
    name=$(image_name "$t")
    printf '  %-44s %9s  archive %s (%s)\n' "$name" \
      "$("${BUILDAH[@]}" images --format '{{.Size}}' "$name" | head -n 1)" \
      "$(archive_path "$t")" "$(du -h "$(archive_path "$t")" | cut -f1)" >&2
  done
}

main() {
  parse_args "$@"
  mkdir -p "$OUT/archives" "$OUT/base" "$OUT/logs"
  timed "tools" install_tools
  timed "binaries (cargo build --profile $PROFILE)" build_binaries
  timed "base image" base_image
  local t
  for t in "${TARGETS[@]}"; do timed "image $t" build_image "$t"; done
  for t in "${TARGETS[@]}"; do timed "archive $t" export_image "$t"; done
  if [ -n "$IMPORT_SOCKET" ]; then timed "import into $IMPORT_SOCKET (k8s.io)" import_images; fi
  summary
  if [ "$CHECK" = 1 ]; then
    timed "check" "$REPO/e2e/images-check.sh" --tag "$TAG" --registry "$REGISTRY" --out "$OUT"
  fi
  log "timings:"
  printf '  %s\n' "${TIMES[@]}" >&2
}

# Sourced (for a single step), it only defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi

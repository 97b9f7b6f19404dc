# syntax=docker/dockerfile:1
#
# The ScraperX images, one target each (one binary per image, and PgBouncer, as the chart expects:
# <registry>/scraperx-<binary>:<tag>):
#
#   docker build --target api      -t ghcr.io/scraperx/scraperx-api:0.1.0 .
#   docker build --target worker   -t ghcr.io/scraperx/scraperx-worker:0.1.0 .
#   docker build --target operator -t ghcr.io/scraperx/scraperx-operator:0.1.0 .
#   docker build --target pgbouncer -t ghcr.io/scraperx/scraperx-pgbouncer:0.1.0 .   (the chart's PgBouncer)
#
# By default the binaries are compiled from source in the official Rust image (BuildKit cache
# mounts keep the registry and target folder between builds). With
# `--build-arg BINARIES=prebuilt` they are taken instead from the folder PREBUILT_DIR of the
# build context (default `dist/`: scraperx-api, scraperx-worker, scraperx-operator, built with
# `cargo build --release` on a glibc no newer than bookworm's); a builder that skips unused
# stages (BuildKit, buildah --skip-unused-stages) then never needs the Rust image.
# scripts/images.sh builds them that way without a Docker daemon (buildah, a debootstrapped
# base) and tests them.
#
# With buildah or podman (1.28), pass the switch explicitly even for the default:
# `--build-arg BINARIES=source`. Their --skip-unused-stages (on by default) reads
# `FROM binaries-${BINARIES}` with the command line's build args only, so without it neither
# binaries stage is built and `FROM binaries-source` fails as an unknown image name.
#
# Every image runs as the non-root user and group 10001 (`scraperx`, the chart's
# podSecurity.runAsUser) and holds no shell tooling beyond Debian's minimal base.

# Pinned by dated tag (Debian 12.15, 2026-08-03) and toolchain version; pin digests too
# (`@sha256:...`) when you can check them against the registry you pull from.
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-20260803-slim
ARG RUST_IMAGE=docker.io/library/rust:1.95.0-bookworm
# source: compile in RUST_IMAGE; prebuilt: copy from the build context.
ARG BINARIES=source
# OCI labels of the final images (declared again, and used, after each image's packages, so a
# new revision does not rebuild those layers).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE_URL=https://github.com/scraperx/scraperx

# --- binaries, compiled from source ----------------------------------------------------------
FROM ${RUST_IMAGE} AS binaries-source
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=scraperx-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=scraperx-target,target=/src/target,sharing=locked \
    set -eux; \
    cargo build --release --locked -p scraperx-api -p scraperx-worker -p scraperx-operator; \
    mkdir -p /out; \
    cp target/release/scraperx-api target/release/scraperx-worker target/release/scraperx-operator /out/

# --- binaries, built on the host -------------------------------------------------------------
FROM scratch AS binaries-prebuilt
ARG PREBUILT_DIR=dist
COPY ${PREBUILT_DIR}/scraperx-api ${PREBUILT_DIR}/scraperx-worker ${PREBUILT_DIR}/scraperx-operator /out/

# The one the runtime stages copy from.
FROM binaries-${BINARIES} AS binaries

# --- what every runtime image shares ---------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --gid 10001 scraperx; \
    useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin scraperx
LABEL org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="ScraperX"

# --- the REST API (serve, migrate, bootstrap) ------------------------------------------------
FROM runtime AS api
COPY --from=binaries /out/scraperx-api /usr/local/bin/scraperx-api
ARG VERSION
ARG REVISION
ARG SOURCE_URL
LABEL org.opencontainers.image.title="scraperx-api" \
      org.opencontainers.image.description="ScraperX REST API: serve, migrate, bootstrap" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/scraperx-api"]
CMD ["--help"]

# --- the operator (run, maintenance, backup, restore) ----------------------------------------
# Its image is also the backup jobs' (the chart's backups.image, empty by default): pg_dump
# and pg_restore of PostgreSQL 15, redis-cli and redis-check-rdb.
FROM runtime AS operator
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql-client-15 redis-tools; \
    rm -rf /var/lib/apt/lists/*
COPY --from=binaries /out/scraperx-operator /usr/local/bin/scraperx-operator
ARG VERSION
ARG REVISION
ARG SOURCE_URL
LABEL org.opencontainers.image.title="scraperx-operator" \
      org.opencontainers.image.description="ScraperX Kubernetes operator: ScrapeBatch, WorkerPool, maintenance, backups" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
USER 10001:10001
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/scraperx-operator"]
CMD ["--help"]

# --- PgBouncer, for the chart's pgbouncer.enabled (seed 001 §8.2) -----------------------------
# Debian's PgBouncer (1.18 on bookworm); the chart mounts its pgbouncer.ini and auth file and
# runs `pgbouncer /etc/pgbouncer/pgbouncer.ini` as user 10001 on a read-only root filesystem.
FROM runtime AS pgbouncer
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends pgbouncer; \
    rm -rf /var/lib/apt/lists/* /etc/pgbouncer/*
ARG VERSION
ARG REVISION
ARG SOURCE_URL
LABEL org.opencontainers.image.title="scraperx-pgbouncer" \
      org.opencontainers.image.description="PgBouncer for ScraperX's chart (transaction pooling)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
USER 10001:10001
EXPOSE 6432
ENTRYPOINT ["/usr/sbin/pgbouncer"]
CMD ["--help"]

# --- the worker (run, check), with Chromium for the browser and stealth engines ---------------
# Chromium runs with its own sandbox (the worker never passes --no-sandbox): as a non-root
# user it needs user namespaces, which the container runtime's seccomp profile must allow.
# tini is PID 1 so the Chromium processes the worker outlives are reaped. Fonts: Latin
# (DejaVu, Liberation), CJK (Noto CJK) and emoji (Noto Color Emoji), and the metric-compatible
# families the stealth engine's font profiles rename to Windows and macOS families (Carlito,
# Caladea, URW base 35; worker/src/browser/stealth/fonts.rs, the same list as
# scripts/services.sh's STEALTH_FONTS); the font cache is built here.
FROM runtime AS worker
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
      chromium fontconfig fonts-dejavu-core fonts-liberation fonts-crosextra-carlito \
      fonts-crosextra-caladea fonts-urw-base35 fonts-noto-cjk fonts-noto-color-emoji tini; \
    rm -rf /var/lib/apt/lists/*; \
    fc-cache -f
COPY --from=binaries /out/scraperx-worker /usr/local/bin/scraperx-worker
ARG VERSION
ARG REVISION
ARG SOURCE_URL
LABEL org.opencontainers.image.title="scraperx-worker" \
      org.opencontainers.image.description="ScraperX worker: http, browser (Chromium) and stealth engines" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
# Chromium's profile, caches and crash files go under /tmp (an emptyDir in the chart, whose
# root filesystem is read-only).
ENV HOME=/tmp \
    SCRX_CHROMIUM=/usr/bin/chromium
USER 10001:10001
EXPOSE 8082
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/scraperx-worker"]
CMD ["--help"]

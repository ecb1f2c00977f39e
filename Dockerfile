# Container image of discord-monitor: a Rust builder stage and a small Debian runtime stage.
#
#   docker build -t discord-monitor .
#   docker run --rm -p 8080:8080 discord-monitor demo        # no credentials needed
#   docker compose up -d                                     # see docker-compose.yml
#
# Dependency caching uses a stub crate, not BuildKit cache mounts: the dependency layer is an
# ordinary image layer, so it is reused by the classic builder as well as BuildKit, and it can
# be shared through a registry (`--cache-from`) by CI runners that start empty, which a cache
# mount (local to one builder) cannot. It is rebuilt only when Cargo.toml or Cargo.lock change.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /build

# Every target the manifest declares must exist for cargo to read it: empty stand-ins here.
# The workspace has three crates: the service, discord-sim (which `demo` runs in-process) and
# test-python (test support, never built here, but a workspace member cargo must read).
COPY Cargo.toml Cargo.lock ./
COPY crates/discord-sim/Cargo.toml crates/discord-sim/
COPY crates/test-python/Cargo.toml crates/test-python/
RUN mkdir -p src benches crates/discord-sim/src crates/test-python/src \
 && touch src/lib.rs crates/discord-sim/src/lib.rs crates/test-python/src/lib.rs \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > crates/discord-sim/src/main.rs \
 && echo 'fn main() {}' > benches/ingest.rs \
 && cargo build --release --locked --bin discord-monitor \
 && rm -rf src benches crates/discord-sim/src crates/test-python/src

COPY migrations migrations
COPY benches benches
COPY crates crates
COPY src src
# COPY keeps the sources' modification times, which can be older than the stub's build: the
# touch makes cargo rebuild the crates instead of linking the stubs.
RUN touch src/lib.rs src/main.rs crates/discord-sim/src/lib.rs \
 && cargo build --release --locked --bin discord-monitor \
 && install -D -m 0755 target/release/discord-monitor /out/discord-monitor

# Same Debian release as the builder, so the binary's glibc matches. SQLite is compiled in and
# TLS is rustls (no OpenSSL). The gateway and SMTP clients carry webpki roots, but the HTTP
# client (reqwest 0.13: Discord REST, LLMs, webhooks, and `healthcheck`, which builds one too)
# verifies against the system's CA store and refuses to start without one: hence
# ca-certificates, the only package added. Not distroless: `docker compose exec` maintenance
# commands and a shell for debugging are worth the few megabytes.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# Fixed ids so volume ownership, Kubernetes' runAsUser/fsGroup and host bind mounts agree
# across rebuilds; 10001 is outside the range distributions hand to their own accounts.
ARG APP_UID=10001
ARG APP_GID=10001
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid "${APP_GID}" discord-monitor \
 && useradd --system --uid "${APP_UID}" --gid "${APP_GID}" --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin discord-monitor \
 && mkdir -p /app/data /app/logs /app/backups /app/demo-data \
 && chown "${APP_UID}:${APP_GID}" /app/data /app/logs /app/backups /app/demo-data

COPY --from=builder /out/discord-monitor /usr/local/bin/discord-monitor

# Last, so a new revision or build time does not invalidate the layers above.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="discord-monitor" \
      org.opencontainers.image.description="Watches Discord servers, keeps every message, and uses LLMs to tell its user what matters" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# Relative paths in the configuration resolve here: the defaults data/db.sqlite and logs/ land
# in the volumes below; `demo` writes to /app/demo-data. The backup volume is used when
# database.backup_dir (env DATABASE_BACKUP_DIR) is /app/backups, as docker-compose.yml and
# k8s/config.json set it; otherwise backups go to data/backups inside the data volume.
# No configuration file is baked in: mount one at /app/config.json (or set DM_CONFIG), or
# configure through the environment alone. No secret is in the image.
WORKDIR /app
USER ${APP_UID}:${APP_GID}
VOLUME ["/app/data", "/app/logs", "/app/backups"]

# The admin API: /health/live, /health/ready, /metrics (monitoring.health_check_port).
EXPOSE 8080
# The service stops cleanly on SIGTERM within monitoring.shutdown_timeout_secs (default 20 s):
# give it longer than that (`docker stop -t 45`, compose stop_grace_period 45s).
STOPSIGNAL SIGTERM
# `healthcheck` reads the same configuration as the service (so the same port) and asks
# /health/ready over loopback; no curl in the image.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["discord-monitor", "healthcheck"]

ENTRYPOINT ["discord-monitor"]
CMD ["run"]

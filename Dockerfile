# syntax=docker/dockerfile:1
# Sesame's container image: a Rust build stage and a small Debian runtime stage.
#
#   docker build -t sesame .
#   docker run --read-only -v sesame-data:/var/lib/sesame -p 9090:9090 sesame serve --demo
#
# The bases are build arguments, so the same file builds from the public images (the defaults) or
# from local ones made of Debian packages (packaging/container-base.sh; packaging/container-smoke.sh
# builds and checks the image that way with podman).
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# The toolchain is the image's own: rust-toolchain.toml is left out (.dockerignore), so rustup
# (where there is one) downloads nothing.
COPY . .
# Crates come from crates.io (or from a registry folder mounted at $CARGO_HOME/registry); the
# cache mounts keep them and the build between builds.
RUN --mount=type=cache,target=/src/target \
    --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --bin sesame \
    && install -m 0755 target/release/sesame /usr/local/bin/sesame \
    && /usr/local/bin/sesame man --dir /usr/local/share/man/man1 \
    && gzip -9n /usr/local/share/man/man1/*.1

FROM ${RUNTIME_IMAGE} AS runtime
# libssl3 and CA certificates (for SMS gateways, webhooks and upstream providers over TLS); the
# local Debian base already has them, so nothing is fetched there.
RUN if ! dpkg -s libssl3 ca-certificates >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libssl3 ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 sesame \
    && useradd --system --uid 10001 --gid sesame --home-dir /var/lib/sesame --no-create-home \
        --shell /usr/sbin/nologin sesame \
    && install -d -o sesame -g sesame -m 0700 /var/lib/sesame
COPY --from=build /usr/local/bin/sesame /usr/bin/sesame
COPY --from=build /usr/local/share/man/man1 /usr/share/man/man1

# Listen on every address inside the container; the data folder (SQLite database and, without a
# configured key, the development key-encryption key) is the one writable place: mount a volume.
# In production set SESAME_BASE_URL to the public URL, DATABASE_URL to PostgreSQL for several
# nodes, and SESAME_KEY_ENCRYPTION_KEY_FILE to a mounted secret.
ENV SESAME_LISTEN=0.0.0.0:9090 \
    SESAME_BASE_URL=http://localhost:9090 \
    SESAME_DATA_DIR=/var/lib/sesame \
    SESAME_LOG_FORMAT=json
VOLUME ["/var/lib/sesame"]
WORKDIR /var/lib/sesame
USER 10001:10001
EXPOSE 9090
# No curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/bin/sesame", "healthcheck"]
ENTRYPOINT ["/usr/bin/sesame"]
CMD ["serve"]

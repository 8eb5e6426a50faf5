#!/usr/bin/env bash
# Makes the two base images the Dockerfile builds FROM, out of Debian packages only, for machines
# that reach Debian's archive but no image registry. Elsewhere the Dockerfile's defaults
# (rust:1.95-bookworm, debian:bookworm-slim) are used instead and this script is not needed.
#
#   localhost/sesame-runtime-base:bookworm   Debian bookworm (apt variant, like bookworm-slim)
#                                            with ca-certificates and libssl3
#   localhost/sesame-rust-base:bookworm      Debian bookworm with build-essential, pkg-config and
#                                            libssl-dev, plus the Rust toolchain of this machine
#                                            (the one rust-toolchain.toml pins), copied in: no
#                                            toolchain is downloaded
#
# Needs root, mmdebstrap and podman (apt-get install mmdebstrap podman). Downloads Debian packages
# only. Usage: packaging/container-base.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

force=${1:-}
suite=bookworm
mirrors=(
  "deb http://deb.debian.org/debian $suite main"
  "deb http://deb.debian.org/debian $suite-updates main"
  "deb http://deb.debian.org/debian-security $suite-security main"
)
# As in Debian's slim images: no documentation, manual pages or translations.
slim=(
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have() { podman image exists "$1" && [ "$force" != "--force" ]; }

runtime=localhost/sesame-runtime-base:$suite
if have "$runtime"; then
  echo "$runtime exists (--force to rebuild)"
else
  echo "== $runtime: mmdebstrap $suite (apt variant) + ca-certificates libssl3"
  mmdebstrap --quiet --variant=apt --include=ca-certificates,libssl3 "${slim[@]}" \
    "$suite" "$work/runtime.tar" "${mirrors[@]}"
  podman import --change 'CMD ["/bin/bash"]' "$work/runtime.tar" "$runtime"
  rm -f "$work/runtime.tar"
fi

rust=localhost/sesame-rust-base:$suite
if have "$rust"; then
  echo "$rust exists (--force to rebuild)"
else
  sysroot=$(rustc --print sysroot)
  version=$(rustc --version | awk '{print $2}')
  want=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
  if [ "$version" != "$want" ]; then
    echo "this machine's rustc is $version, rust-toolchain.toml pins $want" >&2
    exit 1
  fi
  echo "== $rust: mmdebstrap $suite + build-essential pkg-config libssl-dev, Rust $version from $sysroot"
  mmdebstrap --quiet --variant=apt --include=ca-certificates,build-essential,pkg-config,libssl-dev \
    "${slim[@]}" \
    --customize-hook="mkdir -p \"\$1/usr/local/rust\"" \
    --customize-hook="copy-in $sysroot/bin $sysroot/lib $sysroot/libexec /usr/local/rust" \
    --customize-hook="for t in cargo rustc rustdoc; do ln -s /usr/local/rust/bin/\$t \"\$1/usr/local/bin/\$t\"; done" \
    "$suite" "$work/rust.tar" "${mirrors[@]}"
  podman import --change 'ENV CARGO_HOME=/usr/local/cargo' --change 'CMD ["/bin/bash"]' \
    "$work/rust.tar" "$rust"
  rm -f "$work/rust.tar"
fi
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep sesame- || true

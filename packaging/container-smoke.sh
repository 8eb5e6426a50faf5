#!/usr/bin/env bash
# Builds Sesame's image with podman from local Debian-made bases (packaging/container-base.sh), runs
# it as an operator would (read-only root file system, a volume for the data folder, the demo), and
# checks it: /healthz, /readyz, discovery and JWKS answer, the health check passes, the process is
# not root, nothing outside the volume is writable. Prints the image size and the start time (from
# `podman run` to the first 200 from /readyz).
#
# Downloads Debian packages (the bases) and crates (the build inside the container) only.
# Needs root, podman and mmdebstrap. Usage: packaging/container-smoke.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."

port=${1:-19090}
image=localhost/sesame:smoke
name=sesame-smoke-$$
volume=sesame-smoke-data-$$

bash packaging/container-base.sh

# Some machines (this one included: a sandbox with hybrid cgroups and a hard limit on open files
# and processes) cannot run containers with podman's defaults: crun refuses hybrid cgroups and the
# default rlimits exceed the hard limits. Then use runc the current hard limit on open files and
# 4096 processes (setting the hard process limit itself is refused).
ulimits=()
if ! podman run --rm localhost/sesame-runtime-base:bookworm true >/dev/null 2>&1; then
  command -v runc >/dev/null || { echo "podman cannot run containers here; apt-get install runc" >&2; exit 1; }
  conf=$(mktemp)
  cat >"$conf" <<CONF
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF=$conf
  ulimits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
  podman run --rm "${ulimits[@]}" localhost/sesame-runtime-base:bookworm true
  echo "podman: runc with ${ulimits[*]} (the defaults cannot run here)"
fi

echo "== podman build (the Dockerfile, FROM the local bases)"
build_start=$(date +%s)
# The build fetches crates from crates.io with the CA certificates this machine trusts (a network
# that inspects TLS has its own root there).
podman build --format docker --layers "${ulimits[@]}" \
  -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  --build-arg RUST_IMAGE=localhost/sesame-rust-base:bookworm \
  --build-arg RUNTIME_IMAGE=localhost/sesame-runtime-base:bookworm \
  -t "$image" -f Dockerfile .
echo "build took $(( $(date +%s) - build_start )) s"

cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; podman logs "$name" 2>&1 | tail -40 >&2 || true; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

size=$(podman image inspect "$image" --format '{{.Size}}')
echo "image size: $size bytes ($(( size / 1024 / 1024 )) MiB)"

echo "== podman run --read-only with a volume, serve --demo"
podman volume create "$volume" >/dev/null
start_ns=$(date +%s%N)
podman run -d "${ulimits[@]}" --name "$name" --read-only -v "$volume:/var/lib/sesame" \
  -p "127.0.0.1:$port:9090" -e "SESAME_BASE_URL=http://localhost:$port" \
  "$image" serve --demo >/dev/null
ready=""
for _ in $(seq 1 300); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; then
    ready=$(date +%s%N)
    break
  fi
  [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] || fail "the container stopped"
  sleep 0.05
done
[ -n "$ready" ] || fail "/readyz did not answer 200 within 15 s"
echo "start time: $(( (ready - start_ns) / 1000000 )) ms from podman run to /readyz 200"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
[ "$code" = 200 ] && ok "/healthz 200" || fail "/healthz answered $code"
ok "/readyz 200"
issuer=$(curl -sf "http://127.0.0.1:$port/t/demo/.well-known/openid-configuration" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])') || fail "no discovery document"
[ "$issuer" = "http://localhost:$port/t/demo" ] && ok "discovery issuer $issuer" || fail "discovery issuer $issuer"
kids=$(curl -sf "http://127.0.0.1:$port/t/demo/jwks" \
  | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["keys"]))') || fail "no JWKS"
[ "$kids" -ge 1 ] && ok "JWKS has $kids keys" || fail "JWKS has no keys"

podman healthcheck run "$name" >/dev/null && ok "HEALTHCHECK (sesame healthcheck) passes" || fail "health check failed"
user=$(podman exec "$name" sh -c 'id -u')
[ "$user" != 0 ] && ok "runs as uid $user" || fail "runs as root"
podman exec "$name" sh -c 'touch /usr/bin/x 2>/dev/null' && fail "the root file system is writable" \
  || ok "the root file system is read-only"
podman exec "$name" sh -c 'test -s /var/lib/sesame/sesame.db && test -s /var/lib/sesame/key-encryption.key' \
  && ok "the database and the development key are on the volume" || fail "no database on the volume"
podman exec "$name" sesame backup --to /var/lib/sesame/backup.db | grep -q "key-encryption key" \
  && ok "sesame backup writes to the volume and reminds of the key" || fail "sesame backup"

echo "== restart on the same volume: the data stays"
kid_before=$(curl -sf "http://127.0.0.1:$port/t/demo/jwks" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["kid"])')
podman restart "$name" >/dev/null
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
  sleep 0.05
done
kid_after=$(curl -sf "http://127.0.0.1:$port/t/demo/jwks" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["kid"])')
[ "$kid_before" = "$kid_after" ] && ok "same signing key after a restart" || fail "key changed: $kid_before -> $kid_after"

echo "container-smoke: $passed passed, 0 failed"

#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after the other, at the lowest
# CPU priority, and prints a summary line per target: executions, executions per second,
# coverage (libFuzzer's `cov`, edges reached) and the corpus size.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        (default: 30 seconds, every target)
#
# Needs `cargo install cargo-fuzz --locked --version 0.13.2`. cargo fuzz asks for nightly
# compiler flags (-Cpasses=sancov-module with -Z options); the stable toolchain takes them with
# RUSTC_BOOTSTRAP=1, so no nightly is needed. No sanitizer (`-s none`): Sesame has no unsafe code
# (`unsafe_code = "forbid"`), what is looked for is panics, and AddressSanitizer would halve the
# executions. Builds in release mode with debug assertions and overflow checks (cargo fuzz's
# default), so an arithmetic overflow is a crash too.
#
# The working corpus grows in fuzz/corpus/TARGET (not committed); the seeds in fuzz/seeds/TARGET
# are committed and read only. A crash leaves its input in fuzz/artifacts/TARGET and makes this
# script fail; reproduce it with `cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-…`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
export RUSTC_BOOTSTRAP=1
# Its own target dir: the instrumented build shares nothing with the normal one.
target_dir=${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}
target_dir=${target_dir:-fuzz/target}
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

nice -n 19 cargo fuzz build -s none --target-dir "$target_dir"

log_dir=$target_dir/logs
mkdir -p "$log_dir"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log=$log_dir/$t.log
  echo "== fuzz $t for ${seconds}s (log: $log)"
  if ! nice -n 19 cargo fuzz run -s none --target-dir "$target_dir" "$t" \
      "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    failed+=("$t")
    tail -n 40 "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  echo "$t: ${runs:-?} executions in ${seconds}s (${speed:-?}/s), cov ${cov:-?}, corpus ${corp:-?}"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed (crash or error) in: ${failed[*]}" >&2
  exit 1
fi

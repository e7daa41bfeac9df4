#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (header, chunk_open, policy) for a given time each and
# prints the executions and any crash. The machine has only stable Rust: cargo-fuzz needs
# nightly flags (-Zsanitizer), so RUSTC_BOOTSTRAP=1 lets stable rustc accept them.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600 s, every target)
#
# Seeds are read from fuzz/corpus/TARGET (committed); what the fuzzer finds goes to
# fuzz/target/corpus/TARGET (ignored by git), crashes to fuzz/artifacts/TARGET. Builds use
# fuzz/target, never the shared target dir. Installs cargo-fuzz if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(header chunk_open policy)

if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$PWD/fuzz/target"

status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/target/fuzz-$t.log"
    echo "== $t: ${secs}s (log: $log)"
    # -timeout: any input taking over 10 s is a hang; -rss_limit_mb keeps the fuzzer polite.
    if (cd fuzz && nice -n 10 cargo fuzz run -O "$t" "target/corpus/$t" "corpus/$t" -- \
            -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -print_final_stats=1) >"$log" 2>&1; then
        result="no crash"
    else
        result="FAILED (see $log and fuzz/artifacts/$t)"
        status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "   $t: ${execs:-?} executions, ${cov:-cov: ?}, $result"
done
exit "$status"

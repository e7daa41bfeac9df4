#!/usr/bin/env bash
# The long randomized fault run: N seeded trials (default 100), each a put through a random
# fault (connection reset, stall, 503/500, KMS throttling; one in five permanent) and, if it
# stored the object, a get through another. Every trial must end byte-identical, or failed with
# exit 1 and nothing left behind (no object, no open multipart upload, no file). The trials live
# in tests/e2e_chaos.rs (`chaos`); a trial is replayed from its seed.
#
#   scripts/chaos.sh [TRIALS] [SEED]      (needs the local servers: scripts/local-aws.sh start)
#
# Prints the summary line that docs/RELIABILITY.md records, and exits non-zero on a violation.
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-100}"
seed="${2:-1}"
if ! bash scripts/local-aws.sh status >/dev/null; then
    echo "local servers are down: run scripts/local-aws.sh start" >&2
    exit 2
fi
# shellcheck disable=SC1091
. .local-aws/env
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Run a snapshot of the binary: the target dir may be shared with builds that relink it.
cargo build --bin s3seal
cargo test --test e2e_chaos --no-run
cp target/debug/s3seal "$work/s3seal"
status=0
S3SEAL_TEST_BIN="$work/s3seal" S3SEAL_CHAOS_TRIALS="$trials" S3SEAL_CHAOS_SEED="$seed" \
    S3SEAL_CHAOS_REPORT="$work/report" \
    cargo test --test e2e_chaos chaos -- --ignored --exact chaos --nocapture || status=$?
report="$work/report"
cat "$report" 2>/dev/null || true
exit "$status"

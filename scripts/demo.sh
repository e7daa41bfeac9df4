#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: build s3seal, encrypt and upload a generated
# file, download and verify it, and show what S3 really stored.
#
# Against real AWS when S3SEAL_DEMO_BUCKET and S3SEAL_KMS_KEY_ID are set (and AWS credentials
# are configured the usual way); otherwise against the local S3 + KMS servers that
# scripts/local-aws.sh starts (and this script stops again).
#
#   bash scripts/demo.sh            # local servers
#   S3SEAL_DEMO_BUCKET=my-bucket S3SEAL_KMS_KEY_ID=alias/my-key bash scripts/demo.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SIZE_MIB="${S3SEAL_DEMO_MIB:-64}"

step() { printf '\n==> %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "demo.sh: cargo not found; install Rust (rustup) first" >&2; exit 1; }

step "building s3seal (release)"
cargo build --release --bin s3seal
S3SEAL="$ROOT/target/release/s3seal"

if [[ -n "${S3SEAL_DEMO_BUCKET:-}" && -n "${S3SEAL_KMS_KEY_ID:-}" ]]; then
    BUCKET="$S3SEAL_DEMO_BUCKET"
    step "using real AWS: bucket $BUCKET, KMS key $S3SEAL_KMS_KEY_ID"
    PY=python3
    POSTURE=(--posture enforce)
else
    step "no S3SEAL_DEMO_BUCKET/S3SEAL_KMS_KEY_ID: starting local S3 (s3s, SigV4) and KMS (moto) over HTTPS"
    trap 'bash "$ROOT/scripts/local-aws.sh" stop' EXIT
    bash scripts/local-aws.sh start
    # shellcheck source=/dev/null
    . .local-aws/env
    export AWS_ENDPOINT_URL_S3="$S3SEAL_TEST_S3S_ENDPOINT"
    export AWS_ENDPOINT_URL_KMS="$S3SEAL_TEST_MOTO_ENDPOINT"
    export AWS_ACCESS_KEY_ID="$S3SEAL_TEST_S3S_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3SEAL_TEST_S3S_SECRET_KEY"
    export S3SEAL_KMS_KEY_ID="$S3SEAL_TEST_KMS_KEY_ALIAS"
    BUCKET="$S3SEAL_TEST_BUCKET"
    PY="$S3SEAL_TEST_VENV/bin/python"
    # The s3s server implements none of the bucket-configuration calls the posture check reads
    # (every check would be "unknown"); the test suite exercises the gate against moto.
    POSTURE=(--posture off)
    echo "note: the local s3s server has no bucket-configuration API, so the posture gate is off here" >&2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; [[ -z "${S3SEAL_DEMO_BUCKET:-}" ]] && bash "$ROOT/scripts/local-aws.sh" stop || true' EXIT
KEY="s3seal-demo/$(date +%s)-$$.bin"

step "generating $SIZE_MIB MiB of random data"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/plain.bin"
sha256sum "$WORK/plain.bin" | tee "$WORK/plain.sha256"

step "s3seal put (encrypt with a fresh KMS data key, parallel multipart upload)"
"$S3SEAL" put "$WORK/plain.bin" "s3://$BUCKET/$KEY" --context purpose=demo "${POSTURE[@]}"

step "s3seal get (parallel ranged GETs, every chunk verified before the file appears)"
"$S3SEAL" get "s3://$BUCKET/$KEY" "$WORK/back.bin" --context purpose=demo
cmp "$WORK/plain.bin" "$WORK/back.bin"
echo "round trip: identical ($(stat -c %s "$WORK/back.bin") bytes)"

step "a stream: stdin -> S3 -> stdout"
head -c 3000000 /dev/urandom | tee "$WORK/stream.bin" | "$S3SEAL" put - "s3://$BUCKET/$KEY.stream" --quiet "${POSTURE[@]}"
"$S3SEAL" get "s3://$BUCKET/$KEY.stream" - --quiet | cmp - "$WORK/stream.bin"
echo "stream round trip: identical"

step "what S3 stored (read back with a plain S3 client, no s3seal)"
"$PY" - "$BUCKET" "$KEY" "$WORK/plain.bin" <<'PYEOF'
import sys, boto3
bucket, key, plain_path = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3")
head = s3.head_object(Bucket=bucket, Key=key)
body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
plain = open(plain_path, "rb").read()
print(f"stored bytes: {len(body)} (plaintext {len(plain)}; overhead {len(body) - len(plain)} = header + 16 B per chunk)")
print(f"first 16 bytes: {body[:16].hex(' ')}  (magic \\x89S3SEAL\\n, version 1)")
print(f"plaintext visible in the stored object: {plain[4096:4160] in body}")
sse = head.get("ServerSideEncryption")
print(f"ServerSideEncryption: {sse}  SSEKMSKeyId: {head.get('SSEKMSKeyId')}"
      + ("" if sse else "  (s3seal sent SSE-KMS headers; the local s3s server does not echo them, AWS and moto do)"))
PYEOF

step "tampering is detected: flip one stored byte, then get"
"$PY" - "$BUCKET" "$KEY" <<'PYEOF'
import sys, boto3
bucket, key = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3")
body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
body[-100] ^= 1
s3.put_object(Bucket=bucket, Key=key + ".tampered", Body=bytes(body))
PYEOF
set +e
"$S3SEAL" get "s3://$BUCKET/$KEY.tampered" "$WORK/tampered.out" --allow-relocated --context purpose=demo
rc=$?
set -e
echo "exit code $rc (3 = integrity failure); output file exists: $([[ -e $WORK/tampered.out ]] && echo yes || echo no)"
[[ $rc -eq 3 && ! -e "$WORK/tampered.out" ]]

step "demo finished: encrypted, uploaded, verified, and tampering refused"

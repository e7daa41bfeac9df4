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

if [[ -n "${S3SEAL_DEMO_BIN:-}" ]]; then
    S3SEAL="$S3SEAL_DEMO_BIN"   # a binary built already (for trying the script out quickly)
else
    step "building s3seal (release)"
    cargo build --release --bin s3seal
    S3SEAL="$ROOT/target/release/s3seal"
fi

if [[ -n "${S3SEAL_DEMO_BUCKET:-}" && -n "${S3SEAL_KMS_KEY_ID:-}" ]]; then
    BUCKET="$S3SEAL_DEMO_BUCKET"
    step "using real AWS: bucket $BUCKET, KMS key $S3SEAL_KMS_KEY_ID"
    PY=python3
    POSTURE=(--posture enforce)
    KMS_KEY_ARN="$S3SEAL_KMS_KEY_ID"   # an alias is resolved once (DescribeKey) when pinned
    OTHER_KMS_KEY="${S3SEAL_DEMO_OTHER_KMS_KEY_ID:-}"
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
    # (every check would be "unknown"), so the transfers below skip the gate; the gate itself
    # is shown further down against moto, which serves that API.
    POSTURE=(--posture off)
    KMS_KEY_ARN="$S3SEAL_TEST_KMS_KEY_ARN"
    OTHER_KMS_KEY="$S3SEAL_TEST_OTHER_KMS_KEY_ARN"
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

step "reading with the KMS key pinned (--expected-kms-key-id): the summary names the key used"
"$S3SEAL" get "s3://$BUCKET/$KEY" "$WORK/pinned.bin" --context purpose=demo \
    --expected-kms-key-id "$KMS_KEY_ARN"
cmp "$WORK/plain.bin" "$WORK/pinned.bin"

if [[ -n "$OTHER_KMS_KEY" ]]; then
    step "an object planted by someone who may write to the bucket, under their own KMS key, is refused"
    "$S3SEAL" put "$WORK/stream.bin" "s3://$BUCKET/$KEY.planted" --kms-key-id "$OTHER_KMS_KEY" \
        --quiet "${POSTURE[@]}"
    set +e
    "$S3SEAL" get "s3://$BUCKET/$KEY.planted" "$WORK/planted.out" --expected-kms-key-id "$KMS_KEY_ARN"
    rc=$?
    set -e
    echo "exit code $rc (3 = integrity failure, before any KMS call); output file exists: $([[ -e $WORK/planted.out ]] && echo yes || echo no)"
    [[ $rc -eq 3 && ! -e "$WORK/planted.out" ]]
else
    echo "(set S3SEAL_DEMO_OTHER_KMS_KEY_ID to a second key to see a planted object refused)" >&2
fi

if [[ -z "${S3SEAL_DEMO_BUCKET:-}" ]]; then
    # moto serves the bucket-configuration API the posture check reads.
    on_moto() {
        env -u AWS_ENDPOINT_URL_S3 -u AWS_ENDPOINT_URL_KMS AWS_ENDPOINT_URL="$S3SEAL_TEST_MOTO_ENDPOINT" \
            AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$@"
    }
    PUBLIC="s3seal-demo-public-$$"
    PRIVATE="s3seal-demo-private-$$"
    on_moto "$PY" - "$PUBLIC" "$PRIVATE" <<'PYEOF'
import json, os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], verify=os.environ["AWS_CA_BUNDLE"])
public, private = sys.argv[1], sys.argv[2]
for bucket in (public, private):
    s3.create_bucket(Bucket=bucket)
s3.put_bucket_policy(Bucket=public, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{public}/*"}]}))
s3.put_public_access_block(Bucket=private, PublicAccessBlockConfiguration={
    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
s3.put_bucket_versioning(Bucket=private, VersioningConfiguration={"Status": "Enabled"})
PYEOF
    step "the posture gate: an upload to a bucket anyone may read is refused, nothing is stored"
    set +e
    on_moto "$S3SEAL" put "$WORK/stream.bin" "s3://$PUBLIC/report.bin" --kms-key-id "$KMS_KEY_ARN"
    rc=$?
    set -e
    echo "exit code $rc (4 = refused by the posture check)"
    [[ $rc -eq 4 ]]

    step "the posture gate: a private bucket is accepted (weaker findings are printed, not refused)"
    on_moto "$S3SEAL" put "$WORK/stream.bin" "s3://$PRIVATE/report.bin" --kms-key-id "$KMS_KEY_ARN"

    step "the same check on its own, for an audit (s3seal posture)"
    set +e
    on_moto "$S3SEAL" posture "s3://$PRIVATE"
    echo "exit code $? (0 ok, 4 block, 5 warn, 6 unknown)"
    set -e
fi

step "demo finished: encrypted, uploaded, verified, tampering and planted objects refused, the posture gate shown"

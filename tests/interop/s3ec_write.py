"""Writes objects with the official AWS S3 Encryption Client for Python (4.0.0), so that
tests/e2e_s3ec.rs can check that s3seal reads them byte-identical. Run by that test with
$S3SEAL_TEST_VENV/bin/python against moto over TLS (AWS_CA_BUNDLE).

Reads a JSON list of jobs on stdin, one object each:
  {"key": ..., "input": PATH, "format": "v2"|"v3", "context": {...}, "multipart": bool,
   "instruction_file": bool}
and prints one JSON line per job with the user metadata S3 stored.

"instruction_file": the Python client only writes metadata on the object, so the script moves
the key material into KEY.instruction afterwards, laid out as the S3EC specification says
(v2: all of it; v3: all but x-amz-c/x-amz-d/x-amz-i), and checks that the official client
still decrypts it, so the layout s3seal is tested against is one the client accepts.
"""

import argparse
import json
import sys

import boto3
from botocore.config import Config

from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials import AlgorithmSuite, CommitmentPolicy, KmsKeyring

V3_OBJECT_ONLY = {"x-amz-c", "x-amz-d", "x-amz-i"}
S3EC_KEYS = {
    "x-amz-key", "x-amz-key-v2", "x-amz-wrap-alg", "x-amz-matdesc", "x-amz-iv",
    "x-amz-cek-alg", "x-amz-tag-len", "x-amz-c", "x-amz-3", "x-amz-m", "x-amz-t",
    "x-amz-w", "x-amz-d", "x-amz-i",
}


def clients(endpoint):
    """A fresh boto3 S3 and KMS client pair (one per encryption client)."""
    cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg)
    kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
    return s3, kms


def encryption_client(endpoint, kms_key_id, fmt):
    s3, kms = clients(endpoint)
    keyring = KmsKeyring(kms_client=kms, kms_key_id=kms_key_id)
    if fmt == "v3":
        config = S3EncryptionClientConfig(keyring=keyring)
    elif fmt == "v2":
        config = S3EncryptionClientConfig(
            keyring=keyring,
            encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
            commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
        )
    else:
        raise SystemExit(f"unknown format {fmt}")
    return S3EncryptionClient(wrapped_s3_client=s3, config=config)


def move_to_instruction_file(s3, bucket, key, fmt):
    head = s3.head_object(Bucket=bucket, Key=key)
    meta = head["Metadata"]
    if fmt == "v3":
        moved = {k: v for k, v in meta.items() if k in S3EC_KEYS and k not in V3_OBJECT_ONLY}
    else:
        moved = {k: v for k, v in meta.items() if k in S3EC_KEYS}
    kept = {k: v for k, v in meta.items() if k not in moved}
    s3.put_object(
        Bucket=bucket,
        Key=key + ".instruction",
        Body=json.dumps(moved).encode(),
        Metadata={"x-amz-crypto-instr-file": ""},
    )
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        Metadata=kept,
        MetadataDirective="REPLACE",
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--kms-key-id", required=True)
    args = ap.parse_args()
    jobs = json.load(sys.stdin)
    for job in jobs:
        client = encryption_client(args.endpoint, args.kms_key_id, job["format"])
        # The encryption client hooks the boto3 client it wraps: plain calls use their own.
        s3, _ = clients(args.endpoint)
        key = job["key"]
        context = job.get("context") or None
        extra = {"EncryptionContext": context} if context else {}
        if job.get("multipart"):
            client.upload_file(
                job["input"], args.bucket, key,
                multipart_threshold=5 * 1024 * 1024,
                multipart_chunksize=5 * 1024 * 1024,
                **extra,
            )
        else:
            with open(job["input"], "rb") as f:
                body = f.read()
            client.put_object(Bucket=args.bucket, Key=key, Body=body, **extra)
        if job.get("instruction_file"):
            move_to_instruction_file(s3, args.bucket, key, job["format"])
            # The official client must still read it (fresh client, as a reader would have).
            reader = encryption_client(args.endpoint, args.kms_key_id, job["format"])
            got = reader.get_object(Bucket=args.bucket, Key=key, **extra)["Body"].read()
            with open(job["input"], "rb") as f:
                if got != f.read():
                    raise SystemExit(f"official client read back different bytes for {key}")
        head = s3.head_object(Bucket=args.bucket, Key=key)
        print(json.dumps({"key": key, "metadata": head["Metadata"], "size": head["ContentLength"]}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()

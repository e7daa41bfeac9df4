"""Wait for the local test servers and create the fixtures s3seal's tests expect.

Run by scripts/local-aws.sh start with the venv's Python. On moto it creates two
symmetric KMS keys (aliases alias/s3seal-test and alias/s3seal-other) and the test
bucket; on the s3s server it creates the test bucket. Both servers are reached
over HTTPS, trusting only the throwaway CA. Prints `NAME=value` lines on stdout
for the env file; progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

REGION = "us-east-1"


def log(msg: str) -> None:
    print(f"local_aws_setup: {msg}", file=sys.stderr, flush=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def wait_https(url: str, ca: str, deadline: float, pids: list[int]) -> None:
    """Wait until `url` answers any HTTP status over TLS verified against `ca`.

    Gives up at once if a server process in `pids` has exited.
    """
    context = ssl.create_default_context(cafile=ca)
    last: Exception | None = None
    while time.monotonic() < deadline:
        dead = [pid for pid in pids if not alive(pid)]
        if dead:
            raise SystemExit(f"local_aws_setup: server process {dead} exited before {url} answered")
        try:
            with urllib.request.urlopen(url, context=context, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # an HTTP error status still proves TLS and HTTP work
        except (urllib.error.URLError, OSError) as e:
            last = e
            time.sleep(0.2)
    raise SystemExit(f"local_aws_setup: {url} did not answer over HTTPS: {last}")


def client(service: str, endpoint: str, ca: str, key: str, secret: str):  # noqa: ANN201
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        verify=ca,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def create_bucket(s3, bucket: str) -> None:  # noqa: ANN001
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.head_bucket(Bucket=bucket)


def create_key_with_alias(kms, alias: str) -> str:  # noqa: ANN001
    """Return the ARN of the key behind `alias`, creating both when missing."""
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except kms.exceptions.NotFoundException:
        pass
    meta = kms.create_key(
        Description=f"s3seal local test key ({alias})",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return meta["Arn"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ca", required=True)
    p.add_argument("--moto-endpoint", required=True)
    p.add_argument("--s3s-endpoint", required=True)
    p.add_argument("--s3s-access-key", required=True)
    p.add_argument("--s3s-secret-key", required=True)
    p.add_argument("--bucket", default="s3seal-test")
    p.add_argument("--kms-alias", default="alias/s3seal-test")
    p.add_argument("--other-kms-alias", default="alias/s3seal-other")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--watch-pid", type=int, action="append", default=[], help="fail at once if it exits")
    a = p.parse_args()

    deadline = time.monotonic() + a.timeout
    wait_https(f"{a.moto_endpoint}/moto-api/", a.ca, deadline, a.watch_pid)
    wait_https(f"{a.s3s_endpoint}/", a.ca, deadline, a.watch_pid)
    log("both endpoints answer over HTTPS")

    kms = client("kms", a.moto_endpoint, a.ca, "test", "test")
    key_arn = create_key_with_alias(kms, a.kms_alias)
    other_arn = create_key_with_alias(kms, a.other_kms_alias)
    create_bucket(client("s3", a.moto_endpoint, a.ca, "test", "test"), a.bucket)
    s3s = client("s3", a.s3s_endpoint, a.ca, a.s3s_access_key, a.s3s_secret_key)
    create_bucket(s3s, a.bucket)
    log(f"created {a.kms_alias}, {a.other_kms_alias} and bucket {a.bucket} (moto); bucket {a.bucket} (s3s)")

    print(f"S3SEAL_TEST_KMS_KEY_ARN={key_arn}")
    print(f"S3SEAL_TEST_OTHER_KMS_KEY_ARN={other_arn}")


if __name__ == "__main__":
    main()

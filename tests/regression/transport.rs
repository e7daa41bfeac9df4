//! What crosses the wire and the terminal: HTTPS for every client, hostile servers and bytes,
//! signals and leftovers, options that must not be ignored, partial output on stdout.

#[allow(unused_imports)]
use super::common::*;

use predicates::prelude::*;

/// A file of `len` deterministic bytes in a fresh directory.
fn source_file(len: usize, seed: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, data(len, seed)).unwrap();
    (dir, src)
}

/// Whether `key` exists in the test bucket (moto).
fn exists(key: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let aws = moto_aws().await;
        aws.s3
            .head_object()
            .bucket(&env().bucket)
            .key(key)
            .send()
            .await
            .is_ok()
    })
}

/// A presigned PUT URL made by the SDK itself, signing no SSE header (moto accepts it).
fn presigned_put_without_sse(key: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let aws = moto_aws().await;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(
            std::time::Duration::from_secs(600),
        )
        .unwrap();
        aws.s3
            .put_object()
            .bucket(&env().bucket)
            .key(key)
            .presigned(config)
            .await
            .unwrap()
            .uri()
            .to_string()
    })
}

// ---- Item 7: options that are silently ignored ----

#[test]
fn put_to_presigned_url_refuses_posture_and_owner_options() {
    let key = unique_key("url-posture");
    let out = s3seal(Target::Moto)
        .args(["presign", "--put", &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .success();
    let url = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let url = url.lines().next().unwrap().to_string();
    let (_dir, src) = source_file(1000, 71);
    for extra in [
        &["--posture", "strict"][..],
        &["--posture", "enforce"][..],
        &["--expected-owner", "123456789012"][..],
        &["--trusted-account", "123456789012"][..],
    ] {
        s3seal(Target::Moto)
            .args(["put", src.to_str().unwrap(), &url])
            .args(["--kms-key-id", &env().kms_arn])
            .args(extra)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("cannot apply to a presigned URL"));
    }
    assert!(!exists(&key), "a refused put stored the object");
    // --posture off says nothing about a bucket: still allowed.
    s3seal(Target::Moto)
        .args(["put", src.to_str().unwrap(), &url])
        .args(["--kms-key-id", &env().kms_arn, "--posture", "off"])
        .assert()
        .success();
}

#[test]
fn presigned_put_url_without_signed_sse_is_refused() {
    let key = unique_key("url-no-sse");
    let url = presigned_put_without_sse(&key);
    let (_dir, src) = source_file(1000, 72);
    s3seal(Target::Moto)
        .args(["put", src.to_str().unwrap(), &url])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("x-amz-server-side-encryption"))
        .stderr(predicate::str::contains("s3seal presign --put"));
    assert!(!exists(&key), "an upload without SSE-KMS was stored");
}

#[test]
fn posture_enforce_names_unknown_checks_in_one_line() {
    // The s3s server implements none of the bucket-settings reads: every check is unknown.
    let key = unique_key("enforce-unknown");
    let (_dir, src) = source_file(1000, 73);
    let out = s3seal(Target::S3s)
        .args(["put", src.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("could not be read"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("policy-public") && lines[0].contains("--posture strict"),
        "{stderr}"
    );
}

#[test]
fn posture_strict_refuses_unknown_checks() {
    let key = unique_key("strict-unknown");
    let (_dir, src) = source_file(1000, 74);
    s3seal(Target::S3s)
        .args(["put", src.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_arn, "--posture", "strict"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("nothing was uploaded"));
    s3seal(Target::S3s)
        .args(["get", &s3_uri(&key), "-"])
        .assert()
        .failure();
}

// ---- Item 9: partial output on stdout ----

#[test]
fn buffer_to_temp_releases_nothing_when_the_last_chunk_is_tampered() {
    let key = unique_key("buffer-tampered");
    let (_dir, src) = source_file(4 * 65536 + 100, 91);
    s3seal(Target::Moto)
        .args(["put", src.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_arn, "--chunk-size", "64KiB"])
        .assert()
        .success();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let aws = moto_aws().await;
        let mut raw = get_raw(&aws, &key).await;
        let last = raw.len() - 20;
        raw[last] ^= 1;
        put_raw(&aws, &key, raw).await;
    });
    let out = s3seal(Target::Moto)
        .args(["get", &s3_uri(&key), "-", "--buffer-to-temp"])
        .args(["--concurrency", "1", "--part-size", "64KiB"])
        .assert()
        .code(3);
    assert!(
        out.get_output().stdout.is_empty(),
        "{} bytes reached stdout before the failure",
        out.get_output().stdout.len()
    );
    // The help says so.
    s3seal(Target::Moto)
        .args(["get", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("set -o pipefail"));
}

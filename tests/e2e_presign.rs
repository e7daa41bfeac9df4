//! End-to-end presigned URLs against the s3s-based server, which verifies SigV4 signatures and
//! expiry (moto does not): a valid URL decrypts without S3 credentials, the bytes behind it are
//! ciphertext, tampered and expired URLs fail cleanly with no output, a presigned PUT round
//! trip, and the 7-day limit. The binding check for URLs runs on moto (it needs CopyObject).

mod common;

use common::files::{
    Got, assert_no_output, get_stdout, get_to, put_and_relocate, put_file, usage_error,
};
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use predicates::prelude::*;
use s3seal::transfer::download::RangeReader;

const C: usize = 64 * 1024;

fn presign(target: Target, key: &str, extra: &[&str]) -> String {
    let out = s3seal(target)
        .args(["presign", &s3_uri(key)])
        .args(extra)
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let url = stdout.lines().next().unwrap().to_string();
    assert!(url.starts_with("https://"), "{url}");
    url
}

/// `get URL DST` in a fresh directory, without usable S3 credentials.
fn get_url(target: Target, url: &str) -> Got {
    let mut cmd = s3seal(target);
    cmd.env("AWS_ENDPOINT_URL_S3", "https://127.0.0.1:1");
    get_to(cmd, url, &["--part-size", "64KiB", "--concurrency", "3"])
}

#[test]
fn a_valid_url_decrypts_and_reaches_only_ciphertext() {
    let plain = data(5 * C + 17, 501);
    let key = unique_key("url-ok");
    put_file(Target::S3s, &plain, &key, &[]);
    let url = presign(Target::S3s, &key, &["--expires", "90s"]);
    assert!(url.contains("X-Amz-Expires=90"), "{url}");
    // S3 is unreachable for this command (AWS_ENDPOINT_URL_S3 points nowhere): only the URL
    // and KMS are used.
    let (assert, dst, _dir) = get_url(Target::S3s, &url);
    assert.success();
    assert_eq!(std::fs::read(&dst).unwrap(), plain);
    let out = get_stdout(Target::S3s, &url, &["--range", "70000-70009"]);
    assert_eq!(out, &plain[70000..70010]);

    // The raw bytes behind the URL: an s3seal object, no plaintext.
    let raw = common::rt().block_on(async {
        let settings = s3seal::aws::AwsSettings {
            ca_bundle: Some(env().ca.clone()),
            ..Default::default()
        };
        let object = s3seal::presign::UrlObject::new(&url, &settings).unwrap();
        assert_eq!(object.location().key, key);
        s3seal::transfer::download::FirstRange::read(&object, 10 * C as u64)
            .await
            .unwrap()
    });
    assert_eq!(&raw.bytes[..8], b"\x89S3SEAL\n");
    assert_eq!(raw.total(), raw.bytes.len() as u64);
    for at in [0, 1000, C + 7, 3 * C, plain.len() - 32] {
        let sample = &plain[at..at + 32];
        assert!(
            !raw.bytes.windows(32).any(|w| w == sample),
            "plaintext at {at} visible behind the URL"
        );
    }
}

#[test]
fn a_tampered_url_fails_cleanly() {
    let key = unique_key("url-tamper");
    put_file(Target::S3s, &data(3 * C, 502), &key, &[]);
    let url = presign(Target::S3s, &key, &[]);
    let pos = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut sig_flipped = url.clone().into_bytes();
    sig_flipped[pos] = if sig_flipped[pos] == b'0' { b'1' } else { b'0' };
    let sig_flipped = String::from_utf8(sig_flipped).unwrap();
    let other_key = url.replacen(&key, &format!("{key}x"), 1);
    let longer = url.replace("X-Amz-Expires=900", "X-Amz-Expires=9000");
    for bad in [sig_flipped, other_key, longer] {
        let (assert, dst, dir) = get_url(Target::S3s, &bad);
        assert
            .code(1)
            .stderr(predicate::str::contains("signature does not match"))
            .stderr(predicate::str::contains("X-Amz-Signature").not());
        assert_no_output(&dir, &dst);
    }
}

#[test]
fn an_expired_url_fails_cleanly() {
    let key = unique_key("url-expired");
    put_file(Target::S3s, &data(1000, 503), &key, &[]);
    let url = presign(Target::S3s, &key, &["--expires", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (assert, dst, dir) = get_url(Target::S3s, &url);
    assert.code(1).stderr(predicate::str::contains("expired"));
    assert_no_output(&dir, &dst);
}

#[test]
fn a_presigned_put_round_trips() {
    let key = unique_key("url-put");
    let out = s3seal(Target::S3s)
        .args(["presign", "--put", &s3_uri(&key), "--json"])
        .args(["--kms-key-id", &env().kms_alias, "--expires", "12h"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["method"], "PUT");
    assert_eq!(json["key"], key.as_str());
    assert_eq!(json["expires_in_seconds"], 12 * 3600);
    assert_eq!(json["headers"]["x-amz-server-side-encryption"], "aws:kms");
    assert_eq!(
        json["headers"]["x-amz-server-side-encryption-aws-kms-key-id"],
        env().kms_alias.as_str()
    );
    let url = json["url"].as_str().unwrap().to_string();

    let plain = data(4 * C + 3, 504);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &plain).unwrap();
    // No S3 credentials are needed to upload through the URL.
    s3seal(Target::S3s)
        .env("AWS_ENDPOINT_URL_S3", "https://127.0.0.1:1")
        .args(["put", src.to_str().unwrap(), &url, "--chunk-size", "64KiB"])
        .args(["--kms-key-id", &env().kms_alias])
        .assert()
        .success()
        .stderr(predicate::str::contains("single PUT"));
    let out = get_stdout(Target::S3s, &s3_uri(&key), &[]);
    assert!(out == plain, "round trip differs");

    // stdin through the same URL (it may be used again until it expires).
    s3seal(Target::S3s)
        .args(["put", "-", &url, "--kms-key-id", &env().kms_alias])
        .write_stdin("small secret")
        .assert()
        .success();
    let out = get_stdout(Target::S3s, &s3_uri(&key), &[]);
    assert_eq!(out, b"small secret");

    // A different SSE-KMS key id than the one signed in: the server refuses, exit 1.
    s3seal(Target::S3s)
        .args(["put", src.to_str().unwrap(), &url])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("kms-key-id"));
    let out = get_stdout(Target::S3s, &s3_uri(&key), &[]);
    assert_eq!(out, b"small secret", "refused PUT stored something");
}

#[test]
fn more_than_seven_days_and_plain_http_are_refused() {
    let s3s = || s3seal(Target::S3s);
    let eight_days = ["presign", "s3://b/k", "--expires", "8d"];
    usage_error(&mut s3s(), &eight_days, "7 days").stdout(predicate::str::is_empty());
    s3s()
        .args(["presign", "s3://b/k", "--expires", "7d"])
        .assert()
        .success()
        .stdout(predicate::str::contains("X-Amz-Expires=604800"));
    usage_error(
        &mut s3s(),
        &["presign", "--put", "s3://b/k"],
        "--kms-key-id",
    );
    let http_get = ["get", "http://127.0.0.1:1/b/k?X-Amz-Signature=x", "-"];
    usage_error(&mut s3s(), &http_get, "only talks HTTPS");
    let http_put = ["put", "-", "http://127.0.0.1:1/b/k", "--kms-key-id", "k"];
    usage_error(&mut s3s(), &http_put, "only talks HTTPS");
}

#[test]
fn url_fetches_honour_the_ca_bundle() {
    let key = unique_key("url-ca");
    put_file(Target::S3s, &data(100, 506), &key, &[]);
    let url = presign(Target::S3s, &key, &[]);
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out.bin");
    s3seal(Target::S3s)
        .env("AWS_CA_BUNDLE", &env().other_ca)
        .args(["get", &url, dst.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--ca-bundle"));
    assert_no_output(&dir, &dst);
    s3seal(Target::S3s)
        .env_remove("AWS_CA_BUNDLE")
        .args(["--ca-bundle", env().ca.to_str().unwrap(), "inspect", &url])
        .assert()
        .success()
        .stdout(predicate::str::contains("s3seal object        yes"));
    s3seal(Target::S3s)
        .args([
            "--ca-bundle",
            env().other_ca.to_str().unwrap(),
            "inspect",
            &url,
        ])
        .assert()
        .code(1);
}

#[test]
fn the_url_binding_is_checked_against_the_addressed_key() {
    // moto accepts any signature, so this runs there: a copy of an object under another key,
    // read through a URL for that key, is refused as relocated.
    let plain = data(2000, 505);
    let (key, moved) = put_and_relocate(&plain, "url-reloc");
    let url = presign(Target::Moto, &moved, &[]);
    let (assert, dst, dir) = get_url(Target::Moto, &url);
    assert
        .code(3)
        .stderr(predicate::str::contains("copied or moved"));
    assert_no_output(&dir, &dst);
    let url = presign(Target::Moto, &key, &[]);
    let (assert, dst, _dir) = get_url(Target::Moto, &url);
    assert.success();
    assert_eq!(std::fs::read(dst).unwrap(), plain);
}

#[test]
fn presign_never_prints_control_characters_from_the_key() {
    // Presigning needs no object: a key carrying a terminal escape (a title change and a
    // carriage return that would hide the line) is printed escaped.
    let key = format!(
        "{}/name\x1b]0;PWNED\x07\x1b[31mFAKE\r",
        unique_key("url-ctl")
    );
    let out = s3seal(Target::S3s)
        .args(["presign", &s3_uri(&key)])
        .assert()
        .success();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("presigned GET for"), "{stderr}");
    assert!(
        !stderr.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters on the terminal: {stderr:?}"
    );
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        !stdout.trim_end().chars().any(char::is_control),
        "{stdout:?}"
    );
}

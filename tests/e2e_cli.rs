//! End-to-end behaviour of the command line as a user or a script sees it: the posture
//! command and the gate in `put`, Ctrl-C during an upload, what logging may never show (keys,
//! plaintext), and the documented exit codes. Real servers over HTTPS, as in e2e_put_get.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use common::process::{sigint, std_command, wait_for};
use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use predicates::prelude::*;

/// A fresh bucket on moto with a public-read policy.
fn public_bucket(store: &Store) -> String {
    let bucket = format!("e2e-public-{}-{}", std::process::id(), rand_suffix());
    store.public_bucket(&bucket);
    bucket
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

#[test]
fn posture_gate_refuses_a_public_bucket_and_uploads_nothing() {
    let store = Store::moto();
    let bucket = public_bucket(&store);
    let dest = format!("s3://{bucket}/secret.bin");
    s3seal(Target::Moto)
        .args(["put", "-", &dest, "--kms-key-id", &env().kms_alias])
        .write_stdin(data(6 * 1024 * 1024, 1))
        .assert()
        .code(4)
        .stderr(
            predicate::str::contains("policy-public")
                .and(predicate::str::contains("nothing was uploaded")),
        );
    assert_eq!(store.key_count(&bucket), Some(0), "an object was stored");
    let mpu = store.uploads_in(&bucket, "");
    assert!(mpu.is_empty(), "a multipart upload was started");
    // The same upload with the check switched off goes through.
    s3seal(Target::Moto)
        .args([
            "put",
            "-",
            &dest,
            "--kms-key-id",
            &env().kms_alias,
            "--posture",
            "off",
        ])
        .write_stdin("x")
        .assert()
        .success();
}

#[test]
fn posture_command_json_and_exit_codes() {
    let bucket = public_bucket(&Store::moto());
    let out = s3seal(Target::Moto)
        .args(["posture", &format!("s3://{bucket}"), "--json"])
        .assert()
        .code(4);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON document");
    assert_eq!(doc["bucket"], bucket.as_str());
    assert_eq!(doc["verdict"], "block");
    let findings = doc["findings"].as_array().unwrap();
    let public = findings
        .iter()
        .find(|f| f["check"] == "policy-public")
        .unwrap();
    assert_eq!(public["status"], "fail");
    assert_eq!(public["severity"], "block");
    // The shared test bucket has no policy: warn (Block Public Access off, no versioning...).
    s3seal(Target::Moto)
        .args(["posture", &format!("s3://{}", env().bucket)])
        .assert()
        .code(5)
        .stdout(predicate::str::contains("verdict WARN"));
    let out = s3seal(Target::Moto)
        .args(["posture", "--print-iam-policy", "s3://my-bucket"])
        .assert()
        .success();
    let policy: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(policy.to_string().contains("s3:GetBucketPolicy"));
    assert!(policy.to_string().contains("arn:aws:s3:::my-bucket"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["put", "file", "not-an-s3-uri", "--kms-key-id", "k"],
        vec!["get", "s3://bucket-only", "-"],
        vec![
            "put",
            "-",
            "s3://b/k",
            "--kms-key-id",
            "k",
            "--chunk-size",
            "3MiB",
        ],
        vec!["get", "s3://b/k", "-", "--range", "9-1"],
        vec!["put", "/nonexistent/file", "s3://b/k", "--kms-key-id", "k"],
        vec!["frobnicate"],
        vec!["posture", "s3://b", "--expected-owner", "abc"],
        vec!["inspect", "s3:/bad"],
        vec![
            "put",
            "-",
            "s3://b/k",
            "--kms-key-id",
            "k",
            "--object-lock-mode",
            "COMPLIANCE",
            "--object-lock-retain-until",
            "2030-13-45",
        ],
        vec![
            "put",
            "-",
            "s3://b/k",
            "--kms-key-id",
            "k",
            "--object-lock-mode",
            "GOVERNANCE",
            "--object-lock-retain-until",
            "2020-01-01",
        ],
        vec![
            "put",
            "-",
            "s3://b/k",
            "--kms-key-id",
            "k",
            "--storage-class",
            "BOGUS",
        ],
        vec!["batch-task", "--event", "/nonexistent/event.json"],
        vec![
            "verify",
            "s3://b",
            "--manifest",
            "/nonexistent/manifest.csv",
        ],
        vec!["verify", "S3://b/k"],
        vec!["posture", "s3://b", "--trusted-account", "12345678901"],
    ] {
        s3seal(Target::Moto)
            .args(&args)
            .write_stdin("")
            .assert()
            .code(2);
    }
    // No KMS key anywhere: clap names the flag and the variable.
    s3seal(Target::Moto)
        .args(["put", "-", "s3://b/k"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--kms-key-id"));
}

#[test]
fn help_documents_exit_codes() {
    s3seal(Target::Moto)
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("130").and(predicate::str::contains("integrity failure")));
}

#[test]
fn ctrl_c_during_a_multipart_upload_aborts_it_and_exits_130() {
    let key = unique_key("sigint");
    let mut child = std_command(&s3seal(Target::Moto))
        .args([
            "put",
            "-",
            &s3_uri(&key),
            "--kms-key-id",
            &env().kms_alias,
            "--part-size",
            "5MiB",
            "--posture",
            "off",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Two and a half parts, then keep the pipe open: the upload is mid-flight.
    stdin.write_all(&data(13 * 1024 * 1024, 3)).unwrap();
    stdin.flush().unwrap();
    let store = Store::moto();
    wait_for(
        "the multipart upload's start",
        Duration::from_secs(30),
        || store.open_uploads(&key) > 0,
    );
    sigint(child.id());
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(
        output.status.code(),
        Some(130),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        store.open_uploads(&key),
        0,
        "the multipart upload was not aborted"
    );
}

#[test]
fn trace_logging_never_shows_the_data_key_or_plaintext() {
    let marker = b"PLAINTEXT-MARKER-7f3a9c-do-not-log";
    let mut plain = data(200_000, 4);
    plain[1000..1000 + marker.len()].copy_from_slice(marker);
    let key = unique_key("nolog");
    let put = s3seal(Target::Moto)
        .env("RUST_LOG", "trace")
        .args([
            "-vvv",
            "put",
            "-",
            &s3_uri(&key),
            "--kms-key-id",
            &env().kms_alias,
            "--posture",
            "off",
        ])
        .write_stdin(plain.clone())
        .assert()
        .success();
    let get = s3seal(Target::Moto)
        .env("RUST_LOG", "trace")
        .args(["-vvv", "get", &s3_uri(&key), "-"])
        .assert()
        .success();
    assert_eq!(get.get_output().stdout, plain);
    // Recover the data key the way an attacker with KMS access would, to search for it.
    let store = Store::moto();
    let data_key = store.unwrap_data_key(&store.get_raw(&key), None).unwrap();
    assert_eq!(data_key.len(), 32);
    let b64 = base64::engine::general_purpose::STANDARD;
    // Rust's Debug form of the bytes too (`[12, 34, ...]`, `[0xc, 0x22, ...]`), as a
    // `{:?}` of a Vec, array or slice prints them; a prefix, so a cut line still counts.
    let debug_prefix = |s: String| s.trim_end_matches(']').to_string();
    let needles = [
        hex::encode(&data_key),
        hex::encode_upper(&data_key),
        b64.encode(&data_key),
        format!("{:?}", data_key),
        debug_prefix(format!("{:?}", &data_key[..4])),
        debug_prefix(format!("{:x?}", &data_key[..4])),
        String::from_utf8_lossy(marker).to_string(),
    ];
    for (what, stderr) in [
        ("put", &put.get_output().stderr),
        ("get", &get.get_output().stderr),
    ] {
        let text = String::from_utf8_lossy(stderr);
        assert!(
            text.len() > 1000,
            "{what}: trace logging produced almost nothing; the test would prove nothing"
        );
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "{what} stderr contains secret material {needle:.8}..."
            );
        }
    }
}

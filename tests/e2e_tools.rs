//! End-to-end `inspect`, `verify` and `rewrap` on moto (S3 + KMS, with UploadPartCopy):
//! inspect of an s3seal object, a local file and a foreign object; verify of an intact object
//! and of one with a flipped byte in its last chunk; rewrap of a multipart object to another
//! KMS key and context, after which get gives the same plaintext, the header names the new key
//! and the old key no longer unwraps the data key.

mod common;

use common::files::{get_stdout, put_file};
use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use predicates::prelude::*;

const C: usize = 64 * 1024;
const MIB: usize = 1024 * 1024;

fn inspect_json(src: &str) -> serde_json::Value {
    let out = s3seal(Target::Moto)
        .args(["inspect", src, "--json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn inspect_an_object_a_local_file_and_a_foreign_object() {
    let plain = data(3 * C + 5, 601);
    let key = unique_key("inspect");
    put_file(Target::Moto, &plain, &key, &["--context", "team=ops"]);
    let json = inspect_json(&s3_uri(&key));
    assert_eq!(json["is_s3seal"], true);
    let h = &json["header"];
    assert_eq!(h["kms_key_id"], env().kms_arn.as_str());
    assert_eq!(h["plaintext_len"], plain.len() as u64);
    assert_eq!(h["chunk_size"], C as u64);
    assert_eq!(h["chunk_count"], 4);
    assert_eq!(h["format_version"], 1);
    assert_eq!(h["length_matches"], true);
    assert_eq!(h["authenticated"], false);
    assert_eq!(h["encryption_context"]["team"], "ops");
    assert_eq!(h["encryption_context"]["s3seal:key"], key.as_str());
    assert_eq!(json["object_len"], h["ciphertext_len"]);
    // Only the header's 64 KiB were read, not the object.
    assert!(json["bytes_read"].as_u64().unwrap() <= 65536);
    assert!(json["object_len"].as_u64().unwrap() > 65536);
    s3seal(Target::Moto)
        .args(["inspect", &s3_uri(&key)])
        .assert()
        .success()
        .stdout(predicate::str::contains("s3seal object        yes"))
        .stdout(predicate::str::contains(env().kms_arn.as_str()))
        .stdout(predicate::str::contains("team=ops"));

    // The same bytes as a local file: no AWS needed at all.
    let store = Store::moto();
    let raw = store.get_raw(&key);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("object.s3seal");
    std::fs::write(&file, &raw).unwrap();
    let local = s3seal(Target::Moto)
        .env("AWS_ENDPOINT_URL", "https://127.0.0.1:1")
        .args(["inspect", file.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let local: serde_json::Value = serde_json::from_slice(&local.get_output().stdout).unwrap();
    assert_eq!(local["header"], json["header"]);
    // A truncated copy is still described, and said not to match its length.
    std::fs::write(&file, &raw[..raw.len() - 10]).unwrap();
    let cut = inspect_json(file.to_str().unwrap());
    assert_eq!(cut["header"]["length_matches"], false);

    // Not an s3seal object: said so, exit 0.
    let foreign = unique_key("inspect-foreign");
    store.put_raw(&foreign, b"PK\x03\x04 just a zip".to_vec());
    let json = inspect_json(&s3_uri(&foreign));
    assert_eq!(json["is_s3seal"], false);
    assert!(json.get("header").is_none());
    assert_eq!(json["first_bytes_hex"], "504b0304206a7573742061207a6970");
    s3seal(Target::Moto)
        .args(["inspect", &s3_uri(&foreign)])
        .assert()
        .success()
        .stdout(predicate::str::contains("s3seal object        no"));
}

#[test]
fn verify_passes_an_intact_object_and_names_a_bad_last_chunk() {
    let plain = data(3 * C + 5, 602);
    let key = unique_key("verify");
    put_file(Target::Moto, &plain, &key, &[]);
    s3seal(Target::Moto)
        .args(["verify", &s3_uri(&key), "--part-size", "64KiB"])
        .assert()
        .success()
        .stdout(predicate::str::contains("intact"))
        .stdout(predicate::str::contains("4 chunks"));
    let dir = tempfile::tempdir().unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(before.is_empty());

    let raw = Store::moto().tamper(&key, |raw| {
        let n = raw.len();
        raw[n - 20] ^= 0x01; // inside chunk 3, the last
    });
    s3seal(Target::Moto)
        .current_dir(dir.path())
        .args(["verify", &s3_uri(&key), "--part-size", "64KiB"])
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("chunk 3 failed authentication"));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "verify wrote something"
    );
    // The same damaged bytes as a local file.
    let file = dir.path().join("bad.s3seal");
    std::fs::write(&file, &raw).unwrap();
    s3seal(Target::Moto)
        .args(["verify", file.to_str().unwrap()])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("chunk 3"));
}

#[test]
fn rewrap_a_multipart_object_with_server_side_copies() {
    // 11 MiB in 5 MiB parts: the rewrap uploads part 1 (new header + 5 MiB) and copies the rest
    // in two UploadPartCopy ranges.
    let plain = data(11 * MIB + 333, 603);
    let key = unique_key("rewrap");
    let extra = ["--part-size", "5MiB", "--context", "team=ops"];
    put_file(Target::Moto, &plain, &key, &extra);
    let before = inspect_json(&s3_uri(&key));
    let old_wrapped_len = before["header"]["wrapped_key_len"].as_u64().unwrap();
    assert_eq!(before["header"]["kms_key_id"], env().kms_arn.as_str());

    s3seal(Target::Moto)
        .args([
            "rewrap",
            &s3_uri(&key),
            "--kms-key-id",
            &env().other_kms_arn,
            "--expected-kms-key-id",
            &env().kms_arn,
        ])
        .args(["--context", "team=operations-and-compliance"])
        .args(["--copy-part-size", "5MiB", "--concurrency", "2"])
        .assert()
        .success()
        .stderr(predicate::str::contains("3 parts"))
        .stderr(predicate::str::contains("copied inside S3"));

    let after = inspect_json(&s3_uri(&key));
    let h = &after["header"];
    assert_eq!(h["kms_key_id"], env().other_kms_arn.as_str());
    assert_eq!(h["encryption_context"]["team"], "operations-and-compliance");
    assert_eq!(h["plaintext_len"], plain.len() as u64);
    assert_eq!(h["message_id"], before["header"]["message_id"]);
    assert_eq!(h["length_matches"], true);
    // The header grew, so every chunk moved: the copies were byte ranges, not chunks.
    let header_len = |doc: &serde_json::Value| doc["header_len"].as_u64().expect("header_len");
    assert!(header_len(h) > header_len(&before["header"]));
    assert!(old_wrapped_len > 0);

    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out.bin");
    s3seal(Target::Moto)
        .args(["get", &s3_uri(&key), dst.to_str().unwrap()])
        .args(["--context", "team=operations-and-compliance"])
        .assert()
        .success();
    assert!(std::fs::read(&dst).unwrap() == plain, "plaintext changed");
    s3seal(Target::Moto)
        .args(["verify", &s3_uri(&key)])
        .assert()
        .success();
    // The old context no longer matches.
    s3seal(Target::Moto)
        .args(["verify", &s3_uri(&key), "--context", "team=ops"])
        .assert()
        .code(3);

    let store = Store::moto();
    let raw = store.get_raw(&key);
    // The old key does not unwrap the new wrapped key; the new key does.
    let with_old = store.unwrap_data_key(&raw, Some(&env().kms_arn));
    assert!(with_old.is_err(), "the old key still unwraps the data key");
    let with_new = store.unwrap_data_key(&raw, Some(&env().other_kms_arn));
    assert!(with_new.is_ok());
    assert_eq!(store.open_uploads(&key), 0, "multipart upload left open");
}

#[test]
fn rewrap_a_small_object_and_refuse_what_it_must_not_touch() {
    let plain = data(2 * C + 1, 604);
    let key = unique_key("rewrap-small");
    put_file(Target::Moto, &plain, &key, &["--context", "app=x"]);
    s3seal(Target::Moto)
        .args([
            "rewrap",
            &s3_uri(&key),
            "--kms-key-id",
            "alias/s3seal-other",
            "--expected-kms-key-id",
            &env().kms_arn,
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("one PUT"));
    let json = inspect_json(&s3_uri(&key));
    assert_eq!(json["header"]["kms_key_id"], env().other_kms_arn.as_str());
    // User pairs are kept when no --context is given.
    assert_eq!(json["header"]["encryption_context"]["app"], "x");
    let out = get_stdout(Target::Moto, &s3_uri(&key), &["--context", "app=x"]);
    assert!(out == plain);

    // A tampered header is refused before anything is written.
    let tampered = unique_key("rewrap-tampered");
    put_file(Target::Moto, &plain, &tampered, &[]);
    let store = Store::moto();
    let raw = store.tamper(&tampered, |raw| raw[20] ^= 0x01); // plaintext length
    s3seal(Target::Moto)
        .args([
            "rewrap",
            &s3_uri(&tampered),
            "--kms-key-id",
            &env().other_kms_arn,
            "--expected-kms-key-id",
            &env().kms_arn,
        ])
        .assert()
        .code(3);
    let still = store.get_raw(&tampered);
    assert!(still == raw, "a refused rewrap changed the object");

    // Not an s3seal object.
    let foreign = unique_key("rewrap-foreign");
    store.put_raw(&foreign, b"hello".to_vec());
    s3seal(Target::Moto)
        .args([
            "rewrap",
            &s3_uri(&foreign),
            "--kms-key-id",
            &env().other_kms_arn,
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not an s3seal object"));
}

#[test]
fn rewrap_run_again_is_done_only_for_an_intact_object_under_the_new_key() {
    let plain = data(3 * C + 5, 605);
    let key = unique_key("rewrap-again");
    put_file(Target::Moto, &plain, &key, &["--context", "app=x"]);
    let rewrap_cmd = |extra: &[&str]| {
        let mut cmd = s3seal(Target::Moto);
        cmd.args([
            "rewrap",
            &s3_uri(&key),
            "--kms-key-id",
            "alias/s3seal-other",
            "--expected-kms-key-id",
            &env().kms_arn,
        ])
        .args(extra);
        cmd
    };
    rewrap_cmd(&[]).assert().success();
    let store = Store::moto();
    let rewrapped = store.get_raw(&key);

    // The same command again: the object is verified under the new key and left as it is.
    rewrap_cmd(&[])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "already under KMS key {} (verified)",
            env().other_kms_arn
        )));
    assert!(
        store.get_raw(&key) == rewrapped,
        "a second rewrap rewrote the object"
    );
    let out = rewrap_cmd(&["--json"]).assert().success();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON document");
    assert_eq!(doc["action"], "already-rewrapped");
    assert_eq!(doc["kms_key_arn"], env().other_kms_arn.as_str());

    // Another context asked for than the object holds: not what this command would leave.
    rewrap_cmd(&["--context", "app=y"]).assert().code(3);
    assert!(store.get_raw(&key) == rewrapped);

    // Under the new key but damaged: the header's claim is not enough, the refusal stands.
    store.tamper(&key, |raw| {
        let last = raw.len() - 1;
        raw[last] ^= 0x01
    });
    rewrap_cmd(&[])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("expected-kms-key-id"));
}

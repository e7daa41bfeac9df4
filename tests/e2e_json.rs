//! `--json` on every single-object command: exactly one JSON document on stdout, with the
//! fields docs/JSON.md documents, on success and on failure (against the local servers).

mod common;

use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use serde_json::Value;

/// Runs `s3seal ARGS --json` on moto; returns its exit code and its one stdout document.
fn run_json(args: &[&str]) -> (i32, Value) {
    let out = s3seal(Target::Moto)
        .args(args)
        .arg("--json")
        .output()
        .expect("run s3seal");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 stdout");
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout:?}"));
    assert_eq!(
        docs.len(),
        1,
        "{args:?}: not exactly one document: {stdout:?}"
    );
    let doc = docs.into_iter().next().unwrap();
    (out.status.code().unwrap_or(-1), doc)
}

/// Every field in `fields` is present, and the common ones are right.
fn has(doc: &Value, command: &str, ok: bool, fields: &[&str]) {
    assert_eq!(doc["schema"], 1, "{doc}");
    assert_eq!(doc["command"], command, "{doc}");
    assert_eq!(doc["ok"], ok, "{doc}");
    for field in fields {
        assert!(
            doc.get(*field).is_some(),
            "{command}: no {field:?} in {doc}"
        );
    }
}

#[test]
fn every_command_prints_one_document_with_the_documented_fields() {
    let e = env();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.bin");
    let plain = data(6 * 1024 * 1024 + 3, 41);
    std::fs::write(&src, &plain).unwrap();
    let key = unique_key("json");
    let uri = s3_uri(&key);

    let (code, put) = run_json(&[
        "put",
        src.to_str().unwrap(),
        &uri,
        "--posture",
        "off",
        "--kms-key-id",
        &e.kms_alias,
    ]);
    assert_eq!(code, 0, "{put}");
    has(
        &put,
        "put",
        true,
        &[
            "seconds",
            "source",
            "destination",
            "plaintext_bytes",
            "stored_bytes",
            "parts",
        ],
    );
    has(
        &put,
        "put",
        true,
        &["kms_key_arn", "sse_kms_key_id", "etag"],
    );
    assert_eq!(put["plaintext_bytes"], plain.len() as u64);
    assert_eq!(put["kms_key_arn"], e.kms_arn.as_str());
    assert_eq!(put["destination"], uri.as_str());

    let dst = dir.path().join("out.bin");
    let (code, get) = run_json(&["get", &uri, dst.to_str().unwrap()]);
    assert_eq!(code, 0, "{get}");
    has(
        &get,
        "get",
        true,
        &["source", "format", "bound_to_location", "destination"],
    );
    has(
        &get,
        "get",
        true,
        &[
            "plaintext_bytes",
            "bytes_written",
            "chunks_verified",
            "kms_key_arn",
        ],
    );
    assert_eq!(get["format"], "s3seal");
    assert_eq!(get["kms_key_arn"], e.kms_arn.as_str());
    assert!(std::fs::read(&dst).unwrap() == plain);

    let (code, verify) = run_json(&["verify", &uri]);
    assert_eq!(code, 0, "{verify}");
    has(
        &verify,
        "verify",
        true,
        &["intact", "chunks_verified", "kms_key_arn"],
    );
    assert_eq!(verify["intact"], true);

    let (code, rewrap) = run_json(&[
        "rewrap",
        &uri,
        "--kms-key-id",
        &e.other_kms_arn,
        "--expected-kms-key-id",
        &e.kms_arn,
    ]);
    assert_eq!(code, 0, "{rewrap}");
    has(
        &rewrap,
        "rewrap",
        true,
        &[
            "object",
            "old_kms_key_arn",
            "kms_key_arn",
            "stored_bytes",
            "parts",
        ],
    );
    assert_eq!(rewrap["old_kms_key_arn"], e.kms_arn.as_str());
    assert_eq!(rewrap["kms_key_arn"], e.other_kms_arn.as_str());

    let (code, presign) = run_json(&["presign", &uri, "--expires", "10m"]);
    assert_eq!(code, 0, "{presign}");
    has(&presign, "presign", true, &["url", "method", "expires_at"]);
    assert!(
        presign["url"].as_str().unwrap().starts_with("https://"),
        "{presign}"
    );
    let (code, inspect) = run_json(&["inspect", &uri]);
    assert_eq!(code, 0, "{inspect}");
    has(
        &inspect,
        "inspect",
        true,
        &["source", "header", "object_len"],
    );
    let (code, posture) = run_json(&["posture", &format!("s3://{}", e.bucket)]);
    has(
        &posture,
        "posture",
        code == 0,
        &["verdict", "findings", "exit_code"],
    );
    assert_eq!(posture["exit_code"], code, "{posture}");
    Store::moto().delete(&key);

    // An object of the S3 Encryption Client, migrated in place.
    let legacy = unique_key("json-migrate");
    let input = dir.path().join("legacy.bin");
    std::fs::write(&input, data(3000, 43)).unwrap();
    let spec = serde_json::json!([{
        "key": legacy, "input": input, "format": "v3", "context": {"team": "ops"},
        "multipart": false, "instruction_file": false,
    }]);
    common::s3ec::write_objects(&e.kms_arn, &spec);
    let (code, migrate) = run_json(&[
        "migrate",
        &s3_uri(&legacy),
        "--kms-key-id",
        &e.kms_alias,
        "--expected-kms-key-id",
        &e.kms_arn,
        "--posture",
        "off",
    ]);
    assert_eq!(code, 0, "{migrate}");
    has(
        &migrate,
        "migrate",
        true,
        &[
            "object",
            "old_format",
            "plaintext_bytes",
            "stored_bytes",
            "kms_key_arn",
        ],
    );
    has(
        &migrate,
        "migrate",
        true,
        &["old_kms_key_arn", "instruction_file_removed"],
    );
    assert_eq!(migrate["plaintext_bytes"], 3000);
    assert_eq!(migrate["kms_key_arn"], e.kms_arn.as_str());
    Store::moto().delete(&legacy);
}

#[test]
fn failures_are_documents_too() {
    // Even one clap refuses before s3seal runs: a missing required option.
    let (code, doc) = run_json(&["put", "in.bin", "s3://b/k"]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["command"], "put");
    assert_eq!(doc["error"]["class"], "usage");
    // A usage error before anything is sent.
    let (code, doc) = run_json(&["get", "s3://no-key-here", "out.bin"]);
    has(&doc, "get", false, &["error"]);
    assert_eq!(code, 2);
    assert_eq!(doc["error"]["class"], "usage");
    assert_eq!(doc["error"]["exit_code"], 2);
    // An object that is not there: a runtime error.
    let dir = tempfile::tempdir().unwrap();
    let missing = s3_uri(&unique_key("json-missing"));
    let (code, doc) = run_json(&["get", &missing, dir.path().join("o").to_str().unwrap()]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["error"]["class"], "runtime");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    // A tampered object: an integrity failure, and no file.
    let key = unique_key("json-tampered");
    common::files::put_file(Target::Moto, &data(3000, 42), &key, &[]);
    Store::moto().tamper(&key, |b| {
        let n = b.len();
        b[n - 20] ^= 1;
    });
    let dst = dir.path().join("t.bin");
    let (code, doc) = run_json(&["get", &s3_uri(&key), dst.to_str().unwrap()]);
    assert_eq!(code, 3, "{doc}");
    assert_eq!(doc["error"]["class"], "integrity");
    assert!(doc["error"]["hint"].is_string(), "{doc}");
    assert!(!dst.exists());
    // --json with the plaintext on stdout: refused, the document still on stdout.
    let (code, doc) = run_json(&["get", &s3_uri(&key), "-"]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["error"]["class"], "usage");
    Store::moto().delete(&key);
}

#[test]
fn usage_errors_config_errors_and_uploads_list_failures_are_documents_with_their_message() {
    // clap's own errors carry clap's message and tip, not only the kind of error.
    let (code, doc) = run_json(&["get", "s3://b/k", "out.bin", "--bogus"]);
    assert_eq!(code, 2, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'--bogus'"),
        "{doc}"
    );
    assert!(doc["error"]["hint"].is_string(), "{doc}");
    let (code, doc) = run_json(&["get", "s3://b/k", "out.bin", "--concurrency", "abc"]);
    assert_eq!(code, 2, "{doc}");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("'abc'"),
        "{doc}"
    );
    let (code, doc) = run_json(&["put", "in.bin", "s3://b/k"]);
    assert_eq!(code, 2, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--kms-key-id"),
        "{doc}"
    );

    // A config file that does not parse stops the run before anything, as a document.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[default\n").unwrap();
    let out = s3seal(Target::Moto)
        .env("S3SEAL_CONFIG", &config)
        .args(["get", "s3://b/k", "out.bin", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one document");
    has(&doc, "get", false, &["error"]);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("config file"),
        "{doc}"
    );

    // `uploads list --json` on a bucket that is not there.
    let (code, doc) = run_json(&["uploads", "list", "s3://no-such-bucket-json-test/"]);
    assert_eq!(code, 1, "{doc}");
    has(&doc, "uploads", false, &["error"]);
}

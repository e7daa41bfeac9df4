//! Promises the docs make that no other test held to: each test here fails when its promise
//! is broken. (Promises about the pipelines themselves, such as If-Match pinning and no KMS
//! call before the binding check, are unit tests in `src/store/tests.rs`.)

mod common;

use common::proxy::{Fault, Match, Proxy, Rule, S3Op};
use common::route::{MULTIPART_LEN, Route, cmd, put_args, write_src};
use common::store::Store;
use common::{data, env, s3_uri, unique_key};

/// README: transient failures are retried with the SDK's standard retry mode,
/// `AWS_MAX_ATTEMPTS` (default 3). One 503 on a part is retried by default and fails the
/// upload (cleanly) when the variable allows a single attempt.
#[test]
fn aws_max_attempts_sets_how_often_a_request_is_tried() {
    let plain = data(MULTIPART_LEN, 31);
    let dir = tempfile::tempdir().unwrap();
    let src = write_src(dir.path(), &plain);
    let store = Store::moto();
    for (attempts, succeeds) in [("1", false), ("2", true)] {
        let rules = vec![Rule::new(
            Match::s3(S3Op::UploadPart),
            Fault::s3(503, "SlowDown"),
            1,
        )];
        let proxy = Proxy::http(&env().moto, &env().ca, rules);
        let route = Route::s3(&proxy);
        let key = unique_key(&format!("max-attempts-{attempts}"));
        let mut put = cmd(&route);
        put.env("AWS_MAX_ATTEMPTS", attempts)
            .args(put_args(src.to_str().unwrap(), &s3_uri(&key)));
        if succeeds {
            put.assert().success();
            assert!(
                store.exists(&key),
                "AWS_MAX_ATTEMPTS={attempts}: nothing stored"
            );
        } else {
            put.assert()
                .code(1)
                .stderr(predicates::str::contains("SlowDown"));
            assert!(!store.exists(&key), "AWS_MAX_ATTEMPTS=1 stored an object");
        }
        assert_eq!(proxy.fired(), 1, "AWS_MAX_ATTEMPTS={attempts}");
        assert_eq!(store.open_uploads(&key), 0, "AWS_MAX_ATTEMPTS={attempts}");
        store.delete(&key);
    }
}

/// The conformance vectors whose expected class is `kms` (docs/FORMAT.md section 7, step 3)
/// are checked by `format_vectors.rs` against a stand-in keyring; here each goes through the
/// real KMS path (moto): stored in the bucket and verified, it must be an integrity failure
/// (exit 3), whatever KMS answers about a key id or wrapped key that does not hold up.
#[test]
fn kms_class_vectors_are_integrity_failures_through_real_kms() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let store = Store::moto();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if v["error"] != "kms" {
            continue;
        }
        let object = vector_object(&dir, &v);
        let key = unique_key(&format!("vector-{}", v["name"].as_str().unwrap()));
        store.put_raw(&key, object);
        common::s3seal(common::Target::Moto)
            .args(["verify", &s3_uri(&key), "--allow-relocated"])
            .assert()
            .code(3)
            .stderr(predicates::str::contains("integrity"));
        store.delete(&key);
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} kms-class vectors found");
}

/// A vector's object bytes: inline hex, or pieces of the committed .bin files.
fn vector_object(dir: &std::path::Path, v: &serde_json::Value) -> Vec<u8> {
    if let Some(h) = v["object_hex"].as_str() {
        return hex::decode(h).unwrap();
    }
    let mut out = Vec::new();
    for part in v["object_parts"].as_array().expect("object_parts") {
        match part["hex"].as_str() {
            Some(h) => out.extend(hex::decode(h).unwrap()),
            None => {
                let bytes = std::fs::read(dir.join(part["file"].as_str().unwrap())).unwrap();
                let (s, e) = (
                    part["start"].as_u64().unwrap(),
                    part["end"].as_u64().unwrap(),
                );
                out.extend_from_slice(&bytes[s as usize..e as usize]);
            }
        }
    }
    out
}

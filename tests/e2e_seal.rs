//! `s3seal seal` end to end on moto over HTTPS: plaintext objects of 0 B, 1 B, 5 MiB + 1 and
//! 40 MiB become s3seal objects that `get` and the independent Python decoder
//! (tests/interop/decode_v1.py) read back to the original bytes, with their metadata, tags and
//! content type carried over as docs/SEAL.md says; a second seal changes nothing; a writer that
//! replaces the object while `seal` runs wins and its object stays; on a versioned bucket the
//! plaintext version is reported, and deleted only with `--delete-plaintext-version`.

mod common;

use std::time::Duration;

use common::decoder::python_decode;
use common::proxy::{Dir, Fault, Match, Proxy, Rule};
use common::route::{MIB, Route, std_cmd};
use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use serde_json::Value;

/// `seal URI --json` with the test key and context, 64 KiB chunks, no posture check.
fn seal_cmd(uri: &str, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = s3seal(Target::Moto);
    cmd.args(["seal", uri, "--kms-key-id", &env().kms_alias])
        .args(["--context", "team=ops", "--chunk-size", "64KiB"])
        .args(["--part-size", "5MiB", "--posture", "off", "--json"])
        .args(extra);
    cmd
}

fn json_of(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}",
            String::from_utf8_lossy(out)
        )
    })
}

/// Stores `body` at `key` in `bucket` as another tool would: metadata, content type, tags.
fn put_plain(store: &Store, bucket: &str, key: &str, body: Vec<u8>) -> Option<String> {
    let put = store
        .aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .content_type("text/csv")
        .metadata("owner", "ann")
        .tagging("team=ops&note=a%20b");
    store
        .block_on(put.send())
        .expect("plain PutObject")
        .version_id()
        .map(str::to_string)
}

fn tags_of(store: &Store, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = store
        .block_on(
            store
                .aws
                .s3
                .get_object_tagging()
                .bucket(bucket)
                .key(key)
                .send(),
        )
        .expect("GetObjectTagging");
    let mut tags: Vec<_> = out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    tags
}

#[test]
fn sealed_objects_read_back_with_get_and_the_python_decoder() {
    let store = Store::moto();
    let bucket = &env().bucket;
    for len in [0, 1, 5 * MIB + 1, 40 * MIB] {
        let key = unique_key("seal-sizes");
        let plain = data(len, len as u64 + 7);
        put_plain(&store, bucket, &key, plain.clone());

        let out = seal_cmd(&s3_uri(&key), &[]).assert().success();
        let doc = json_of(&out.get_output().stdout);
        assert_eq!(doc["action"], "sealed", "{doc}");
        assert_eq!(doc["plaintext_bytes"], len as u64);
        assert_eq!(doc["previous_version"], Value::Null, "unversioned bucket");
        assert!(
            doc["kms_key_arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:kms:")
        );

        let stored = store.get_raw(&key);
        assert!(stored.starts_with(b"\x89S3SEAL\n"), "{len}: not sealed");
        let got =
            common::files::get_stdout(Target::Moto, &s3_uri(&key), &["--context", "team=ops"]);
        assert!(got == plain, "{len}: get differs");
        assert!(
            python_decode(&stored, &key, &["team=ops"]) == plain,
            "{len}: Python differs"
        );

        // What survives: user metadata, tags, the content type (in metadata).
        let head = store.head(&key).unwrap();
        let metadata = head.metadata().cloned().unwrap_or_default();
        assert_eq!(metadata.get("owner").map(String::as_str), Some("ann"));
        assert_eq!(
            metadata.get("s3seal-content-type").map(String::as_str),
            Some("text/csv")
        );
        assert_eq!(
            tags_of(&store, bucket, &key),
            vec![("note".into(), "a b".into()), ("team".into(), "ops".into())]
        );

        // A second seal finds an s3seal object and writes nothing.
        let etag = head.e_tag().map(str::to_string);
        let out = seal_cmd(&s3_uri(&key), &[]).assert().success();
        let doc = json_of(&out.get_output().stdout);
        assert_eq!(doc["action"], "already-sealed", "{doc}");
        assert_eq!(store.head(&key).unwrap().e_tag().map(str::to_string), etag);
        store.delete(&key);
    }
}

#[test]
fn a_writer_that_replaces_the_object_during_seal_wins() {
    // GenerateDataKey's answer is held back while another writer replaces the object: the
    // plaintext was read, the conditional write comes after, and must lose.
    let store = Store::moto();
    let key = unique_key("seal-race");
    let original = data(100_000, 3);
    store.put_raw(&key, original);
    let kms = Proxy::http(
        &env().moto,
        &env().ca,
        vec![Rule::new(
            Match::kms("GenerateDataKey"),
            Fault::stall(Dir::Down, 0, Duration::from_secs(2)),
            1,
        )],
    );
    let child = std_cmd(&Route::kms(&kms))
        .args(["seal", &s3_uri(&key), "--kms-key-id", &env().kms_alias])
        .args(["--posture", "off", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::process::wait_for("GenerateDataKey held back", Duration::from_secs(60), || {
        kms.fired() >= 1
    });
    let newer = b"a newer object by another writer".to_vec();
    store.put_raw(&key, newer.clone());
    let out = child.wait_with_output().unwrap();
    let doc = json_of(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["ok"], false);
    let message = doc["error"]["message"].as_str().unwrap();
    // The plaintext was read before the stall; the conditional write is what lost.
    assert!(message.contains("replaced by another writer"), "{message}");
    assert_eq!(
        store.get_raw(&key),
        newer,
        "the newer object was overwritten"
    );
    assert_eq!(store.open_uploads(&key), 0);
    store.delete(&key);
}

/// A fresh bucket with versioning enabled.
fn versioned_bucket(store: &Store) -> String {
    let bucket = format!("seal-versioned-{}", std::process::id());
    let _ = store.block_on(store.aws.s3.create_bucket().bucket(&bucket).send());
    let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    store
        .block_on(
            store
                .aws
                .s3
                .put_bucket_versioning()
                .bucket(&bucket)
                .versioning_configuration(enabled)
                .send(),
        )
        .expect("PutBucketVersioning");
    bucket
}

fn versions_of(store: &Store, bucket: &str, key: &str) -> Vec<String> {
    let out = store
        .block_on(
            store
                .aws
                .s3
                .list_object_versions()
                .bucket(bucket)
                .prefix(key)
                .send(),
        )
        .expect("ListObjectVersions");
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect()
}

#[test]
fn versioned_bucket_reports_the_plaintext_version_and_deletes_it_only_when_asked() {
    let store = Store::moto();
    let bucket = versioned_bucket(&store);
    let plain = data(3000, 11);

    // Without the flag: reported (JSON and a warning), kept.
    let key = unique_key("seal-versioned");
    let v1 = put_plain(&store, &bucket, &key, plain.clone()).expect("a version id");
    let uri = format!("s3://{bucket}/{key}");
    let mut cmd = seal_cmd(&uri, &[]);
    let out = cmd.assert().success();
    let doc = json_of(&out.get_output().stdout);
    assert_eq!(doc["previous_version"], v1.as_str(), "{doc}");
    assert_eq!(doc["deleted_previous"], false);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(stderr.contains("still exists"), "{stderr}");
    let versions = versions_of(&store, &bucket, &key);
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions.contains(&v1));

    // With the flag: exactly the version read is deleted, the sealed one stays.
    let key = unique_key("seal-versioned");
    let v1 = put_plain(&store, &bucket, &key, plain.clone()).expect("a version id");
    let uri = format!("s3://{bucket}/{key}");
    let out = seal_cmd(&uri, &["--delete-plaintext-version"])
        .assert()
        .success();
    let doc = json_of(&out.get_output().stdout);
    assert_eq!(doc["previous_version"], v1.as_str(), "{doc}");
    assert_eq!(doc["deleted_previous"], true);
    let versions = versions_of(&store, &bucket, &key);
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert!(!versions.contains(&v1));
    let got = common::files::get_stdout(Target::Moto, &uri, &["--context", "team=ops"]);
    assert_eq!(got, plain);
}

#[test]
fn objects_that_are_not_plaintext_or_not_there_are_refused() {
    let key = unique_key("seal-missing");
    let out = seal_cmd(&s3_uri(&key), &[]).assert().code(1);
    let doc = json_of(&out.get_output().stdout);
    assert_eq!(doc["ok"], false);
    // Single-object options that need a batch run are usage errors.
    s3seal(Target::Moto)
        .args([
            "seal",
            &s3_uri(&key),
            "--kms-key-id",
            "alias/x",
            "--shard",
            "0/2",
        ])
        .assert()
        .code(2);
}

#[test]
fn object_lock_refuses_the_deletion_and_seal_says_so() {
    let store = Store::moto();
    let bucket = format!("seal-locked-{}", std::process::id());
    store.create_object_lock_bucket(&bucket);
    let key = unique_key("seal-locked");
    let until = aws_smithy_types::DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 86_400,
    );
    let put = store
        .aws
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"locked plaintext".to_vec().into())
        .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Governance)
        .object_lock_retain_until_date(until);
    let v1 = store
        .block_on(put.send())
        .expect("locked PutObject")
        .version_id()
        .unwrap()
        .to_string();
    let uri = format!("s3://{bucket}/{key}");
    let out = seal_cmd(&uri, &["--delete-plaintext-version"])
        .assert()
        .code(1);
    let doc = json_of(&out.get_output().stdout);
    assert_eq!(doc["ok"], false, "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("sealed and verified"), "{message}");
    assert!(message.contains(&v1), "{message}");
    // Sealed all the same, and the locked plaintext version is still there.
    let got = common::files::get_stdout(Target::Moto, &uri, &["--context", "team=ops"]);
    assert_eq!(got, b"locked plaintext");
    assert!(versions_of(&store, &bucket, &key).contains(&v1));
}

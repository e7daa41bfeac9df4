//! Which keys and which readers a reader trusts: pinned KMS keys, the S3 Encryption Client
//! fallback, KMS answers that are integrity failures, conditional writes.

use std::path::Path;

use predicates::prelude::*;

use super::common::store::{self, Store};
use super::common::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Puts `plain` at `key` with s3seal, its data key wrapped under `kms_key`.
fn put_under(kms_key: &str, key: &str, plain: &[u8]) {
    s3seal(Target::Moto)
        .args(["put", "-", &s3_uri(key), "--kms-key-id", kms_key])
        .args(["--posture", "off"])
        .write_stdin(plain.to_vec())
        .assert()
        .success();
}

/// Writes one v3 object at `key` with the official S3 Encryption Client (Python, in the test
/// venv), its data key wrapped under `kms_key`.
fn put_s3ec_under(kms_key: &str, key: &str, plain: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, plain).unwrap();
    let job = serde_json::json!([{
        "key": key, "input": input, "format": "v3", "context": {"team": "ops"},
        "multipart": false, "instruction_file": false,
    }]);
    super::common::s3ec::write_objects(kms_key, &job);
}

/// `get` into an empty directory, with KMS requests visible in the trace log (the
/// `x-amz-target` header of each signed request names the KMS operation).
fn get_traced(src: &str, extra: &[&str]) -> (assert_cmd::assert::Assert, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out.bin");
    let assert = s3seal(Target::Moto)
        .env("RUST_LOG", "trace")
        .args(["get", src, dst.to_str().unwrap()])
        .args(extra)
        .assert();
    (assert, dir)
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

const DECRYPT_SENT: &str = "TrentService.Decrypt";

#[test]
fn planted_object_under_another_kms_key_is_refused_without_a_kms_decrypt() {
    let e = env();
    let key = unique_key("planted");
    let planted = data(5000, 1101);
    put_under(&e.other_kms_arn, &key, &planted);

    // Pinned to the reader's key: exit 3, names the key found, no file, no Decrypt sent.
    let (assert, dir) = get_traced(&s3_uri(&key), &["--expected-kms-key-id", &e.kms_arn]);
    let stderr = stderr_of(&assert);
    assert.code(3);
    assert!(
        stderr.contains("integrity") && stderr.contains(&e.other_kms_arn),
        "{stderr}"
    );
    assert!(!stderr.contains(DECRYPT_SENT), "a KMS Decrypt was sent");
    assert!(is_empty_dir(dir.path()), "output left behind");

    // An alias pin is resolved (DescribeKey) to the same key ARN; the environment variable
    // (comma-separated) works too.
    let (assert, dir) = get_traced(&s3_uri(&key), &["--expected-kms-key-id", &e.kms_alias]);
    assert!(!stderr_of(&assert).contains(DECRYPT_SENT));
    assert.code(3);
    assert!(is_empty_dir(dir.path()));
    s3seal(Target::Moto)
        .env(
            "S3SEAL_EXPECTED_KMS_KEY_IDS",
            format!("{},{}", e.kms_alias, e.kms_arn),
        )
        .args(["get", &s3_uri(&key), "-"])
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty());
    s3seal(Target::Moto)
        .args(["verify", &s3_uri(&key), "--expected-kms-key-id", &e.kms_arn])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(e.other_kms_arn.as_str()));

    // Through a presigned URL (`get URL`) as well.
    let url = s3seal(Target::Moto)
        .args(["presign", &s3_uri(&key)])
        .assert()
        .success();
    let url = String::from_utf8_lossy(&url.get_output().stdout)
        .trim()
        .to_string();
    let (assert, dir) = get_traced(&url, &["--expected-kms-key-id", &e.kms_arn]);
    assert!(!stderr_of(&assert).contains(DECRYPT_SENT));
    assert.code(3);
    assert!(is_empty_dir(dir.path()));

    // The control: pinned to the key it really is under, it reads (so the log does show a
    // Decrypt when one is sent), and the summary names the key that unwrapped it.
    let (assert, dir) = get_traced(
        &s3_uri(&key),
        &["--expected-kms-key-id", "alias/s3seal-other"],
    );
    let stderr = stderr_of(&assert);
    assert.success();
    assert!(stderr.contains(DECRYPT_SENT));
    assert!(
        stderr.contains(&format!("KMS key {}", e.other_kms_arn)),
        "{stderr}"
    );
    assert!(std::fs::read(dir.path().join("out.bin")).unwrap() == planted);
}

#[test]
fn rewrap_refuses_to_launder_an_unpinned_source_key() {
    let (e, key) = (env(), unique_key("rewrap-launder"));
    put_under(&e.other_kms_arn, &key, &data(3000, 1102));
    let before = Store::moto().get_raw(&key);
    // No pins: a usage error that names the key found, so it can be pinned deliberately.
    s3seal(Target::Moto)
        .args(["rewrap", &s3_uri(&key), "--kms-key-id", &e.kms_alias])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(e.other_kms_arn.as_str()))
        .stderr(predicate::str::contains("--expected-kms-key-id"));
    // Pinned to another key: an integrity failure.
    s3seal(Target::Moto)
        .args(["rewrap", &s3_uri(&key), "--kms-key-id", &e.kms_alias])
        .args(["--expected-kms-key-id", &e.kms_arn])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(e.other_kms_arn.as_str()));
    let after = Store::moto().get_raw(&key);
    assert!(before == after, "a refused rewrap changed the object");
}

#[test]
fn migrate_refuses_to_launder_an_unpinned_s3ec_object() {
    let (e, key) = (env(), unique_key("migrate-launder"));
    put_s3ec_under(&e.other_kms_arn, &key, &data(2000, 1103));
    let before = Store::moto().get_raw(&key);
    s3seal(Target::Moto)
        .args(["migrate", &s3_uri(&key), "--kms-key-id", &e.kms_alias])
        .args(["--posture", "off"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(e.other_kms_arn.as_str()));
    // Pinned to the operator's key: the pinned key is the KeyId of Decrypt, which KMS refuses.
    s3seal(Target::Moto)
        .args(["migrate", &s3_uri(&key), "--kms-key-id", &e.kms_alias])
        .args(["--posture", "off", "--expected-kms-key-id", &e.kms_arn])
        .assert()
        .code(3);
    let after = Store::moto().get_raw(&key);
    assert!(before == after, "a refused migrate changed the object");
    // The same pin refuses a plain read of it (--allow-s3ec does not lift the pin).
    let (assert, dir) = get_traced(
        &s3_uri(&key),
        &["--allow-s3ec", "--expected-kms-key-id", &e.kms_arn],
    );
    assert.code(3);
    assert!(is_empty_dir(dir.path()));
}

#[test]
fn s3ec_object_copied_over_an_s3seal_object_is_refused_without_allow_s3ec() {
    let e = env();
    let victim = unique_key("s3ec-swap-victim");
    let other = unique_key("s3ec-swap-other");
    put_under(&e.kms_arn, &victim, &data(3000, 1104));
    let swapped_in = data(2500, 1105);
    put_s3ec_under(&e.kms_arn, &other, &swapped_in);
    Store::moto().copy(&other, &victim);
    let (assert, dir) = get_traced(&s3_uri(&victim), &[]);
    assert
        .code(3)
        .stderr(predicate::str::contains("--allow-s3ec"));
    assert!(is_empty_dir(dir.path()), "output left behind");
    s3seal(Target::Moto)
        .args(["verify", &s3_uri(&victim)])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--allow-s3ec"));
    // An explicit choice: read, and reported as unbound to its location.
    let (assert, dir) = get_traced(&s3_uri(&victim), &["--allow-s3ec"]);
    assert
        .success()
        .stderr(predicate::str::contains("NOT bound to its location"))
        .stderr(predicate::str::contains(e.kms_arn.as_str()));
    assert!(std::fs::read(dir.path().join("out.bin")).unwrap() == swapped_in);
}

#[test]
fn header_naming_a_kms_key_that_does_not_exist_exits_3_not_1() {
    let e = env();
    let key = unique_key("missing-kms-key");
    put_under(&e.kms_arn, &key, &data(4000, 1106));
    // The header's key id is not authenticated until KMS unwrapped the data key: name a key
    // that does not exist (same length, so the header still parses).
    let uuid = e.kms_arn.rsplit('/').next().unwrap();
    let ghost = "00000000-0000-4000-8000-000000000000";
    assert_eq!(uuid.len(), ghost.len());
    {
        let store = Store::moto();
        let raw = store.get_raw(&key);
        let at = raw
            .windows(uuid.len())
            .position(|w| w == uuid.as_bytes())
            .expect("key id in the header");
        let mut tampered = raw.clone();
        tampered[at..at + uuid.len()].copy_from_slice(ghost.as_bytes());
        store.put_raw(&key, tampered);
    }
    for args in [vec!["get", "-"], vec!["verify"]] {
        let mut cmd = s3seal(Target::Moto);
        cmd.arg(args[0]).arg(s3_uri(&key)).args(&args[1..]);
        let assert = cmd.assert();
        let stderr = stderr_of(&assert);
        assert
            .code(3)
            .stdout(predicate::str::contains("intact").not());
        assert!(stderr.contains(ghost), "{stderr}");
        assert!(
            !stderr.contains("--kms-key-id"),
            "hint names an option get lacks: {stderr}"
        );
    }
}

/// FORMAT.md 3.5's example used another message id than section 4's test values, and did not
/// give the wrapped key, so an implementer could not check its header MAC: it is now built
/// from section 4's values, and the library must produce exactly the bytes it shows.
#[test]
fn format_md_annotated_example_follows_from_the_key_schedule_test_values() {
    use s3seal::format::{
        ChunkSize, DataKey, EncryptionContext, HeaderFields, MessageId, ObjectKeys, seal_to_vec,
    };
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let section = &spec[spec.find("### 3.5").unwrap()..spec.find("## 4. Key schedule").unwrap()];
    // The wrapped key: the hex lines between "wrapped key" and the pair count.
    let wrapped_hex: String = section
        .lines()
        .skip_while(|l| !l.contains("wrapped key (opaque"))
        .skip(1)
        .take_while(|l| !l.contains("3 pairs"))
        .map(str::trim)
        .collect();
    let wrapped = hex::decode(&wrapped_hex).expect("wrapped key hex");
    assert_eq!(wrapped.len(), 184);
    let dk: Vec<u8> = (0x00..0x20).collect();
    let mid = MessageId(std::array::from_fn(|i| 0x20 + i as u8));
    let keys = ObjectKeys::derive(&DataKey::from_slice(&dk).unwrap(), mid);
    let fields = HeaderFields {
        chunk_size: ChunkSize::from_log2(16).unwrap(),
        plaintext_len: 0,
        message_id: mid,
        key_id: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            .into(),
        wrapped_key: wrapped,
        context: EncryptionContext::for_object("vectors-bucket", "vectors/object.bin", &[])
            .unwrap(),
    };
    let object = seal_to_vec(&keys, &fields, &[]).unwrap();
    assert_eq!(object.len(), 483);
    let h = 467;
    for (what, bytes) in [
        ("message id", &object[25..57]),
        ("commitment", &object[57..89]),
        ("header MAC", &object[h - 32..h]),
    ] {
        assert!(
            section.contains(&format!("{}   {what}", hex::encode(bytes))),
            "FORMAT.md 3.5 shows another {what}"
        );
    }
    let tag: Vec<String> = object[h..].iter().map(|b| format!("{b:02x}")).collect();
    assert!(section.contains(&format!("{}   chunk 0", tag.join(" "))));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &object);
    assert!(section.contains(&hex::encode(digest.as_ref())));
}

/// The real KMS keyring, except that a concurrent writer replaces the object at `key` just
/// before ReEncrypt (rewrap) or GenerateDataKey (migrate's upload): after the read, before the
/// write.
struct RacingKeyring {
    inner: s3seal::kms::KmsKeyring,
    s3: aws_sdk_s3::Client,
    key: String,
}

const NEWER: &[u8] = b"a newer object by another writer";

impl RacingKeyring {
    async fn overwrite(&self) {
        self.s3
            .put_object()
            .bucket(&env().bucket)
            .key(&self.key)
            .body(NEWER.to_vec().into())
            .send()
            .await
            .expect("the concurrent write");
    }
}

impl s3seal::kms::Keyring for RacingKeyring {
    async fn generate(
        &self, key_id: &str, context: &s3seal::format::EncryptionContext,
    ) -> s3seal::Result<s3seal::kms::NewDataKey> {
        self.overwrite().await;
        self.inner.generate(key_id, context).await
    }

    async fn decrypt(
        &self, key_id: &str, wrapped: &[u8], context: &s3seal::format::EncryptionContext,
    ) -> s3seal::Result<s3seal::kms::Unwrapped> {
        self.inner.decrypt(key_id, wrapped, context).await
    }

    async fn decrypt_foreign(
        &self, wrapped: &[u8], context: &std::collections::BTreeMap<String, String>,
        key_id: Option<&str>,
    ) -> s3seal::Result<s3seal::kms::ForeignKey> {
        self.inner.decrypt_foreign(wrapped, context, key_id).await
    }

    async fn reencrypt(
        &self, wrapped: &[u8], key_id: &str, context: &s3seal::format::EncryptionContext,
        new_key_id: &str, new_context: &s3seal::format::EncryptionContext,
    ) -> s3seal::Result<s3seal::kms::Rewrapped> {
        self.overwrite().await;
        self.inner
            .reencrypt(wrapped, key_id, context, new_key_id, new_context)
            .await
    }

    async fn describe_key(&self, key_id: &str) -> s3seal::Result<String> {
        self.inner.describe_key(key_id).await
    }
}

fn racing(aws: &s3seal::aws::Aws, key: &str) -> RacingKeyring {
    RacingKeyring {
        inner: s3seal::kms::KmsKeyring::new(aws.kms.clone()),
        s3: aws.s3.clone(),
        key: key.to_string(),
    }
}

fn location_of(key: &str) -> s3seal::location::ObjectLocation {
    s3seal::location::ObjectLocation::parse(&s3_uri(key)).unwrap()
}

#[test]
fn rewrap_that_loses_a_race_to_another_writer_overwrites_nothing() {
    let e = env();
    let key = unique_key("rewrap-race");
    put_under(&e.kms_arn, &key, &data(3000, 1107));
    rt().block_on(async {
        let aws = store::moto_aws().await;
        let store = std::sync::Arc::new(s3seal::store::SdkStore::new(aws.s3.clone(), None));
        let request = s3seal::ops::rewrap::RewrapRequest {
            location: location_of(&key),
            new_kms_key_id: e.other_kms_arn.clone(),
            new_context: None,
            sse_kms_key_id: None,
            copy_part_bytes: s3seal::ops::rewrap::DEFAULT_COPY_PART_BYTES,
            concurrency: 2,
            pins: s3seal::pins::KeyPins::from_arns(vec![e.kms_arn.clone()]),
        };
        let err = s3seal::ops::rewrap::rewrap(
            store,
            &racing(&aws, &key),
            &request,
            s3seal::transfer::Cancel::never(),
        )
        .await
        .unwrap_err();
        let text = format!("{err} {}", err.hint().unwrap_or_default());
        assert!(
            text.contains("another writer") && text.contains("nothing was written"),
            "{text}"
        );
    });
    assert_eq!(
        Store::moto().get_raw(&key),
        NEWER,
        "the newer object was overwritten"
    );
}

#[test]
fn migrate_that_loses_a_race_to_another_writer_overwrites_nothing() {
    let e = env();
    let key = unique_key("migrate-race");
    put_s3ec_under(&e.kms_arn, &key, &data(3000, 1108));
    rt().block_on(async {
        let aws = store::moto_aws().await;
        let store = std::sync::Arc::new(s3seal::store::SdkStore::new(aws.s3.clone(), None));
        let migration = s3seal::ops::migrate::Migration::start(store, &location_of(&key), 8 << 20)
            .await
            .unwrap();
        let temp = tempfile::tempdir().unwrap();
        let request = s3seal::ops::migrate::MigrateRequest {
            kms_key_id: e.kms_arn.clone(),
            expected_context: vec![],
            sse_kms_key_id: None,
            chunk_size: s3seal::format::ChunkSize::from_log2(16).unwrap(),
            part_size: 8 << 20,
            concurrency: 2,
            temp_dir: temp.path().to_path_buf(),
            keep_instruction_file: false,
            pins: s3seal::pins::KeyPins::from_arns(vec![e.kms_arn.clone()]),
        };
        let no_progress = |_: &str| {
            std::sync::Arc::new(s3seal::transfer::NoProgress)
                as std::sync::Arc<dyn s3seal::transfer::Progress>
        };
        let err = migration
            .run(
                &racing(&aws, &key),
                &request,
                no_progress,
                s3seal::transfer::Cancel::never(),
            )
            .await
            .unwrap_err();
        let text = format!("{err} {}", err.hint().unwrap_or_default());
        assert!(text.contains("another writer"), "{text}");
    });
    assert_eq!(
        Store::moto().get_raw(&key),
        NEWER,
        "the newer object was overwritten"
    );
}

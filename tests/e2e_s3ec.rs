//! End-to-end interop with the official AWS S3 Encryption Client: objects are written by
//! `amazon-s3-encryption-client-python==4.0.0` (tests/interop/s3ec_write.py, run with the test
//! venv's Python) against moto over TLS, in the v3 (default) and v2 formats, with an encryption
//! context, at 0 B, a few KB and a multipart size, with metadata on the object or in
//! `KEY.instruction`; `s3seal get` must read every one byte-identical. Tampered bodies,
//! altered metadata, legacy modes and a wrong `--context` are refused with exit 3 and no output;
//! `migrate` round trips.

mod common;

use std::collections::HashMap;

use common::files::{Got, get_file, leftovers};
use common::s3ec::write_objects;
use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use predicates::prelude::*;

const MULTIPART: usize = 6 * 1024 * 1024 + 12_345;

/// One object for the Python writer.
struct Job {
    key: String,
    plain: Vec<u8>,
    format: &'static str,
    context: Vec<(&'static str, &'static str)>,
    instruction_file: bool,
}

impl Job {
    fn new(name: &str, format: &'static str, len: usize) -> Job {
        Job {
            key: unique_key(&format!("s3ec-{name}-{format}-{len}")),
            plain: data(len, len as u64 ^ 0x5ec),
            format,
            context: vec![("team", "ops"), ("app", "s3seal-e2e")],
            instruction_file: false,
        }
    }

    fn instruction(mut self) -> Job {
        self.instruction_file = true;
        self
    }
}

/// Writes `jobs` with the official S3 Encryption Client (each with its own boto3 clients).
fn write_with_official_client(jobs: &[Job]) {
    let e = env();
    let dir = tempfile::tempdir().unwrap();
    let specs: Vec<serde_json::Value> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            let input = dir.path().join(format!("in-{i}"));
            std::fs::write(&input, &job.plain).unwrap();
            let context: serde_json::Map<String, serde_json::Value> = job
                .context
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect();
            serde_json::json!({
                "key": job.key,
                "input": input,
                "format": job.format,
                "context": context,
                "multipart": job.plain.len() >= 5 * 1024 * 1024,
                "instruction_file": job.instruction_file,
            })
        })
        .collect();
    let lines = write_objects(&e.kms_arn, &serde_json::Value::Array(specs));
    assert_eq!(lines.lines().count(), jobs.len(), "{lines}");
    for (line, job) in lines.lines().zip(jobs) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let meta = v["metadata"].as_object().unwrap();
        // The object really is in the format asked for.
        match (job.format, job.instruction_file) {
            ("v3", _) => assert_eq!(meta["x-amz-c"], "115", "{line}"),
            ("v2", false) => assert_eq!(meta["x-amz-cek-alg"], "AES/GCM/NoPadding", "{line}"),
            ("v2", true) => assert!(meta.is_empty(), "{line}"),
            _ => unreachable!(),
        }
        assert_eq!(
            v["size"].as_u64().unwrap(),
            job.plain.len() as u64 + 16,
            "{line}"
        );
    }
}

/// `get` of `key` on moto into a fresh directory.
fn get(key: &str, extra: &[&str]) -> Got {
    let mut args = vec!["--allow-s3ec"];
    args.extend_from_slice(extra);
    get_file(Target::Moto, key, &args)
}

fn assert_refused(key: &str, extra: &[&str], what: &str, needle: &str) {
    let (assert, _, dir) = get(key, extra);
    assert
        .code(3)
        .stderr(predicate::str::contains("integrity").and(predicate::str::contains(needle)));
    let left = leftovers(dir.path(), "");
    assert!(left.is_empty(), "{what}: left behind {left:?}");
}

/// A copy of `src` at a new key, with body and metadata passed through `f`.
fn tampered_copy(
    store: &Store, src: &str, name: &str,
    f: impl FnOnce(&mut Vec<u8>, &mut HashMap<String, String>),
) -> String {
    let mut body = store.get_raw(src);
    let mut meta = store.metadata(src);
    f(&mut body, &mut meta);
    let key = unique_key(name);
    store.put_with_metadata(&key, body, meta);
    key
}

#[test]
fn reads_every_object_the_official_client_writes_byte_identical() {
    let mut jobs = Vec::new();
    for format in ["v3", "v2"] {
        for len in [0, 3000, MULTIPART] {
            jobs.push(Job::new("read", format, len));
        }
        jobs.push(Job::new("instr", format, 3000).instruction());
    }
    let mut no_context = Job::new("noctx", "v3", 100);
    no_context.context.clear();
    jobs.push(no_context);
    write_with_official_client(&jobs);

    for job in &jobs {
        let (assert, dst, _dir) = get(&job.key, &[]);
        assert
            .success()
            .stderr(predicate::str::contains(format!("S3EC {}", job.format)));
        let got = std::fs::read(dst).unwrap();
        assert!(
            got == job.plain,
            "{} ({} bytes, {}): s3seal read {} bytes that differ",
            job.key,
            job.plain.len(),
            job.format,
            got.len()
        );
        // The caller's context must match what is stored; a subset is enough.
        if !job.context.is_empty() {
            let (assert, _, _dir) = get(&job.key, &["--context", "team=ops"]);
            assert.success();
        }
    }

    // stdout: refused without --buffer-to-temp (nothing written), verified with it.
    let small = &jobs[1];
    let out = s3seal(Target::Moto)
        .args(["get", &s3_uri(&small.key), "-", "--allow-s3ec"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--buffer-to-temp"));
    assert!(out.get_output().stdout.is_empty());
    let big = &jobs[2];
    let out = s3seal(Target::Moto)
        .args([
            "get",
            &s3_uri(&big.key),
            "-",
            "--buffer-to-temp",
            "--allow-s3ec",
        ])
        .args(["--part-size", "1MiB", "--concurrency", "3"])
        .assert()
        .success();
    assert!(out.get_output().stdout == big.plain, "stdout differs");

    // Ranges cannot be authenticated in one GCM stream.
    s3seal(Target::Moto)
        .args([
            "get",
            &s3_uri(&small.key),
            "-",
            "--range",
            "0-9",
            "--allow-s3ec",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unauthenticated ranged read"));
}

type Tamper = Box<dyn FnOnce(&mut Vec<u8>, &mut HashMap<String, String>)>;

/// Changes the first character of the (base64) metadata value `name`.
fn flip_first(name: &'static str) -> Tamper {
    Box::new(move |_, m| {
        let d = m.get_mut(name).unwrap();
        let first = if d.starts_with('A') { "B" } else { "A" };
        d.replace_range(0..1, first);
    })
}

/// Changes the context value "ops" to "dev" in the JSON metadata value `name`.
fn ops_to_dev(name: &'static str) -> Tamper {
    Box::new(move |_, m| {
        let t = m.get_mut(name).unwrap();
        *t = t.replace("\"ops\"", "\"dev\"");
    })
}

/// Sets the metadata value `name` to `value`.
fn set(name: &'static str, value: &'static str) -> Tamper {
    Box::new(move |_, m| {
        m.insert(name.into(), value.into());
    })
}

#[test]
fn tampering_altered_metadata_legacy_modes_and_wrong_context_are_refused() {
    let jobs = [
        Job::new("tamper", "v3", 3000),
        Job::new("tamper", "v2", 3000),
        Job::new("tamper-instr", "v3", 3000).instruction(),
    ];
    write_with_official_client(&jobs);
    let (v3, v2, v3i) = (&jobs[0].key, &jobs[1].key, &jobs[2].key);

    // Sanity: the untouched objects read.
    for k in [v3, v2, v3i] {
        get(k, &[]).0.success();
    }

    for k in [v3, v2, v3i] {
        assert_refused(k, &["--context", "team=dev"], "wrong context", "--context");
        assert_refused(k, &["--context", "owner=ops"], "missing pair", "--context");
    }

    let cases: Vec<(&str, &String, Tamper, &str)> = vec![
        (
            "v3 ciphertext bit",
            v3,
            Box::new(|b, _| b[100] ^= 1),
            "GCM authentication tag",
        ),
        (
            "v2 ciphertext bit",
            v2,
            Box::new(|b, _| b[0] ^= 0x80),
            "GCM authentication tag",
        ),
        (
            "v2 tag bit",
            v2,
            Box::new(|b, _| {
                let n = b.len();
                b[n - 1] ^= 1
            }),
            "GCM authentication tag",
        ),
        (
            "v3 truncated",
            v3,
            Box::new(|b, _| b.truncate(b.len() - 1)),
            "GCM authentication tag",
        ),
        (
            "v3 byte appended",
            v3,
            Box::new(|b, _| b.push(0)),
            "GCM authentication tag",
        ),
        ("v3 commitment", v3, flip_first("x-amz-d"), "key commitment"),
        ("v3 message id", v3, flip_first("x-amz-i"), "key commitment"),
        (
            "v3 stored context",
            v3,
            ops_to_dev("x-amz-t"),
            "KMS could not decrypt",
        ),
        (
            "v2 matdesc",
            v2,
            ops_to_dev("x-amz-matdesc"),
            "KMS could not decrypt",
        ),
        (
            "v2 iv",
            v2,
            set("x-amz-iv", "AAAAAAAAAAAAAAAA"),
            "GCM authentication tag",
        ),
        (
            "v2 to AES/CBC",
            v2,
            set("x-amz-cek-alg", "AES/CBC/PKCS5Padding"),
            "AES/CBC",
        ),
        (
            "v2 to kms wrapping",
            v2,
            set("x-amz-wrap-alg", "kms"),
            "`kms`",
        ),
        // A length that does not match the object: truncated or extended.
        (
            "v2 unencrypted length",
            v2,
            set("x-amz-unencrypted-content-length", "2999"),
            "x-amz-unencrypted-content-length says 2999",
        ),
        (
            "v3 with a v2 key",
            v3,
            Box::new(|_, m| {
                let k = m["x-amz-3"].clone();
                m.insert("x-amz-key-v2".into(), k);
            }),
            "mixes format versions",
        ),
        (
            "v1 format",
            v2,
            Box::new(|_, m| {
                let k = m.remove("x-amz-key-v2").unwrap();
                m.insert("x-amz-key".into(), k);
            }),
            "v1 format",
        ),
    ];
    let store = Store::moto();
    for (what, src, f, needle) in cases {
        let key = tampered_copy(&store, src, "s3ec-tampered", f);
        assert_refused(&key, &[], what, needle);
    }
    // A raw (non-KMS) keyring: not an integrity failure but a usage error (exit 2) pointing
    // at the S3 Encryption Client, and nothing written.
    let raw = tampered_copy(
        &store,
        v2,
        "s3ec-raw-keyring",
        set("x-amz-wrap-alg", "AES/GCM"),
    );
    let (assert, _, dir) = get(&raw, &[]);
    assert
        .code(2)
        .stderr(predicate::str::contains("raw keyring"));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "raw keyring: something was written"
    );
    // The instruction file altered: context value changed, or a v2 key injected
    // (downgrade through the instruction file).
    let instr_key = format!("{v3i}.instruction");
    let original = store.get_raw(&instr_key);
    let mut json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&original).unwrap();
    let mut altered = json.clone();
    let t = altered["x-amz-t"].as_str().unwrap().replace("ops", "dev");
    altered.insert("x-amz-t".into(), t.into());
    store.put_raw(&instr_key, serde_json::to_vec(&altered).unwrap());
    assert_refused(v3i, &[], "instruction context", "KMS could not decrypt");
    let k = json["x-amz-3"].clone();
    json.insert("x-amz-key-v2".into(), k);
    store.put_raw(&instr_key, serde_json::to_vec(&json).unwrap());
    assert_refused(v3i, &[], "instruction downgrade", "mixes format versions");
    // Instruction file gone.
    store.delete(&instr_key);
    assert_refused(v3i, &[], "instruction missing", "does not exist");
}

/// `migrate` of `key` on moto to the test KMS alias, plus `extra`.
fn migrate(key: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    s3seal(Target::Moto)
        .args(["migrate", &s3_uri(key), "--kms-key-id", &env().kms_alias])
        .args(["--expected-kms-key-id", &env().kms_arn])
        .args(extra)
        .assert()
}

#[test]
fn migrate_round_trips_and_refuses_what_it_cannot_verify() {
    let jobs = [
        Job::new("migrate", "v2", 3000),
        Job::new("migrate-instr", "v3", 5000).instruction(),
        Job::new("migrate-big", "v3", MULTIPART),
        Job::new("migrate-refused", "v3", 1000),
    ];
    write_with_official_client(&jobs);
    for job in &jobs[..3] {
        migrate(
            &job.key,
            &[
                "--context",
                "team=ops",
                "--posture",
                "off",
                "--part-size",
                "5MiB",
            ],
        )
        .success()
        .stderr(predicate::str::contains("read back and compared"));
        let (assert, dst, _dir) = get(&job.key, &["--context", "app=s3seal-e2e"]);
        assert
            .success()
            .stderr(predicate::str::contains("chunks verified"));
        assert!(
            std::fs::read(dst).unwrap() == job.plain,
            "{} differs after migrate",
            job.key
        );
    }
    let store = Store::moto();
    let stored = store.get_raw(&jobs[0].key);
    assert_eq!(&stored[..8], s3seal::format::MAGIC.as_slice());
    let header = s3seal::format::ParsedHeader::parse(&stored).unwrap();
    assert_eq!(header.fields.context.get("team"), Some("ops"));
    assert!(
        store
            .metadata(&jobs[0].key)
            .keys()
            .all(|k| !k.starts_with("x-amz-")),
        "S3EC metadata left on the migrated object"
    );
    let gone = store.head(&format!("{}.instruction", jobs[1].key));
    assert!(gone.is_none(), "instruction file left behind");
    // Already migrated: refused, untouched.
    migrate(&jobs[0].key, &["--posture", "off"])
        .code(2)
        .stderr(predicate::str::contains("already an s3seal object"));
    // Wrong context or a tampered body: exit 3, the S3EC object stays as it was.
    let refused = &jobs[3];
    migrate(&refused.key, &["--context", "team=dev", "--posture", "off"]).code(3);
    let mut body = store.get_raw(&refused.key);
    let meta = store.metadata(&refused.key);
    body[10] ^= 1;
    store.put_with_metadata(&refused.key, body.clone(), meta.clone());
    drop(
        migrate(&refused.key, &["--posture", "off"])
            .code(3)
            .stderr(predicate::str::contains("GCM authentication tag")),
    );
    assert_eq!(store.get_raw(&refused.key), body, "object changed");
    assert_eq!(store.metadata(&refused.key), meta);
}

#[test]
fn inspect_and_verify_recognize_s3ec_objects() {
    let jobs = vec![Job::new("tools", "v3", 5000), Job::new("tools", "v2", 5000)];
    write_with_official_client(&jobs);
    for job in &jobs {
        let out = s3seal(Target::Moto)
            .args(["inspect", &s3_uri(&job.key), "--json"])
            .assert()
            .success();
        let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(doc["is_s3seal"], false);
        assert!(
            doc["s3ec"]["format"]
                .as_str()
                .unwrap()
                .contains(&job.format[1..]),
            "{doc}"
        );
        assert_eq!(doc["s3ec"]["encryption_context"]["team"], "ops");
        s3seal(Target::Moto)
            .args(["verify", &s3_uri(&job.key), "--context", "team=ops"])
            .arg("--allow-s3ec")
            .assert()
            .success()
            .stdout(predicate::str::contains("S3 Encryption Client"));
    }
    let bad = tampered_copy(&Store::moto(), &jobs[0].key, "tools-bad", |body, _| {
        let n = body.len();
        body[n / 2] ^= 1;
    });
    s3seal(Target::Moto)
        .args(["verify", &s3_uri(&bad), "--allow-s3ec"])
        .assert()
        .code(3);
}

//! `get` over many objects end to end on moto over HTTPS: `get --manifest` (an S3 Batch
//! Operations CSV with URL-encoded keys) writes each object to DIR/KEY byte-identical;
//! `get --recursive --shard 0/2` and `1/2` together download each object exactly once; a
//! tampered object gives exit 3 and no file while the others arrive; a missing one exit 7.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::store::Store;
use common::{Target, data, env, s3seal, unique_key};
use serde_json::Value;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Three s3seal objects under a fresh prefix (one key with a space); keys and plaintexts.
fn three_objects(name: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let base = unique_key(name);
    let objects: Vec<(String, Vec<u8>)> = ["one.txt", "sub dir/two with space.bin", "three"]
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{base}/{n}"), data(1000 * i + 17, i as u64)))
        .collect();
    for (key, plain) in &objects {
        common::files::put_file(Target::Moto, plain, key, &[]);
    }
    (base, objects)
}

/// An S3 Batch Operations CSV manifest naming `keys` (URL-encoded), written to `path`.
fn manifest(path: &Path, keys: &[&str]) {
    let encode = |k: &str| {
        percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let csv: String = keys
        .iter()
        .map(|k| format!("{},{}\n", env().bucket, encode(k)))
        .collect();
    std::fs::write(path, csv).unwrap();
}

/// A temporary directory holding `m.csv`, a manifest naming `objects`.
fn manifest_of(objects: &[(String, Vec<u8>)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.csv");
    let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    manifest(&m, &keys);
    (dir, m)
}

#[test]
fn a_manifest_downloads_each_object_to_dir_slash_key() {
    let (_, objects) = three_objects("getman");
    let (dir, m) = manifest_of(&objects);
    let out = dir.path().join("out");
    let report = dir.path().join("r.jsonl");
    let (code, lines) = get_manifest(&m, &out, &report, &[]);
    assert_eq!(code, 0, "{lines:?}");
    for (key, plain) in &objects {
        assert_eq!(&std::fs::read(out.join(key)).unwrap(), plain, "{key}");
    }
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line["result"], "ok", "{line}");
        assert_eq!(line["action"], "downloaded", "{line}");
        assert!(line["kms_key_arn"].is_string(), "{line}");
    }
}

#[test]
fn two_shards_download_each_object_exactly_once() {
    let (base, objects) = three_objects("getshard");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut seen = BTreeSet::new();
    for shard in ["0/2", "1/2"] {
        let report = dir.path().join(format!("r{}.jsonl", &shard[..1]));
        s3seal(Target::Moto)
            .args([
                "get",
                "--recursive",
                &format!("s3://{}/{base}/", env().bucket),
            ])
            .arg(&out)
            .args(["--shard", shard, "--report"])
            .arg(&report)
            .assert()
            .code(0);
        for line in lines(&report) {
            assert_eq!(line["result"], "ok", "{line}");
            assert!(seen.insert(line["object"].as_str().unwrap().to_string()));
        }
    }
    let expected: BTreeSet<String> = objects
        .iter()
        .map(|(k, _)| format!("s3://{}/{k}", env().bucket))
        .collect();
    assert_eq!(seen, expected);
    // Files are named below the prefix, as with get --recursive.
    for (key, plain) in &objects {
        let rel = key.strip_prefix(&format!("{base}/")).unwrap();
        assert_eq!(&std::fs::read(out.join(rel)).unwrap(), plain, "{rel}");
    }
}

#[test]
fn a_tampered_object_exits_3_with_no_file_and_a_missing_one_exits_7() {
    let store = Store::moto();
    let (base, objects) = three_objects("gettamper");
    store.tamper(&objects[1].0, |b| {
        let last = b.len() - 1;
        b[last] ^= 1;
    });
    let (dir, m) = manifest_of(&objects);
    let out = dir.path().join("out");
    let report = dir.path().join("r.jsonl");
    let (code, lines) = get_manifest(&m, &out, &report, &[]);
    assert_eq!(code, 3, "{lines:?}");
    assert!(
        !out.join(&objects[1].0).exists(),
        "a tampered object arrived"
    );
    for i in [0, 2] {
        assert_eq!(
            std::fs::read(out.join(&objects[i].0)).unwrap(),
            objects[i].1
        );
    }
    let failed: Vec<Value> = lines
        .into_iter()
        .filter(|l| l["result"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["error_class"], "integrity");

    // A manifest naming an object that does not exist: the others arrive, exit 7.
    let missing = format!("{base}/missing");
    manifest(&m, &[&objects[0].0, &missing]);
    let out = dir.path().join("out2");
    let (code, lines) = get_manifest(&m, &out, &report, &[]);
    assert_eq!(code, 7, "{lines:?}");
    assert_eq!(
        std::fs::read(out.join(&objects[0].0)).unwrap(),
        objects[0].1
    );
    assert!(!out.join(&missing).exists());
}

/// Runs `get --manifest M DIR --report R` with `extra`; the exit code and the report's lines.
fn get_manifest(m: &Path, out: &Path, report: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let o = s3seal(Target::Moto)
        .args(["get", "--manifest"])
        .arg(m)
        .arg(out)
        .arg("--report")
        .arg(report)
        .args(extra)
        .output()
        .unwrap();
    (o.status.code().unwrap(), lines(report))
}

#[test]
fn pins_and_context_are_honoured_and_unsafe_keys_refused() {
    let (base, objects) = three_objects("getpins");
    let (dir, m) = manifest_of(&objects);
    let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    let report = dir.path().join("r.jsonl");

    // A key pinned that did not wrap the objects: nothing is written, integrity failures.
    let out = dir.path().join("pinned");
    let pin = ["--expected-kms-key-id", env().other_kms_arn.as_str()];
    let (code, lines) = get_manifest(&m, &out, &report, &pin);
    assert_eq!(code, 3, "{lines:?}");
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["result"] == "failed"), "{lines:?}");
    assert!(keys.iter().all(|k| !out.join(k).exists()));
    // The right pin: all arrive.
    let pin = ["--expected-kms-key-id", env().kms_arn.as_str()];
    let (code, lines) = get_manifest(&m, &out, &report, &pin);
    assert_eq!(code, 0, "{lines:?}");

    // A context pair the objects do not carry: refused, nothing written.
    let out = dir.path().join("context");
    let (code, lines) = get_manifest(&m, &out, &report, &["--context", "team=other"]);
    assert_ne!(code, 0, "{lines:?}");
    assert!(lines.iter().all(|l| l["result"] == "failed"), "{lines:?}");
    assert!(keys.iter().all(|k| !out.join(k).exists()));

    // A key that would leave DIR: refused with a usage error, the others arrive (exit 7).
    let escape = format!("{base}/../../escape");
    common::files::put_file(Target::Moto, b"x", &escape, &[]);
    manifest(&m, &[keys[0], &escape]);
    let out = dir.path().join("unsafe");
    let (code, lines) = get_manifest(&m, &out, &report, &[]);
    assert_eq!(code, 7, "{lines:?}");
    let bad: Vec<&Value> = lines.iter().filter(|l| l["result"] == "failed").collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["error_class"], "usage");
    assert!(!dir.path().join("escape").exists() && !out.join("escape").exists());
    assert!(out.join(keys[0]).exists());
}

#[test]
fn many_object_runs_refuse_single_object_options() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.txt");
    std::fs::write(&m, "s3://b/k\n").unwrap();
    for extra in [
        vec!["-"],
        vec!["out", "--range", "0-1"],
        vec!["out", "--json"],
        vec!["out", "--dry-run"],
    ] {
        s3seal(Target::Moto)
            .args(["get", "--manifest"])
            .arg(&m)
            .args(&extra)
            .assert()
            .code(2);
    }
    // --shard without --manifest or --recursive, and a destination-less single get.
    s3seal(Target::Moto)
        .args(["get", "s3://b/k", "out", "--shard", "0/2"])
        .assert()
        .code(2);
    s3seal(Target::Moto)
        .args(["get", "s3://b/k"])
        .assert()
        .code(2);
}

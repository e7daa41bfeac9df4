//! Runs over many objects end to end on moto over HTTPS: a prefix of 1,000 plaintext objects
//! sealed by three workers (`--shard 0/3`, `1/3`, and a third that takes its index from
//! `JOB_COMPLETION_INDEX` with `--shard-count 3`) is covered exactly once, as their JSON-lines
//! reports show; a re-run of a shard changes nothing; `verify --manifest` over an S3 Batch
//! Operations CSV manifest in S3 (URL-encoded keys) reports a tampered object as an integrity
//! failure (exit 3) and a missing one as a partial failure (exit 7); `seal` reads an S3
//! Inventory report (manifest.json and gzipped CSV in S3); `rewrap --recursive` rotates a
//! folder's key and `verify --recursive` checks it pinned to the new key; `migrate
//! --recursive` migrates S3 Encryption Client objects and skips s3seal ones, so it can be re-run.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::store::Store;
use common::{Target, env, s3seal, unique_key};
use futures::StreamExt;
use serde_json::Value;

const OBJECTS: usize = 1000;

/// Creates `keys` concurrently with the test's own SDK client (tiny plaintext objects).
fn create(store: &Store, keys: &[String]) {
    store.block_on(async {
        futures::stream::iter(keys)
            .map(|key| {
                let put = store
                    .aws
                    .s3
                    .put_object()
                    .bucket(&env().bucket)
                    .key(key)
                    .body(key.as_bytes().to_vec().into());
                async move { put.send().await.expect("PutObject") }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
    });
}

/// Deletes `keys` concurrently (moto keeps objects in memory).
fn remove(store: &Store, keys: &[String]) {
    store.block_on(async {
        futures::stream::iter(keys)
            .map(|key| {
                let delete = store.aws.s3.delete_object().bucket(&env().bucket).key(key);
                async move { delete.send().await.expect("DeleteObject") }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
    });
}

/// ETag of every object under `prefix`.
fn etags(store: &Store, prefix: &str) -> BTreeMap<String, String> {
    store.block_on(async {
        let mut out = BTreeMap::new();
        let mut pages = store
            .aws
            .s3
            .list_objects_v2()
            .bucket(&env().bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in page.expect("ListObjectsV2").contents() {
                out.insert(
                    o.key().unwrap().to_string(),
                    o.e_tag().unwrap_or_default().to_string(),
                );
            }
        }
        out
    })
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `seal --recursive s3://BUCKET/PREFIX` as one worker of three.
fn seal_shard(prefix: &str, shard: &str, report: &std::path::Path) -> std::process::Child {
    let mut cmd = common::process::std_command(&s3seal(Target::Moto));
    cmd.args(["seal", &format!("s3://{}/{prefix}", env().bucket)])
        .args([
            "--recursive",
            "--kms-key-id",
            &env().kms_alias,
            "--posture",
            "off",
        ])
        .args(["--jobs", "8", "--report"])
        .arg(report);
    if let Some(index) = shard.strip_prefix("env:") {
        cmd.env("JOB_COMPLETION_INDEX", index)
            .args(["--shard-count", "3"]);
    } else {
        cmd.args(["--shard", shard]);
    }
    cmd.spawn().unwrap()
}

#[test]
fn three_shards_cover_a_prefix_exactly_once_and_a_rerun_changes_nothing() {
    let store = Store::moto();
    let prefix = format!("{}/", unique_key("shards"));
    let keys: Vec<String> = (0..OBJECTS)
        .map(|i| format!("{prefix}obj-{i:04}"))
        .collect();
    create(&store, &keys);
    let dir = tempfile::tempdir().unwrap();
    let reports: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("r{i}.jsonl")))
        .collect();

    // Three workers at once, as a fleet would run them.
    let workers: Vec<_> = ["0/3", "1/3", "env:2"]
        .iter()
        .zip(&reports)
        .map(|(shard, report)| seal_shard(&prefix, shard, report))
        .collect();
    for mut worker in workers {
        assert!(worker.wait().unwrap().success());
    }
    let mut seen = BTreeSet::new();
    for report in &reports {
        let lines = lines(report);
        assert!(!lines.is_empty(), "an empty shard of 1,000 objects");
        for line in lines {
            assert_eq!(line["result"], "ok", "{line}");
            assert_eq!(line["action"], "sealed", "{line}");
            let object = line["object"].as_str().unwrap().to_string();
            assert!(seen.insert(object), "{line} twice");
        }
    }
    let expected: BTreeSet<String> = keys
        .iter()
        .map(|k| format!("s3://{}/{k}", env().bucket))
        .collect();
    assert_eq!(
        seen, expected,
        "the shards did not cover the prefix exactly"
    );

    // A failed worker is simply re-run: everything is sealed already, nothing is written.
    let before = etags(&store, &prefix);
    let again = dir.path().join("again.jsonl");
    assert!(seal_shard(&prefix, "1/3", &again).wait().unwrap().success());
    let again = lines(&again);
    assert_eq!(again.len(), lines(&reports[1]).len());
    assert!(
        again.iter().all(|l| l["action"] == "already-sealed"),
        "{again:?}"
    );
    assert_eq!(etags(&store, &prefix), before, "a re-run rewrote objects");
    remove(&store, &keys);
}

#[test]
fn verify_over_a_batch_operations_manifest_reports_each_object() {
    let store = Store::moto();
    let bucket = &env().bucket;
    let base = unique_key("manifest");
    let names = [
        "plain name.txt",
        "a+b,c.txt",
        "ü/deep/key",
        "tampered",
        "missing",
    ];
    let keys: Vec<String> = names.iter().map(|n| format!("{base}/{n}")).collect();
    for key in &keys[..4] {
        common::files::put_file(Target::Moto, key.as_bytes(), key, &[]);
    }
    store.tamper(&keys[3], |b| {
        let last = b.len() - 1;
        b[last] ^= 1;
    });
    // A Batch Operations manifest: BUCKET,KEY with the key URL-encoded.
    let encode = |k: &str| {
        percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let csv: String = keys
        .iter()
        .map(|k| format!("{bucket},{}\n", encode(k)))
        .collect();
    let manifest_key = format!("{base}/manifest.csv");
    store.put_raw(&manifest_key, csv.into_bytes());
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("verify.jsonl");

    let out = s3seal(Target::Moto)
        .args([
            "verify",
            "--manifest",
            &format!("s3://{bucket}/{manifest_key}"),
        ])
        .arg("--report")
        .arg(&report)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(stderr.contains("5 objects"), "{stderr}");
    let by_key: BTreeMap<String, Value> = lines(&report)
        .into_iter()
        .map(|l| (l["object"].as_str().unwrap().to_string(), l))
        .collect();
    assert_eq!(by_key.len(), 5);
    for (key, name) in keys.iter().zip(names) {
        let line = &by_key[&format!("s3://{bucket}/{key}")];
        match name {
            "tampered" => assert_eq!(line["error_class"], "integrity", "{line}"),
            "missing" => assert_eq!(line["error_class"], "runtime", "{line}"),
            _ => {
                assert_eq!(line["result"], "ok", "{line}");
                assert_eq!(line["action"], "verified");
                assert!(line["kms_key_arn"].as_str().unwrap().starts_with("arn:"));
            }
        }
    }

    // Without the tampered object only a missing one fails: exit 7 (some objects failed).
    let csv = format!(
        "{bucket},{}\n{bucket},{}\n",
        encode(&keys[0]),
        encode(&keys[4])
    );
    std::fs::write(dir.path().join("keys.csv"), csv).unwrap();
    s3seal(Target::Moto)
        .args(["verify", "--manifest"])
        .arg(dir.path().join("keys.csv"))
        .args(["--quiet"])
        .assert()
        .code(7);
    for key in &keys[..4] {
        store.delete(key);
    }
}

#[test]
fn seal_over_an_s3_inventory_report_in_s3() {
    // An Inventory report as S3 delivers it: manifest.json naming gzipped CSV data files,
    // quoted fields, keys URL-encoded with `+` for a space.
    let store = Store::moto();
    let bucket = &env().bucket;
    let base = unique_key("inventory");
    let keys = [
        format!("{base}/data/inv one.txt"),
        format!("{base}/data/a+b"),
        format!("{base}/data/ü"),
    ];
    for key in &keys {
        store.put_raw(key, key.as_bytes().to_vec());
    }
    let encode = |k: &str| {
        percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC)
            .to_string()
            .replace("%20", "+")
    };
    let rows: String = keys
        .iter()
        .map(|k| format!("\"{bucket}\",\"{}\",\"{}\"\n", encode(k), k.len()))
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, rows.as_bytes()).unwrap();
    let data_key = format!("{base}/report/data/0001.csv.gz");
    store.put_raw(&data_key, gz.finish().unwrap());
    let manifest = serde_json::json!({
        "sourceBucket": bucket,
        "destinationBucket": format!("arn:aws:s3:::{bucket}"),
        "version": "2016-11-30",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": [{"key": data_key, "size": 100, "MD5checksum": "0"}],
    });
    let manifest_key = format!("{base}/report/manifest.json");
    store.put_raw(&manifest_key, manifest.to_string().into_bytes());
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("seal.jsonl");

    s3seal(Target::Moto)
        .args([
            "seal",
            "--manifest",
            &format!("s3://{bucket}/{manifest_key}"),
        ])
        .args([
            "--kms-key-id",
            &env().kms_alias,
            "--posture",
            "off",
            "--report",
        ])
        .arg(&report)
        .assert()
        .success();
    let sealed: BTreeSet<String> = lines(&report)
        .into_iter()
        .inspect(|l| assert_eq!(l["action"], "sealed", "{l}"))
        .map(|l| l["object"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = keys.iter().map(|k| format!("s3://{bucket}/{k}")).collect();
    assert_eq!(sealed, expected);
    for key in &keys {
        let got = common::files::get_stdout(Target::Moto, &common::s3_uri(key), &[]);
        assert_eq!(got, key.as_bytes());
        store.delete(key);
    }
}

#[test]
fn rewrap_and_verify_over_a_prefix() {
    // Key rotation of a folder: rewrap every object to the other key, then verify them all
    // pinned to it. A plaintext object among them fails alone, as "not an s3seal object": an
    // integrity failure (the run exits 3, as `get` of it would), the others are rewrapped.
    let store = Store::moto();
    let bucket = &env().bucket;
    let base = unique_key("rotate");
    let keys: Vec<String> = (0..3).map(|i| format!("{base}/k{i}")).collect();
    for key in &keys {
        common::files::put_file(Target::Moto, key.as_bytes(), key, &[]);
    }
    let plain = format!("{base}/plain.txt");
    store.put_raw(&plain, b"not sealed".to_vec());
    let folder = format!("s3://{bucket}/{base}");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("rewrap.jsonl");
    s3seal(Target::Moto)
        .args([
            "rewrap",
            &folder,
            "--recursive",
            "--kms-key-id",
            &env().other_kms_arn,
        ])
        .args(["--expected-kms-key-id", &env().kms_arn, "--report"])
        .arg(&report)
        .assert()
        .code(3);
    let lines = lines(&report);
    assert_eq!(lines.len(), 4);
    for line in &lines {
        if line["object"] == format!("s3://{bucket}/{plain}").as_str() {
            assert_eq!(line["result"], "failed", "{line}");
            assert_eq!(line["error_class"], "integrity", "{line}");
        } else {
            assert_eq!(line["action"], "rewrapped", "{line}");
            assert_eq!(line["kms_key_arn"], env().other_kms_arn.as_str());
            assert_eq!(line["old_kms_key_arn"], env().kms_arn.as_str());
        }
    }
    store.delete(&plain);
    let out = s3seal(Target::Moto)
        .args(["verify", &folder, "--recursive", "--jobs", "2"])
        .args(["--expected-kms-key-id", &env().other_kms_arn])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.contains("\"verified\"")),
        "{stdout}"
    );
    remove(&store, &keys);
}

#[test]
fn migrate_over_a_prefix_skips_what_is_already_s3seal() {
    // Two objects of the official S3 Encryption Client and one s3seal object: the S3EC ones
    // are migrated, the s3seal one is reported and left alone; a second run migrates nothing.
    let store = Store::moto();
    let bucket = &env().bucket;
    let base = unique_key("migrate-many");
    let dir = tempfile::tempdir().unwrap();
    let specs: Vec<Value> = ["v2", "v3"]
        .iter()
        .map(|format| {
            let input = dir.path().join(format);
            std::fs::write(&input, format.as_bytes()).unwrap();
            serde_json::json!({
                "key": format!("{base}/{format}"), "input": input, "format": format,
                "context": {}, "multipart": false, "instruction_file": false,
            })
        })
        .collect();
    common::s3ec::write_objects(&env().kms_arn, &Value::Array(specs));
    let sealed = format!("{base}/sealed");
    common::files::put_file(Target::Moto, b"sealed", &sealed, &[]);
    let run = |report: &std::path::Path| {
        s3seal(Target::Moto)
            .args(["migrate", &format!("s3://{bucket}/{base}/"), "--recursive"])
            .args(["--kms-key-id", &env().kms_alias, "--posture", "off"])
            .args(["--expected-kms-key-id", &env().kms_arn, "--report"])
            .arg(report)
            .assert()
            .success();
        let mut actions: Vec<(String, String)> = lines(report)
            .into_iter()
            .inspect(|l| {
                // Every object ends under a key, and the line names it (an object found
                // already s3seal: the key its header names).
                assert!(l["kms_key_arn"].is_string(), "{l}");
            })
            .map(|l| {
                let object = l["object"].as_str().unwrap().rsplit('/').next().unwrap();
                (
                    object.to_string(),
                    l["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        actions.sort();
        actions
    };
    let pair = |k: &str, a: &str| (k.to_string(), a.to_string());
    assert_eq!(
        run(&dir.path().join("first.jsonl")),
        vec![
            pair("sealed", "already-s3seal"),
            pair("v2", "migrated"),
            pair("v3", "migrated")
        ]
    );
    assert_eq!(
        run(&dir.path().join("second.jsonl")),
        vec![
            pair("sealed", "already-s3seal"),
            pair("v2", "already-s3seal"),
            pair("v3", "already-s3seal")
        ]
    );
    for name in ["v2", "v3"] {
        let got = common::files::get_stdout(
            Target::Moto,
            &common::s3_uri(&format!("{base}/{name}")),
            &[],
        );
        assert_eq!(got, name.as_bytes());
    }
    remove(
        &store,
        &[format!("{base}/v2"), format!("{base}/v3"), sealed],
    );
}

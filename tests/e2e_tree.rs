//! Trees end to end against the local servers (moto over HTTPS): `put/get --recursive` and
//! `sync` both ways: a round trip that `diff -r` finds identical with mtimes restored, sync
//! transferring only what changed (`--checksum` catching a same-size edit), `--delete` removing
//! exactly the vanished, non-excluded paths, `--dry-run` changing nothing, a failed object
//! giving exit 7 while the others arrive, keys that would escape the directory refused, Object
//! Lock retention on the stored objects, and `--json` lines accounting for every object.

mod common;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use serde_json::Value;

/// What one run printed and how it ended.
struct Run {
    code: i32,
    objects: Vec<Value>,
    summary: Value,
    stderr: String,
}

impl Run {
    /// Relative paths (after `/`-joined destination prefix or directory) with `action`.
    fn with_action(&self, action: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .objects
            .iter()
            .filter(|o| o["action"] == action)
            .map(|o| {
                let s = if action == "deleted" {
                    o["destination"].as_str().unwrap()
                } else {
                    o["source"].as_str().unwrap()
                };
                s.to_string()
            })
            .collect();
        out.sort();
        out
    }

    fn count(&self, field: &str) -> u64 {
        self.summary[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {}", self.summary))
    }
}

/// `s3seal ARGS --json` on moto: every stdout line must parse; the last one is the summary.
fn run(args: &[&str]) -> Run {
    let out = s3seal(Target::Moto)
        .args(args)
        .arg("--json")
        .output()
        .expect("run s3seal");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 stdout");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let summary = lines
        .pop()
        .unwrap_or_else(|| panic!("{args:?}: no output; stderr: {stderr}"));
    for line in &lines {
        assert_eq!(line["type"], "object", "{line}");
        assert_eq!(line["schema"], 1, "{line}");
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        objects: lines,
        summary,
        stderr,
    }
}

fn kms() -> &'static str {
    &env().kms_arn
}

/// `put --recursive SRC URI --kms-key-id KEY EXTRA...` with --json.
fn put_tree(src: &Path, uri: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "put",
        "--recursive",
        path_str(src),
        uri,
        "--kms-key-id",
        kms(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A tree with nested directories, an empty file, an empty directory, unicode and spaces in
/// names, and one 20 MiB file among small ones. Returns its relative file paths.
fn sample_tree(root: &Path) -> Vec<String> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("a.txt", data(1000, 1)),
        ("a/b/c.bin", data(70_000, 2)),
        ("a/b/deeper/still/d.txt", data(5, 3)),
        ("empty.txt", Vec::new()),
        ("with space/ünïcode – name.txt", data(3000, 4)),
        ("big/twenty.bin", data(20 << 20, 5)),
        ("z-last", data(1, 6)),
    ];
    for (rel, bytes) in &files {
        write(root, rel, bytes);
    }
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    // Distinct, old mtimes with nanoseconds, to see them restored exactly.
    for (i, (rel, _)) in files.iter().enumerate() {
        let when = SystemTime::UNIX_EPOCH
            + std::time::Duration::new(1_600_000_000 + i as u64 * 1000, 123_456_789);
        let f = std::fs::File::options()
            .write(true)
            .open(root.join(rel))
            .unwrap();
        f.set_modified(when).unwrap();
    }
    let mut rels: Vec<String> = files.iter().map(|(r, _)| r.to_string()).collect();
    rels.sort();
    rels
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn prefix_uri(prefix: &str) -> String {
    format!("{}/", s3_uri(prefix))
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tree_dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    std::fs::create_dir_all(&src).unwrap();
    (dir, src, dst)
}

#[test]
fn a_tree_round_trips_identical_with_mtimes_and_every_file_reported() {
    let (_dir, src, dst) = tree_dirs();
    let rels = sample_tree(&src);
    let prefix = unique_key("tree-round-trip");
    let uri = prefix_uri(&prefix);

    let up = put_tree(&src, &uri, &[]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(up.count("uploaded"), rels.len() as u64, "{}", up.summary);
    let sources: Vec<String> = rels
        .iter()
        .map(|r| src.join(r).display().to_string())
        .collect();
    assert_eq!(up.with_action("uploaded"), {
        let mut s = sources.clone();
        s.sort();
        s
    });
    for o in &up.objects {
        assert_eq!(o["kms_key_arn"], kms(), "{o}");
        assert!(o["etag"].is_string(), "{o}");
        assert!(o["plaintext_bytes"].is_u64(), "{o}");
        let rel = o["source"]
            .as_str()
            .unwrap()
            .strip_prefix(path_str(&src))
            .unwrap();
        assert_eq!(o["destination"], format!("{uri}{}", &rel[1..]), "{o}");
    }
    // Keys are the relative paths; the empty directory stores nothing.
    let store = Store::moto();
    assert!(store.exists(&format!("{prefix}/with space/ünïcode – name.txt")));
    assert!(!store.exists(&format!("{prefix}/empty-dir/")));
    let meta = store.metadata(&format!("{prefix}/a/b/c.bin"));
    assert_eq!(meta["s3seal-size"], "70000");
    assert!(meta.contains_key("s3seal-mtime"), "{meta:?}");

    let down = run(&["get", "--recursive", &uri, path_str(&dst)]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert_eq!(down.count("downloaded"), rels.len() as u64);
    let diff = std::process::Command::new("diff")
        .args(["-r", path_str(&src), path_str(&dst)])
        .output()
        .unwrap();
    // Documented: empty directories are not stored, so not recreated.
    assert_eq!(
        String::from_utf8_lossy(&diff.stdout),
        format!("Only in {}: empty-dir\n", src.display())
    );
    for rel in &rels {
        assert_eq!(mtime(&src.join(rel)), mtime(&dst.join(rel)), "{rel}");
    }

    // The same round trip with sync, then a second sync transfers nothing (no KMS call needed).
    let synced = dst.with_file_name("synced");
    let first = run(&["sync", &uri, path_str(&synced)]);
    assert_eq!(
        (first.code, first.count("downloaded")),
        (0, rels.len() as u64)
    );
    let again = run(&["sync", &uri, path_str(&synced)]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.count("downloaded"), 0, "{}", again.summary);
    assert_eq!(again.count("skipped"), rels.len() as u64);
    let up_again = run(&["sync", path_str(&src), &uri, "--kms-key-id", kms()]);
    assert_eq!(up_again.count("uploaded"), 0, "{}", up_again.summary);
    assert_eq!(up_again.count("skipped"), rels.len() as u64);
}

#[test]
fn checksum_catches_a_same_size_edit_that_mtimes_miss() {
    let (_dir, src, _) = tree_dirs();
    for i in 0..5 {
        write(&src, &format!("f{i}.txt"), &data(4096, 10 + i));
    }
    let uri = prefix_uri(&unique_key("tree-checksum"));
    let args = |extra: &[&'static str]| {
        let mut v: Vec<String> = ["sync", path_str(&src), &uri, "--kms-key-id", kms()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let go = |extra: &[&'static str]| {
        let a = args(extra);
        run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(go(&["--checksum"]).count("uploaded"), 5);
    assert_eq!(go(&["--checksum"]).count("uploaded"), 0);
    // Same size, same mtime, other content: what aws s3 sync misses (aws-cli#7011).
    let path = src.join("f3.txt");
    let before = mtime(&path);
    let mut content = std::fs::read(&path).unwrap();
    content[100] ^= 0xff;
    std::fs::write(&path, &content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(before)
        .unwrap();
    assert_eq!(
        go(&[]).count("uploaded"),
        0,
        "the default compares size and mtime"
    );
    let caught = go(&["--checksum"]);
    assert_eq!(caught.with_action("uploaded"), [path.display().to_string()]);
    assert_eq!(caught.count("skipped"), 4);
    // The fingerprint is keyed: not a plain SHA-256 of the plaintext.
    let store = Store::moto();
    let key = format!(
        "{}f3.txt",
        uri.strip_prefix(&format!("s3://{}/", env().bucket))
            .unwrap()
    );
    let fp = store.metadata(&key)["s3seal-fingerprint"].clone();
    use sha2::Digest;
    assert_ne!(fp, hex::encode(sha2::Sha256::digest(&content)));
    assert_eq!(fp.len(), 64);
}

#[test]
fn delete_removes_exactly_the_vanished_paths_that_are_not_excluded() {
    let (_dir, src, dst) = tree_dirs();
    for rel in [
        "keep.txt",
        "gone.txt",
        "sub/gone-too.txt",
        "notes.keep",
        "sub/x.keep",
    ] {
        write(&src, rel, b"content");
    }
    let prefix = unique_key("tree-delete");
    let uri = prefix_uri(&prefix);
    let up = run(&["sync", path_str(&src), &uri, "--kms-key-id", kms()]);
    assert_eq!(up.count("uploaded"), 5);
    for rel in ["gone.txt", "sub/gone-too.txt", "notes.keep", "sub/x.keep"] {
        std::fs::remove_file(src.join(rel)).unwrap();
    }
    let base = &[
        "sync",
        path_str(&src),
        &uri,
        "--kms-key-id",
        kms(),
        "--delete",
        "--exclude",
        "*.keep",
    ];
    // --dry-run first: reports, deletes nothing.
    let mut dry = base.to_vec();
    dry.push("--dry-run");
    let dry = run(&dry);
    assert_eq!(dry.count("deleted"), 2);
    assert!(
        dry.objects
            .iter()
            .all(|o| o["action"] != "deleted" || o["dry_run"] == true)
    );
    let store = Store::moto();
    assert!(store.exists(&format!("{prefix}/gone.txt")));

    let done = run(base);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(
        done.with_action("deleted"),
        [format!("{uri}gone.txt"), format!("{uri}sub/gone-too.txt")]
    );
    assert!(!store.exists(&format!("{prefix}/gone.txt")));
    assert!(!store.exists(&format!("{prefix}/sub/gone-too.txt")));
    assert!(
        store.exists(&format!("{prefix}/notes.keep")),
        "excluded: never deleted"
    );
    assert!(store.exists(&format!("{prefix}/sub/x.keep")));
    assert!(store.exists(&format!("{prefix}/keep.txt")));

    // The other way: local files whose object vanished go, excluded ones stay.
    let down = run(&["sync", &uri, path_str(&dst)]);
    assert_eq!(down.count("downloaded"), 3);
    write(&dst, "local-only.txt", b"x");
    write(&dst, "local.keep", b"x");
    let removed = run(&[
        "sync",
        &uri,
        path_str(&dst),
        "--delete",
        "--exclude",
        "*.keep",
    ]);
    assert_eq!(removed.count("deleted"), 1, "{}", removed.summary);
    assert!(!dst.join("local-only.txt").exists());
    assert!(dst.join("local.keep").exists());
    assert!(dst.join("keep.txt").exists());
}

#[test]
fn dry_run_changes_nothing() {
    let (_dir, src, dst) = tree_dirs();
    write(&src, "a/b.txt", b"hello");
    write(&src, "c.txt", b"world");
    let prefix = unique_key("tree-dry-run");
    let uri = prefix_uri(&prefix);
    let dry = put_tree(&src, &uri, &["--dry-run"]);
    assert_eq!((dry.code, dry.count("uploaded")), (0, 2));
    assert_eq!(dry.summary["dry_run"], true);
    let store = Store::moto();
    assert!(!store.exists(&format!("{prefix}/c.txt")));
    let dry_sync = run(&[
        "sync",
        path_str(&src),
        &uri,
        "--kms-key-id",
        kms(),
        "--dry-run",
    ]);
    assert_eq!(dry_sync.count("uploaded"), 2);
    assert!(!store.exists(&format!("{prefix}/a/b.txt")));

    assert_eq!(put_tree(&src, &uri, &[]).code, 0);
    let dry_get = run(&["get", "-r", &uri, path_str(&dst), "--dry-run"]);
    assert_eq!(dry_get.count("downloaded"), 2);
    assert!(!dst.exists(), "a dry run creates no directory or file");
    // Every line of a dry run says so, a skip too.
    let dry_again = run(&[
        "sync",
        path_str(&src),
        &uri,
        "--kms-key-id",
        kms(),
        "--dry-run",
    ]);
    assert_eq!(dry_again.count("skipped"), 2);
    assert!(
        dry_again.objects.iter().all(|o| o["dry_run"] == true),
        "{:?}",
        dry_again.objects
    );
}

#[cfg(unix)]
#[test]
fn a_failed_file_exits_7_while_every_other_file_arrives() {
    use std::os::unix::ffi::OsStrExt;
    let (_dir, src, dst) = tree_dirs();
    for i in 0..6 {
        write(&src, &format!("ok-{i}.txt"), &data(2000, 40 + i));
    }
    // A name that cannot be an S3 key (not UTF-8): reported, never mangled. As root no
    // permission makes a file unreadable, so that case is only added for other users.
    let bad = src.join(std::ffi::OsStr::from_bytes(b"bad-\xff.txt"));
    std::fs::write(&bad, b"x").unwrap();
    let unreadable = src.join("unreadable.txt");
    std::fs::write(&unreadable, b"secret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = std::fs::File::open(&unreadable).is_ok();
    let uri = prefix_uri(&unique_key("tree-partial"));
    let up = put_tree(&src, &uri, &[]);
    assert_eq!(up.code, 7, "{}", up.stderr);
    let failed = if root { 1 } else { 2 };
    assert_eq!(up.count("failed"), failed, "{}", up.summary);
    assert_eq!(
        up.summary["failures"].as_array().unwrap().len(),
        failed as usize
    );
    for o in up.objects.iter().filter(|o| o["action"] == "failed") {
        assert!(o["error"]["class"].is_string(), "{o}");
        assert!(o["error"]["message"].is_string(), "{o}");
    }
    assert!(up.stderr.contains("not valid UTF-8"), "{}", up.stderr);
    let down = run(&["get", "-r", &uri, path_str(&dst)]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    for i in 0..6 {
        assert_eq!(
            std::fs::read(dst.join(format!("ok-{i}.txt"))).unwrap(),
            data(2000, 40 + i)
        );
    }
    // --fail-fast stops at the first failure (still exit 7).
    let fast = put_tree(&src, &uri, &["--fail-fast"]);
    assert_eq!(fast.code, 7);
}

#[test]
fn keys_that_would_leave_the_directory_are_refused_per_object() {
    let prefix = unique_key("tree-escape");
    let store = Store::moto();
    let (_dir, src, dst) = tree_dirs();
    write(&src, "fine.txt", b"fine");
    let uri = prefix_uri(&prefix);
    assert_eq!(put_tree(&src, &uri, &[]).code, 0);
    // Planted raw objects whose keys hold `..` and an empty segment.
    store.put_raw(&format!("{prefix}/../escaped.txt"), b"x".to_vec());
    store.put_raw(&format!("{prefix}/a//b.txt"), b"x".to_vec());
    let down = run(&["get", "-r", &uri, path_str(&dst)]);
    assert_eq!(down.code, 7, "{}", down.stderr);
    assert_eq!(down.count("failed"), 2);
    assert_eq!(std::fs::read(dst.join("fine.txt")).unwrap(), b"fine");
    assert!(!dst.parent().unwrap().join("escaped.txt").exists());
    // A non-s3seal object under the prefix is an integrity failure: exit 3, not 7.
    store.put_raw(&format!("{prefix}/plain.txt"), b"not sealed".to_vec());
    let integrity = run(&["get", "-r", &uri, path_str(&dst)]);
    assert_eq!(integrity.code, 3, "{}", integrity.stderr);
    assert!(!dst.join("plain.txt").exists());
}

#[test]
fn object_lock_retention_and_settings_are_set_on_the_stored_objects() {
    let store = Store::moto();
    let bucket = format!("s3seal-lock-{}", std::process::id());
    store.create_object_lock_bucket(&bucket);
    let (_dir, src, _) = tree_dirs();
    write(&src, "one.txt", b"one");
    write(&src, "d/two.txt", b"two");
    let uri = format!("s3://{bucket}/daily/");
    let up = put_tree(
        &src,
        &uri,
        &[
            "--posture",
            "off",
            "--object-lock-mode",
            "GOVERNANCE",
            "--object-lock-retain-until",
            "2031-01-02",
            "--tag",
            "backup=daily",
            "--storage-class",
            "STANDARD_IA",
        ],
    );
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(up.count("uploaded"), 2);
    for key in ["daily/one.txt", "daily/d/two.txt"] {
        // moto answers GetObjectRetention with the object itself; HEAD carries the same.
        let head = store.block_on(store.aws.s3.head_object().bucket(&bucket).key(key).send());
        let head = head.expect("HeadObject");
        assert_eq!(head.object_lock_mode().unwrap().as_str(), "GOVERNANCE");
        let until = head.object_lock_retain_until_date().unwrap().secs();
        assert_eq!(until, 1_925_078_400, "2031-01-02T00:00:00Z");
        assert_eq!(head.storage_class().unwrap().as_str(), "STANDARD_IA");
        let tags = store.block_on(
            store
                .aws
                .s3
                .get_object_tagging()
                .bucket(&bucket)
                .key(key)
                .send(),
        );
        let tags = tags.expect("GetObjectTagging");
        assert_eq!(tags.tag_set()[0].key(), "backup");
    }
    // A bucket without Object Lock: refused before anything is uploaded, with a clear error.
    let plain_prefix = unique_key("tree-no-lock");
    let refused = s3seal(Target::Moto)
        .args(["put", "-r", path_str(&src), &prefix_uri(&plain_prefix)])
        .args(["--kms-key-id", kms(), "--object-lock-legal-hold", "on"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not have Object Lock enabled"));
    assert!(!store.exists(&format!("{plain_prefix}/one.txt")));
}

#[test]
fn single_put_and_get_carry_the_files_mtime_and_mode() {
    let (_dir, src, dst) = tree_dirs();
    write(&src, "f.txt", b"hello");
    let when = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_500_000_000, 42);
    let path = src.join("f.txt");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(when)
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let key = unique_key("tree-single");
    let put = s3seal(Target::Moto)
        .args(["put", path_str(&path), &s3_uri(&key), "--kms-key-id", kms()])
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    std::fs::create_dir_all(&dst).unwrap();
    let out = dst.join("f.txt");
    let get = s3seal(Target::Moto)
        .args(["get", &s3_uri(&key), path_str(&out)])
        .output()
        .unwrap();
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert_eq!(mtime(&out), when);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}

#[test]
fn an_interrupted_sync_leaves_no_upload_behind_and_a_rerun_skips_what_was_done() {
    use common::process::{sigint, std_command, wait_for};
    use common::proxy::{Dir, Fault, Match, Proxy, Rule, S3Op};
    use std::time::Duration;
    let (_dir, src, _) = tree_dirs();
    write(&src, "a.txt", b"first");
    write(&src, "b.txt", b"second");
    write(&src, "m-big.bin", &data(12 << 20, 60));
    write(&src, "z.txt", b"last");
    let prefix = unique_key("tree-interrupt");
    let uri = prefix_uri(&prefix);
    // The big file (one streamed PutObject: more than a part, at most 64 MiB) stalls after
    // 1 MiB of its body, so it stays in flight and S3 never has all of it.
    let stall = Fault::stall(Dir::Up, 1 << 20, Duration::from_secs(600));
    let mut big_put = Match::s3(S3Op::PutObject);
    big_put.target_has = Some("m-big.bin".into());
    let proxy = Proxy::http(
        &env().moto,
        &env().ca,
        vec![Rule::new(big_put, stall, u32::MAX)],
    );
    let child = std_command(&s3seal(Target::Moto))
        .env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
        .args([
            "sync",
            path_str(&src),
            &uri,
            "--kms-key-id",
            kms(),
            "--posture",
            "off",
        ])
        .args(["--objects-in-flight", "1", "--part-size", "5MiB"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let store = Store::moto();
    wait_for(
        "the big file's upload in flight",
        Duration::from_secs(60),
        || proxy.fired() > 0,
    );
    sigint(child.id());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(store.open_uploads(&prefix), 0, "an upload was left behind");
    assert!(!store.exists(&format!("{prefix}/m-big.bin")));
    assert!(
        !store.exists(&format!("{prefix}/z.txt")),
        "nothing new starts after Ctrl-C"
    );

    // Re-running continues: what was stored is skipped, the rest is uploaded.
    let again = run(&["sync", path_str(&src), &uri, "--kms-key-id", kms()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.with_action("skipped"),
        [src.join("a.txt"), src.join("b.txt")].map(|p| p.display().to_string())
    );
    assert_eq!(again.count("uploaded"), 2);
}

#[test]
fn an_interrupted_download_leaves_no_partial_file() {
    use common::process::{sigint, std_command, wait_for};
    use std::time::Duration;
    let (_dir, src, dst) = tree_dirs();
    write(&src, "a.txt", b"small");
    write(&src, "b-big.bin", &data(9 << 20, 61));
    let uri = prefix_uri(&unique_key("tree-interrupt-get"));
    assert_eq!(put_tree(&src, &uri, &[]).code, 0);
    let proxy = common::route::later_gets_hang();
    let child = std_command(&s3seal(Target::Moto))
        .env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
        .args([
            "get",
            "-r",
            &uri,
            path_str(&dst),
            "--objects-in-flight",
            "1",
        ])
        .args(["--part-size", "4MiB"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the small file", Duration::from_secs(60), || {
        dst.join("a.txt").exists()
    });
    wait_for("a stalled ranged GET", Duration::from_secs(60), || {
        proxy.fired() > 0
    });
    sigint(child.id());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["a.txt"], "no partial or temporary file is left");
}

/// Issue 12's re-run promise: the same `put/get --recursive` again skips what an earlier run
/// completed, and a change of file or of upload settings (here a tag) uploads again.
#[test]
fn a_rerun_of_the_same_copy_skips_what_is_done_and_redoes_what_changed() {
    let (_dir, src, dst) = tree_dirs();
    let names = ["a1", "a2", "a3", "b1", "b2", "b3"];
    for (i, name) in names.iter().enumerate() {
        write(&src, name, &data(2000 + i, i as u64));
    }
    let uri = prefix_uri(&unique_key("tree-rerun"));
    let sources = |rels: &[&str]| -> Vec<String> {
        rels.iter()
            .map(|r| src.join(r).display().to_string())
            .collect()
    };

    // A first run that completed half of the tree (as an interrupted one leaves it).
    let half = put_tree(&src, &uri, &["--exclude", "b*"]);
    assert_eq!(half.code, 0, "{}", half.stderr);
    assert_eq!(half.count("uploaded"), 3, "{}", half.summary);

    let again = put_tree(&src, &uri, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.with_action("uploaded"), sources(&["b1", "b2", "b3"]));
    assert_eq!(again.with_action("skipped"), sources(&["a1", "a2", "a3"]));

    // A touched file goes again; the rest stays skipped.
    let f = std::fs::File::options()
        .write(true)
        .open(src.join("a2"))
        .unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
        .unwrap();
    let touched = put_tree(&src, &uri, &[]);
    assert_eq!(touched.with_action("uploaded"), sources(&["a2"]));
    assert_eq!(touched.count("skipped"), 5, "{}", touched.summary);

    // Other settings are not silently dropped: a new tag uploads everything again, once.
    let tagged = put_tree(&src, &uri, &["--tag", "backup=nightly"]);
    assert_eq!(tagged.code, 0, "{}", tagged.stderr);
    assert_eq!(tagged.count("uploaded"), 6, "{}", tagged.summary);
    let tagged_again = put_tree(&src, &uri, &["--tag", "backup=nightly"]);
    assert_eq!(tagged_again.count("skipped"), 6, "{}", tagged_again.summary);
    let forced = put_tree(&src, &uri, &["--tag", "backup=nightly", "--no-skip"]);
    assert_eq!(forced.count("uploaded"), 6, "{}", forced.summary);

    // Downloads: a second `get --recursive` skips files whose size and mtime match.
    let get = |extra: &[&str]| {
        let mut args = vec!["get", "--recursive", &uri, path_str(&dst)];
        args.extend_from_slice(extra);
        run(&args)
    };
    let first = get(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.count("downloaded"), 6, "{}", first.summary);
    std::fs::write(dst.join("b3"), b"local edit").unwrap();
    let second = get(&[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.count("skipped"), 5, "{}", second.summary);
    assert_eq!(second.count("downloaded"), 1, "{}", second.summary);
    assert_eq!(std::fs::read(dst.join("b3")).unwrap(), data(2005, 5));
}

#[test]
fn keys_with_control_characters_and_plus_signs_list_and_round_trip() {
    // XML 1.0 cannot carry \x01 in a listing: s3seal asks for URL-encoded keys and decodes
    // them (`+` is a space there, a literal `+` comes as %2B).
    let (_dir, src, dst) = tree_dirs();
    write(&src, "ctl\x01x", b"control");
    write(&src, "a+b c.txt", b"plus and space");
    write(&src, "plain.txt", b"plain");
    let uri = prefix_uri(&unique_key("tree-ctl"));
    let up = put_tree(&src, &uri, &[]);
    assert_eq!((up.code, up.count("uploaded")), (0, 3), "{}", up.stderr);
    let down = run(&["get", "--recursive", &uri, path_str(&dst)]);
    assert_eq!(
        (down.code, down.count("downloaded")),
        (0, 3),
        "{}",
        down.stderr
    );
    for name in ["ctl\x01x", "a+b c.txt", "plain.txt"] {
        assert_eq!(
            std::fs::read(dst.join(name)).unwrap(),
            std::fs::read(src.join(name)).unwrap(),
            "{name:?}"
        );
    }
    let again = run(&["sync", path_str(&src), &uri, "--kms-key-id", kms()]);
    assert_eq!(
        (again.code, again.count("skipped")),
        (0, 3),
        "{}",
        again.stderr
    );
}

//! Files in and out of the `s3seal` binary: put a file, get into a fresh directory or to stdout,
//! and check that a failed command left nothing behind (no destination, no temporary file).

use std::path::{Path, PathBuf};

use super::{Target, env, s3_uri, s3seal};

/// `put` of `plain` from a file to `key` with 64 KiB chunks (small edge cases), plus `extra`.
pub fn put_file(target: Target, plain: &[u8], key: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, plain).unwrap();
    s3seal(target)
        .args(["put", src.to_str().unwrap(), &s3_uri(key)])
        .args(["--kms-key-id", &env().kms_alias, "--chunk-size", "64KiB"])
        .args(extra)
        .assert()
        .success();
}

/// A finished `get` into `out.bin` of a fresh directory: the outcome, the destination, and the
/// directory (kept alive, to look for leftovers).
pub type Got = (assert_cmd::assert::Assert, PathBuf, tempfile::TempDir);

/// `get SRC DST` with `cmd` (configured as the test needs), DST in a fresh directory.
pub fn get_to(mut cmd: assert_cmd::Command, src: &str, extra: &[&str]) -> Got {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out.bin");
    let assert = cmd
        .args(["get", src, dst.to_str().unwrap()])
        .args(extra)
        .assert();
    (assert, dst, dir)
}

/// `get s3://BUCKET/KEY DST` on `target`.
pub fn get_file(target: Target, key: &str, extra: &[&str]) -> Got {
    get_to(s3seal(target), &s3_uri(key), extra)
}

/// `get SRC -` on `target` (an `s3://` URI or a URL), which must succeed: its stdout.
pub fn get_stdout(target: Target, src: &str, extra: &[&str]) -> Vec<u8> {
    let out = s3seal(target)
        .args(["get", src, "-"])
        .args(extra)
        .assert()
        .success();
    out.get_output().stdout.clone()
}

/// Names in `dir` other than `keep`.
pub fn leftovers(dir: &Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != keep)
        .collect()
}

/// Whether process `pid` holds a nameless (`O_TMPFILE`) file open in `dir`: on Linux a
/// download's temporary file has no name, and `/proc/PID/fd` shows it as `DIR/#INODE (deleted)`.
pub fn holds_anonymous_file_in(pid: u32, dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            target.parent() == Some(dir.as_path())
                && target.to_string_lossy().ends_with("(deleted)")
        })
    })
}

/// Nothing but the (absent) destination may be left in the directory: no temporary files.
pub fn assert_no_output(dir: &tempfile::TempDir, dst: &Path) {
    assert!(!dst.exists(), "destination was written");
    let left = leftovers(dir.path(), "");
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `put - s3://BUCKET/KEY --kms-key-id ALIAS EXTRA` with `cmd` (configured as the test needs),
/// `stdin` as its input.
pub fn put_stdin(
    cmd: &mut assert_cmd::Command, key: &str, extra: &[&str], stdin: impl Into<Vec<u8>>,
) -> assert_cmd::assert::Assert {
    cmd.args(["put", "-", &s3_uri(key), "--kms-key-id", &env().kms_alias])
        .args(extra)
        .write_stdin(stdin)
        .assert()
}

/// `get` of `key` on moto into a fresh directory must exit `code` with `says` on stderr, and
/// leave nothing behind.
pub fn get_refused(key: &str, extra: &[&str], code: i32, says: &str) {
    let (assert, dst, dir) = get_file(Target::Moto, key, extra);
    assert.code(code).stderr(predicates::str::contains(says));
    assert_no_output(&dir, &dst);
}

/// `s3seal ARGS` with `cmd` (stdin "x") must be refused as a usage error: exit 2, `says` on
/// stderr.
pub fn usage_error(
    cmd: &mut assert_cmd::Command, args: &[&str], says: &str,
) -> assert_cmd::assert::Assert {
    cmd.args(args)
        .write_stdin("x")
        .assert()
        .code(2)
        .stderr(predicates::str::contains(says))
}

/// `put_file` of `plain` on moto, then a server-side copy to another key (a relocated object):
/// both keys, named after `name`.
pub fn put_and_relocate(plain: &[u8], name: &str) -> (String, String) {
    let key = super::unique_key(&format!("{name}-src"));
    let moved = super::unique_key(&format!("{name}-dst"));
    put_file(Target::Moto, plain, &key, &[]);
    super::store::Store::moto().copy(&key, &moved);
    (key, moved)
}

//! `--progress plain` for logs: a transfer whose stderr is not a terminal (a pipe here, as in
//! cron or CI) prints a line with bytes, rate and ETA every interval, and `auto` prints none.
//! Real servers over HTTPS, as in e2e_put_get; S3SEAL_PROGRESS_INTERVAL_MS shortens the period
//! so a 20 MiB transfer shows several lines.

mod common;

use common::{Target, data, env, s3_uri, s3seal, unique_key};

fn progress_lines(stderr: &[u8], what: &str) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with(&format!("s3seal: {what} ")))
        .map(str::to_string)
        .collect()
}

#[test]
fn plain_progress_prints_periodic_lines_to_a_pipe() {
    let key = unique_key("progress-plain");
    let uri = s3_uri(&key);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, data(20 << 20, 16)).unwrap();
    let out = s3seal(Target::Moto)
        .env("S3SEAL_PROGRESS_INTERVAL_MS", "20")
        .args(["--progress", "plain", "put", src.to_str().unwrap(), &uri])
        .args(["--kms-key-id", &env().kms_alias, "--posture", "off"])
        .args(["--concurrency", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = progress_lines(&out.stderr, "sealing");
    assert!(
        lines.len() >= 3,
        "expected several progress lines, got {lines:?}"
    );
    for line in &lines {
        assert!(line.contains(" / 20.00 MiB ("), "{line}");
        assert!(line.contains("/s"), "no rate in {line}");
        assert!(
            !line.contains('\x1b'),
            "terminal escapes in a log line: {line:?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains(", eta ")),
        "no ETA in {lines:?}"
    );

    let dst = dir.path().join("dst.bin");
    let out = s3seal(Target::Moto)
        .env("S3SEAL_PROGRESS_INTERVAL_MS", "20")
        .args(["get", &uri, dst.to_str().unwrap(), "--progress=plain"])
        .args(["--concurrency", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !progress_lines(&out.stderr, "opening").is_empty(),
        "get printed no progress line: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dst).unwrap(), std::fs::read(&src).unwrap());

    // `bar` draws the bar even on a pipe.
    let out = s3seal(Target::Moto)
        .args(["get", &uri, dst.to_str().unwrap(), "--progress", "bar"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("opening ["), "no bar: {stderr}");
    assert!(
        !stderr.contains("0B/0B"),
        "an empty bar before the size was known: {stderr}"
    );

    // The default (auto) on a pipe, and plain with --quiet: no progress at all.
    for extra in [&[][..], &["--progress", "plain", "--quiet"][..]] {
        let out = s3seal(Target::Moto)
            .env("S3SEAL_PROGRESS_INTERVAL_MS", "20")
            .args(["get", &uri, dst.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            progress_lines(&out.stderr, "opening").is_empty(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

//! Objects written by the official AWS S3 Encryption Client (Python, in the test venv, through
//! `tests/interop/s3ec_write.py`) into the moto bucket: what the S3EC reader and `migrate` are
//! tested against, written by the real client rather than by s3seal's idea of it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::env;

/// Runs the writer on `specs` (a JSON array: key, input file, format, context, multipart,
/// instruction_file) with data keys under `kms_key`; returns its stdout, one JSON line per
/// object (the metadata it stored).
pub fn write_objects(kms_key: &str, specs: &serde_json::Value) -> String {
    let e = env();
    let venv = std::env::var("S3SEAL_TEST_VENV")
        .expect("S3SEAL_TEST_VENV is not set: source .local-aws/env (scripts/local-aws.sh)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/s3ec_write.py");
    let mut child = Command::new(Path::new(&venv).join("bin/python"))
        .arg(&script)
        .args(["--endpoint", &e.moto, "--bucket", &e.bucket])
        .args(["--kms-key-id", kms_key])
        .env("AWS_CA_BUNDLE", &e.ca)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test venv's python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(specs).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "s3ec_write.py failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

//! The independent Python decoder (tests/interop/decode_v1.py) run on raw stored bytes, with
//! the data key unwrapped through moto's KMS: a second reading of the format that shares no
//! code with s3seal.

use std::path::{Path, PathBuf};

use super::env;
use super::store::Store;

/// The plaintext the Python decoder reads from `stored` (the raw object at `key` in the test
/// bucket, encryption context pairs `context` as `K=V`); panics if it refuses.
pub fn python_decode(stored: &[u8], key: &str, context: &[&str]) -> Vec<u8> {
    let data_key = Store::moto()
        .unwrap_data_key(stored, None)
        .expect("unwrap the data key");
    let dir = tempfile::tempdir().unwrap();
    let object = dir.path().join("object");
    let out = dir.path().join("plain");
    std::fs::write(&object, stored).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var("S3SEAL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".venv"));
    let mut cmd = std::process::Command::new(venv.join("bin/python"));
    cmd.arg(root.join("tests/interop/decode_v1.py"))
        .arg(&object)
        .arg(hex::encode(&data_key))
        .args(["--bucket", &env().bucket, "--key", key]);
    for pair in context {
        cmd.args(["--context", pair]);
    }
    let status = cmd
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run the Python decoder");
    assert!(status.success(), "the Python decoder refused {key}");
    std::fs::read(out).unwrap()
}

//! The config file against real servers: its envelope key is the one that wraps the data key,
//! its posture mode is the gate's, its pinned keys decide which objects `get` trusts, and a flag
//! overrides each. (tests/config.rs covers parsing,
//! origins and errors without servers.)

mod common;

use common::{Target, data, env, s3_uri, s3seal, unique_key};

#[test]
fn config_key_and_posture_apply_and_flags_override_them() {
    let e = env();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[default]\nkms_key_id = \"{}\"\nposture = \"strict\"\n",
            e.kms_alias
        ),
    )
    .unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, data(100_000, 7)).unwrap();
    let uri = s3_uri(&unique_key("config-key"));
    let put = |extra: &[&str]| {
        s3seal(Target::Moto)
            .env("S3SEAL_CONFIG", &config)
            .args(["put", src.to_str().unwrap(), &uri])
            .args(extra)
            .output()
            .unwrap()
    };

    // strict from the config: the local bucket has findings (no public access block, ...),
    // so the gate refuses before anything is uploaded.
    let out = put(&[]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");

    // --posture off on the command line beats the config; the key is the config's.
    let out = put(&["--posture", "off"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("KMS key {}", e.kms_arn)),
        "{stderr}"
    );

    // --kms-key-id on the command line beats the config.
    let out = put(&["--posture", "off", "--kms-key-id", &e.other_kms_arn]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("KMS key {}", e.other_kms_arn)),
        "{stderr}"
    );

    // expected_kms_key_ids from the config: the object (under the other key now) is refused as
    // planted (exit 3); a pin on the command line replaces the config's and it opens.
    std::fs::write(
        &config,
        format!("[default]\nexpected_kms_key_ids = [\"{}\"]\n", e.kms_arn),
    )
    .unwrap();
    let dst = dir.path().join("dst.bin");
    let get = |extra: &[&str]| {
        s3seal(Target::Moto)
            .env("S3SEAL_CONFIG", &config)
            .args(["get", &uri, dst.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = get(&[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(!dst.exists(), "a refused object was written");
    let out = get(&["--expected-kms-key-id", &e.other_kms_arn]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&dst).unwrap(), std::fs::read(&src).unwrap());
}

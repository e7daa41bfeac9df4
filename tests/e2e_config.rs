//! The config file against real servers: its envelope key is the one that wraps the data key,
//! its posture mode is the gate's, and a flag overrides both. (tests/config.rs covers parsing,
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
}

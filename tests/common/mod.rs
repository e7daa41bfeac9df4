//! Shared by the end-to-end tests: the local servers' coordinates (from `scripts/local-aws.sh`,
//! which `scripts/test.sh` starts), a command builder for the real `s3seal` binary, and
//! deterministic test data. The submodules hold the rest: SDK clients and what S3 really stored
//! (`store`), files and commands (`files`), child processes and signals (`process`), the fault
//! proxy (`proxy`) and the commands that go through it (`route`).
//!
//! No mocks: every call goes over HTTPS to moto or to the s3s-based server.

#![allow(dead_code)]

pub mod decoder;
pub mod files;
pub mod process;
pub mod proxy;
pub mod route;
pub mod s3ec;
pub mod store;
pub mod upload;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Env {
    pub moto: String,
    pub s3s: String,
    pub s3s_access_key: String,
    pub s3s_secret_key: String,
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub kms_arn: String,
    pub kms_alias: String,
    pub other_kms_arn: String,
    pub bucket: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the end-to-end tests need the local S3/KMS servers; run them with \
             scripts/test.sh (or `bash scripts/local-aws.sh start && . .local-aws/env` first)"
        )
    })
}

pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| Env {
        moto: var("S3SEAL_TEST_MOTO_ENDPOINT"),
        s3s: var("S3SEAL_TEST_S3S_ENDPOINT"),
        s3s_access_key: var("S3SEAL_TEST_S3S_ACCESS_KEY"),
        s3s_secret_key: var("S3SEAL_TEST_S3S_SECRET_KEY"),
        ca: var("S3SEAL_TEST_CA").into(),
        other_ca: var("S3SEAL_TEST_OTHER_CA").into(),
        kms_arn: var("S3SEAL_TEST_KMS_KEY_ARN"),
        kms_alias: var("S3SEAL_TEST_KMS_KEY_ALIAS"),
        other_kms_arn: var("S3SEAL_TEST_OTHER_KMS_KEY_ARN"),
        bucket: var("S3SEAL_TEST_BUCKET"),
    })
}

/// Which S3 server a command talks to (KMS is always moto).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// moto for S3 and KMS.
    Moto,
    /// the s3s-based server (checks SigV4) for S3, moto for KMS.
    S3s,
}

/// The variables of the settings a config file could also set (src/cli/config.rs): cleared
/// for every test command, so the machine's environment cannot change a default.
pub const SETTINGS_VARS: [&str; 7] = [
    "S3SEAL_KMS_KEY_ID",
    "S3SEAL_EXPECTED_KMS_KEY_IDS",
    "S3SEAL_POSTURE",
    "S3SEAL_EXPECTED_OWNER",
    "S3SEAL_TRUSTED_ACCOUNTS",
    "S3SEAL_CONCURRENCY",
    "S3SEAL_PART_SIZE",
];

/// The real `s3seal` binary, configured for `target` through the usual AWS variables.
pub fn s3seal(target: Target) -> assert_cmd::Command {
    let e = env();
    let mut cmd = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("s3seal"));
    for v in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_PROFILE",
        "RUST_LOG",
        "S3SEAL_CONFIG",
    ]
    .iter()
    .chain(&SETTINGS_VARS)
    {
        cmd.env_remove(v);
    }
    // No config file from the machine running the tests.
    cmd.env("XDG_CONFIG_HOME", "/nonexistent");
    cmd.env("AWS_REGION", "us-east-1")
        .env("AWS_CA_BUNDLE", &e.ca)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    match target {
        Target::Moto => {
            cmd.env("AWS_ENDPOINT_URL", &e.moto)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test");
        }
        Target::S3s => {
            // moto accepts any credentials; the s3s server only its own.
            cmd.env("AWS_ENDPOINT_URL_S3", &e.s3s)
                .env("AWS_ENDPOINT_URL_KMS", &e.moto)
                .env("AWS_ACCESS_KEY_ID", &e.s3s_access_key)
                .env("AWS_SECRET_ACCESS_KEY", &e.s3s_secret_key);
        }
    }
    cmd
}

/// A key no other test uses.
pub fn unique_key(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "e2e/{name}/{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn s3_uri(key: &str) -> String {
    format!("s3://{}/{}", env().bucket, key)
}

/// A fresh multi-threaded runtime for the async parts of a test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

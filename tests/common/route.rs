//! Commands for the fault tests (e2e_faults, e2e_chaos, e2e_exit_codes): `s3seal` on moto with
//! S3 and/or KMS routed through fault proxies and a short read timeout, the `put` arguments they
//! share, and direct (proxy-free) reads and writes to set up and check.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::proxy::{Dir, Fault, Match, Proxy, Rule};
use super::{Target, env, s3_uri, s3seal};

pub const MIB: usize = 1024 * 1024;
/// Three parts of 5 MiB (the last one partial).
pub const MULTIPART_LEN: usize = 11 * MIB + 4321;
/// A stall long enough that only a timeout ends it.
pub const FOREVER: Duration = Duration::from_secs(600);
/// A command that takes longer than this hung: fail instead of waiting for ever.
pub const HANG: Duration = Duration::from_secs(120);

/// Where a command's S3 and KMS requests go (`None`: straight to moto).
#[derive(Default, Clone, Copy)]
pub struct Route<'a> {
    pub s3: Option<&'a Proxy>,
    pub kms: Option<&'a Proxy>,
}

impl<'a> Route<'a> {
    /// S3 through `proxy`, KMS direct.
    pub fn s3(proxy: &'a Proxy) -> Route<'a> {
        Route {
            s3: Some(proxy),
            kms: None,
        }
    }

    /// KMS through `proxy`, S3 direct.
    pub fn kms(proxy: &'a Proxy) -> Route<'a> {
        Route {
            s3: None,
            kms: Some(proxy),
        }
    }
}

/// `s3seal` on moto, with S3 and/or KMS through proxies and a short read timeout.
pub fn cmd(route: &Route) -> assert_cmd::Command {
    let mut c = s3seal(Target::Moto);
    if let Ok(bin) = std::env::var("S3SEAL_TEST_BIN") {
        // scripts/chaos.sh runs a copy of the binary, so a rebuild in the shared target dir
        // during the long run cannot pull it away.
        let mut own = assert_cmd::Command::new(bin);
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => own.env(k, v),
                None => own.env_remove(k),
            };
        }
        c = own;
    }
    c.env("S3SEAL_READ_TIMEOUT", "3").timeout(HANG);
    if let Some(p) = route.s3 {
        c.env("AWS_ENDPOINT_URL_S3", p.endpoint());
    }
    if let Some(p) = route.kms {
        c.env("AWS_ENDPOINT_URL_KMS", p.endpoint());
    }
    c
}

/// The same environment for a `std::process::Command` (for signals).
pub fn std_cmd(route: &Route) -> Command {
    super::process::std_command(&cmd(route))
}

/// `put SRC URI` in 5 MiB parts, three at a time, no posture check, quiet.
pub fn put_args<'a>(src: &'a str, uri: &'a str) -> Vec<&'a str> {
    vec![
        "put",
        src,
        uri,
        "--kms-key-id",
        &env().kms_alias,
        "--part-size",
        "5MiB",
        "--concurrency",
        "3",
        "--posture",
        "off",
        "--quiet",
    ]
}

/// `plain` in `dir/src.bin`.
pub fn write_src(dir: &Path, plain: &[u8]) -> PathBuf {
    let src = dir.join("src.bin");
    std::fs::write(&src, plain).unwrap();
    src
}

/// Stores `plain` at `key` without any proxy.
pub fn put_direct(plain: &[u8], key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src = write_src(dir.path(), plain);
    cmd(&Route::default())
        .args(put_args(src.to_str().unwrap(), &s3_uri(key)))
        .assert()
        .success();
}

/// The plaintext of `key`, read without any proxy.
pub fn get_direct(key: &str) -> Vec<u8> {
    let out = cmd(&Route::default())
        .args(["get", &s3_uri(key), "-", "--quiet"])
        .assert()
        .success();
    out.get_output().stdout.clone()
}

/// An HTTPS fault proxy to moto on which every ranged GET after the first hangs: a download
/// through it is surely in flight (its temporary file open) until a signal ends it.
pub fn later_gets_hang() -> Proxy {
    let stall = Fault::stall(Dir::Down, 0, FOREVER);
    Proxy::http(
        &env().moto,
        &env().ca,
        vec![Rule::new(Match::later_get_object(), stall, u32::MAX)],
    )
}

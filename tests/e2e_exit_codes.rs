//! One table of every exit class a script can see (`s3seal --help`, src/cli/exit.rs), each
//! provoked for real against the local servers: 0 success, 1 runtime, 2 usage, 3 integrity,
//! 4 posture block, 130 interrupted. A class that silently changes breaks scripts, so the table
//! also checks the one line of stderr that names the cause.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::files;
use common::process::{finish, sigint, std_command, wait_for};
use common::route::HANG;
use common::route::later_gets_hang;
use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};

type Outcome = (Option<i32>, String);

fn run(mut cmd: assert_cmd::Command) -> Outcome {
    let out = cmd.timeout(HANG).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn put_stdin(key: &str, bytes: Vec<u8>) -> Outcome {
    let out = files::put_stdin(
        s3seal(Target::Moto).timeout(HANG),
        key,
        &["--posture", "off", "--quiet"],
        bytes,
    );
    let out = out.get_output();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn success() -> Outcome {
    put_stdin(&unique_key("exit-0"), data(1000, 1))
}

fn runtime_error() -> Outcome {
    let mut cmd = s3seal(Target::Moto);
    cmd.args(["get", &s3_uri(&unique_key("exit-1-missing")), "-"]);
    run(cmd)
}

fn usage_error() -> Outcome {
    let mut cmd = s3seal(Target::Moto);
    cmd.args(["get", "s3://bucket-only", "-"]);
    run(cmd)
}

fn integrity_failure() -> Outcome {
    let key = unique_key("exit-3");
    let (code, err) = put_stdin(&key, data(5000, 3));
    assert_eq!(code, Some(0), "{err}");
    Store::moto().tamper(&key, |stored| {
        let last = stored.len() - 1;
        stored[last] ^= 0x01;
    });
    let mut cmd = s3seal(Target::Moto);
    cmd.args(["get", &s3_uri(&key), "-"]);
    run(cmd)
}

fn posture_block() -> Outcome {
    let bucket = format!("e2e-exit4-{}", std::process::id());
    Store::moto().public_bucket(&bucket);
    let mut cmd = s3seal(Target::Moto);
    cmd.args(["put", "-", &format!("s3://{bucket}/x"), "--kms-key-id"])
        .arg(&env().kms_alias)
        .write_stdin("secret");
    run(cmd)
}

fn interrupted() -> Outcome {
    let key = unique_key("exit-130");
    let (code, err) = put_stdin(&key, data(3 << 20, 5));
    assert_eq!(code, Some(0), "{err}");
    let proxy = later_gets_hang();
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let child = std_command(&s3seal(Target::Moto))
        .env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
        .args(["get", &s3_uri(&key), "-", "--part-size", "1MiB"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    wait_for("the stall", Duration::from_secs(60), || proxy.fired() > 0);
    sigint(child.id());
    finish(child, &err_path, HANG)
}

#[test]
fn every_exit_class_is_what_the_help_says() {
    type Case = (i32, &'static str, fn() -> Outcome, &'static str);
    let table: [Case; 6] = [
        (0, "put succeeds", success, ""),
        (
            1,
            "get of a missing object",
            runtime_error,
            "does not exist",
        ),
        (2, "malformed s3:// URL", usage_error, "no object key"),
        (
            3,
            "tampered object",
            integrity_failure,
            "integrity check failed",
        ),
        (4, "put to a public bucket", posture_block, "posture"),
        (130, "Ctrl-C during get", interrupted, "interrupted"),
    ];
    let mut wrong = Vec::new();
    for (expected, what, case, says) in table {
        let (code, stderr) = case();
        if code != Some(expected) || !stderr.contains(says) {
            wrong.push(format!(
                "{what}: expected exit {expected} saying {says:?}, got {code:?}: {stderr}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

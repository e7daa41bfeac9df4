//! One table of every exit class a script can see (`s3seal --help`, src/cli/exit.rs), each
//! provoked for real against the local servers: 0 success, 1 runtime, 2 usage, 3 integrity,
//! 4 posture block, 130 interrupted. A class that silently changes breaks scripts, so the table
//! also checks the one line of stderr that names the cause.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Target, data, env, get_raw, moto_aws, put_raw, s3_uri, s3seal, unique_key};
use proxy::{Dir, Fault, Match, Proxy, Rule};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

type Outcome = (Option<i32>, String);

fn run(mut cmd: assert_cmd::Command) -> Outcome {
    let out = cmd.timeout(Duration::from_secs(120)).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn put_stdin(key: &str, bytes: Vec<u8>) -> Outcome {
    let mut cmd = s3seal(Target::Moto);
    cmd.args(["put", "-", &s3_uri(key), "--kms-key-id", &env().kms_alias])
        .args(["--posture", "off", "--quiet"])
        .write_stdin(bytes);
    run(cmd)
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
    rt().block_on(async {
        let aws = moto_aws().await;
        let mut stored = get_raw(&aws, &key).await;
        let last = stored.len() - 1;
        stored[last] ^= 0x01;
        put_raw(&aws, &key, stored).await;
    });
    let mut cmd = s3seal(Target::Moto);
    cmd.args(["get", &s3_uri(&key), "-"]);
    run(cmd)
}

fn posture_block() -> Outcome {
    let bucket = format!("e2e-exit4-{}", std::process::id());
    rt().block_on(async {
        let aws = moto_aws().await;
        let _ = aws.s3.create_bucket().bucket(&bucket).send().await;
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": format!("arn:aws:s3:::{bucket}/*")}]
        });
        aws.s3
            .put_bucket_policy()
            .bucket(&bucket)
            .policy(policy.to_string())
            .send()
            .await
            .unwrap();
    });
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
    // Every ranged GET after the first hangs: the download is surely running at the signal.
    let proxy = Proxy::http(
        &env().moto,
        &env().ca,
        vec![Rule::new(
            Match::later_get_object(),
            Fault::Stall {
                dir: Dir::Down,
                after: 0,
                pause: Duration::from_secs(600),
            },
            u32::MAX,
        )],
    );
    let configured = s3seal(Target::Moto);
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("s3seal"));
    for (k, v) in configured.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let mut child = cmd
        .env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
        .args(["get", &s3_uri(&key), "-", "--part-size", "1MiB"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while proxy.fired() == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "never stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("s3seal ignored SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code(),
        std::fs::read_to_string(&err_path).unwrap_or_default(),
    )
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
        (2, "malformed s3:// URL", usage_error, "error"),
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

//! Issue 13 for trees, end to end over HTTPS (moto behind the fault proxy): a
//! `put --recursive --resumable` SIGKILLed while a 60 MiB file is in flight leaves that file's
//! multipart upload and journal, and a re-run (even without the flag) sends only the missing parts
//! (counted as UploadPart requests at the proxy), reports the parts it skipped in the file's
//! JSON line, skips the small files the first run completed, and the tree round-trips.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::process::{std_command, wait_for};
use common::proxy::{Dir, Fault, Match, Proxy, Rule, S3Op};
use common::{Target, data, env, s3_uri, s3seal, unique_key};

const MIB: usize = 1024 * 1024;

/// `s3seal` on moto with S3 through `proxy` and its state (journals) under `state`.
fn cmd(proxy: &Proxy, state: &Path) -> assert_cmd::Command {
    let mut c = s3seal(Target::Moto);
    c.env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
        .env("XDG_STATE_HOME", state)
        .timeout(Duration::from_secs(300));
    c
}

fn put_args(src: &Path, uri: &str) -> Vec<String> {
    [
        "put",
        "--recursive",
        src.to_str().unwrap(),
        uri,
        "--kms-key-id",
        &env().kms_alias,
        "--part-size",
        "8MiB",
        "--concurrency",
        "1",
        "--posture",
        "off",
        "--resumable",
    ]
    .map(String::from)
    .to_vec()
}

/// `stored` lines of the ledgers under the journal directory: parts S3 acknowledged.
fn stored_parts(state: &Path) -> usize {
    let Ok(dir) = std::fs::read_dir(state.join("s3seal/uploads")) else {
        return 0;
    };
    dir.filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parts"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().filter(|l| l.starts_with("stored ")).count())
        .sum()
}

fn upload_parts_sent(proxy: &Proxy) -> usize {
    proxy
        .log()
        .iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("partNumber="))
        .count()
}

#[test]
fn a_killed_recursive_put_resumes_the_large_file_in_flight() {
    let files = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let src = files.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let big = data(60 * MIB, 13);
    std::fs::write(src.join("a-small.txt"), data(1000, 1)).unwrap();
    std::fs::write(src.join("big.bin"), &big).unwrap();
    let uri = format!("{}/", s3_uri(&unique_key("tree-resume")));

    // First run: part 4 of the large file (and every later one) stalls; killed after 3.
    let mut hold = Match::s3(S3Op::UploadPart);
    hold.target_has = Some("partNumber=4&".into());
    let stall = Fault::stall(Dir::Up, 0, Duration::from_secs(600));
    let stalling = Proxy::http(
        &env().moto,
        &env().ca,
        vec![Rule::new(hold, stall, u32::MAX)],
    );
    let mut child = std_command(&cmd(&stalling, state.path()))
        .args(put_args(&src, &uri))
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("3 parts stored", Duration::from_secs(240), || {
        stored_parts(state.path()) >= 3
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The same command again, through a proxy that only counts; without --resumable, as a
    // script that forgot it would: the journal waiting for big.bin is still used.
    let counting = Proxy::http(&env().moto, &env().ca, vec![]);
    let mut again = put_args(&src, &uri);
    again.retain(|a| a != "--resumable");
    let out = cmd(&counting, state.path())
        .args(again)
        .arg("--json")
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l["source"].as_str().is_some_and(|s| s.ends_with(name)))
            .unwrap_or_else(|| panic!("no line for {name}: {stdout}"))
    };
    let big_line = line("big.bin");
    assert_eq!(big_line["action"], "uploaded", "{big_line}");
    let skipped = big_line["parts_skipped"].as_u64().expect("parts_skipped") as usize;
    assert!(skipped >= 3, "{big_line}");
    assert_eq!(
        upload_parts_sent(&counting),
        8 - skipped,
        "only the missing parts"
    );
    assert_eq!(line("a-small.txt")["action"], "skipped", "{stdout}");
    assert_eq!(
        stored_parts(state.path()),
        0,
        "the journal is gone once the upload completed"
    );

    // The tree round-trips.
    let restore = files.path().join("restore");
    s3seal(Target::Moto)
        .args([
            "get",
            "--recursive",
            &uri,
            restore.to_str().unwrap(),
            "--quiet",
        ])
        .assert()
        .success();
    assert!(std::fs::read(restore.join("big.bin")).unwrap() == big);
    assert_eq!(
        std::fs::read(restore.join("a-small.txt")).unwrap(),
        data(1000, 1)
    );
}

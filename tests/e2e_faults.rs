//! Faults between s3seal and the servers, injected by the proxy of `common/proxy.rs`:
//! connection resets in the middle of a part upload and of a ranged GET, stalls, 503 SlowDown
//! and 500 answers, KMS throttling. Transient faults must be retried and the transfer must end
//! byte-identical; permanent faults must end with exit 1 and a clear message, the multipart
//! upload aborted and no destination (or temporary) file. Also Ctrl-C during `get`, the second
//! Ctrl-C that exits at once, and a source that changes during `put`.
//!
//! The proxy scenarios are one table ([`table`]: fault x expectation), run by one function
//! ([`run`]); each row is still its own test. Each checks that its fault really fired, so a
//! proxy that injects nothing cannot make it pass. The randomized run is in e2e_chaos.rs.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::files::{holds_anonymous_file_in, leftovers};
use common::process::{finish, sigint, wait_for};
use common::proxy::{Dir, Fault, Match, Proxy, Rule, S3Op};
use common::route::{
    FOREVER, HANG, MIB, MULTIPART_LEN, Route, cmd, get_direct, later_gets_hang, put_args,
    put_direct, std_cmd, write_src,
};
use common::store::Store;
use common::{data, env, s3_uri, unique_key};
use predicates::prelude::*;

/// Which proxy layer a scenario's rules live in (and so which traffic goes through it).
#[derive(Clone, Copy)]
enum Layer {
    /// S3 through a TLS-passthrough TCP proxy.
    Tcp,
    /// S3 through the HTTPS fault server.
    S3,
    /// KMS through the HTTPS fault server.
    Kms,
}

/// What is run through the proxy, and what must come of it.
#[derive(Clone, Copy)]
enum Expect {
    /// `put` succeeds, the object reads back identical, no multipart upload is left open.
    PutSurvives,
    /// `get` (to a file, 1 MiB ranges, 3 at a time) of an object stored directly succeeds,
    /// identical, with no stray file.
    GetSurvives,
    /// `put` then `get` (with these arguments; to stdout if `stdout`), both through the proxy.
    RoundTrip {
        stdout: bool,
        get: &'static [&'static str],
    },
    /// `put` exits 1 naming this; no object, no open upload.
    PutFails(&'static str),
    /// `get` (1 MiB ranges) exits 1 naming all of these, and leaves no file.
    GetFails(&'static [&'static str]),
}

/// How many times the faults must have fired.
#[derive(Clone, Copy)]
enum Fired {
    Exactly(u32),
    AtLeast(u32),
}

/// One row: a fault scenario and its expectation.
struct Scenario {
    test: &'static str,
    layer: Layer,
    rules: Vec<Rule>,
    len: usize,
    seed: u64,
    expect: Expect,
    fired: Fired,
    /// Further checks on what the proxy saw and on stderr.
    also: fn(&Proxy, &str),
}

fn nothing_more(_: &Proxy, _: &str) {}

/// A row (see [`Scenario`]); `also` defaults to nothing.
fn row(
    test: &'static str, layer: Layer, rules: Vec<Rule>, (len, seed): (usize, u64), expect: Expect,
    fired: Fired,
) -> Scenario {
    Scenario {
        test,
        layer,
        rules,
        len,
        seed,
        expect,
        fired,
        also: nothing_more,
    }
}

/// Every proxy scenario. Lengths are multipart (3 parts of 5 MiB) unless said otherwise.
fn table() -> Vec<Scenario> {
    use Expect::*;
    use Fired::*;
    use Layer::*;
    let rule = Rule::new;
    let (up, down) = (Dir::Up, Dir::Down);
    let (slow, internal) = (Fault::s3(503, "SlowDown"), Fault::s3(500, "InternalError"));
    let throttle = Fault::kms_throttling();
    let mp = |seed| (MULTIPART_LEN, seed);
    let (later_get, part) = (Match::later_get_object, || Match::s3(S3Op::UploadPart));
    let forever = u32::MAX;
    vec![
        // Transient: retried, byte-identical.
        // 2 MiB into a connection's request bytes: inside a 5 MiB part body.
        row(
            "reset_in_the_middle_of_a_part_upload_is_retried",
            Tcp,
            vec![rule(Match::any(), Fault::reset(up, 2 * MIB as u64), 2)],
            mp(11),
            PutSurvives,
            Exactly(2),
        ),
        // Resets while the answer body is flowing: the SDK has handed over the body stream, so
        // this exercises s3seal's own retry of broken bodies, not only the SDK's.
        row(
            "reset_in_the_middle_of_a_ranged_get_is_retried",
            S3,
            vec![rule(later_get(), Fault::reset(down, 300_000), 2)],
            (3 * MIB + 99, 12),
            GetSurvives,
            Exactly(2),
        ),
        // A long GET (12 MiB + 5 in 1 MiB ranges: the first read and two ranges fetched ahead,
        // then one GET for the other ten) reset after three of its ranges and part of the
        // fourth: s3seal opens it again from the first byte it did not receive, in the middle
        // of a range, and the file is identical.
        row(
            "reset_in_the_middle_of_a_long_get_resumes_where_it_broke",
            S3,
            vec![rule(
                later_get(),
                Fault::reset(down, 3 * MIB as u64 + 12_345),
                1,
            )],
            (12 * MIB + 5, 14),
            GetSurvives,
            Exactly(1),
        ),
        // The same at the TCP layer: TLS records cut in the middle of the first 1 MiB range a
        // connection carries.
        row(
            "reset_of_a_raw_tcp_connection_during_get_is_retried",
            Tcp,
            vec![rule(Match::any(), Fault::reset(down, 600_000), 1)],
            (3 * MIB + 7, 13),
            GetSurvives,
            Exactly(1),
        ),
        // A ranged GET whose answer never starts: the read timeout (S3SEAL_READ_TIMEOUT=3) ends
        // the attempt and the SDK retries. Without a timeout this would hang until HANG.
        row(
            "stalled_get_times_out_and_is_retried",
            S3,
            vec![rule(later_get(), Fault::stall(down, 0, FOREVER), 1)],
            (2 * MIB + 5, 14),
            GetSurvives,
            Exactly(1),
        ),
        // The answer starts, then its body stops: the SDK's stalled-stream protection (5 s
        // grace) breaks the body and s3seal retries the range.
        row(
            "stalled_get_body_is_retried",
            S3,
            vec![rule(later_get(), Fault::stall(down, 200_000, FOREVER), 1)],
            (2 * MIB + 5, 15),
            GetSurvives,
            Exactly(1),
        ),
        // The server takes the whole part and never answers.
        row(
            "stalled_part_upload_answer_times_out_and_is_retried",
            S3,
            vec![rule(part(), Fault::stall(down, 0, FOREVER), 1)],
            mp(16),
            PutSurvives,
            Exactly(1),
        ),
        // The connection stops taking the part's bytes half-way: the SDK's stalled-stream
        // protection for uploads must end the attempt and the part must be sent again.
        row(
            "stalled_part_upload_body_is_retried",
            Tcp,
            vec![rule(
                Match::any(),
                Fault::stall(up, 2 * MIB as u64, FOREVER),
                1,
            )],
            mp(17),
            PutSurvives,
            Exactly(1),
        ),
        row(
            "s3_slowdown_and_internal_errors_are_retried",
            S3,
            vec![
                rule(part(), slow.clone(), 2),
                rule(Match::s3(S3Op::CompleteMultipart), internal.clone(), 1),
                rule(Match::get_object(), slow.clone(), 1),
                rule(later_get(), internal.clone(), 1),
            ],
            mp(18),
            RoundTrip {
                stdout: false,
                get: &["--part-size", "5MiB"],
            },
            Exactly(5),
        ),
        row(
            "kms_throttling_is_retried",
            Kms,
            vec![
                rule(Match::kms("GenerateDataKey"), throttle.clone(), 2),
                rule(Match::kms("Decrypt"), throttle.clone(), 2),
            ],
            (100_000, 19),
            RoundTrip {
                stdout: true,
                get: &[],
            },
            Exactly(4),
        ),
        // S3 creates the upload, the answer never arrives, the SDK sends CreateMultipartUpload
        // again and s3seal uses the second upload: the first must not stay open.
        row(
            "lost_create_multipart_upload_answer_leaves_no_upload_behind",
            S3,
            vec![rule(
                Match::s3(S3Op::CreateMultipart),
                Fault::reset(down, 0),
                1,
            )],
            mp(26),
            PutSurvives,
            Exactly(1),
        ),
        // Parts are sealed once: every attempt at a part number must send the same ciphertext
        // (a re-encryption would reuse the part's nonces for data sealed a second time). The
        // fault server reads each refused attempt's body in full before answering 503.
        Scenario {
            also: same_bytes_on_every_attempt,
            ..row(
                "a_retried_part_carries_exactly_the_bytes_of_its_first_attempt",
                S3,
                vec![rule(part(), slow.clone(), 4)],
                mp(28),
                PutSurvives,
                Exactly(4),
            )
        },
        // Permanent: exit 1, a clear message, nothing left behind.
        Scenario {
            also: |proxy, stderr| {
                assert!(stderr.contains("InternalError"), "stderr: {stderr}");
                let log = proxy.log();
                let aborted = log
                    .iter()
                    .any(|l| l.starts_with("DELETE ") && l.contains("uploadId="));
                assert!(aborted, "no AbortMultipartUpload was sent: {log:#?}");
            },
            ..row(
                "permanent_part_failure_aborts_the_upload_and_exits_1",
                S3,
                vec![rule(part(), internal, forever)],
                mp(20),
                PutFails("UploadPart"),
                AtLeast(1),
            )
        },
        // Every connection dies after 1 MiB of request bytes: parts can never get through, but
        // the small AbortMultipartUpload can.
        row(
            "permanent_reset_of_every_upload_connection_exits_1_and_aborts",
            Tcp,
            vec![rule(Match::any(), Fault::reset(up, MIB as u64), forever)],
            mp(21),
            PutFails("UploadPart"),
            AtLeast(1),
        ),
        // Retried first: at least two throttled answers.
        row(
            "permanent_kms_throttling_exits_1_with_a_clear_message",
            Kms,
            vec![rule(Match::kms("GenerateDataKey"), throttle, forever)],
            (1000, 22),
            PutFails("KMS throttled"),
            AtLeast(2),
        ),
        row(
            "permanent_get_failure_exits_1_and_leaves_no_file",
            S3,
            vec![rule(later_get(), slow, forever)],
            (3 * MIB, 23),
            GetFails(&["GetObject", "SlowDown"]),
            AtLeast(2),
        ),
    ]
}

/// Every attempt at a part number sent the same bytes (same length and hash).
fn same_bytes_on_every_attempt(proxy: &Proxy, _: &str) {
    let mut by_part: std::collections::BTreeMap<String, Vec<(u64, u64)>> = Default::default();
    for b in proxy.bodies() {
        if b.method == "PUT" && b.target.contains("partNumber=") {
            let part = b
                .target
                .split(['?', '&'])
                .find(|p| p.starts_with("partNumber="))
                .unwrap()
                .to_string();
            by_part.entry(part).or_default().push((b.len, b.hash));
        }
    }
    assert_eq!(by_part.len(), 3, "{by_part:?}");
    let attempts: usize = by_part.values().map(Vec::len).sum();
    assert_eq!(
        attempts,
        3 + 4,
        "every attempt's body must be seen: {by_part:?}"
    );
    for (part, bodies) in &by_part {
        assert!(
            bodies.iter().all(|b| *b == bodies[0] && b.0 > MIB as u64),
            "{part}: attempts sent different bytes: {bodies:?}"
        );
    }
}

/// Runs the table's row `test`: the proxy with its rules, the command through it, the
/// expectation, the number of faults fired, and the row's own checks.
fn run(test: &str) {
    let s = table()
        .into_iter()
        .find(|s| s.test == test)
        .expect("a table row");
    let proxy = match s.layer {
        Layer::Tcp => Proxy::tcp(&env().moto, s.rules),
        Layer::S3 | Layer::Kms => Proxy::http(&env().moto, &env().ca, s.rules),
    };
    let route = match s.layer {
        Layer::Kms => Route::kms(&proxy),
        Layer::Tcp | Layer::S3 => Route::s3(&proxy),
    };
    let plain = data(s.len, s.seed);
    let store = Store::moto();
    let key = unique_key(test);
    let (src_dir, out_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src = write_src(src_dir.path(), &plain);
    let dst = out_dir.path().join("out.bin");
    let put = || {
        let mut c = cmd(&route);
        c.args(put_args(src.to_str().unwrap(), &s3_uri(&key)));
        c
    };
    let get = |to: &str| {
        let mut c = cmd(&route);
        c.args(["get", &s3_uri(&key), to, "--quiet"]);
        c
    };
    let mut stderr = String::new();
    match s.expect {
        Expect::PutSurvives => {
            put().assert().success();
            assert!(get_direct(&key) == plain, "{test}: stored object differs");
            assert_eq!(store.open_uploads(&key), 0, "{test}: upload left open");
        }
        Expect::GetSurvives => {
            put_direct(&plain, &key);
            let mut get = get(dst.to_str().unwrap());
            get.args(["--part-size", "1MiB", "--concurrency", "3"]);
            get.assert().success();
            assert!(
                std::fs::read(&dst).unwrap() == plain,
                "{test}: bytes differ"
            );
            assert!(leftovers(out_dir.path(), "out.bin").is_empty(), "{test}");
        }
        Expect::RoundTrip { stdout, get: args } => {
            put().assert().success();
            let to = if stdout { "-" } else { dst.to_str().unwrap() };
            let out = get(to).args(args).assert().success();
            let back = match stdout {
                true => out.get_output().stdout.clone(),
                false => std::fs::read(&dst).unwrap(),
            };
            assert!(back == plain, "{test}: bytes differ");
            assert_eq!(store.open_uploads(&key), 0, "{test}: upload left open");
        }
        Expect::PutFails(message) => {
            let out = put()
                .assert()
                .code(1)
                .stderr(predicate::str::contains(message));
            assert_eq!(store.open_uploads(&key), 0, "{test}: upload not aborted");
            assert!(!store.exists(&key), "{test}: an object was stored");
            stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
            eprintln!("{test}: {stderr}");
        }
        Expect::GetFails(says) => {
            put_direct(&plain, &key);
            let mut get = get(dst.to_str().unwrap());
            let out = get.args(["--part-size", "1MiB"]).assert().code(1);
            stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
            for needle in says {
                assert!(stderr.contains(needle), "{test}: stderr: {stderr}");
            }
            let left = leftovers(out_dir.path(), "");
            assert!(left.is_empty(), "{test}: left behind: {left:?}");
        }
    }
    let (fired, log) = (proxy.fired(), proxy.log());
    match s.fired {
        Fired::Exactly(n) => assert_eq!(fired, n, "{test}: faults fired; log: {log:#?}"),
        Fired::AtLeast(n) => assert!(fired >= n, "{test}: {fired} fired; log: {log:#?}"),
    }
    (s.also)(&proxy, &stderr);
    store.delete(&key);
}

/// One test per table row, named as the row.
macro_rules! scenario_tests {
    ($($test:ident),* $(,)?) => {
        $(#[test] fn $test() { run(stringify!($test)); })*
        /// Every row of the table has its test.
        #[test]
        fn every_table_row_is_a_test() {
            let tests = [$(stringify!($test)),*];
            for s in table() {
                assert!(tests.contains(&s.test), "row {} has no test", s.test);
            }
        }
    };
}

scenario_tests!(
    reset_in_the_middle_of_a_part_upload_is_retried,
    reset_in_the_middle_of_a_ranged_get_is_retried,
    reset_in_the_middle_of_a_long_get_resumes_where_it_broke,
    reset_of_a_raw_tcp_connection_during_get_is_retried,
    stalled_get_times_out_and_is_retried,
    stalled_get_body_is_retried,
    stalled_part_upload_answer_times_out_and_is_retried,
    stalled_part_upload_body_is_retried,
    s3_slowdown_and_internal_errors_are_retried,
    kms_throttling_is_retried,
    lost_create_multipart_upload_answer_leaves_no_upload_behind,
    a_retried_part_carries_exactly_the_bytes_of_its_first_attempt,
    permanent_part_failure_aborts_the_upload_and_exits_1,
    permanent_reset_of_every_upload_connection_exits_1_and_aborts,
    permanent_kms_throttling_exits_1_with_a_clear_message,
    permanent_get_failure_exits_1_and_leaves_no_file,
);

// ---- interruption, and a source that changes ----

/// `put` of `len` bytes through `route` as a child process with its stderr in a file, no read
/// timeout (only signals end it), `--concurrency` as given.
fn spawn_put(
    route: &Route, dir: &std::path::Path, (len, seed): (usize, u64), key: &str, concurrency: &str,
) -> (std::process::Child, std::path::PathBuf) {
    let src = write_src(dir, &data(len, seed));
    let err_path = dir.join("stderr");
    let uri = s3_uri(key);
    let mut args = put_args(src.to_str().unwrap(), &uri);
    let at = args.iter().position(|a| *a == "--concurrency").unwrap();
    args[at + 1] = concurrency;
    let child = std_cmd(route)
        .env("S3SEAL_READ_TIMEOUT", "0")
        .args(args)
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    (child, err_path)
}

#[test]
fn ctrl_c_during_get_removes_the_temporary_file_and_exits_130() {
    let key = unique_key("sigint-get");
    put_direct(&data(3 * MIB, 24), &key);
    let proxy = later_gets_hang();
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out.bin");
    let logs = tempfile::tempdir().unwrap();
    let err_path = logs.path().join("stderr");
    let child = std_cmd(&Route::s3(&proxy))
        .env("S3SEAL_READ_TIMEOUT", "0")
        .args(["get", &s3_uri(&key), dst.to_str().unwrap(), "--quiet"])
        // One range at a time: none is fetched ahead while KMS answers, so the hang comes
        // once the temporary file is open.
        .args(["--part-size", "1MiB", "--concurrency", "1"])
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    wait_for("the stall", Duration::from_secs(60), || proxy.fired() > 0);
    assert!(
        !leftovers(dir.path(), "").is_empty() || holds_anonymous_file_in(child.id(), dir.path()),
        "no temporary file while the download runs"
    );
    sigint(child.id());
    let (code, stderr) = finish(child, &err_path, HANG);
    assert_eq!(code, Some(130), "stderr: {stderr}");
    let left = leftovers(dir.path(), "");
    assert!(left.is_empty(), "left behind: {left:?}");
    Store::moto().delete(&key);
}

/// How soon after the second Ctrl-C the process must be gone.
const AT_ONCE: Duration = Duration::from_secs(2);

#[test]
fn second_ctrl_c_exits_at_once_even_while_cleanup_hangs() {
    // Parts hang, and so does the AbortMultipartUpload the first Ctrl-C starts: only the
    // second Ctrl-C can end the process.
    let stall = Fault::stall(Dir::Down, 0, FOREVER);
    let proxy = Proxy::http(
        &env().moto,
        &env().ca,
        vec![
            Rule::new(Match::s3(S3Op::UploadPart), stall.clone(), u32::MAX),
            Rule::new(Match::s3(S3Op::AbortMultipart), stall, u32::MAX),
        ],
    );
    let key = unique_key("sigint-twice");
    let dir = tempfile::tempdir().unwrap();
    let route = Route::s3(&proxy);
    let (child, err_path) = spawn_put(&route, dir.path(), (MULTIPART_LEN, 25), &key, "3");
    let minute = Duration::from_secs(60);
    wait_for("a stalled part", minute, || proxy.fired() > 0);
    sigint(child.id());
    wait_for("the abort", minute, || {
        proxy.log().iter().any(|l| l.starts_with("DELETE "))
    });
    let second = Instant::now();
    sigint(child.id());
    let (code, stderr) = finish(child, &err_path, HANG);
    let took = second.elapsed();
    assert_eq!(code, Some(130), "stderr: {stderr}");
    // "At once": the exit must not wait for the hanging clean-up (nor anything else).
    assert!(
        took <= AT_ONCE,
        "exited {took:?} after the second Ctrl-C (at most {AT_ONCE:?})"
    );
    eprintln!("exited {took:?} after the second Ctrl-C");
    // The upload could not be aborted (the abort hung): clean up for the next runs.
    Store::moto().abort_all(&key);
}

#[test]
fn a_source_that_changes_during_the_upload_is_refused_and_the_upload_aborted() {
    // One part in flight at a time, and part 2's answer held back for a few seconds: the file
    // grows meanwhile, before part 3 is read and the source is checked again.
    let part_2 = Match {
        target_has: Some("partNumber=2".into()),
        ..Match::s3(S3Op::UploadPart)
    };
    let hold = Fault::stall(Dir::Down, 0, Duration::from_secs(3));
    let proxy = Proxy::http(&env().moto, &env().ca, vec![Rule::new(part_2, hold, 1)]);
    let key = unique_key("source-changed");
    let dir = tempfile::tempdir().unwrap();
    let route = Route::s3(&proxy);
    let (child, err_path) = spawn_put(&route, dir.path(), (MULTIPART_LEN, 27), &key, "1");
    wait_for("part 2 held back", Duration::from_secs(60), || {
        proxy.fired() > 0
    });
    {
        use std::io::Write;
        let src = dir.path().join("src.bin");
        let mut f = std::fs::OpenOptions::new().append(true).open(src).unwrap();
        f.write_all(b"appended while uploading").unwrap();
    }
    let (code, stderr) = finish(child, &err_path, HANG);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("changed while it was being uploaded"),
        "stderr: {stderr}"
    );
    let store = Store::moto();
    assert_eq!(store.open_uploads(&key), 0, "multipart upload not aborted");
    assert!(!store.exists(&key), "an object was stored");
}

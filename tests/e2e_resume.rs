//! Resumable uploads end to end, over HTTPS against the local servers (moto, and the s3s-based
//! server), with the HTTP fault proxy in front of S3 to count UploadPart requests and to hold
//! an upload in flight until the test kills it with SIGKILL:
//! - a 300 MiB file killed after a third of its parts resumes with only the missing parts and
//!   decrypts with `get` and with the independent Python decoder;
//! - a file modified in place (same size and mtime) between kill and resume is uploaded afresh
//!   under a new data key and message id;
//! - the journal is 0600 in a 0700 directory and holds neither the data key (recovered through
//!   KMS and searched for in hex and base64) nor plaintext;
//! - `uploads list` / `uploads abort` on moto, leaving no multipart upload;
//! - `--resumable` with stdin is refused (exit 2).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::process::{std_command, wait_for};
use common::proxy::{Dir, Fault, Match, Proxy, Rule, S3Op};
use common::store::Store;
use common::{Target, data, env, s3_uri, s3seal, unique_key};

const MIB: usize = 1024 * 1024;

/// A `put --resumable` (its S3 requests through a proxy, when it has one), and its state
/// directory.
struct Run {
    target: Target,
    proxy: Option<Proxy>,
    state: tempfile::TempDir,
    files: tempfile::TempDir,
    key: String,
}

impl Run {
    fn new(target: Target, name: &str, plain: &[u8], rules: Option<Vec<Rule>>) -> Run {
        let upstream = match target {
            Target::Moto => &env().moto,
            Target::S3s => &env().s3s,
        };
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("src.bin"), plain).unwrap();
        Run {
            target,
            proxy: rules.map(|rules| Proxy::http(upstream, &env().ca, rules)),
            state: tempfile::tempdir().unwrap(),
            files,
            key: unique_key(name),
        }
    }

    fn src(&self) -> PathBuf {
        self.files.path().join("src.bin")
    }

    fn journals(&self) -> PathBuf {
        self.state.path().join("s3seal/uploads")
    }

    /// `s3seal` on this run's target, S3 through the proxy, state in this run's directory.
    fn cmd(&self) -> assert_cmd::Command {
        let mut c = s3seal(self.target);
        if let Some(proxy) = &self.proxy {
            c.env("AWS_ENDPOINT_URL_S3", proxy.endpoint());
        }
        c.env("XDG_STATE_HOME", self.state.path())
            .timeout(Duration::from_secs(300));
        c
    }

    fn put_args(&self, part_size: &str, concurrency: &str) -> Vec<String> {
        [
            "put",
            self.src().to_str().unwrap(),
            &s3_uri(&self.key),
            "--kms-key-id",
            &env().kms_alias,
            "--part-size",
            part_size,
            "--concurrency",
            concurrency,
            "--posture",
            "off",
            "--quiet",
            "--resumable",
        ]
        .map(String::from)
        .to_vec()
    }

    /// Starts the put as a child process, its stderr kept for [`Run::diagnosis`].
    fn spawn(&self, part_size: &str, concurrency: &str) -> Child {
        let stderr = std::fs::File::create(self.put_stderr()).unwrap();
        std_command(&self.cmd())
            .args(self.put_args(part_size, concurrency))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }

    fn put_stderr(&self) -> PathBuf {
        self.files.path().join("put.stderr")
    }

    /// What a failed wait reports: parts stored, the put's stderr, what the proxy saw.
    fn diagnosis(&self) -> String {
        let stderr = std::fs::read_to_string(self.put_stderr()).unwrap_or_default();
        let proxy = self
            .proxy
            .as_ref()
            .map(|p| p.log().join("\n"))
            .unwrap_or_default();
        format!(
            "{} part(s) stored\nthe put's stderr:\n{stderr}\nthe proxy's log:\n{proxy}",
            self.stored_parts()
        )
    }

    /// The journal's files (JSON and ledger), by extension.
    fn journal_file(&self, ext: &str) -> Option<PathBuf> {
        std::fs::read_dir(self.journals())
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == ext))
    }

    fn journal(&self) -> serde_json::Value {
        let path = self.journal_file("json").expect("a journal");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// Parts S3 acknowledged, by the ledger.
    fn stored_parts(&self) -> usize {
        self.journal_file("parts")
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map_or(0, |t| {
                t.lines().filter(|l| l.starts_with("stored ")).count()
            })
    }

    /// Starts the put, SIGKILLs it once `parts` parts are stored.
    fn kill_after(&self, parts: usize, part_size: &str, concurrency: &str) {
        let mut child = self.spawn(part_size, concurrency);
        let start = Instant::now();
        while self.stored_parts() < parts {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the put ended ({status}) before {parts} parts were stored: {}",
                    self.diagnosis()
                );
            }
            if start.elapsed() > Duration::from_secs(240) {
                let _ = child.kill();
                panic!("{parts} parts were never stored: {}", self.diagnosis());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    /// UploadPart requests so far: as the proxy forwarded them, or as the s3s server logged
    /// them (every PUT of a multipart object's key is an UploadPart).
    fn upload_parts_sent(&self) -> usize {
        match &self.proxy {
            Some(proxy) => proxy
                .log()
                .iter()
                .filter(|l| l.starts_with("PUT ") && l.contains("partNumber="))
                .count(),
            None => {
                assert_eq!(
                    self.target,
                    Target::S3s,
                    "only the s3s server logs requests"
                );
                let line = format!("PUT /{}/{} -> 200", env().bucket, self.key);
                std::fs::read_to_string(s3s_access_log())
                    .unwrap()
                    .lines()
                    .filter(|l| *l == line)
                    .count()
            }
        }
    }

    /// Runs the same put again; returns its JSON document.
    fn resume(&self, part_size: &str) -> serde_json::Value {
        let mut args = self.put_args(part_size, "4");
        args.retain(|a| a != "--quiet");
        args.push("--json".into());
        let out = self.cmd().args(args).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn store(&self) -> Store {
        match self.target {
            Target::Moto => Store::moto(),
            Target::S3s => Store::s3s(),
        }
    }

    /// Parts S3 holds for the journal's upload.
    fn listed_parts(&self) -> usize {
        let upload_id = self.journal()["upload_id"].as_str().unwrap().to_string();
        let store = self.store();
        let list = store
            .aws
            .s3
            .list_parts()
            .bucket(&env().bucket)
            .key(&self.key)
            .upload_id(upload_id);
        let out = store.block_on(list.send()).expect("ListParts");
        out.parts().len()
    }

    /// The plaintext as `get` returns it.
    fn get(&self) -> Vec<u8> {
        let out = self.files.path().join("out.bin");
        s3seal(self.target)
            .args(["get", &s3_uri(&self.key), out.to_str().unwrap(), "--quiet"])
            .assert()
            .success();
        std::fs::read(out).unwrap()
    }
}

/// The s3s server's access log, one `METHOD PATH -> STATUS` line per request:
/// scripts/local-aws.sh writes it beside the TLS directory that holds the test CA.
fn s3s_access_log() -> PathBuf {
    let tls = env().ca.parent().expect("the CA's directory");
    tls.parent().expect("the state directory").join("s3s.log")
}

/// Holds UploadPart `n` (and every later one) forever, so the parts before it are stored and
/// the put stays in flight.
fn hold_part(n: u32) -> Option<Vec<Rule>> {
    let stall = Fault::stall(Dir::Up, 0, Duration::from_secs(600));
    let mut matcher = Match::s3(S3Op::UploadPart);
    matcher.target_has = Some(format!("partNumber={n}&"));
    Some(vec![Rule::new(matcher, stall, u32::MAX)])
}

/// Decrypts the raw object with the independent Python decoder (tests/interop/decode_v1.py),
/// the data key recovered through KMS.
fn python_decodes(raw: &[u8], key: &str, dir: &Path) -> Vec<u8> {
    let data_key = Store::moto().unwrap_data_key(raw, None).unwrap();
    let object = dir.join("object.s3seal");
    let out = dir.join("python.out");
    std::fs::write(&object, raw).unwrap();
    let python = PathBuf::from(&std::env::var("S3SEAL_TEST_VENV").unwrap()).join("bin/python");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(python)
        .arg(root.join("tests/interop/decode_v1.py"))
        .arg(&object)
        .arg(hex::encode(&data_key))
        .args(["--bucket", &env().bucket, "--key", key])
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "the Python decoder failed");
    std::fs::remove_file(object).unwrap();
    std::fs::read(out).unwrap()
}

#[test]
fn a_killed_300_mib_upload_resumes_with_only_the_missing_parts() {
    let plain = data(300 * MIB, 13);
    // No proxy: UploadPart requests are counted in the server's own log.
    let run = Run::new(Target::S3s, "resume-300", &plain, None);
    let parts: usize = 38; // 300 MiB in 8 MiB parts
    run.kill_after(parts.div_ceil(3), "8MiB", "4");
    let held = run.listed_parts();
    assert!(held >= parts / 3 && held < parts, "S3 holds {held} parts");
    let before = run.upload_parts_sent();
    let doc = run.resume("8MiB");
    let sent = run.upload_parts_sent() - before;
    // A part whose body had fully arrived when the client died may be stored a moment after
    // the listing above: S3 holds at least `held` parts when the resume asks.
    let skipped = doc["resume"]["skipped_parts"].as_u64().unwrap() as usize;
    assert!(skipped >= held, "skipped {skipped}, held {held}");
    assert_eq!(
        sent,
        parts - skipped,
        "only the missing parts were uploaded"
    );
    assert!(doc["resume"]["restarted"].is_null());
    assert_eq!(doc["parts"], parts as u64);
    assert!(run.journal_file("json").is_none(), "journal removed");
    assert!(run.get() == plain, "get returns the file");
    let raw = Store::s3s().get_raw(&run.key);
    assert!(python_decodes(&raw, &run.key, run.files.path()) == plain);
}

#[test]
fn a_file_modified_between_kill_and_resume_is_uploaded_afresh_under_a_new_key() {
    let plain = data(22 * MIB, 14);
    let run = Run::new(Target::S3s, "resume-modified", &plain, hold_part(4));
    run.kill_after(3, "5MiB", "1");
    let old = run.journal();
    // Same size and modification time, one byte of part 2 different.
    let mtime = std::fs::metadata(run.src()).unwrap().modified().unwrap();
    let mut changed = plain.clone();
    changed[7 * MIB] ^= 0x80;
    std::fs::write(run.src(), &changed).unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(run.src())
        .unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    run.proxy.as_ref().unwrap().set_rules(vec![]);
    let before = run.upload_parts_sent();
    let doc = run.resume("5MiB");
    let reason = doc["resume"]["restarted"].as_str().expect("restarted");
    assert!(reason.contains("part 2"), "{reason}");
    assert_eq!(doc["resume"]["skipped_parts"], 0);
    assert_eq!(run.upload_parts_sent() - before, 5, "every part sent again");
    assert!(run.get() == changed);
    // New data key and message id: the stored header is not the interrupted upload's.
    let raw = Store::s3s().get_raw(&run.key);
    let old_header = base64::engine::general_purpose::STANDARD
        .decode(old["header"].as_str().unwrap())
        .unwrap();
    let parse = |b: &[u8]| s3seal::format::ParsedHeader::parse(b).unwrap().fields;
    let (was, now) = (parse(&old_header), parse(&raw));
    assert_ne!(was.message_id, now.message_id);
    assert_ne!(was.wrapped_key, now.wrapped_key);
    let key_of = |b: &[u8]| Store::moto().unwrap_data_key(b, None).unwrap();
    assert_ne!(key_of(&old_header), key_of(&raw));
}

#[test]
fn the_journal_is_private_and_holds_no_data_key_or_plaintext() {
    let plain = data(22 * MIB, 15);
    let run = Run::new(Target::Moto, "resume-journal", &plain, hold_part(3));
    run.kill_after(2, "5MiB", "1");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&run.journals()), 0o700);
    assert_eq!(mode(&run.state.path().join("s3seal")), 0o700);
    let json = run.journal_file("json").unwrap();
    let ledger = run.journal_file("parts").unwrap();
    assert_eq!(mode(&json), 0o600);
    assert_eq!(mode(&ledger), 0o600);
    let mut text = std::fs::read(&json).unwrap();
    text.extend(std::fs::read(&ledger).unwrap());
    // The data key, as anyone with KMS access recovers it from the journal's header.
    let header = base64::engine::general_purpose::STANDARD
        .decode(run.journal()["header"].as_str().unwrap())
        .unwrap();
    let key = Store::moto().unwrap_data_key(&header, None).unwrap();
    let b64 = &base64::engine::general_purpose::STANDARD;
    let b64url = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forms: Vec<Vec<u8>> = vec![
        key.clone(),
        hex::encode(&key).into_bytes(),
        hex::encode_upper(&key).into_bytes(),
        b64.encode(&key).into_bytes(),
        b64.encode(&key).trim_end_matches('=').as_bytes().to_vec(),
        b64url.encode(&key).into_bytes(),
    ];
    for form in &forms {
        assert!(!contains(&text, form), "the journal holds the data key");
    }
    // No plaintext: no 16-byte window of the file, raw, in hex or in base64 of its start.
    let windows: std::collections::HashSet<&[u8]> = text.windows(16).collect();
    assert!(
        !plain.windows(16).any(|w| windows.contains(w)),
        "plaintext bytes in the journal"
    );
    assert!(!contains(&text, hex::encode(&plain[..24]).as_bytes()));
    assert!(!contains(&text, b64.encode(&plain[..24]).as_bytes()));
    // The header in the journal is the one S3 will store: public by design.
    run.cmd()
        .args(["uploads", "abort", &s3_uri(&run.key)])
        .assert()
        .success();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn uploads_list_and_abort_on_moto_leave_no_multipart_upload() {
    let plain = data(17 * MIB, 16);
    let run = Run::new(Target::Moto, "resume-list", &plain, hold_part(2));
    run.kill_after(1, "5MiB", "1");
    let upload_id = run.journal()["upload_id"].as_str().unwrap().to_string();
    // Another open upload under the same prefix, not s3seal's.
    let other_key = format!("{}-other", run.key);
    let store = Store::moto();
    let create = store
        .aws
        .s3
        .create_multipart_upload()
        .bucket(&env().bucket)
        .key(&other_key);
    store
        .block_on(create.send())
        .expect("CreateMultipartUpload");
    let list = |args: &[&str]| {
        let out = run
            .cmd()
            .args(["uploads", "list"])
            .args(args)
            .assert()
            .success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let shown = list(&[&s3_uri(&run.key)]);
    assert!(
        shown.contains("resumable") && shown.contains(&upload_id),
        "{shown}"
    );
    assert!(shown.contains(&other_key), "{shown}");
    assert!(shown.contains("1 parts"), "{shown}");
    let doc: serde_json::Value =
        serde_json::from_str(&list(&[&s3_uri(&run.key), "--json"])).unwrap();
    assert_eq!(doc["resumable"][0]["upload_id"], upload_id.as_str());
    assert_eq!(doc["other"][0]["location"], s3_uri(&other_key));
    // The journal alone (no target) lists it too.
    assert!(list(&[]).contains(&upload_id));
    run.cmd()
        .args(["uploads", "abort", &s3_uri(&run.key), "--prefix"])
        .assert()
        .success();
    assert_eq!(store.open_uploads(&run.key), 0, "no multipart upload left");
    assert!(run.journal_file("json").is_none(), "journal removed");
    assert!(!list(&[&s3_uri(&run.key)]).contains(&upload_id));
}

#[test]
fn a_stale_journal_is_removed_by_uploads_list() {
    let plain = data(17 * MIB, 17);
    let run = Run::new(Target::Moto, "resume-stale", &plain, hold_part(2));
    run.kill_after(1, "5MiB", "1");
    Store::moto().abort_all(&run.key);
    let out = run
        .cmd()
        .args(["uploads", "list", &s3_uri(&run.key)])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("stale"), "{stderr}");
    assert!(run.journal_file("json").is_none());
}

#[test]
fn resumable_is_refused_for_stdin() {
    let out = s3seal(Target::Moto)
        .args(["put", "-", &s3_uri(&unique_key("resume-stdin"))])
        .args(["--kms-key-id", &env().kms_alias, "--resumable"])
        .write_stdin("a stream")
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("stdin cannot be read again"), "{stderr}");
}

/// A `get --resumable` through a proxy to moto, 1 MiB chunks in 4 MiB ranges, one
/// range at a time.
struct Download {
    proxy: Proxy,
    dir: tempfile::TempDir,
    key: String,
}

impl Download {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out.bin")
    }

    fn sidecar(&self) -> PathBuf {
        self.dir.path().join(".out.bin.s3seal-partial.json")
    }

    /// `s3seal` with S3 through the proxy (no arguments yet).
    fn base(&self) -> assert_cmd::Command {
        let mut c = s3seal(Target::Moto);
        c.env("AWS_ENDPOINT_URL_S3", self.proxy.endpoint())
            .timeout(Duration::from_secs(120));
        c
    }

    fn args(&self) -> Vec<String> {
        let out = self.out().to_str().unwrap().to_string();
        let get = [
            "get",
            &s3_uri(&self.key),
            &out,
            "--resumable",
            "--part-size",
            "4MiB",
        ];
        get.iter()
            .chain(&["--concurrency", "1", "--quiet"])
            .map(|s| s.to_string())
            .collect()
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut c = self.base();
        c.args(self.args());
        c
    }

    /// Ranges the sidecar records as verified.
    fn verified(&self) -> usize {
        std::fs::read_to_string(self.sidecar()).map_or(0, |t| t.lines().count().saturating_sub(1))
    }

    /// A rule for the ranged GET that starts at chunk `chunk` (1 MiB chunks).
    fn get_from_chunk(&self, chunk: u64, fault: Fault) -> Rule {
        let raw = Store::moto().get_raw(&self.key);
        let header = s3seal::format::ParsedHeader::header_len(&raw).unwrap() as u64;
        let start = header + chunk * (MIB as u64 + 16);
        let mut matcher = Match::get_object();
        matcher.header_has = Some(("range", format!("bytes={start}-")));
        Rule::new(matcher, fault, u32::MAX)
    }

    /// After the first read (the first range), one GET brings the other five ranges, one after
    /// the other: holds its answer once two of them went through (ranges 2 and 3), kills the
    /// get once the three ranges before the 4th are verified, and lets every request through
    /// again.
    fn kill_half_way(&self) {
        let two_ranges = 2 * 4 * (MIB as u64 + 16) + 64 * 1024;
        let stall = Fault::stall(Dir::Down, two_ranges, Duration::from_secs(600));
        let rule = self.get_from_chunk(4, stall);
        self.proxy.set_rules(vec![rule]);
        let mut child = std_command(&self.base())
            .args(self.args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let limit = std::time::Instant::now() + Duration::from_secs(60);
        while self.verified() < 3 {
            assert!(
                std::time::Instant::now() < limit,
                "three ranges never verified: {:?} {:?}",
                std::fs::read_to_string(self.sidecar()),
                self.proxy.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        self.proxy.set_rules(vec![]);
        assert!(!self.out().exists(), "nothing at the destination yet");
    }

    /// GETs forwarded (a stall noted by a rule is a line of its own).
    fn gets(&self) -> usize {
        self.proxy
            .log()
            .iter()
            .filter(|l| l.starts_with("GET ") && l.ends_with("-> forwarded"))
            .count()
    }
}

fn put_moto(key: &str, plain: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, plain).unwrap();
    s3seal(Target::Moto)
        .args(["put", src.to_str().unwrap(), &s3_uri(key)])
        .args([
            "--kms-key-id",
            &env().kms_alias,
            "--posture",
            "off",
            "--quiet",
        ])
        .assert()
        .success();
}

#[test]
fn a_killed_download_resumes_with_only_the_missing_ranges() {
    let plain = data(24 * MIB, 18); // 24 chunks: six ranges of four
    let d = Download {
        proxy: Proxy::http(&env().moto, &env().ca, vec![]),
        dir: tempfile::tempdir().unwrap(),
        key: unique_key("resume-get"),
    };
    put_moto(&d.key, &plain);
    d.kill_half_way();
    use std::os::unix::fs::PermissionsExt;
    let partial = d.dir.path().join(".out.bin.s3seal-partial");
    assert_eq!(
        std::fs::metadata(&partial).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = d.gets();
    // Counts the GET of ranges 4 to 6 (from chunk 12), without changing it.
    let pass = Fault::stall(Dir::Down, 0, Duration::from_millis(1));
    d.proxy.set_rules(vec![d.get_from_chunk(12, pass)]);
    let fired = d.proxy.fired();
    d.cmd().assert().success();
    // The first read (header and object size), then ranges 4 to 6 only, in one GET.
    assert_eq!(d.gets() - before, 1 + 1);
    assert_eq!(d.proxy.fired() - fired, 1, "the GET starts at range 4");
    assert!(std::fs::read(d.out()).unwrap() == plain);
    assert!(
        !partial.exists() && !d.sidecar().exists(),
        "nothing left beside it"
    );
}

#[test]
fn an_object_overwritten_between_kill_and_resume_is_fetched_from_the_start() {
    let d = Download {
        proxy: Proxy::http(&env().moto, &env().ca, vec![]),
        dir: tempfile::tempdir().unwrap(),
        key: unique_key("resume-get-etag"),
    };
    put_moto(&d.key, &data(24 * MIB, 19));
    d.kill_half_way();
    let newer = data(24 * MIB, 20);
    put_moto(&d.key, &newer);
    let before = d.gets();
    let pass = Fault::stall(Dir::Down, 0, Duration::from_millis(1));
    d.proxy.set_rules(vec![d.get_from_chunk(4, pass)]);
    let fired = d.proxy.fired();
    d.cmd().assert().success();
    // Every range fetched again: the first read holds the first one, then one GET the five
    // others, from range 2 on.
    assert_eq!(d.gets() - before, 1 + 1, "every range fetched again");
    assert_eq!(d.proxy.fired() - fired, 1, "the GET starts at range 2");
    assert!(std::fs::read(d.out()).unwrap() == newer);
}

#[test]
fn ctrl_c_keeps_a_resumable_upload_open_and_says_how_to_resume() {
    let plain = data(17 * MIB, 21);
    let run = Run::new(Target::Moto, "resume-sigint", &plain, hold_part(2));
    let err = run.files.path().join("stderr.txt");
    let child = std_command(&run.cmd())
        .args(run.put_args("5MiB", "1"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    wait_for("part 1 stored", Duration::from_secs(60), || {
        run.stored_parts() >= 1
    });
    common::process::sigint(child.id());
    let (code, stderr) = common::process::finish(child, &err, Duration::from_secs(60));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("stays open to be resumed"), "{stderr}");
    assert_eq!(
        Store::moto().open_uploads(&run.key),
        1,
        "kept for the next run"
    );
    assert!(run.journal_file("json").is_some());
    run.cmd()
        .args(["uploads", "abort", &s3_uri(&run.key)])
        .assert()
        .success();
    assert_eq!(Store::moto().open_uploads(&run.key), 0);
}

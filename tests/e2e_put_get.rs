//! End-to-end `put` / `get` through real servers over HTTPS with a throwaway CA: moto (S3 and
//! KMS) and the s3s-based server (S3 with SigV4 checks). Round trips at the chunk edges, a
//! multipart object with a partial last part, stdin to stdout, ranges; what S3 stores; and the
//! negative cases: tampered, truncated, relocated, wrong context, not an s3seal object, plain
//! HTTP, untrusted CA, and a failing multipart upload that must leave nothing behind.

mod common;

use common::files::{
    get_file, get_refused, get_stdout, put_and_relocate, put_file, put_stdin, usage_error,
};
use common::store::Store;
use common::upload::upload_stream;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use predicates::prelude::*;

const C: usize = 64 * 1024; // --chunk-size 64KiB keeps the edge cases small

fn round_trip(target: Target, len: usize, extra_put: &[&str]) {
    let plain = data(len, len as u64 + 1);
    let key = unique_key(&format!("rt-{len}"));
    put_file(target, &plain, &key, extra_put);
    let (assert, dst, _dir) = get_file(target, &key, &[]);
    assert.success();
    assert_eq!(
        std::fs::read(&dst).unwrap(),
        plain,
        "round trip of {len} bytes"
    );
}

#[test]
fn round_trips_at_chunk_edges_on_moto() {
    for len in [0, 1, C - 1, C, C + 1, 3 * C + 17] {
        round_trip(Target::Moto, len, &[]);
    }
}

#[test]
fn multipart_with_partial_last_part_on_both_servers() {
    // 5 MiB parts of 64 KiB chunks: 3 parts, the last one partial.
    let len = 2 * 5 * 1024 * 1024 + 12_345;
    for target in [Target::Moto, Target::S3s] {
        round_trip(target, len, &["--part-size", "5MiB", "--concurrency", "3"]);
    }
}

/// Where in `plain` a 64-byte window sampled from every chunk (its start, middle and end) also
/// stands in `stored`, if anywhere.
fn visible_plaintext(stored: &[u8], plain: &[u8]) -> Option<usize> {
    let stored: std::collections::HashSet<&[u8]> = stored.windows(64).collect();
    (0..plain.len())
        .step_by(C)
        .flat_map(|start| {
            let end = (start + C).min(plain.len());
            [start, (start + end) / 2, end.saturating_sub(64)]
        })
        .filter(|&at| at + 64 <= plain.len())
        .find(|&at| stored.contains(&plain[at..at + 64]))
}

#[test]
fn stored_object_is_ciphertext_of_documented_length_with_sse_kms() {
    let plain = data(3 * C + 5, 7);
    let key = unique_key("stored");
    put_file(Target::Moto, &plain, &key, &[]);
    let store = Store::moto();
    let stored = store.get_raw(&key);
    assert_eq!(&stored[..8], b"\x89S3SEAL\n");
    let seen = visible_plaintext(&stored, &plain);
    assert_eq!(seen, None, "plaintext visible in the stored object");
    // The check itself: one chunk stored in the clear is found.
    let mut planted = stored.clone();
    planted.extend_from_slice(&plain[2 * C..3 * C]);
    assert!(visible_plaintext(&planted, &plain).is_some());
    let header = s3seal::format::ParsedHeader::parse(&stored).unwrap();
    assert_eq!(header.fields.plaintext_len, plain.len() as u64);
    assert_eq!(header.fields.key_id, env().kms_arn);
    // T = H + L + 16 n
    let n = (plain.len() as u64).div_ceil(C as u64);
    assert_eq!(
        stored.len() as u64,
        header.len() as u64 + plain.len() as u64 + 16 * n
    );
    let head = store.head(&key).unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(env().kms_arn.as_str()));
}

#[test]
fn sse_kms_key_can_differ_from_the_envelope_key() {
    let key = unique_key("sse-other");
    let extra = ["--sse-kms-key-id", &env().other_kms_arn];
    put_file(Target::Moto, b"hello", &key, &extra);
    let head = Store::moto().head(&key).unwrap();
    assert_eq!(head.ssekms_key_id(), Some(env().other_kms_arn.as_str()));
}

#[test]
fn stdin_to_stdout_multipart_on_s3s() {
    let plain = data(11 * 1024 * 1024 + 3, 99);
    let key = unique_key("stdin");
    put_stdin(
        &mut s3seal(Target::S3s),
        &key,
        &["--part-size", "5MiB"],
        plain.clone(),
    )
    .success()
    .stderr(predicate::str::contains("3 parts"));
    let out = get_stdout(Target::S3s, &s3_uri(&key), &[]);
    assert!(out == plain, "stdout differs");
}

#[test]
fn stdin_of_zero_and_one_byte() {
    for len in [0usize, 1] {
        let plain = data(len, 5);
        let key = unique_key("stdin-small");
        put_stdin(&mut s3seal(Target::Moto), &key, &[], plain.clone()).success();
        let out = get_stdout(Target::Moto, &s3_uri(&key), &[]);
        assert_eq!(out, plain);
    }
}

#[test]
fn ranges_return_exactly_the_asked_bytes() {
    let plain = data(5 * C + 100, 3);
    let key = unique_key("range");
    put_file(Target::Moto, &plain, &key, &[]);
    let uri = s3_uri(&key);
    let len = plain.len();
    for (start, end) in [
        (0, 0),
        (0, 9),
        (C - 1, C),
        (C, 2 * C - 1),
        (2 * C + 3, 4 * C + 7),
        (len - 1, len - 1),
        (len - 50, len + 1000),
    ] {
        let range = format!("{start}-{end}");
        let out = get_stdout(Target::Moto, &uri, &["--range", &range]);
        assert_eq!(
            out,
            &plain[start..(end + 1).min(len)],
            "range {start}-{end}"
        );
    }
    let tail = format!("{}-", len - 10);
    let out = get_stdout(Target::Moto, &uri, &["--range", &tail]);
    assert_eq!(out, &plain[len - 10..]);
    s3seal(Target::Moto)
        .args([
            "get",
            &s3_uri(&key),
            "-",
            "--range",
            &format!("{len}-{}", len + 5),
        ])
        .assert()
        .code(2) // documented: an unsatisfiable range is a usage error
        .stderr(predicate::str::contains("outside"));
}

/// Rewrites the stored object through `f` and expects `get` to fail with exit 3 and no output.
fn assert_tamper_detected(name: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let plain = data(3 * C + 5, 11);
    let key = unique_key(name);
    put_file(Target::Moto, &plain, &key, &[]);
    Store::moto().tamper(&key, f);
    get_refused(&key, &[], 3, "integrity");
}

#[test]
fn flipped_bit_in_the_last_chunk_is_refused() {
    assert_tamper_detected("tamper-last", |b| {
        let n = b.len();
        b[n - 20] ^= 0x01;
    });
}

#[test]
fn flipped_bit_in_the_header_is_refused() {
    assert_tamper_detected("tamper-header", |b| b[20] ^= 0x80);
}

#[test]
fn truncated_object_is_refused() {
    assert_tamper_detected("truncated", |b| {
        let n = b.len();
        b.truncate(n - (C + 16) + 100);
    });
    assert_tamper_detected("truncated-at-chunk", |b| {
        let n = b.len();
        b.truncate(n - 21); // drop the final (5-byte) chunk exactly
    });
}

#[test]
fn swapped_chunks_are_refused() {
    assert_tamper_detected("swapped", |b| {
        let h = s3seal::format::ParsedHeader::parse(b).unwrap().len();
        let s = C + 16;
        let first: Vec<u8> = b[h..h + s].to_vec();
        b.copy_within(h + s..h + 2 * s, h);
        b[h + s..h + 2 * s].copy_from_slice(&first);
    });
}

#[test]
fn stdout_gets_a_failure_exit_for_a_tampered_object() {
    let plain = data(3 * C + 5, 12);
    let key = unique_key("tamper-stdout");
    put_file(Target::Moto, &plain, &key, &[]);
    Store::moto().tamper(&key, |stored| {
        let n = stored.len();
        stored[n - 1] ^= 1;
    });
    let out = s3seal(Target::Moto)
        .args(["get", &s3_uri(&key), "-"])
        .assert()
        .code(3);
    // What was released before the failure is verified plaintext, never the bad chunk.
    let stdout = &out.get_output().stdout;
    assert!(stdout.len() <= 3 * C && plain.starts_with(stdout));
}

#[test]
fn relocated_object_is_refused_unless_allowed() {
    let plain = data(1000, 21);
    let (_, moved) = put_and_relocate(&plain, "reloc");
    get_refused(&moved, &[], 3, "copied or moved");
    let (assert, dst, _dir) = get_file(Target::Moto, &moved, &["--allow-relocated"]);
    assert.success();
    assert_eq!(std::fs::read(dst).unwrap(), plain);
}

#[test]
fn context_must_match() {
    let plain = data(500, 31);
    let key = unique_key("ctx");
    let extra = ["--context", "team=ops", "--context", "app=backup"];
    put_file(Target::Moto, &plain, &key, &extra);
    let (assert, dst, _d) = get_file(Target::Moto, &key, &["--context", "team=ops"]);
    assert.success();
    assert_eq!(std::fs::read(dst).unwrap(), plain);
    for wrong in ["team=dev", "owner=ops"] {
        get_refused(&key, &["--context", wrong], 3, "context");
    }
}

#[test]
fn altered_context_in_header_is_refused_by_kms() {
    // Change a context value in place (same length) so the header still parses: KMS refuses
    // to unwrap the data key under a context it was not generated with.
    let key = unique_key("ctx-tamper");
    let extra = ["--context", "team=ops!"];
    put_file(Target::Moto, &data(5000, 8), &key, &extra);
    Store::moto().tamper(&key, |stored| {
        let pos = stored
            .windows(4)
            .position(|w| w == b"ops!")
            .expect("context value in header");
        stored[pos..pos + 4].copy_from_slice(b"dev!");
    });
    get_refused(&key, &[], 3, "KMS could not decrypt");
}

#[test]
fn reserved_context_keys_are_refused() {
    let key = unique_key("reserved");
    put_stdin(
        &mut s3seal(Target::Moto),
        &key,
        &["--context", "s3seal:bucket=evil"],
        "x",
    )
    .code(2)
    .stderr(predicate::str::contains("reserved"));
}

#[test]
fn plain_objects_and_missing_objects_give_clear_errors() {
    let key = unique_key("plain");
    Store::moto().put_raw(&key, b"just some plaintext, not sealed".to_vec());
    get_refused(&key, &[], 3, "not an s3seal object");
    get_refused(&unique_key("missing"), &[], 1, "does not exist");
}

#[test]
fn wrong_kms_key_for_the_data_key_is_an_integrity_failure() {
    // Point the header at another KMS key: KMS refuses (the blob belongs to the first key).
    let plain = data(100, 41);
    let key = unique_key("wrongkey");
    put_file(Target::Moto, &plain, &key, &[]);
    Store::moto().tamper(&key, |stored| {
        let a = env().kms_arn.as_bytes();
        let b = env().other_kms_arn.as_bytes();
        assert_eq!(a.len(), b.len());
        let pos = stored.windows(a.len()).position(|w| w == a).unwrap();
        stored[pos..pos + a.len()].copy_from_slice(b);
    });
    get_refused(&key, &[], 3, "");
}

#[test]
fn plain_http_endpoints_are_refused() {
    for (var, value) in [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_KMS", "http://localhost:1"),
    ] {
        let mut cmd = s3seal(Target::Moto);
        cmd.env(var, value);
        usage_error(&mut cmd, &["get", "s3://b/k", "-"], "plain-HTTP");
    }
    let flag = ["--endpoint-url", "http://127.0.0.1:1"];
    let put = ["put", "-", "s3://b/k", "--kms-key-id", "k"];
    usage_error(
        &mut s3seal(Target::Moto),
        &[&flag[..], &put].concat(),
        "only talks HTTPS",
    );
}

#[test]
fn untrusted_ca_is_refused() {
    let key = unique_key("ca");
    put_stdin(
        s3seal(Target::Moto).env("AWS_CA_BUNDLE", &env().other_ca),
        &key,
        &[],
        "secret",
    )
    .code(1)
    .stderr(predicate::str::contains("TLS").and(predicate::str::contains("--ca-bundle")));
    // The same through --ca-bundle, which wins over the variable.
    put_stdin(
        s3seal(Target::Moto).args(["--ca-bundle", env().other_ca.to_str().unwrap()]),
        &key,
        &[],
        "secret",
    )
    .code(1);
}

#[test]
fn sigv4_is_really_checked_by_the_s3s_server() {
    // Guards the test setup itself: with a wrong secret the s3s server must refuse.
    let key = unique_key("sigv4");
    s3seal(Target::S3s)
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        .args(["get", &s3_uri(&key), "-"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("SignatureDoesNotMatch")
                .or(predicate::str::contains("credentials")),
        );
}

#[test]
fn a_failing_source_aborts_the_multipart_upload() {
    /// A source that breaks after `left` bytes (a disk or pipe error mid-upload).
    struct Failing {
        left: usize,
    }
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("simulated read failure"));
            }
            let n = buf.len().min(self.left);
            buf[..n].fill(7);
            self.left -= n;
            Ok(n)
        }
    }
    let store = Store::moto();
    let key = unique_key("abort");
    let source = Box::new(Failing {
        left: 12 * 1024 * 1024,
    });
    let chunk = s3seal::format::ChunkSize::from_log2(16).unwrap();
    let err = store
        .block_on(upload_stream(
            &store.aws,
            &key,
            source,
            chunk,
            5 * 1024 * 1024,
        ))
        .expect_err("the upload must fail");
    assert!(err.to_string().contains("simulated read failure"), "{err}");
    let uploads = store.uploads_in(&env().bucket, &key);
    assert!(uploads.is_empty(), "orphaned multipart upload: {uploads:?}");
    assert!(store.head(&key).is_none(), "an object was stored");
}

#[test]
fn unknown_kms_key_and_missing_credentials_are_named() {
    let key = unique_key("nokey");
    s3seal(Target::Moto)
        .args([
            "put",
            "-",
            &s3_uri(&key),
            "--kms-key-id",
            "alias/does-not-exist",
        ])
        .args(["--posture", "off"])
        .write_stdin("x")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("not found").and(predicate::str::contains("--kms-key-id")),
        );
    put_stdin(
        s3seal(Target::Moto)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY"),
        &key,
        &["--posture", "off"],
        "x",
    )
    .code(1)
    .stderr(predicate::str::contains("no AWS credentials"));
}

#[test]
fn localhost_endpoints_work_like_ip_endpoints() {
    let endpoint = env().moto.replace("127.0.0.1", "localhost");
    let key = unique_key("localhost");
    let plain = data(70_000, 77);
    put_stdin(
        s3seal(Target::Moto).env("AWS_ENDPOINT_URL", &endpoint),
        &key,
        &["--posture", "off"],
        plain.clone(),
    )
    .success();
    let out = s3seal(Target::Moto)
        .args(["--endpoint-url", &endpoint, "get", &s3_uri(&key), "-"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, plain);
}

#[test]
fn profiles_from_the_shared_config_files_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(&config, "[profile sealer]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        &credentials,
        "[sealer]\naws_access_key_id = test\naws_secret_access_key = test\n",
    )
    .unwrap();
    let key = unique_key("profile");
    for args in [vec!["--profile", "sealer"], vec![]] {
        let mut cmd = s3seal(Target::Moto);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_REGION")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
        if args.is_empty() {
            cmd.env("AWS_PROFILE", "sealer");
        }
        cmd.args(&args);
        put_stdin(&mut cmd, &key, &["--posture", "off"], "via a profile").success();
    }
    // A profile that does not exist is not silently ignored, even where other credentials
    // (the environment's) would work: one line naming it, exit 2, no SDK log lines.
    for keep_env_keys in [false, true] {
        let mut cmd = s3seal(Target::Moto);
        if !keep_env_keys {
            cmd.env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY");
        }
        let out = cmd
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .args(["--profile", "nobody", "get", &s3_uri(&key), "-"])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty());
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains("\"nobody\""), "{stderr}");
        assert!(!stderr.contains("WARN"), "{stderr}");
        assert!(!stderr.contains('\x1b'), "{stderr}");
    }
}

#[test]
fn get_into_an_existing_directory_takes_the_key_name() {
    let plain = data(70_000, 611);
    let key = format!("{}/report.bin", unique_key("into-dir"));
    put_file(Target::S3s, &plain, &key, &[]);
    let dir = tempfile::tempdir().unwrap();
    s3seal(Target::S3s)
        .args(["get", &s3_uri(&key), dir.path().to_str().unwrap()])
        .assert()
        .success();
    assert!(std::fs::read(dir.path().join("report.bin")).unwrap() == plain);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn get_into_a_directory_that_does_not_exist_names_it() {
    let key = unique_key("no-dir");
    put_file(Target::S3s, &data(1000, 612), &key, &[]);
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("nodir/sub/out.bin");
    s3seal(Target::S3s)
        .args(["get", &s3_uri(&key), dst.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sub: no such directory"))
        .stderr(predicate::str::contains("hint:"))
        .stderr(predicate::str::contains("s3seal-tmp").not());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

//! End-to-end tests of the transfer pipelines at sizes the small suite does not reach, through
//! the s3s-based server over TLS (moto keeps objects in memory, so it only serves KMS here): a
//! 200+ MiB multipart round trip to a file and to stdout, compared byte for byte; stdin of
//! unknown length spanning several parts; `--expected-size`; and what goes over the wire:
//! every part carries a CRC32C checksum that the server verifies, and no payload is hashed
//! (UNSIGNED-PAYLOAD over HTTPS). Memory and speed are measured by scripts/bench.sh, not here.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::{Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use base64::Engine;
use common::files::{get_stdout, put_stdin};
use common::store::{Store, with_interceptor};
use common::upload::upload_stream;
use common::{Target, data, env, s3_uri, s3seal, unique_key};
use predicates::prelude::*;

const MIB: usize = 1024 * 1024;

#[test]
fn multipart_round_trip_of_210_mib_to_a_file_and_to_stdout() {
    let len = 210 * MIB + 12_345; // 27 parts of 8 MiB, the last one partial
    let plain = data(len, 210);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &plain).unwrap();
    let key = unique_key("large");
    s3seal(Target::S3s)
        .args(["put", src.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_alias, "--concurrency", "3"])
        .assert()
        .success()
        .stderr(predicate::str::contains("27 parts"));

    let dst = dir.path().join("out.bin");
    s3seal(Target::S3s)
        .args(["get", &s3_uri(&key), dst.to_str().unwrap()])
        .assert()
        .success();
    let back = std::fs::read(&dst).unwrap();
    assert_eq!(back.len(), plain.len(), "file length");
    assert!(back == plain, "file content differs");
    drop(back);
    std::fs::remove_file(&dst).unwrap();

    // Ranges of 5 MiB, so the ordered stdout path has many ranges in flight and waiting.
    let out = get_stdout(Target::S3s, &s3_uri(&key), &["--part-size", "5MiB"]);
    let stdout = &out;
    assert_eq!(stdout.len(), plain.len(), "stdout length");
    assert!(*stdout == plain, "stdout content differs");
}

/// `put -` of `plain` to `key` on the s3s server, which must succeed saying `says`.
fn put_stream(key: &str, extra: &[&str], plain: &[u8], says: &str) {
    put_stdin(&mut s3seal(Target::S3s), key, extra, plain)
        .success()
        .stderr(predicate::str::contains(says));
}

#[test]
fn stdin_of_unknown_length_spans_several_parts() {
    let plain = data(23 * MIB + 7, 23);
    let key = unique_key("stdin-large");
    let args = ["--part-size", "5MiB", "--concurrency", "2"];
    put_stream(&key, &args, &plain, "5 parts");
    let out = get_stdout(Target::S3s, &s3_uri(&key), &["--concurrency", "2"]);
    assert!(out == plain, "stdout differs");
}

#[test]
fn expected_size_sizes_stream_parts_and_is_checked_up_front() {
    // 20 GiB expected at 5 MiB parts would need 4,096 parts: still within 10,000, so parts
    // stay 5 MiB (the hint only grows them when needed).
    let plain = data(11 * MIB, 11);
    let key = unique_key("hint");
    let args = ["--part-size", "5MiB", "--expected-size", "20GiB"];
    put_stream(&key, &args, &plain, "3 parts");
    // 100 GiB expected: 10,000 parts need 11 MiB each, so the 11 MiB stream is one part.
    let key2 = unique_key("hint-big");
    let args = ["--part-size", "5MiB", "--expected-size", "100GiB"];
    put_stream(&key2, &args, &plain, "single PUT");
    let out = get_stdout(Target::S3s, &s3_uri(&key2), &[]);
    assert!(out == plain, "stdout differs");
    // Impossible hints and hints for files are usage errors, before any request.
    put_stdin(
        &mut s3seal(Target::S3s),
        &key,
        &["--expected-size", "6000GiB"],
        vec![1u8; 10],
    )
    .code(2)
    .stderr(predicate::str::contains("5 TiB"));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, b"x").unwrap();
    s3seal(Target::S3s)
        .args(["put", f.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_alias, "--expected-size", "1MiB"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--expected-size is for stdin"));
}

/// What matters of one request.
#[derive(Debug, Clone)]
struct Seen {
    /// "METHOD URI".
    what: String,
    /// x-amz-content-sha256.
    sha: Option<String>,
    /// x-amz-checksum-crc32c.
    crc: Option<String>,
    /// The CRC32C of the body as sent, base64 like the header (`None`: not in memory).
    body_crc: Option<String>,
}

/// Records the headers that matter of every request the SDK sends.
#[derive(Debug, Default, Clone)]
struct Capture(Arc<Mutex<Vec<Seen>>>);

impl Intercept for Capture {
    fn read_before_transmit(
        &self, context: &BeforeTransmitInterceptorContextRef<'_>, _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        let header = |name: &str| req.headers().get(name).map(str::to_string);
        let b64 = base64::engine::general_purpose::STANDARD;
        let body_crc = req
            .body()
            .bytes()
            .map(|b| b64.encode(crc32c::crc32c(b).to_be_bytes()));
        self.0.lock().unwrap().push(Seen {
            what: format!("{} {}", req.method(), req.uri()),
            sha: header("x-amz-content-sha256"),
            crc: header("x-amz-checksum-crc32c"),
            body_crc,
        });
        Ok(())
    }

    fn name(&self) -> &'static str {
        "e2e_large::Capture"
    }
}

#[test]
fn parts_carry_crc32c_and_no_payload_hash() {
    let store = Store::s3s();
    let capture = Capture::default();
    let aws = with_interceptor(store.aws.clone(), capture.clone());
    let key = unique_key("wire");
    let plain = data(12 * MIB, 12);
    let source = Box::new(std::io::Cursor::new(plain));
    let chunk = s3seal::format::ChunkSize::DEFAULT;
    let outcome = store
        .block_on(upload_stream(&aws, &key, source, chunk, 5 * MIB as u64))
        .unwrap();
    assert_eq!(outcome.parts, 3);
    let seen = capture.0.lock().unwrap().clone();
    let parts: Vec<_> = seen
        .iter()
        .filter(|s| s.what.starts_with("PUT") && s.what.contains("partNumber="))
        .collect();
    assert_eq!(parts.len(), 3, "UploadPart requests: {seen:?}");
    for Seen {
        what,
        sha,
        crc,
        body_crc,
    } in parts
    {
        assert_eq!(
            sha.as_deref(),
            Some("UNSIGNED-PAYLOAD"),
            "{what}: payload was hashed"
        );
        let crc = crc.as_deref().unwrap_or_default();
        assert_eq!(crc.len(), 8, "{what}: no CRC32C checksum ({crc:?})");
        // ... and it is the CRC32C of the bytes sent.
        let body_crc = body_crc.as_deref().expect("the part's body is in memory");
        assert_eq!(crc, body_crc, "{what}: wrong CRC32C");
    }
}

#[test]
fn the_s3s_server_verifies_crc32c() {
    let store = Store::s3s();
    store.block_on(async {
        let aws = &store.aws;
        let key = unique_key("bad-crc");
        // The CRC32C of other bytes: the server must refuse the body.
        let result = aws
            .s3
            .put_object()
            .bucket(&env().bucket)
            .key(&key)
            .checksum_crc32_c("AAAAAA==")
            .body(b"hello, checksums".to_vec().into())
            .customize()
            .disable_payload_signing()
            .send()
            .await;
        let err = result.expect_err("a wrong CRC32C must be refused");
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err)
            .unwrap_or_default()
            .to_string();
        assert!(
            code.contains("BadDigest") || code.contains("Checksum") || code.contains("Invalid"),
            "unexpected error {code:?}: {err:?}"
        );
        // Note: s3s-fs 0.14 answers BadDigest but may leave the object behind (it writes before
        // it compares); AWS stores nothing. For s3seal what matters is the refusal: a part that
        // fails its checksum fails the upload, which is then aborted.
        eprintln!("refused with {code}");
        // The right checksum is accepted.
        aws.s3
            .put_object()
            .bucket(&env().bucket)
            .key(&key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32C)
            .body(b"hello, checksums".to_vec().into())
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .expect("a correct CRC32C is accepted");
    });
}

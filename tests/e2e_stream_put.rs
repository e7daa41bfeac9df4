//! Streamed single PUTs end to end (issue 12's tree benchmark): `put --recursive` sends a
//! 20 MiB file as one PutObject sealed on the fly, on both servers, and the objects read back
//! identical with `get --recursive` and with the independent Python decoder; no multipart
//! upload is made (the s3s server's access log, moto's ETag). On the wire the body carries
//! its CRC32C as an aws-chunked trailer and no payload hash; a connection reset mid-body and a
//! 503 each start the object again with a new data key (one more GenerateDataKey), never a
//! replay of the same sealed bytes; a streamed object carries its settings and Object Lock.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::{
    ConfigBag, Intercept, RuntimeComponents, interceptors::BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::box_error::BoxError;
use common::decoder::python_decode;
use common::proxy::{Dir, Fault, Match, Proxy, Rule, S3Op};
use common::route::{Route, cmd};
use common::store::{Store, with_interceptor};
use common::{Target, data, env, s3_uri, s3seal, unique_key};

const MIB: usize = 1024 * 1024;
const BIG: &str = "big/twenty.bin";

/// A tree of one 20 MiB file (more than two 8 MiB parts) and small files.
fn tree(root: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let files = vec![
        ("a.txt", data(1000, 1)),
        ("empty", Vec::new()),
        ("nested/dir/c.bin", data(300_000, 3)),
        (BIG, data(20 * MIB, 4)),
    ];
    for (rel, bytes) in &files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    files
}

/// `s3seal ARGS` on `target`; panics unless it exits 0.
fn ok(target: Target, args: &[&str]) {
    let out = s3seal(target).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The s3s server's access log (`METHOD PATH -> STATUS` per request), beside its TLS files.
fn s3s_access_log() -> String {
    let tls = env().ca.parent().expect("the CA's directory");
    std::fs::read_to_string(tls.parent().unwrap().join("s3s.log")).unwrap()
}

fn round_trip(target: Target) {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let files = tree(&src);
    let prefix = unique_key("stream-put-tree");
    let uri = format!("{}/", s3_uri(&prefix));
    let kms = &env().kms_arn;
    let (src_s, dst_s) = (src.to_str().unwrap(), dst.to_str().unwrap());
    ok(
        target,
        &["put", "--recursive", src_s, &uri, "--kms-key-id", kms],
    );
    ok(target, &["get", "--recursive", &uri, dst_s, "--quiet"]);
    for (rel, bytes) in &files {
        assert!(&std::fs::read(dst.join(rel)).unwrap() == bytes, "{rel}");
    }

    let key = format!("{prefix}/{BIG}");
    let store = match target {
        Target::Moto => Store::moto(),
        Target::S3s => Store::s3s(),
    };
    let raw = store.get_raw(&key);
    assert!(
        python_decode(&raw, &key, &[]) == files[3].1,
        "Python decoder"
    );
    match target {
        Target::S3s => {
            // Path only (no query): a multipart upload would add POSTs (create, complete) and
            // one PUT per part.
            let log = s3s_access_log();
            let path = format!("/{}/{key} ", env().bucket);
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(&path)).collect();
            assert!(!lines.iter().any(|l| l.starts_with("POST ")), "{lines:?}");
            let puts = lines.iter().filter(|l| l.starts_with("PUT ")).count();
            assert_eq!(puts, 1, "{lines:?}");
        }
        Target::Moto => {
            let etag = store.head(&key).unwrap().e_tag().unwrap().to_string();
            assert!(!etag.contains('-'), "a multipart ETag: {etag}");
        }
    }
}

#[test]
fn a_tree_s_20_mib_file_is_one_put_on_the_s3s_server_and_reads_back() {
    round_trip(Target::S3s);
}

#[test]
fn a_tree_s_20_mib_file_is_one_put_on_moto_and_reads_back() {
    round_trip(Target::Moto);
}

/// Header name and value pairs of one request.
type Headers = Vec<(String, String)>;

/// The headers that show how each PUT's body was sent.
#[derive(Debug, Default, Clone)]
struct Capture(Arc<Mutex<Vec<Headers>>>);

impl Intercept for Capture {
    fn read_before_transmit(
        &self, context: &BeforeTransmitInterceptorContextRef<'_>, _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        let names = [
            "x-amz-content-sha256",
            "x-amz-trailer",
            "content-encoding",
            "x-amz-decoded-content-length",
            "x-amz-sdk-checksum-algorithm",
        ];
        let seen = names
            .iter()
            .filter_map(|n| Some((n.to_string(), req.headers().get(*n)?.to_string())))
            .collect();
        if req.method() == "PUT" {
            self.0.lock().unwrap().push(seen);
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "e2e_stream_put::Capture"
    }
}

#[test]
fn the_streamed_body_carries_a_crc32c_trailer_and_no_payload_hash() {
    let store = Store::s3s();
    let capture = Capture::default();
    let aws = with_interceptor(store.aws.clone(), capture.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let plain = data(11 * MIB + 3, 9);
    std::fs::write(&path, &plain).unwrap();
    let key = unique_key("stream-put-wire");
    let request = s3seal::transfer::upload::UploadRequest {
        dest: s3seal::location::ObjectLocation {
            bucket: env().bucket.clone(),
            key: key.clone(),
        },
        kms_key_id: env().kms_alias.clone(),
        sse_kms_key_id: None,
        context: vec![],
        chunk_size: s3seal::format::ChunkSize::DEFAULT,
        part_size: 5 * MIB as u64,
        concurrency: 2,
        if_match: None,
        settings: Default::default(),
        stream_put_max: 64 << 20,
    };
    let outcome = store
        .block_on(s3seal::transfer::upload::upload(
            Arc::new(s3seal::store::SdkStore::new(aws.s3.clone(), None)),
            &s3seal::kms::KmsKeyring::new(aws.kms.clone()),
            s3seal::transfer::Source::File(path),
            &request,
            Arc::new(s3seal::transfer::NoProgress),
            s3seal::transfer::Cancel::never(),
        ))
        .unwrap();
    assert_eq!(outcome.parts, 0);
    let seen = capture.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one PutObject: {seen:?}");
    let header = |n: &str| seen[0].iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        header("x-amz-content-sha256").as_deref(),
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        "{seen:?}"
    );
    assert_eq!(
        header("x-amz-trailer").as_deref(),
        Some("x-amz-checksum-crc32c")
    );
    assert_eq!(header("content-encoding").as_deref(), Some("aws-chunked"));
    // What AWS requires of a PutObject with Object Lock settings when there is no Content-MD5.
    assert_eq!(
        header("x-amz-sdk-checksum-algorithm").as_deref(),
        Some("CRC32C")
    );
    assert_eq!(
        header("x-amz-decoded-content-length"),
        Some(outcome.ciphertext_len.to_string())
    );
    assert!(store.get_raw(&key).len() as u64 == outcome.ciphertext_len);
}

/// `put --recursive` of `src` on moto with S3 and KMS through proxies; S3's PutObject meets
/// `fault` once. The KMS proxy counts GenerateDataKey requests (a zero-length pause "fires"
/// once per request and changes nothing).
fn put_through(src: &Path, uri: &str, fault: Fault) -> (Proxy, Proxy) {
    let e = env();
    let rules = vec![Rule::new(Match::s3(S3Op::PutObject), fault, 1)];
    let s3 = Proxy::http(&e.moto, &e.ca, rules);
    let count = Fault::stall(Dir::Up, 0, Duration::ZERO);
    let kms_rules = vec![Rule::new(Match::kms("GenerateDataKey"), count, u32::MAX)];
    let kms = Proxy::http(&e.moto, &e.ca, kms_rules);
    let route = Route {
        s3: Some(&s3),
        kms: Some(&kms),
    };
    cmd(&route)
        .args(["put", "--recursive", src.to_str().unwrap(), uri])
        .args(["--kms-key-id", &e.kms_alias, "--posture", "off", "--quiet"])
        .assert()
        .success();
    (s3, kms)
}

#[test]
fn a_reset_or_503_mid_body_starts_the_object_again_with_a_new_data_key() {
    let faults = [
        ("reset", Fault::reset(Dir::Up, 3 * MIB as u64)),
        ("503", Fault::s3(503, "SlowDown")),
    ];
    for (name, fault) in faults {
        let dir = tempfile::tempdir().unwrap();
        let src: PathBuf = dir.path().join("src");
        let plain = data(12 * MIB + 1, 21);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("only.bin"), &plain).unwrap();
        let prefix = unique_key("stream-put-retry");
        let uri = format!("{}/", s3_uri(&prefix));
        let (s3, kms) = put_through(&src, &uri, fault);
        assert_eq!(s3.fired(), 1, "{name}");
        let puts = s3
            .log()
            .iter()
            .filter(|l| l.starts_with("PUT ") && !l.contains("partNumber="))
            // One line per request when it is forwarded or answered by the proxy (a reset adds
            // a second line to a forwarded one).
            .filter(|l| l.ends_with("-> forwarded") || l.contains("-> injected"))
            .count();
        assert_eq!(puts, 2, "{name}: {:?}", s3.log());
        // Each attempt sealed with its own data key (and message id): the first attempt's
        // sealed bytes are never sent again.
        assert_eq!(kms.fired(), 2, "{name}: one data key per attempt");
        let key = format!("{prefix}/only.bin");
        let raw = Store::moto().get_raw(&key);
        assert!(python_decode(&raw, &key, &[]) == plain, "{name}");
    }
}

#[test]
fn a_streamed_object_carries_its_settings_and_object_lock() {
    let store = Store::moto();
    let bucket = format!("s3seal-stream-lock-{}", std::process::id());
    store.create_object_lock_bucket(&bucket);
    let dir = tempfile::tempdir().unwrap();
    let plain = data(9 * MIB, 31);
    std::fs::write(dir.path().join("nine.bin"), &plain).unwrap();
    let uri = format!("s3://{bucket}/daily/");
    ok(
        Target::Moto,
        &[
            "put",
            "--recursive",
            dir.path().to_str().unwrap(),
            &uri,
            "--kms-key-id",
            &env().kms_arn,
            "--posture",
            "off",
            "--object-lock-mode",
            "GOVERNANCE",
            "--object-lock-retain-until",
            "2031-01-02",
            "--tag",
            "backup=daily",
            "--storage-class",
            "STANDARD_IA",
        ],
    );
    let key = "daily/nine.bin";
    let head = store
        .block_on(store.aws.s3.head_object().bucket(&bucket).key(key).send())
        .expect("HeadObject");
    assert!(!head.e_tag().unwrap().contains('-'), "one PutObject");
    assert_eq!(head.object_lock_mode().unwrap().as_str(), "GOVERNANCE");
    let until = head.object_lock_retain_until_date().unwrap().secs();
    assert_eq!(until, 1_925_078_400, "2031-01-02T00:00:00Z");
    assert_eq!(head.storage_class().unwrap().as_str(), "STANDARD_IA");
    assert_eq!(
        head.metadata().unwrap()["s3seal-size"],
        plain.len().to_string()
    );
    let tags = store
        .block_on(
            store
                .aws
                .s3
                .get_object_tagging()
                .bucket(&bucket)
                .key(key)
                .send(),
        )
        .unwrap();
    let tags: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tags, [("backup", "daily")]);
}

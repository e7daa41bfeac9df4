//! What crosses the wire and the terminal: HTTPS for every client, hostile servers and bytes,
//! signals and leftovers, options that must not be ignored, partial output on stdout.

#[allow(unused_imports)]
use super::common::*;

use super::common::proxy;
use super::common::store::{Store, moto_aws};

use predicates::prelude::*;

/// A file of `len` deterministic bytes in a fresh directory.
fn source_file(len: usize, seed: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, data(len, seed)).unwrap();
    (dir, src)
}

/// Seals `len` deterministic bytes to `key` on moto (64 KiB chunks).
fn put_object(key: &str, len: usize, seed: u64) {
    let (_dir, src) = source_file(len, seed);
    s3seal(Target::Moto)
        .args(["put", src.to_str().unwrap(), &s3_uri(key)])
        .args(["--kms-key-id", &env().kms_arn, "--chunk-size", "64KiB"])
        .assert()
        .success();
}

/// The real binary configured for moto, as a std Command (for signals and /proc).
fn std_s3seal() -> std::process::Command {
    let configured = s3seal(Target::Moto);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("s3seal"));
    for (k, v) in configured.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// Whether `key` exists in the test bucket (moto).
fn exists(key: &str) -> bool {
    Store::moto().exists(key)
}

/// A presigned PUT URL made by the SDK itself, signing no SSE header (moto accepts it).
fn presigned_put_without_sse(key: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let aws = moto_aws().await;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(
            std::time::Duration::from_secs(600),
        )
        .unwrap();
        aws.s3
            .put_object()
            .bucket(&env().bucket)
            .key(key)
            .presigned(config)
            .await
            .unwrap()
            .uri()
            .to_string()
    })
}

// ---- Item 7: options that are silently ignored ----

/// `s3seal presign --put` of `key` on moto, under the test key.
fn presigned_put_url(key: &str) -> String {
    let out = s3seal(Target::Moto)
        .args(["presign", "--put", &s3_uri(key)])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .success();
    let url = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    url.lines().next().unwrap().to_string()
}

#[test]
fn put_to_presigned_url_refuses_posture_and_owner_options() {
    let key = unique_key("url-posture");
    let url = presigned_put_url(&key);
    let (_dir, src) = source_file(1000, 71);
    for extra in [
        &["--posture", "strict"][..],
        &["--posture", "enforce"][..],
        &["--expected-owner", "123456789012"][..],
        &["--trusted-account", "123456789012"][..],
    ] {
        s3seal(Target::Moto)
            .args(["put", src.to_str().unwrap(), &url])
            .args(["--kms-key-id", &env().kms_arn])
            .args(extra)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("cannot apply to a presigned URL"));
    }
    assert!(!exists(&key), "a refused put stored the object");
    // --posture off says nothing about a bucket: still allowed.
    s3seal(Target::Moto)
        .args(["put", src.to_str().unwrap(), &url])
        .args(["--kms-key-id", &env().kms_arn, "--posture", "off"])
        .assert()
        .success();
}

#[test]
fn bucket_defaults_from_config_or_environment_do_not_block_a_presigned_put() {
    // A config file (or S3SEAL_* variables) with posture and owner settings is for bucket
    // destinations; a URL destination has none, so they do not apply, and are not blamed on
    // flags nobody typed.
    let key = unique_key("url-config");
    let url = presigned_put_url(&key);
    let (dir, src) = source_file(1000, 73);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[default]\nposture = \"strict\"\nexpected_owner = \"123456789012\"\ntrusted_accounts = [\"210987654321\"]\n",
    )
    .unwrap();
    s3seal(Target::Moto)
        .env("S3SEAL_CONFIG", &config)
        .args(["put", src.to_str().unwrap(), &url])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .success();
    assert!(exists(&key));
    s3seal(Target::Moto)
        .env("S3SEAL_POSTURE", "strict")
        .args(["put", src.to_str().unwrap(), &url])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .success();
}

#[test]
fn presigned_put_url_without_signed_sse_is_refused() {
    let key = unique_key("url-no-sse");
    let url = presigned_put_without_sse(&key);
    let (_dir, src) = source_file(1000, 72);
    s3seal(Target::Moto)
        .args(["put", src.to_str().unwrap(), &url])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("x-amz-server-side-encryption"))
        .stderr(predicate::str::contains("s3seal presign --put"));
    assert!(!exists(&key), "an upload without SSE-KMS was stored");
}

#[test]
fn posture_enforce_names_unknown_checks_in_one_line() {
    // The s3s server implements none of the bucket-settings reads: every check is unknown.
    let key = unique_key("enforce-unknown");
    let (_dir, src) = source_file(1000, 73);
    let out = s3seal(Target::S3s)
        .args(["put", src.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("could not be read"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("policy-public") && lines[0].contains("--posture strict"),
        "{stderr}"
    );
    // Only that line for the unknown checks (no line per check), and it says why each is
    // unknown: the server does not answer them, and no owner was given to check.
    assert!(!stderr.contains("UNKNOWN"), "{stderr}");
    assert!(lines[0].contains("the server did not answer"), "{stderr}");
    assert!(lines[0].contains("--expected-owner"), "{stderr}");
    assert!(!lines[0].contains("no permission would settle"), "{stderr}");
}

#[test]
fn posture_strict_refuses_unknown_checks() {
    let key = unique_key("strict-unknown");
    let (_dir, src) = source_file(1000, 74);
    s3seal(Target::S3s)
        .args(["put", src.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_arn, "--posture", "strict"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("nothing was uploaded"));
    s3seal(Target::S3s)
        .args(["get", &s3_uri(&key), "-"])
        .assert()
        .failure();
}

// ---- Item 9: partial output on stdout ----

#[test]
fn buffer_to_temp_releases_nothing_when_the_last_chunk_is_tampered() {
    let key = unique_key("buffer-tampered");
    put_object(&key, 4 * 65536 + 100, 91);
    Store::moto().tamper(&key, |raw| {
        let last = raw.len() - 20;
        raw[last] ^= 1;
    });
    let out = s3seal(Target::Moto)
        .args(["get", &s3_uri(&key), "-", "--buffer-to-temp"])
        .args(["--concurrency", "1", "--part-size", "64KiB"])
        .assert()
        .code(3);
    assert!(
        out.get_output().stdout.is_empty(),
        "{} bytes reached stdout before the failure",
        out.get_output().stdout.len()
    );
    // The help says so.
    s3seal(Target::Moto)
        .args(["get", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("set -o pipefail"));
}

// ---- Item 3: HTTPS for every client and credential provider ----

/// A plain-HTTP listener that must never be contacted.
struct Tripwire(std::net::TcpListener);

impl Tripwire {
    fn new() -> Tripwire {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Tripwire(listener)
    }

    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }

    /// Panics if anyone connected (and says how many bytes they sent).
    fn assert_untouched(&self) {
        use std::io::Read;
        if let Ok((mut stream, _)) = self.0.accept() {
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_millis(500)))
                .unwrap();
            let mut buf = vec![0u8; 65536];
            let n = stream.read(&mut buf).unwrap_or(0);
            panic!(
                "the plain-HTTP listener was contacted ({n} bytes: {:?})",
                String::from_utf8_lossy(&buf[..n.min(200)])
            );
        }
    }
}

#[test]
fn sts_endpoint_over_http_is_refused_before_any_byte() {
    let wire = Tripwire::new();
    s3seal(Target::Moto)
        .env("AWS_ENDPOINT_URL_STS", wire.url())
        .args(["posture", &format!("s3://{}", env().bucket)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("AWS_ENDPOINT_URL_STS"));
    wire.assert_untouched();
    let key = unique_key("sts-http");
    let (_dir, src) = source_file(100, 31);
    s3seal(Target::Moto)
        .env("AWS_ENDPOINT_URL_STS", wire.url())
        .args(["put", src.to_str().unwrap(), &s3_uri(&key)])
        .args(["--kms-key-id", &env().kms_arn])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("only talks HTTPS"));
    wire.assert_untouched();
    assert!(!exists(&key));
    // Web identity: the bearer token would go to STS in clear.
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "secret-web-identity-token").unwrap();
    s3seal(Target::Moto)
        .env("AWS_ENDPOINT_URL_STS", wire.url())
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["get", &s3_uri(&key), "-"])
        .assert()
        .code(2);
    wire.assert_untouched();
}

#[test]
fn every_aws_endpoint_url_variable_must_be_https() {
    let wire = Tripwire::new();
    for var in ["AWS_ENDPOINT_URL_S3_CONTROL", "AWS_ENDPOINT_URL_SSO"] {
        s3seal(Target::Moto)
            .env(var, wire.url())
            .args(["posture", &format!("s3://{}", env().bucket)])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(var));
    }
    wire.assert_untouched();
}

/// A config file pointing one service of the profile at the tripwire.
fn config_with_service_endpoint(dir: &std::path::Path, service: &str, url: &str) -> String {
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "[default]\nregion = us-east-1\nservices = local\n\n[services local]\n{service} =\n  endpoint_url = {url}\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn profile_service_endpoint_over_http_is_a_usage_error() {
    let wire = Tripwire::new();
    let dir = tempfile::tempdir().unwrap();
    for service in ["s3", "kms", "sts"] {
        let config = config_with_service_endpoint(dir.path(), service, &wire.url());
        // Only the tripwire is configured for this service: nothing overrides it.
        let mut cmd = s3seal(Target::Moto);
        cmd.env("AWS_CONFIG_FILE", &config)
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_ENDPOINT_URL_S3", &env().moto)
            .env("AWS_ENDPOINT_URL_KMS", &env().moto);
        if service != "sts" {
            cmd.env_remove(format!("AWS_ENDPOINT_URL_{}", service.to_uppercase()));
        }
        cmd.args(["get", &s3_uri("no/such/key"), "-"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("services local"));
    }
    wire.assert_untouched();
}

#[test]
fn assume_role_profile_with_http_sts_endpoint_sends_nothing() {
    let wire = Tripwire::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\naws_access_key_id = test\naws_secret_access_key = test\n\n\
             [profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n\
             region = us-east-1\nservices = local\n\n[services local]\nsts =\n  endpoint_url = {}\n",
            wire.url()
        ),
    )
    .unwrap();
    s3seal(Target::Moto)
        .env("AWS_CONFIG_FILE", &config)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "--profile",
            "role",
            "posture",
            &format!("s3://{}", env().bucket),
        ])
        .assert()
        .code(2);
    wire.assert_untouched();
}

// ---- Item 5: signals and leftovers ----

/// A `get` of a 3 MiB object into a fresh directory whose ranged GETs after the first one
/// hang, so the download is surely in flight (its temporary file open) when the test strikes.
struct StalledGet {
    child: std::process::Child,
    dir: tempfile::TempDir,
    stderr: std::path::PathBuf,
    _proxy: proxy::Proxy,
}

impl StalledGet {
    fn start(name: &str) -> StalledGet {
        use proxy::{Dir, Fault, Match, Proxy, Rule};
        use std::time::{Duration, Instant};
        let key = unique_key(name);
        put_object(&key, 3 << 20, 51);
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
        let mut cmd = std_s3seal();
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().with_extension("stderr");
        let child = cmd
            .env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
            .args(["get", &s3_uri(&key)])
            .arg(dir.path().join("out.bin"))
            .args(["--part-size", "1MiB", "--concurrency", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while proxy.fired() == 0 {
            assert!(start.elapsed() < Duration::from_secs(60), "never stalled");
            std::thread::sleep(Duration::from_millis(50));
        }
        StalledGet {
            child,
            dir,
            stderr,
            _proxy: proxy,
        }
    }

    fn signal(&self, sig: &str) {
        std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    /// Waits for the exit; returns its code (None: killed by a signal) and stderr.
    fn wait(&mut self) -> (Option<i32>, String) {
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > std::time::Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("s3seal did not stop");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let _ = std::fs::remove_file(&self.stderr);
        (status.code(), stderr)
    }

    /// Whether the process holds a nameless (`O_TMPFILE`) file open in the destination
    /// directory (`/proc/PID/fd` shows it as `DIR/#INODE (deleted)`).
    fn holds_anonymous_file(&self) -> bool {
        let dir = self.dir.path().canonicalize().unwrap();
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())) else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                target.parent() == Some(dir.as_path())
                    && target.to_string_lossy().ends_with("(deleted)")
            })
        })
    }

    /// Every name in the destination directory, hidden ones included.
    fn left_behind(&self) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }
}

#[test]
fn sigterm_and_sighup_during_get_exit_128_plus_signal_and_leave_nothing() {
    for (sig, code) in [("TERM", 143), ("HUP", 129)] {
        let mut get = StalledGet::start("sigterm");
        // The temporary file is open now; on Linux it has no name at all.
        get.signal(sig);
        let (status, stderr) = get.wait();
        assert_eq!(status, Some(code), "SIG{sig}: {stderr}");
        assert!(
            get.left_behind().is_empty(),
            "SIG{sig} left {:?}",
            get.left_behind()
        );
    }
}

#[test]
fn a_second_sigterm_exits_at_once_and_leaves_nothing() {
    let mut get = StalledGet::start("sigterm-twice");
    get.signal("TERM");
    get.signal("TERM");
    let (status, stderr) = get.wait();
    assert!(matches!(status, Some(143)), "{stderr}");
    assert!(get.left_behind().is_empty(), "{:?}", get.left_behind());
}

#[test]
fn sigterm_during_a_multipart_upload_aborts_it_and_exits_143() {
    use std::io::Write;
    let key = unique_key("sigterm-put");
    let mut child = std_s3seal()
        .args(["put", "-", &s3_uri(&key), "--kms-key-id", &env().kms_arn])
        .args(["--part-size", "5MiB", "--posture", "off"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Two and a half parts, then the pipe stays open: the upload is mid-flight.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data(13 << 20, 3)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = rt.block_on(moto_aws());
    let uploads = || {
        rt.block_on(async {
            let list = aws.s3.list_multipart_uploads().bucket(&env().bucket);
            list.prefix(&key).send().await.unwrap().uploads().len()
        })
    };
    let start = std::time::Instant::now();
    while uploads() == 0 {
        assert!(
            start.elapsed().as_secs() < 30,
            "multipart upload never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(143));
    assert_eq!(uploads(), 0, "the multipart upload was not aborted");
    assert!(!exists(&key));
}

#[cfg(target_os = "linux")]
#[test]
fn sigkill_during_get_leaves_no_visible_temp_file() {
    let mut get = StalledGet::start("sigkill");
    assert!(
        !get.left_behind().is_empty() || get.holds_anonymous_file(),
        "no temporary file while the download runs"
    );
    get.signal("KILL");
    let (status, _) = get.wait();
    assert_eq!(status, None, "killed by the signal");
    assert!(
        get.left_behind().is_empty(),
        "SIGKILL left {:?}",
        get.left_behind()
    );
}

// ---- Item 6: hostile servers and hostile bytes ----

/// An HTTPS server (the test CA's server certificate) that ignores `Range` and answers every
/// GET with 200 and a 3 GiB body, generated as it is sent. Counts the body bytes it managed to
/// send.
struct RangeIgnoringServer {
    addr: std::net::SocketAddr,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

const HOSTILE_BODY: u64 = 3 << 30;

impl RangeIgnoringServer {
    fn start() -> RangeIgnoringServer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;
        let dir = env().ca.parent().unwrap().to_path_buf();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.join("server.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        runtime.spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), Arc::clone(&counter));
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(conn).await {
                        let _ = serve_huge_body(tls, counter).await;
                    }
                });
            }
        });
        RangeIgnoringServer {
            addr,
            sent,
            runtime: Some(runtime),
        }
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for RangeIgnoringServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve_huge_body(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {HOSTILE_BODY}\r\nContent-Type: application/octet-stream\r\n\
         ETag: \"hostile\"\r\nLast-Modified: Mon, 30 Nov 2026 00:00:00 GMT\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(answer.as_bytes()).await?;
    if head.starts_with(b"HEAD") {
        return Ok(());
    }
    let chunk = vec![b'Z'; 1 << 16];
    let mut left = HOSTILE_BODY;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        tls.write_all(&chunk[..n]).await?;
        sent.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
        left -= n as u64;
    }
    tls.shutdown().await
}

/// Runs s3seal with `args` (and `env`) to the end, sampling its peak RSS (VmHWM) as it runs.
/// Returns the exit code, stderr and the highest VmHWM seen, in bytes.
fn run_measuring_peak_rss(
    env_vars: &[(&str, String)], args: &[&str],
) -> (Option<i32>, String, u64) {
    let mut cmd = std_s3seal();
    for (k, v) in env_vars {
        cmd.env(k, v);
    }
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let start = std::time::Instant::now();
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak = peak.max(kib * 1024);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("s3seal kept reading the endless body");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let stderr = std::fs::read_to_string(err.path()).unwrap_or_default();
    (status.code(), stderr, peak)
}

#[cfg(target_os = "linux")]
#[test]
fn server_ignoring_range_with_a_3_gib_body_does_not_drive_memory_up() {
    const LIMIT: u64 = 128 << 20;
    let server = RangeIgnoringServer::start();
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out.bin");
    // As the S3 endpoint (the SDK reader, S3EC probe included)...
    let (code, stderr, peak) = run_measuring_peak_rss(
        &[("AWS_ENDPOINT_URL_S3", server.endpoint())],
        &["get", "s3://bucket/key", dst.to_str().unwrap()],
    );
    eprintln!("exit {code:?}, peak RSS {peak}: {stderr}");
    assert!(matches!(code, Some(1 | 3)), "exit {code:?}: {stderr}");
    assert!(stderr.contains("error"), "{stderr}");
    assert!(peak > 0 && peak < LIMIT, "peak RSS {peak} bytes: {stderr}");
    // ... and behind a presigned-style URL (the URL reader).
    let url = format!(
        "{}/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
        server.endpoint()
    );
    let (code, stderr, peak) = run_measuring_peak_rss(&[], &["get", &url, dst.to_str().unwrap()]);
    eprintln!("exit {code:?}, peak RSS {peak}: {stderr}");
    assert!(matches!(code, Some(1 | 3)), "exit {code:?}: {stderr}");
    assert!(peak > 0 && peak < LIMIT, "peak RSS {peak} bytes: {stderr}");
    assert!(!dst.exists());
    assert!(
        server.sent() < 1 << 30,
        "s3seal read {} bytes of the body",
        server.sent()
    );
}

/// A terminal attack: retitle the window, erase the line, return to column 0.
const TERMINAL_ATTACK: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2K\r";

fn assert_no_terminal_controls(what: &str, text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' || c == '\u{7f}'),
        "{what} printed raw control characters: {text:?}"
    );
    assert!(
        text.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2K\\u{d}"),
        "{what}: {text:?}"
    );
}

#[test]
fn hostile_key_id_in_a_header_is_printed_escaped_by_inspect_and_get() {
    let key = unique_key("terminal-attack");
    put_object(&key, 1000, 61);
    // Same length as the ARN, so the header keeps its layout (the MAC no longer matches,
    // which is only found after KMS; inspect and KMS see the crafted id first).
    let arn = env().kms_arn.as_bytes();
    let mut hostile = format!("arn:{TERMINAL_ATTACK}").into_bytes();
    hostile.resize(arn.len(), b'x');
    Store::moto().tamper(&key, |raw| {
        let at = raw
            .windows(arn.len())
            .position(|w| w == arn)
            .expect("the key ARN is in the header");
        raw[at..at + arn.len()].copy_from_slice(&hostile);
    });
    let out = s3seal(Target::Moto)
        .args(["inspect", &s3_uri(&key)])
        .assert()
        .success();
    assert_no_terminal_controls(
        "inspect",
        &String::from_utf8_lossy(&out.get_output().stdout),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = s3seal(Target::Moto)
        .args(["get", &s3_uri(&key)])
        .arg(dir.path().join("out"))
        .assert()
        .failure();
    assert_no_terminal_controls(
        "get's error",
        &String::from_utf8_lossy(&out.get_output().stderr),
    );
}

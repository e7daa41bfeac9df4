//! The randomized fault run: seeded trials, each a `put` through a random fault (connection
//! reset, stall, 503/500, KMS throttling; one in five permanent) and, if it stored the object, a
//! `get` through another. Every trial must end byte-identical, or failed with exit 1 and nothing
//! left behind (no object, no open multipart upload, no file). A trial is replayed from its
//! seed. The long run is the ignored test `chaos` (scripts/chaos.sh); `chaos_smoke` runs a few
//! trials in the normal suite. The fixed scenarios are in e2e_faults.rs. One test checks the
//! proxy itself: with no fault, it delivers every body whole.

mod common;

use std::time::Instant;

use common::files::leftovers;
use common::proxy::{Dir, Fault, Match, Proxy, Rule, S3Op};
use common::route::{FOREVER, MIB, Route, cmd, get_direct, put_args, write_src};
use common::store::Store;
use common::{data, env, s3_uri, unique_key};

/// A small reproducible generator (xorshift64*), so a trial is replayed from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
}

/// Which layer a trial's fault lives in.
enum Layer {
    None,
    Tcp(Rule),
    S3(Rule),
    Kms(Rule),
}

impl Layer {
    fn describe(&self) -> String {
        match self {
            Layer::None => "no fault".into(),
            Layer::Tcp(r) => format!("tcp {:?} x{}", r.fault, r.times),
            Layer::S3(r) => format!("s3 {:?} {:?} x{}", r.matcher, r.fault, r.times),
            Layer::Kms(r) => format!("kms {:?} {:?} x{}", r.matcher, r.fault, r.times),
        }
    }

    /// Whether the fault fires a limited number of times (or there is none): then the SDK's
    /// and s3seal's retries must carry the transfer through, and only exit 0 passes.
    fn transient(&self) -> bool {
        match self {
            Layer::None => true,
            Layer::Tcp(r) | Layer::S3(r) | Layer::Kms(r) => r.times != u32::MAX,
        }
    }

    /// Starts the proxy this fault needs.
    fn proxy(self) -> (Option<Proxy>, Option<Proxy>) {
        match self {
            Layer::None => (None, None),
            Layer::Tcp(r) => (Some(Proxy::tcp(&env().moto, vec![r])), None),
            Layer::S3(r) => (Some(Proxy::http(&env().moto, &env().ca, vec![r])), None),
            Layer::Kms(r) => (None, Some(Proxy::http(&env().moto, &env().ca, vec![r]))),
        }
    }
}

fn times(rng: &mut Rng) -> u32 {
    // One trial in five is a permanent fault.
    if rng.below(5) == 0 {
        u32::MAX
    } else {
        1 + rng.below(2) as u32
    }
}

fn http_error(rng: &mut Rng) -> Fault {
    rng.pick(&[Fault::s3(503, "SlowDown"), Fault::s3(500, "InternalError")])
}

/// A TCP-layer fault on every S3 connection.
fn tcp(fault: Fault, times: u32) -> Layer {
    Layer::Tcp(Rule::new(Match::any(), fault, times))
}

/// An HTTP-layer fault on the S3 requests `matcher` picks.
fn s3(matcher: Match, fault: Fault, times: u32) -> Layer {
    Layer::S3(Rule::new(matcher, fault, times))
}

/// KMS throttling of `operation`.
fn kms(operation: &str, times: u32) -> Layer {
    Layer::Kms(Rule::new(
        Match::kms(operation),
        Fault::kms_throttling(),
        times,
    ))
}

// The draws below happen in argument order: keep it, so a seed replays the same trial.

fn put_fault(rng: &mut Rng, len: usize) -> Layer {
    let ops = [
        S3Op::UploadPart,
        S3Op::CompleteMultipart,
        S3Op::CreateMultipart,
        S3Op::PutObject,
    ]
    .map(Match::s3);
    let (up, down) = (Dir::Up, Dir::Down);
    match rng.below(6) {
        0 => Layer::None,
        1 => tcp(Fault::reset(up, rng.below(len as u64 + 4096)), times(rng)),
        2 => tcp(Fault::reset(down, rng.below(2000)), times(rng)),
        3 => s3(rng.pick(&ops), http_error(rng), times(rng)),
        4 => s3(rng.pick(&ops), Fault::stall(down, 0, FOREVER), 1),
        _ => kms("GenerateDataKey", times(rng)),
    }
}

fn get_fault(rng: &mut Rng, len: usize) -> Layer {
    let any_get = [Match::get_object(), Match::later_get_object()];
    let down = Dir::Down;
    match rng.below(6) {
        0 => Layer::None,
        1 => tcp(Fault::reset(down, rng.below(len as u64 + 8192)), times(rng)),
        2 => s3(rng.pick(&any_get), http_error(rng), times(rng)),
        3 => {
            let reset = Fault::reset(down, rng.below(MIB as u64));
            s3(Match::later_get_object(), reset, times(rng))
        }
        4 => {
            let stall = Fault::stall(down, rng.below(MIB as u64 / 2), FOREVER);
            s3(Match::get_object(), stall, 1)
        }
        _ => kms("Decrypt", times(rng)),
    }
}

#[derive(Default, Debug)]
struct Tally {
    trials: u32,
    put_ok: u32,
    put_failed_clean: u32,
    /// Of those, how many had every answer to their last request lost after S3 stored the
    /// (intact) object.
    put_failed_but_stored_intact: u32,
    get_ok: u32,
    get_failed_clean: u32,
    faults_fired: u32,
    violations: Vec<String>,
}

/// A trial's object, drawn first from its seed: (generator for the rest, length, chunk size).
fn object(seed: u64) -> (Rng, usize, &'static str) {
    let mut rng = Rng::new(seed);
    let len = rng.pick(&[0usize, 1, 65_536, 300_000, 5 * MIB + 3, 11 * MIB + 17])
        + rng.below(1000) as usize;
    let chunk = rng.pick(&["64KiB", "1MiB"]);
    (rng, len, chunk)
}

/// How one command of a trial ended.
enum Ended {
    Ok,
    /// Exit 1 with a message, after a permanent fault.
    FailedClean,
    /// Anything else (recorded as a violation).
    Wrong,
}

/// Runs `cmd` with its S3 or KMS traffic through `fault` (described by `what`), counts the
/// faults that fired, and judges the exit: 0 passes; exit 1 with "s3seal: error:" passes only
/// after a permanent fault; anything else is a violation.
fn run_through(fault: Layer, what: &str, args: &[&str], tally: &mut Tally) -> Ended {
    eprintln!("  {what}");
    let transient = fault.transient();
    let (s3, kms) = fault.proxy();
    let route = Route {
        s3: s3.as_ref(),
        kms: kms.as_ref(),
    };
    let out = cmd(&route)
        .env("S3SEAL_READ_TIMEOUT", "2")
        .args(args)
        .output()
        .unwrap();
    tally.faults_fired +=
        s3.as_ref().map_or(0, Proxy::fired) + kms.as_ref().map_or(0, Proxy::fired);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ended::Ok,
        Some(1) if stderr.contains("s3seal: error:") && !transient => Ended::FailedClean,
        code => {
            let why = if transient {
                "transient faults only, yet "
            } else {
                ""
            };
            tally
                .violations
                .push(format!("{what}: {why}exit {code:?}: {stderr}"));
            Ended::Wrong
        }
    }
}

/// One trial: a put through a random fault, then (if stored) a get through another.
fn trial(seed: u64, tally: &mut Tally) {
    let store = Store::moto();
    let (mut rng, len, chunk) = object(seed);
    let plain = data(len, seed);
    let key = unique_key(&format!("chaos-{seed}"));
    let dir = tempfile::tempdir().unwrap();
    let src = write_src(dir.path(), &plain);
    let fault = put_fault(&mut rng, len);
    let what = format!(
        "seed {seed}: put {len} bytes, chunk {chunk}, {}",
        fault.describe()
    );
    let uri = s3_uri(&key);
    let mut put = put_args(src.to_str().unwrap(), &uri);
    put.extend(["--chunk-size", chunk]);
    let stored = match run_through(fault, &what, &put, tally) {
        Ended::Ok => {
            if get_direct(&key) != plain {
                tally
                    .violations
                    .push(format!("{what}: stored bytes differ"));
            }
            tally.put_ok += 1;
            true
        }
        Ended::FailedClean => {
            if store.exists(&key) {
                // Every answer to the final request was lost: S3 stored the object but s3seal
                // cannot know. Acceptable only if what is stored is the whole, right object.
                if get_direct(&key) == plain {
                    tally.put_failed_but_stored_intact += 1;
                } else {
                    tally
                        .violations
                        .push(format!("{what}: failed and stored a wrong object"));
                }
                store.delete(&key);
            }
            tally.put_failed_clean += 1;
            false
        }
        Ended::Wrong => false,
    };
    if store.open_uploads(&key) != 0 {
        tally
            .violations
            .push(format!("{what}: multipart upload left open"));
        store.abort_all(&key);
    }
    if stored {
        let fault = get_fault(&mut rng, len);
        let what = format!("seed {seed}: get {len} bytes, {}", fault.describe());
        let out_dir = tempfile::tempdir().unwrap();
        let dst = out_dir.path().join("out.bin");
        let unit = rng.pick(&["1MiB", "5MiB"]);
        let get = [
            "get",
            &uri,
            dst.to_str().unwrap(),
            "--quiet",
            "--part-size",
            unit,
        ];
        match run_through(fault, &what, &get, tally) {
            Ended::Ok => {
                if std::fs::read(&dst).ok().as_deref() != Some(&plain[..]) {
                    tally.violations.push(format!("{what}: bytes differ"));
                }
                if !leftovers(out_dir.path(), "out.bin").is_empty() {
                    tally.violations.push(format!("{what}: files left behind"));
                }
                tally.get_ok += 1;
            }
            Ended::FailedClean => {
                if !leftovers(out_dir.path(), "").is_empty() {
                    tally
                        .violations
                        .push(format!("{what}: failed but left files behind"));
                }
                tally.get_failed_clean += 1;
            }
            Ended::Wrong => {}
        }
        store.delete(&key);
    }
    tally.trials += 1;
}
/// At least 100 seeded trials (S3SEAL_CHAOS_TRIALS, S3SEAL_CHAOS_SEED); every one must end
/// byte-identical or cleanly failed with nothing left behind. scripts/chaos.sh runs it.
#[test]
#[ignore = "long randomized run: scripts/chaos.sh"]
fn chaos() {
    let trials: u64 = std::env::var("S3SEAL_CHAOS_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let base: u64 = std::env::var("S3SEAL_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut tally = Tally::default();
    let start = Instant::now();
    for i in 0..trials {
        let seed = base * 1_000_000 + i;
        let before = tally.violations.len();
        trial(seed, &mut tally);
        eprintln!(
            "chaos: trial {}/{trials} seed {seed}: {}",
            i + 1,
            if tally.violations.len() == before {
                "ok"
            } else {
                "VIOLATION"
            }
        );
    }
    let summary = format!(
        "chaos: {} trials (seeds {}..{}) in {:.0} s: put {} ok / {} failed cleanly ({} of them \
         after S3 had stored the intact object); get {} ok / {} failed cleanly; {} faults \
         fired; {} violations",
        tally.trials,
        base * 1_000_000,
        base * 1_000_000 + trials - 1,
        start.elapsed().as_secs_f64(),
        tally.put_ok,
        tally.put_failed_clean,
        tally.put_failed_but_stored_intact,
        tally.get_ok,
        tally.get_failed_clean,
        tally.faults_fired,
        tally.violations.len()
    );
    eprintln!("{summary}");
    for v in &tally.violations {
        eprintln!("  {v}");
    }
    if let Ok(path) = std::env::var("S3SEAL_CHAOS_REPORT") {
        let mut text = format!("{summary}\n");
        for v in &tally.violations {
            text.push_str(&format!("  {v}\n"));
        }
        std::fs::write(path, text).unwrap();
    }
    assert!(tally.violations.is_empty(), "{summary}");
    assert!(tally.faults_fired > 0, "no fault fired: {summary}");
}

/// A short real chaos run in the normal suite (well under a minute): seeds whose objects are
/// multipart (5 MiB parts) and whose faults hit them: a TCP reset inside a part, 500s on
/// UploadPart, a stalled CompleteMultipartUpload, KMS throttling (twice, and for ever: a put
/// that fails cleanly), 500s on CreateMultipartUpload; then stalled, reset and permanently
/// failing GETs. Every trial must pass and fire at least one fault.
#[test]
fn chaos_smoke() {
    let seeds = [26, 114, 60, 71, 87, 22];
    let mut tally = Tally::default();
    let start = Instant::now();
    for seed in seeds {
        let (_, len, _) = object(seed);
        assert!(len > 5 * MIB, "seed {seed}: {len} bytes is a single PUT");
        let fired = tally.faults_fired;
        trial(seed, &mut tally);
        assert!(tally.faults_fired > fired, "seed {seed}: no fault fired");
        eprintln!("chaos_smoke: seed {seed} done at {:?}", start.elapsed());
    }
    assert_eq!(tally.trials, seeds.len() as u32);
    assert!(tally.violations.is_empty(), "{:#?}", tally.violations);
    eprintln!("chaos_smoke: {tally:?}");
}

/// The proxy every trial goes through must not lose bytes when no fault fires.
///
/// A TLS write may keep in its own buffer what did not fit in a full socket, and return as if it
/// had written it. Before the proxy flushed every write, the last piece of a request body could
/// stay there: the server waited for it while the client waited for the answer (a resumable
/// upload hung this way in CI). This server does not read a body until the client has sent it
/// all, so the proxy's last write meets a full socket; the body sizes step through the range
/// where what is left over fits in that buffer. Without the flush, 4 to 5 of these bodies hung
/// in each of three runs.
#[test]
fn the_proxy_delivers_every_body_to_a_server_that_reads_it_late() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::Notify;
    const STEP: usize = 16 * 1024;
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A small receive buffer, so that the socket to this server fills after a few pieces.
    let listener = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(STEP as u32).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(8).unwrap()
    });
    let upstream = format!("https://{}", listener.local_addr().unwrap());
    let proxy = Proxy::http(&upstream, &env().ca, vec![]);
    let (acceptor, connector) = (
        common::proxy::tls_acceptor(&env().ca),
        common::proxy::tls_connector(&env().ca),
    );
    let received = Arc::new(AtomicUsize::new(0));
    let sent_all = Arc::new(Notify::new());
    let (got, sent) = (Arc::clone(&received), Arc::clone(&sent_all));
    let server = async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let (head, rest) = common::proxy::read_head(&mut tls).await.unwrap();
            let len: usize = common::proxy::RequestHead::parse(&head)
                .and_then(|h| h.header("content-length")?.parse().ok())
                .expect("a content-length");
            sent.notified().await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let mut buf = vec![0u8; STEP];
            let mut n = rest.len();
            while n < len {
                got.store(n, Ordering::SeqCst);
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(more) => n += more,
                }
            }
            got.store(n, Ordering::SeqCst);
            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            tls.write_all(ok).await.unwrap();
            tls.shutdown().await.unwrap();
        }
    };
    rt.spawn(server);
    // The socket fills at about the kernel's largest send buffer: step through the sizes
    // just below it (here 3.7 to 3.8 MiB of 4 MiB hung before the fix, in every run).
    let wmem: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 * MIB);
    for i in wmem * 88 / 100 / STEP..=wmem / STEP + 2 {
        let len = i * STEP;
        let body = data(len, i as u64);
        let answer = rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            let head =
                format!("PUT /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len}\r\n\r\n");
            tls.write_all(head.as_bytes()).await.unwrap();
            tls.write_all(&body).await.unwrap();
            tls.flush().await.unwrap();
            sent_all.notify_one();
            let mut answer = Vec::new();
            let wait = std::time::Duration::from_secs(10);
            let read = tokio::time::timeout(wait, tls.read_to_end(&mut answer)).await;
            read.is_ok().then_some(answer)
        });
        let got = received.load(Ordering::SeqCst);
        let answer = answer
            .unwrap_or_else(|| panic!("no answer to a body of {len} bytes: the server got {got}"));
        assert_eq!(got, len, "the server got {got} of {len} bytes");
        assert!(answer.starts_with(b"HTTP/1.1 200 OK"), "{answer:?}");
    }
    drop(proxy);
}

//! A fault-injecting proxy the fault tests put between `s3seal` and a real server, so that
//! resets, stalls and error answers happen on a real network path rather than in a mock.
//!
//! Two layers, chosen per proxy:
//! - [`Proxy::tcp`] passes bytes through untouched (TLS stays end to end; the proxy sees only
//!   ciphertext) and injects transport faults: reset the connection (RST) after N bytes in one
//!   direction, or stop forwarding for a while.
//! - [`Proxy::http`] is an HTTPS server with the test CA's server certificate
//!   (`.local-aws/tls/server.pem`): it reads each request's head, and either answers with an
//!   error the real services send (503 SlowDown, 500 InternalError, KMS ThrottlingException) or
//!   forwards the request byte for byte to the real server (the Host header is kept, so SigV4
//!   still verifies), optionally resetting or stalling the answer. One request per connection
//!   (`Connection: close`), so no HTTP framing has to be rewritten.
//!
//! Every rule has a budget (`times`): a transient fault fires a few times, a permanent one
//! (`u32::MAX`) always. [`Proxy::fired`] tells how often faults fired, so a test can check that
//! the fault it is about really happened.

#![allow(dead_code)]

mod rules;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

#[allow(unused_imports)] // not every test binary uses every name
pub use rules::{AwsError, Dir, Fault, Match, Rule, S3Op};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Shared {
    rules: Mutex<Vec<Rule>>,
    fired: AtomicU32,
    log: Mutex<Vec<String>>,
    bodies: Mutex<Vec<Body>>,
}

/// A request body the HTTP layer saw in full (forwarded, or drained before an injected answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub method: String,
    pub target: String,
    pub len: u64,
    /// FNV-1a of the bytes as sent (with any aws-chunked framing).
    pub hash: u64,
}

/// FNV-1a, streaming.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Shared {
    /// Takes one firing of the first rule that `pick` accepts and that has budget left.
    fn take(&self, pick: impl Fn(&Rule) -> bool) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| r.times > 0 && pick(r))?;
        if rule.times != u32::MAX {
            rule.times -= 1;
        }
        self.fired.fetch_add(1, Ordering::SeqCst);
        Some(rule.fault.clone())
    }

    fn record_body(&self, head: &RequestHead, len: u64, hash: u64) {
        self.bodies.lock().unwrap().push(Body {
            method: head.method.clone(),
            target: head.target.clone(),
            len,
            hash,
        });
    }

    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// `https://127.0.0.1:PORT` -> `127.0.0.1:PORT`.
fn host_port(endpoint: &str) -> String {
    endpoint
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

impl Proxy {
    fn start<F, Fut>(rules: Vec<Rule>, serve: F) -> Proxy
    where
        F: Fn(TcpStream, Arc<Shared>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared {
            rules: Mutex::new(rules),
            fired: AtomicU32::new(0),
            log: Mutex::new(Vec::new()),
            bodies: Mutex::new(Vec::new()),
        });
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let s = Arc::clone(&shared);
        runtime.spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, Arc::clone(&s)));
            }
        });
        Proxy {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// A TLS-passthrough TCP proxy to `upstream` (`https://HOST:PORT`).
    pub fn tcp(upstream: &str, rules: Vec<Rule>) -> Proxy {
        let upstream = host_port(upstream);
        Proxy::start(rules, move |client, shared| {
            let upstream = upstream.clone();
            async move {
                if let Ok(server) = TcpStream::connect(&upstream).await {
                    let _ = pump_tcp(client, server, shared).await;
                }
            }
        })
    }

    /// An HTTPS fault server forwarding to `upstream` (`https://HOST:PORT`), with the test
    /// CA's server certificate from the directory of `ca` (the CA file itself).
    pub fn http(upstream: &str, ca: &Path, rules: Vec<Rule>) -> Proxy {
        let acceptor = tls_acceptor(ca);
        let connector = tls_connector(ca);
        let upstream = host_port(upstream);
        Proxy::start(rules, move |client, shared| {
            let acceptor = acceptor.clone();
            let connector = connector.clone();
            let upstream = upstream.clone();
            async move {
                let _ = serve_http(client, acceptor, connector, upstream, shared).await;
            }
        })
    }

    /// `https://127.0.0.1:PORT`, for AWS_ENDPOINT_URL*.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// How many faults fired so far.
    pub fn fired(&self) -> u32 {
        self.shared.fired.load(Ordering::SeqCst)
    }

    /// HTTP layer: one line per request, `METHOD target -> what happened`.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// HTTP layer: every request body seen in full, in arrival order.
    pub fn bodies(&self) -> Vec<Body> {
        self.shared.bodies.lock().unwrap().clone()
    }

    /// Replaces the rules (e.g. to heal a permanent fault).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().unwrap() = rules;
    }
}

/// A TLS acceptor with the test CA's server certificate (from the directory of `ca`), for
/// servers a test plays itself.
pub fn tls_acceptor(ca: &Path) -> tokio_rustls::TlsAcceptor {
    let dir = ca.parent().expect("CA file has a directory");
    tokio_rustls::TlsAcceptor::from(Arc::new(server_config(dir)))
}

/// A TLS connector that trusts the test CA only.
pub fn tls_connector(ca: &Path) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(client_config(ca)))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn server_config(dir: &Path) -> rustls::ServerConfig {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("server.pem")
        .collect::<Result<_, _>>()
        .expect("server.pem certificates");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

fn client_config(ca: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA certificate")).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Counts bytes one way on one connection and decides what the next bytes meet.
struct Meter {
    dir: Dir,
    passed: u64,
}

enum Step {
    /// Forward `n` bytes, then apply the fault.
    Fault(usize, Fault),
    Forward,
}

impl Meter {
    fn new(dir: Dir) -> Meter {
        Meter { dir, passed: 0 }
    }

    fn step(&mut self, n: usize, shared: &Shared, http: Option<&RequestHead>) -> Step {
        let (dir, passed) = (self.dir, self.passed);
        let end = passed + n as u64;
        let hit = shared.take(|r| {
            let applies = http.is_none_or(|h| r.matcher.matches(h));
            applies
                && match r.fault {
                    Fault::Reset { dir: d, after } | Fault::Stall { dir: d, after, .. } => {
                        d == dir && after >= passed && after < end.max(passed + 1)
                    }
                    Fault::Respond { .. } => false,
                }
        });
        self.passed = end;
        match hit {
            Some(fault) => {
                let after = match fault {
                    Fault::Reset { after, .. } | Fault::Stall { after, .. } => after,
                    Fault::Respond { .. } => unreachable!(),
                };
                Step::Fault((after - passed) as usize, fault)
            }
            None => Step::Forward,
        }
    }
}

/// Sends RST instead of FIN when the socket is dropped.
fn arm_reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn pump_tcp(mut client: TcpStream, mut server: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut up, mut down) = (Meter::new(Dir::Up), Meter::new(Dir::Down));
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut ubuf = vec![0u8; 16 * 1024];
    let mut dbuf = vec![0u8; 16 * 1024];
    let (mut up_open, mut down_open) = (true, true);
    let reset = loop {
        if !up_open && !down_open {
            break false;
        }
        tokio::select! {
            r = cr.read(&mut ubuf), if up_open => match r {
                Ok(0) | Err(_) => { up_open = false; let _ = sw.shutdown().await; }
                Ok(n) => if let Some(reset) = verdict(forward(&mut up, &ubuf[..n], &mut sw, &shared, None).await) { break reset },
            },
            r = sr.read(&mut dbuf), if down_open => match r {
                Ok(0) | Err(_) => { down_open = false; let _ = cw.shutdown().await; }
                Ok(n) => if let Some(reset) = verdict(forward(&mut down, &dbuf[..n], &mut cw, &shared, None).await) { break reset },
            },
        }
    };
    if reset {
        arm_reset(cr.as_ref());
        arm_reset(sr.as_ref());
    }
}

/// What a forwarded chunk means for the connection: `None` carry on, `Some(reset)` stop, and
/// whether to reset it.
fn verdict(forwarded: std::io::Result<bool>) -> Option<bool> {
    match forwarded {
        Ok(true) => None,
        Ok(false) => Some(true),
        Err(_) => Some(false),
    }
}

/// Writes `data` on, applying a fault that falls in it. `Ok(false)`: reset the connection.
///
/// Every write is flushed: a TLS stream's `write` may keep bytes in its buffer when the socket
/// is full, and the last piece of a request body left there would never reach the server,
/// which then waits for it while the client waits for the answer.
async fn forward<W: AsyncWrite + Unpin>(
    meter: &mut Meter, data: &[u8], out: &mut W, shared: &Shared, http: Option<&RequestHead>,
) -> std::io::Result<bool> {
    match meter.step(data.len(), shared, http) {
        Step::Forward => {
            out.write_all(data).await?;
            out.flush().await?;
            Ok(true)
        }
        Step::Fault(k, fault) => {
            out.write_all(&data[..k]).await?;
            out.flush().await?;
            match fault {
                Fault::Reset { .. } => {
                    if let Some(h) = http {
                        shared.note(format!("{} {} -> reset after {k}", h.method, h.target));
                    }
                    Ok(false)
                }
                Fault::Stall { pause, .. } => {
                    if let Some(h) = http {
                        shared.note(format!("{} {} -> stall {pause:?}", h.method, h.target));
                    }
                    tokio::time::sleep(pause).await;
                    out.write_all(&data[k..]).await?;
                    out.flush().await?;
                    Ok(true)
                }
                Fault::Respond { .. } => unreachable!(),
            }
        }
    }
}

/// The parts of a request head the rules look at.
#[derive(Debug)]
pub struct RequestHead {
    method: String,
    target: String,
    /// (lower-case name, value)
    headers: Vec<(String, String)>,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn parse(bytes: &[u8]) -> Option<RequestHead> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let method = first.next()?.to_string();
        let target = first.next()?.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some(RequestHead {
            method,
            target,
            headers,
        })
    }
}

/// Reads until the end of the head (`\r\n\r\n`); returns the head and any bytes after it.
pub async fn read_head<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(pos + 4);
            return Ok((buf, rest));
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn error_response(status: u16, error: AwsError, head: &RequestHead) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let (content_type, extra, body) = match error {
        AwsError::S3(code) => (
            "application/xml",
            String::new(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected by the s3seal fault proxy</Message>\
                 <RequestId>FAULTPROXY</RequestId></Error>"
            ),
        ),
        AwsError::Kms(code) => (
            "application/x-amz-json-1.1",
            format!("x-amzn-ErrorType: {code}\r\n"),
            format!("{{\"__type\":\"{code}\",\"message\":\"injected by the s3seal fault proxy\"}}"),
        ),
    };
    let body = if head.method == "HEAD" {
        String::new()
    } else {
        body
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         x-amz-request-id: FAULTPROXY\r\nx-amzn-RequestId: FAULTPROXY\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Discards a request body the fault server answers itself (so the client reads the answer
/// instead of a reset): Content-Length bodies, or chunked bodies up to their last chunk.
async fn drain_body<R: AsyncRead + Unpin>(
    r: &mut R, head: &RequestHead, already: Vec<u8>,
) -> std::io::Result<Option<(u64, u64)>> {
    let mut hash = Fnv::new();
    hash.update(&already);
    let mut len = already.len() as u64;
    let complete = drain_body_inner(r, head, already, &mut hash, &mut len).await?;
    Ok(complete.then_some((len, hash.0)))
}

/// Reads the body on; true when it was read to its end.
async fn drain_body_inner<R: AsyncRead + Unpin>(
    r: &mut R, head: &RequestHead, mut already: Vec<u8>, hash: &mut Fnv, total: &mut u64,
) -> std::io::Result<bool> {
    if head
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        // The client waits for 100 Continue before it sends the body: answer now.
        return Ok(false);
    }
    let mut chunk = vec![0u8; 64 * 1024];
    if let Some(len) = head
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        while *total < len {
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                return Ok(false);
            }
            hash.update(&chunk[..n]);
            *total += n as u64;
        }
        return Ok(true);
    }
    if head
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        // Good enough for the SDK's bodies: the last chunk is "0\r\n" then trailers and a blank
        // line.
        loop {
            let last_chunk_seen =
                already.windows(5).any(|w| w == b"\r\n0\r\n") || already.starts_with(b"0\r\n");
            if last_chunk_seen && already.ends_with(b"\r\n\r\n") {
                return Ok(true);
            }
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                return Ok(false);
            }
            hash.update(&chunk[..n]);
            *total += n as u64;
            already.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(*total == 0)
}

async fn serve_http(
    client: TcpStream, acceptor: tokio_rustls::TlsAcceptor, connector: tokio_rustls::TlsConnector,
    upstream: String, shared: Arc<Shared>,
) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut client = acceptor.accept(client).await?;
    let (head_bytes, rest) = read_head(&mut client).await?;
    let head = RequestHead::parse(&head_bytes)
        .ok_or_else(|| std::io::Error::other("unparsable request head"))?;
    let respond =
        shared.take(|r| matches!(r.fault, Fault::Respond { .. }) && r.matcher.matches(&head));
    if let Some(Fault::Respond { status, error }) = respond {
        shared.note(format!(
            "{} {} -> injected {status} {error:?}",
            head.method, head.target
        ));
        if let Some((len, hash)) = drain_body(&mut client, &head, rest).await? {
            shared.record_body(&head, len, hash);
        }
        client
            .write_all(&error_response(status, error, &head))
            .await?;
        client.flush().await?;
        client.shutdown().await?;
        return Ok(());
    }
    shared.note(format!("{} {} -> forwarded", head.method, head.target));
    let server = TcpStream::connect(&upstream).await?;
    let _ = server.set_nodelay(true);
    let name = ServerName::try_from(
        upstream
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_default(),
    )
    .map_err(std::io::Error::other)?;
    let mut server = connector.connect(name, server).await?;
    // The same head, but one request per connection: the upstream closes after answering.
    let mut forwarded = Vec::with_capacity(head_bytes.len() + 20);
    let text = String::from_utf8_lossy(&head_bytes[..head_bytes.len() - 2]);
    for line in text.split_inclusive("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.extend_from_slice(line.as_bytes());
        }
    }
    forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
    server.write_all(&forwarded).await?;
    server.flush().await?;
    let (mut up, mut down) = (Meter::new(Dir::Up), Meter::new(Dir::Down));
    let mut body_hash = Fnv::new();
    body_hash.update(&rest);
    let mut body_len = rest.len() as u64;
    if !rest.is_empty() && !forward(&mut up, &rest, &mut server, &shared, Some(&head)).await? {
        arm_reset(client.get_ref().0);
        return Ok(());
    }
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = tokio::io::split(server);
    let mut ubuf = vec![0u8; 16 * 1024];
    let mut dbuf = vec![0u8; 16 * 1024];
    let mut up_open = true;
    let reset = loop {
        tokio::select! {
            r = cr.read(&mut ubuf), if up_open => match r {
                Ok(0) | Err(_) => up_open = false,
                Ok(n) => match forward(&mut up, &ubuf[..n], &mut sw, &shared, Some(&head)).await {
                    Ok(true) => {
                        body_hash.update(&ubuf[..n]);
                        body_len += n as u64;
                    }
                    Ok(false) => break true,
                    Err(_) => break false,
                },
            },
            r = sr.read(&mut dbuf) => match r {
                Ok(0) | Err(_) => { let _ = cw.shutdown().await; break false; }
                Ok(n) => if let Some(reset) = verdict(forward(&mut down, &dbuf[..n], &mut cw, &shared, Some(&head)).await) { break reset },
            },
        }
    };
    if reset {
        let client = cr.unsplit(cw);
        arm_reset(client.get_ref().0);
        let server = sr.unsplit(sw);
        arm_reset(server.get_ref().0);
    } else {
        // The server answered: it had the whole body.
        shared.record_body(&head, body_len, body_hash.0);
    }
    Ok(())
}

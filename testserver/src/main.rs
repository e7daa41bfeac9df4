// s3s-tls-server: a local, file-backed S3 endpoint for s3seal's end-to-end tests.
// It serves the s3s-fs implementation (store.rs) over HTTPS (so tests exercise real TLS with a
// throwaway CA) and checks SigV4 signatures, presigned-URL signatures and expiry
// with one access key/secret pair, which moto does not do.

mod args;
mod complete;
mod store;
mod tls;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_rustls::TlsAcceptor;

/// A client that connects but never finishes the TLS handshake must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("error: {msg}\n");
            }
            eprintln!("{}", args::USAGE);
            return if msg.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: args::Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.root)
        .map_err(|e| format!("creating {}: {e}", args.root.display()))?;
    let store = store::Store::new(&args.root)?;
    let service = {
        let mut b = S3ServiceBuilder::new(store);
        b.set_auth(SimpleAuth::from_single(args.access_key, args.secret_key));
        b.build()
    };
    let acceptor = TlsAcceptor::from(tls::server_config(&args.cert, &args.key)?);

    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| format!("binding {}:{}: {e}", args.host, args.port))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "READY port={port}")
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;
    drop(stdout);
    eprintln!(
        "s3s-tls-server: serving https://{}:{port}/ (root {})",
        args.host,
        args.root.display()
    );

    // HTTP/1.1 only, like Amazon S3 (the TLS config offers only http/1.1 through ALPN).
    let http = http1::Builder::new();
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());

    loop {
        let (tcp, peer) = tokio::select! {
            res = listener.accept() => match res {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("s3s-tls-server: accept: {e}");
                    continue;
                }
            },
            _ = sigterm.recv() => break,
            _ = ctrl_c.as_mut() => break,
        };
        let acceptor = acceptor.clone();
        let http = http.clone();
        let service = service.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return eprintln!("s3s-tls-server: TLS handshake with {peer}: {e}"),
                Err(_) => return eprintln!("s3s-tls-server: TLS handshake with {peer} timed out"),
            };
            let logged = service_fn(move |req| access_logged(&service, req));
            if let Err(e) = http.serve_connection(TokioIo::new(tls), logged).await {
                eprintln!("s3s-tls-server: connection {peer}: {e:?}");
            }
        });
    }
    eprintln!("s3s-tls-server: stopping");
    Ok(())
}

/// Serves one request and writes `METHOD path -> status` to stderr (the server's log),
/// so a failing end-to-end test can be matched with what the server saw.
fn access_logged(
    service: &S3Service, req: hyper::Request<Incoming>,
) -> impl Future<Output = Result<s3s::HttpResponse, s3s::HttpError>> + use<> {
    let line = format!("{} {}", req.method(), req.uri().path());
    let response = Service::call(service, req);
    async move {
        let response = response.await;
        match &response {
            Ok(r) => eprintln!("{line} -> {}", r.status().as_u16()),
            Err(e) => eprintln!("{line} -> error: {e:?}"),
        }
        response
    }
}

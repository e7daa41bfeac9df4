// latency-relay: a TCP relay on loopback that holds every byte for a fixed time in each
// direction, so benchmarks can see a real network's round-trip time on a kernel without the
// `netem` queueing discipline. Every tool under test connects through the same relay.
//
// Each connection gets its own delay line per direction: bytes read from one side are written
// to the other `--delay-ms` later. A line holds at most `--window` bytes (like a TCP window in
// flight): a sender that fills it waits, so one connection carries at most WINDOW / RTT,
// as over a real long path. The relay's own CPU time (user, system; from /proc/self/stat) is
// printed when it stops, so a benchmark can report what the relay cost.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

const USAGE: &str = "\
usage: latency-relay --upstream HOST:PORT [--delay-ms 10] [--window 4194304] [--port 0]

Listens on 127.0.0.1:PORT (0: any free port) and relays every connection to HOST:PORT, holding
the bytes DELAY-MS in each direction (round trip: twice that). Prints `READY port=<N>` once
listening and `CPU user=<s> sys=<s>` when stopped by SIGTERM or SIGINT.";

struct Options {
    upstream: SocketAddr,
    delay: Duration,
    window: usize,
    port: u16,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Options, String> {
    let (mut upstream, mut delay_ms, mut window, mut port) = (None, 10u64, 4usize << 20, 0u16);
    while let Some(name) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{name} needs a value"));
        match name.as_str() {
            "--upstream" => {
                upstream = Some(value()?.parse().map_err(|e| format!("--upstream: {e}"))?)
            }
            "--delay-ms" => delay_ms = value()?.parse().map_err(|e| format!("--delay-ms: {e}"))?,
            "--window" => window = value()?.parse().map_err(|e| format!("--window: {e}"))?,
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Options {
        upstream: upstream.ok_or("--upstream is required")?,
        delay: Duration::from_millis(delay_ms),
        window: window.max(64 << 10),
        port,
    })
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}\n{USAGE}");
            return ExitCode::from(if msg.is_empty() { 0 } else { 2 });
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(serve(options)) {
        Ok(()) => {
            println!("{}", cpu_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("latency-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(options: Options) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
    println!("READY port={}", listener.local_addr()?.port());
    let options = Arc::new(options);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            accepted = listener.accept() => {
                let (client, _) = accepted?;
                let options = Arc::clone(&options);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(options.upstream).await {
                        relay(client, server, &options).await;
                    }
                });
            }
        }
    }
}

/// Relays both directions of one connection until both sides have closed.
async fn relay(client: TcpStream, server: TcpStream, options: &Options) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        delay_line(client_read, server_write, options.delay, options.window),
        delay_line(server_read, client_write, options.delay, options.window),
    );
}

/// Copies `from` to `to`, each piece written `delay` after it was read, at most `window`
/// bytes in flight.
async fn delay_line(
    mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration, window: usize,
) {
    let budget = Arc::new(Semaphore::new(window));
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = {
        let budget = Arc::clone(&budget);
        async move {
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                match budget.acquire_many(n as u32).await {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                }
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, piece)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&piece).await.is_err() {
                budget.close();
                return;
            }
            budget.add_permits(piece.len());
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// `CPU user=<s> sys=<s>` of this process, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_line() -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; here 0-based after the state field (3).
    format!(
        "CPU user={:.2} sys={:.2}",
        ticks(11) / 100.0,
        ticks(12) / 100.0
    )
}

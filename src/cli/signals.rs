//! SIGINT, SIGTERM and SIGHUP: the first asks the running command to clean up and stop (abort
//! multipart uploads, drop temporary files) and the process then exits 128 + the signal
//! (130, 143, 129); a second one exits at once, after unlinking every named temporary file
//! still alive (downloads on Linux are `O_TMPFILE` files, which vanish with the process).

use std::sync::atomic::{AtomicI32, Ordering};

use s3seal::transfer::Cancel;
use s3seal::transfer::download::remove_live_temp_files;

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The exit code for a command interrupted by a signal: 128 + its number, if one came.
pub fn interrupted_exit_code() -> Option<u8> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => u8::try_from(128 + sig).ok(),
    }
}

#[cfg(unix)]
pub fn install() -> Cancel {
    use tokio::signal::unix::{SignalKind, signal};
    let (trigger, cancel) = Cancel::new();
    let streams = (|| {
        Ok::<_, std::io::Error>([
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ])
    })();
    let mut streams = match streams {
        Ok(streams) => streams,
        Err(e) => {
            tracing::warn!("cannot handle signals: {e}");
            return cancel;
        }
    };
    tokio::spawn(async move {
        let Some((name, number)) = next_signal(&mut streams).await else {
            return;
        };
        RECEIVED.store(number, Ordering::SeqCst);
        eprintln!("s3seal: {name} received; cleaning up (send it again to exit at once)");
        let _ = trigger.send(true);
        if let Some((_, again)) = next_signal(&mut streams).await {
            remove_live_temp_files();
            std::process::exit(128 + again);
        }
    });
    cancel
}

/// The next of SIGINT, SIGTERM, SIGHUP: its name and number.
#[cfg(unix)]
async fn next_signal(
    streams: &mut [tokio::signal::unix::Signal; 3],
) -> Option<(&'static str, i32)> {
    let [int, term, hup] = streams;
    tokio::select! {
        r = int.recv() => r.map(|()| ("SIGINT", 2)),
        r = term.recv() => r.map(|()| ("SIGTERM", 15)),
        r = hup.recv() => r.map(|()| ("SIGHUP", 1)),
    }
}

#[cfg(not(unix))]
pub fn install() -> Cancel {
    let (trigger, cancel) = Cancel::new();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        RECEIVED.store(2, Ordering::SeqCst);
        eprintln!("s3seal: interrupted; cleaning up (press Ctrl-C again to exit at once)");
        let _ = trigger.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            remove_live_temp_files();
            std::process::exit(130);
        }
    });
    cancel
}

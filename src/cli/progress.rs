//! Transfer progress on stderr, chosen by the global `--progress auto|bar|plain|off`: a bar
//! (indicatif) for people at a terminal, one plain line every few seconds for logs (cron, CI),
//! or nothing. `--quiet` on a command silences it whatever the mode. The library only sees the
//! `Progress` trait. Runs over many objects ([`run_reporter`]) also name the objects done.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{
    BinaryBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike,
};
use s3seal::transfer::{NoProgress, Progress};

/// How transfers show their progress.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, nothing otherwise
    #[default]
    Auto,
    /// A bar, even when stderr does not look like a terminal
    Bar,
    /// One line (bytes, rate, ETA) every few seconds, for logs
    Plain,
    /// Nothing
    Off,
}

/// The global option, flattened into `GlobalArgs`.
#[derive(Args, Debug, Clone, Default)]
pub struct ProgressArgs {
    /// Progress on stderr: auto (a bar on a terminal, nothing otherwise), bar, plain (a line
    /// every few seconds, for logs; S3SEAL_PROGRESS_INTERVAL_MS sets the period) or off
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto, value_name = "MODE")]
    pub progress: ProgressMode,
}

static MODE: OnceLock<ProgressMode> = OnceLock::new();

/// Sets the mode for the whole run (called once, after parsing).
pub fn set_mode(mode: ProgressMode) {
    let _ = MODE.set(mode);
}

/// The period of `plain` lines: S3SEAL_PROGRESS_INTERVAL_MS, else 5 seconds.
fn plain_interval() -> Duration {
    std::env::var("S3SEAL_PROGRESS_INTERVAL_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(Duration::from_secs(5), Duration::from_millis)
}

/// A progress reporter for a transfer labelled `what`.
pub fn reporter(quiet: bool, what: &str) -> Arc<dyn Progress> {
    run_reporter(quiet, what).bytes
}

/// The progress of a run over many objects: bytes (and rate) through `bytes`, and a label
/// that [`RunProgress::objects`] keeps up to date. Trees are streamed, so there is no total
/// and no ETA.
pub struct RunProgress {
    pub bytes: Arc<dyn Progress>,
    label: Option<Box<dyn Fn(String) + Send + Sync>>,
    /// A bar to hide while a line is printed above it.
    bar: Option<ProgressBar>,
    what: String,
}

impl RunProgress {
    /// Prints `line` on stderr without tearing the bar.
    pub fn eprintln(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// `done` objects finished, `failed` of them failed.
    pub fn objects(&self, done: u64, failed: u64) {
        if let Some(label) = &self.label {
            let failed = if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            };
            label(format!("{} ({done} objects done{failed})", self.what));
        }
    }
}

/// A [`RunProgress`] for the mode in force.
pub fn run_reporter(quiet: bool, what: &str) -> RunProgress {
    let mode = MODE.get().copied().unwrap_or_default();
    let terminal = std::io::stderr().is_terminal();
    let none = || RunProgress {
        bytes: Arc::new(NoProgress),
        label: None,
        bar: None,
        what: what.to_string(),
    };
    let with_bar = |target: ProgressDrawTarget| {
        let bar = new_bar(target, what);
        let shown = bar.clone();
        RunProgress {
            bytes: Arc::new(Bar(bar.clone())),
            label: Some(Box::new(move |l| shown.set_message(l))),
            bar: Some(bar),
            what: what.to_string(),
        }
    };
    match (quiet, mode) {
        (true, _) | (false, ProgressMode::Off) => none(),
        (false, ProgressMode::Auto) if !terminal => none(),
        (false, ProgressMode::Auto) => with_bar(ProgressDrawTarget::stderr()),
        (false, ProgressMode::Bar) if terminal => with_bar(ProgressDrawTarget::stderr()),
        // indicatif hides itself off a terminal; draw through our own stderr writer instead.
        (false, ProgressMode::Bar) => with_bar(ProgressDrawTarget::term_like(Box::new(RawStderr))),
        (false, ProgressMode::Plain) => {
            let plain = Plain::new(what, plain_interval());
            let counts = Arc::clone(&plain.counts);
            RunProgress {
                bytes: Arc::new(plain),
                label: Some(Box::new(move |l| {
                    if let Ok(mut what) = counts.what.lock() {
                        *what = l;
                    }
                })),
                bar: None,
                what: what.to_string(),
            }
        }
    }
}

fn new_bar(target: ProgressDrawTarget, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target);
    // Only the label until `start` tells the size: no empty `0/0` bar before the first answer.
    bar.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
    bar.set_message(what.to_string());
    bar
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: Option<u64>) {
        if let Some(total) = total {
            self.0.set_length(total);
            self.0.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
        } else {
            self.0.set_style(
                ProgressStyle::with_template("{msg} {bytes} {bytes_per_sec}")
                    .expect("valid template"),
            );
        }
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// stderr as a terminal for `--progress bar` when it is not one (ANSI cursor moves, 80 columns).
#[derive(Debug)]
struct RawStderr;

impl RawStderr {
    fn put(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(s.as_bytes())
    }

    /// CSI n A/B/C/D: the cursor n places up, down, right or left.
    fn cursor(&self, n: usize, direction: char) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            self.put(&format!("\x1b[{n}{direction}"))
        }
    }
}

impl TermLike for RawStderr {
    fn width(&self) -> u16 {
        80
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// What the `plain` ticker thread reads.
struct Counts {
    what: Mutex<String>,
    done: AtomicU64,
    /// `u64::MAX` while unknown.
    total: AtomicU64,
    started: Mutex<Option<Instant>>,
}

/// `--progress plain`: a thread prints one line per interval until the transfer finishes or
/// the reporter is dropped (an error path that never calls `finish`).
struct Plain {
    counts: Arc<Counts>,
    stop: Mutex<Option<Sender<()>>>,
}

impl Plain {
    fn new(what: &str, every: Duration) -> Self {
        let counts = Arc::new(Counts {
            what: Mutex::new(what.to_string()),
            done: AtomicU64::new(0),
            total: AtomicU64::new(u64::MAX),
            started: Mutex::new(None),
        });
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = Arc::clone(&counts);
        std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                if let Some(line) = plain_line(&shared) {
                    eprintln!("{line}");
                }
            }
        });
        Self {
            counts,
            stop: Mutex::new(Some(stop)),
        }
    }
}

/// `s3seal: sealing 12.00 MiB / 20.00 MiB (60%), 4.10 MiB/s, eta 2 seconds`; None before start.
fn plain_line(c: &Counts) -> Option<String> {
    let started = (*c.started.lock().ok()?)?;
    let done = c.done.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = done as f64 / secs;
    let what = c.what.lock().ok()?.clone();
    let mut line = format!("s3seal: {what} {}", BinaryBytes(done));
    match c.total.load(Ordering::Relaxed) {
        u64::MAX => line.push_str(&format!(", {}/s", BinaryBytes(rate as u64))),
        total => {
            let pct = (done.saturating_mul(100)).checked_div(total).unwrap_or(100);
            line.push_str(&format!(
                " / {} ({pct}%), {}/s",
                BinaryBytes(total),
                BinaryBytes(rate as u64)
            ));
            if rate >= 1.0 {
                let eta = total.saturating_sub(done) as f64 / rate;
                line.push_str(&format!(
                    ", eta {}",
                    HumanDuration(Duration::from_secs_f64(eta))
                ));
            }
        }
    }
    Some(line)
}

impl Progress for Plain {
    fn start(&self, total: Option<u64>) {
        self.counts
            .total
            .store(total.unwrap_or(u64::MAX), Ordering::Relaxed);
        if let Ok(mut s) = self.counts.started.lock() {
            s.get_or_insert_with(Instant::now);
        }
    }

    fn advance(&self, bytes: u64) {
        self.counts.done.fetch_add(bytes, Ordering::Relaxed);
    }

    fn finish(&self) {
        if let Ok(mut stop) = self.stop.lock() {
            stop.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_bytes_rate_and_eta() {
        let c = Counts {
            what: Mutex::new("sealing".into()),
            done: AtomicU64::new(0),
            total: AtomicU64::new(u64::MAX),
            started: Mutex::new(None),
        };
        assert_eq!(plain_line(&c), None, "nothing before the transfer starts");
        *c.started.lock().unwrap() = Some(Instant::now() - Duration::from_secs(2));
        c.done.store(4 << 20, Ordering::Relaxed);
        let unknown = plain_line(&c).unwrap();
        assert!(
            unknown.starts_with("s3seal: sealing 4.00 MiB, "),
            "{unknown}"
        );
        c.total.store(8 << 20, Ordering::Relaxed);
        let known = plain_line(&c).unwrap();
        assert!(known.contains("4.00 MiB / 8.00 MiB (50%)"), "{known}");
        assert!(known.contains("/s, eta "), "{known}");
    }
}

//! Progress bars on stderr (indicatif), only when stderr is a terminal and `--quiet` is off;
//! the library only sees the `Progress` trait.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3seal::transfer::{NoProgress, Progress};

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

/// A progress reporter for a transfer labelled `what`.
pub fn reporter(quiet: bool, what: &str) -> Arc<dyn Progress> {
    if quiet || !std::io::stderr().is_terminal() {
        return Arc::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_message(what.to_string());
    Arc::new(Bar(bar))
}

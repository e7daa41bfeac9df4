//! Exit codes, decided in one place and documented in `s3seal --help` and the README.

use s3seal::posture::Verdict;
use s3seal::{Error, ErrorClass};

pub const SUCCESS: u8 = 0;
pub const RUNTIME: u8 = 1;
pub const USAGE: u8 = 2;
pub const INTEGRITY: u8 = 3;
pub const POSTURE_BLOCK: u8 = 4;
pub const POSTURE_WARN: u8 = 5;
pub const POSTURE_UNKNOWN: u8 = 6;
/// A run over many objects (`put/get --recursive`, `sync`, `--manifest`, `batch-task`): some
/// objects failed, the rest succeeded (an integrity failure of any object makes it 3 instead).
pub const PARTIAL: u8 = 7;
pub const INTERRUPTED: u8 = 130;

/// The text `--help` shows.
pub const HELP: &str = "\
Exit codes:
  0    success
  1    runtime error (network, AWS, I/O)
  2    usage error (bad arguments, plain-HTTP endpoint, unreadable CA bundle)
  3    integrity failure: authentication failed, truncated, tampered, wrong key or
       context, moved object: the data cannot be trusted and none was released
  4    refused by the bucket posture check (`s3seal posture`: verdict block; with
       `--posture strict`, also warn or unknown)
  5    `s3seal posture` only: verdict warn
  6    `s3seal posture` only: verdict unknown (a check could not read what it needs)
  7    runs over many objects (--recursive, sync, --manifest, batch-task): some
       objects failed, the others succeeded (each failure is reported; an
       integrity failure of any object makes it 3)
  130  interrupted by SIGINT (Ctrl-C): multipart uploads are aborted (kept for the
       next run with `put --resumable`) and temporary files removed; a second
       signal exits at once
  143  interrupted by SIGTERM (as 130)
  129  interrupted by SIGHUP (as 130)";

pub fn code_for(err: &Error) -> u8 {
    match err.class() {
        ErrorClass::Runtime => RUNTIME,
        ErrorClass::Usage => USAGE,
        ErrorClass::Integrity => INTEGRITY,
        ErrorClass::Posture => POSTURE_BLOCK,
        ErrorClass::Interrupted => INTERRUPTED,
    }
}

/// Exit code of `s3seal posture` for its verdict: 0 ok, 4 block, 5 warn, 6 unknown.
pub fn for_verdict(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Ok => SUCCESS,
        Verdict::Block => POSTURE_BLOCK,
        Verdict::Warn => POSTURE_WARN,
        Verdict::Unknown => POSTURE_UNKNOWN,
    }
}

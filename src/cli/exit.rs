//! Exit codes, decided in one place and documented in `s3seal --help` and the README.

use s3seal::{Error, ErrorClass};

pub const SUCCESS: u8 = 0;
pub const RUNTIME: u8 = 1;
pub const USAGE: u8 = 2;
pub const INTEGRITY: u8 = 3;
pub const POSTURE_BLOCK: u8 = 4;
pub const INTERRUPTED: u8 = 130;

/// The text `--help` shows.
pub const HELP: &str = "\
Exit codes:
  0    success
  1    runtime error (network, AWS, I/O)
  2    usage error (bad arguments, plain-HTTP endpoint, unreadable CA bundle)
  3    integrity failure: authentication failed, truncated, tampered, wrong key or
       context, moved object: the data cannot be trusted and none was released
  4    refused by the bucket posture check (`s3seal posture`: verdict block)
  5    `s3seal posture` only: verdict warn
  6    `s3seal posture` only: verdict unknown (a check could not read what it needs)
  130  interrupted (SIGINT, Ctrl-C); 143 SIGTERM, 129 SIGHUP: multipart uploads are
       aborted and temporary files removed; a second signal exits at once";

pub fn code_for(err: &Error) -> u8 {
    match err.class() {
        ErrorClass::Runtime => RUNTIME,
        ErrorClass::Usage => USAGE,
        ErrorClass::Integrity => INTEGRITY,
        ErrorClass::Posture => POSTURE_BLOCK,
        ErrorClass::Interrupted => INTERRUPTED,
    }
}

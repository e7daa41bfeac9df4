//! `s3seal` as a child process the test signals: the environment of a configured command on a
//! `std::process::Command`, SIGINT, waiting for something with a deadline, and waiting for the
//! exit (killing a child that hangs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `configured`'s program and environment on a `std::process::Command` (for signals).
pub fn std_command(configured: &assert_cmd::Command) -> Command {
    let mut c = Command::new(configured.get_program());
    for (k, v) in configured.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// Sends SIGINT (Ctrl-C) to `pid`.
pub fn sigint(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `done` until it holds; fails after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the child to exit (killing it after `hang`); returns its code and the stderr it
/// wrote to the file `stderr`.
pub fn finish(
    mut child: std::process::Child, stderr: &Path, hang: Duration,
) -> (Option<i32>, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > hang {
            let _ = child.kill();
            panic!(
                "s3seal did not exit: {}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code(),
        std::fs::read_to_string(stderr).unwrap_or_default(),
    )
}

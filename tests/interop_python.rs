//! The independent Python decoder (written from docs/FORMAT.md alone, `tests/interop/`) runs
//! over every conformance vector as part of `cargo test`, so the specification, the vectors and
//! the Rust reader cannot drift apart without a failing test. It needs the venv that
//! `scripts/local-aws.sh` makes (`cryptography`); without one the test fails, it does not skip.

use std::path::Path;

#[test]
fn the_python_decoder_agrees_with_every_vector() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/interop/run.sh"))
        .current_dir(root)
        .output()
        .expect("run tests/interop/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python decoder failed (start the local servers once so the venv exists):\n{stdout}\n{stderr}"
    );
    let vectors = std::fs::read_dir(root.join("tests/vectors"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    let summary = stdout
        .lines()
        .chain(stderr.lines())
        .find(|l| l.starts_with("interop: ") && l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no summary line from the Python decoder:\n{stdout}"));
    // Every vector the Rust test loads is checked by the decoder too.
    let passed: usize = summary
        .trim_start_matches("interop: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count of passed vectors");
    assert!(summary.ends_with(" 0 failed"), "{summary}");
    assert_eq!(
        passed, vectors,
        "the decoder did not check every vector: {summary}"
    );
}

//! Snapshots of what a person reads: `--help` of every command and the main usage errors
//! (wording, hints, exit codes), so none changes by accident. Each case is tests/cmd/NAME.toml
//! with its expected NAME.stdout / NAME.stderr, run with an empty environment (no AWS or
//! S3SEAL_* variables, no config file). After a deliberate change, regenerate them with
//! `TRYCMD=overwrite cargo test --all-features --test cli_snapshots` and review the diff.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .register_bin(
            "s3seal",
            assert_cmd::cargo::cargo_bin!("s3seal").to_path_buf(),
        )
        .case("tests/cmd/*.toml");
}

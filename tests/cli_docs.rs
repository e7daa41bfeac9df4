//! Shell completions and man pages come from the clap definitions: every shell's script and
//! every command's page is generated here, and one page goes through `man` (or groff) with
//! warnings on, so a definition that renders badly fails the build. No servers needed.

use std::process::Command;

const COMMANDS: [&str; 12] = [
    "put",
    "get",
    "posture",
    "presign",
    "inspect",
    "verify",
    "rewrap",
    "migrate",
    "seal",
    "config",
    "completions",
    "man",
];

fn s3seal() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("s3seal"));
    // Docs never depend on a machine's config file.
    cmd.env_remove("S3SEAL_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    cmd
}

#[test]
fn completions_for_every_shell_name_every_command() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = s3seal().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in COMMANDS {
            assert!(script.contains(command), "{shell}: no {command}");
        }
        assert!(script.contains("progress"), "{shell}: no global option");
    }
    let out = s3seal().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// Renders a page with warnings on: `man -l` when man is installed, else groff; None when
/// neither is there.
fn render_warnings(page: &std::path::Path) -> Option<String> {
    let has = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let out = if has("man") {
        Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap()
    } else if has("groff") {
        Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(page)
            .output()
            .unwrap()
    } else {
        return None;
    };
    assert!(
        out.status.success(),
        "rendering {}: {out:?}",
        page.display()
    );
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn man_pages_for_every_command_render_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let out = s3seal()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut pages = vec!["s3seal.1".to_string(), "s3seal-config-show.1".to_string()];
    pages.extend(COMMANDS.iter().map(|c| format!("s3seal-{c}.1")));
    for page in &pages {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH "), "{page} is not a man page");
    }
    let top = std::fs::read_to_string(dir.path().join("s3seal.1")).unwrap();
    assert!(
        top.contains("Exit codes"),
        "the top page lacks the exit codes"
    );
    assert!(
        top.contains(".SH \"EXIT STATUS\""),
        "exit codes under their own heading"
    );
    // Every page another one points at exists (no `s3seal-help(1)`).
    for (name, text) in std::fs::read_dir(dir.path()).unwrap().map(|e| {
        let e = e.unwrap();
        (e.file_name(), std::fs::read_to_string(e.path()).unwrap())
    }) {
        assert!(!text.contains(".SH EXTRA"), "{name:?}");
        for line in text.lines().filter(|l| l.ends_with("(1)")) {
            let page = line.trim_end_matches("(1)").replace("\\-", "-");
            assert!(
                dir.path().join(format!("{page}.1")).exists(),
                "{name:?} points at {page}(1), which is not written"
            );
        }
    }
    let put = std::fs::read_to_string(dir.path().join("s3seal-put.1")).unwrap();
    assert!(
        put.contains("kms\\-key\\-id"),
        "s3seal-put.1 lacks --kms-key-id"
    );

    // `s3seal man` alone prints the top page.
    let out = s3seal().arg("man").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), top);

    for page in ["s3seal.1", "s3seal-put.1"] {
        match render_warnings(&dir.path().join(page)) {
            Some(warnings) => assert!(warnings.trim().is_empty(), "{page}: {warnings}"),
            None => eprintln!(
                "SKIPPED: neither man nor groff is installed; {page} was generated but not rendered"
            ),
        }
    }
}

//! The config file of defaults (src/cli/config.rs): it sets the envelope key, the pinned key
//! ids and the posture mode, `s3seal config show` says where each value came from, a flag or a
//! variable overrides it, profiles pick their own section, and a malformed file is a usage
//! error (exit 2) naming the file and the line. No servers needed.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

mod common;

use common::SETTINGS_VARS;

/// s3seal reading `config` and nothing else from the environment that could change defaults.
fn s3seal(config: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("s3seal"));
    for v in SETTINGS_VARS
        .iter()
        .chain(&["AWS_PROFILE", "XDG_CONFIG_HOME"])
    {
        cmd.env_remove(v);
    }
    cmd.env("S3SEAL_CONFIG", config);
    cmd
}

const CONFIG: &str = r#"# defaults for this machine
[default]
kms_key_id = "alias/from-config"
expected_kms_key_ids = ["arn:aws:kms:us-east-1:111122223333:key/a", "alias/b"]
posture = "strict"
trusted_accounts = ["444455556666"]

[profile.backup]
kms_key_id = "alias/backup"
concurrency = 3
part_size = "16MiB"
"#;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The line of `config show` for `key`.
fn row(stdout: &[u8], key: &str) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} row in {}", String::from_utf8_lossy(stdout)))
        .to_string()
}

#[test]
fn config_sets_key_pins_and_posture_and_show_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), CONFIG);
    let out = s3seal(&path).args(["config", "show"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let origin = format!("config {} [default]", path.display());
    let kms = row(&out.stdout, "kms_key_id");
    assert!(
        kms.contains("alias/from-config") && kms.ends_with(&origin),
        "{kms}"
    );
    let pins = row(&out.stdout, "expected_kms_key_ids");
    assert!(
        pins.contains("arn:aws:kms:us-east-1:111122223333:key/a, alias/b")
            && pins.ends_with(&origin),
        "{pins}"
    );
    let posture = row(&out.stdout, "posture");
    assert!(
        posture.contains("strict") && posture.ends_with(&origin),
        "{posture}"
    );
    let owner = row(&out.stdout, "expected_owner");
    assert!(owner.ends_with("default"), "{owner}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("config file: {}", path.display()))
    );

    // The real commands get the same defaults: `put` no longer asks for --kms-key-id, and its
    // help shows where the default stands.
    s3seal(&path)
        .args(["put", "/nonexistent/file", "s3://bucket/key"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such file"));
    s3seal(&path)
        .args(["put", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[default: alias/from-config]"))
        .stdout(predicate::str::contains("[default: strict]"));
}

#[test]
fn flags_and_variables_override_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), CONFIG);
    let out = s3seal(&path)
        .env("S3SEAL_POSTURE", "off")
        .args(["config", "show", "--kms-key-id", "alias/flag"])
        .args(["--expected-kms-key-id", "alias/pin-flag"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let kms = row(&out.stdout, "kms_key_id");
    assert!(
        kms.contains("alias/flag") && kms.ends_with("flag --kms-key-id"),
        "{kms}"
    );
    let pins = row(&out.stdout, "expected_kms_key_ids");
    assert!(
        pins.contains("alias/pin-flag") && !pins.contains("alias/b"),
        "a flag replaces the list: {pins}"
    );
    let posture = row(&out.stdout, "posture");
    assert!(
        posture.contains("off") && posture.ends_with("env S3SEAL_POSTURE"),
        "{posture}"
    );
    // A variable's list splits on commas.
    let out = s3seal(&path)
        .env("S3SEAL_TRUSTED_ACCOUNTS", "111111111111,222222222222")
        .args(["config", "show"])
        .output()
        .unwrap();
    let trusted = row(&out.stdout, "trusted_accounts");
    assert!(trusted.contains("111111111111, 222222222222"), "{trusted}");

    // Without a config, --kms-key-id is required again.
    s3seal(&dir.path().join("absent-but-unset.toml"))
        .env_remove("S3SEAL_CONFIG")
        .env("XDG_CONFIG_HOME", dir.path().join("empty"))
        .args(["put", "/nonexistent/file", "s3://bucket/key"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--kms-key-id"));
}

#[test]
fn a_profile_uses_its_own_section() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), CONFIG);
    for how in [&["--profile", "backup"][..], &["--profile=backup"][..]] {
        let out = s3seal(&path)
            .args(how)
            .args(["config", "show"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let origin = format!("config {} [profile.backup]", path.display());
        assert!(row(&out.stdout, "kms_key_id").contains("alias/backup"));
        assert!(row(&out.stdout, "concurrency").ends_with(&origin));
        assert!(row(&out.stdout, "part_size").contains("16MiB"));
        // [default] is the default profile's, not a base for the others.
        assert!(row(&out.stdout, "posture").ends_with("default"));
    }
    let out = s3seal(&path)
        .env("AWS_PROFILE", "backup")
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(row(&out.stdout, "kms_key_id").contains("alias/backup"));
}

#[test]
fn a_malformed_or_missing_config_is_a_usage_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 4] = [
        (
            "[default]\nkms_key_id = \"k\"\nposture = \"lenient\"\n",
            "line 3",
        ),
        (
            "[default]\nkms_key_id = \"k\"\n\nkms_key_idd = \"typo\"\n",
            "line 4",
        ),
        ("[default]\nconcurrency = 0\n", "line 2"),
        ("[default]\nkms_key_id = \"unterminated\n", "line 2"),
    ];
    for (text, line) in cases {
        let path = write(dir.path(), text);
        s3seal(&path)
            .args(["config", "show"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "s3seal: error: config file {}, {line}: ",
                path.display()
            )));
    }
    // The AWS files' `[profile NAME]` spelling, quoted to be valid TOML: pointed to the TOML one.
    let path = write(dir.path(), "[\"profile backup\"]\nconcurrency = 2\n");
    s3seal(&path)
        .args(["config", "show"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "line 1: unknown field `profile backup`",
        ))
        .stderr(predicate::str::contains("[profile.NAME]"));
    // Named by S3SEAL_CONFIG but not there: also exit 2, naming it.
    let missing = dir.path().join("missing.toml");
    s3seal(&missing)
        .args(["posture", "s3://bucket"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "config file {}: cannot read it",
            missing.display()
        )));
}

#[test]
fn readme_documents_every_setting_and_variable() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Config file")
        .expect("README has a Config file section")..];
    for key in [
        "kms_key_id",
        "expected_kms_key_ids",
        "posture",
        "expected_owner",
        "trusted_accounts",
        "concurrency",
        "part_size",
    ] {
        assert!(
            section.contains(&format!("\n{key} = ")),
            "README lacks {key}"
        );
    }
    for var in SETTINGS_VARS {
        assert!(section.contains(var), "README lacks {var}");
    }
    assert!(section.contains("flag > environment variable > config file > built-in default"));

    // The README's example is a valid config.
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml example");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), example);
    s3seal(&path)
        .args(["--profile", "archive", "config", "show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[profile.archive]"));
}

#[test]
fn help_shows_config_values_as_defaults_and_names_variables_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[default]\nconcurrency = 8\nposture = \"strict\"\n",
    )
    .unwrap();
    let out = s3seal(&config).args(["put", "--help"]).assert().success();
    let help = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    // --concurrency: the config's 8 as the default, the built-in rule in the text.
    let concurrency = &help[help.find("--concurrency <").unwrap()..];
    let concurrency = &concurrency[..concurrency.find("\n\n").unwrap()];
    assert!(concurrency.contains("[default: 8]"), "{concurrency}");
    assert!(concurrency.contains("[built in:"), "{concurrency}");
    let posture = &help[help.find("--posture <").unwrap()..];
    assert!(posture.contains("[default: strict]"), "{posture}");
    assert!(!posture[..posture.find("[default: strict]").unwrap()].contains("[default:"));
    // A variable is named, never shown as set to an empty value.
    assert!(help.contains("[env: S3SEAL_CONCURRENCY]"), "{help}");
    assert!(!help.contains("S3SEAL_CONCURRENCY="), "{help}");
}

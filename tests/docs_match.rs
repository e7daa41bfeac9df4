//! The README's option and exit-code tables against the CLI's own `--help`, where the clap
//! definitions are the one source of truth: a default or an exit code changed in one place
//! and not the other fails here. Also: the docs name no file outside the repository.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// `s3seal ARGS --help`, whitespace collapsed (help text wraps at the terminal width).
fn help(args: &[&str]) -> String {
    let out = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("s3seal"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        // A config file on this machine would show its values as the defaults.
        .env_remove("S3SEAL_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .expect("run s3seal --help");
    assert!(out.status.success(), "s3seal {args:?} --help failed");
    normalize(&String::from_utf8_lossy(&out.stdout))
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The rows of the markdown table that follows the line `header` in the README.
fn table_rows(readme: &str, header: &str) -> Vec<Vec<String>> {
    let start = readme
        .find(header)
        .unwrap_or_else(|| panic!("README has no table headed {header:?}"));
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// Words in backticks in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_option_table_matches_help() {
    let readme = readme();
    let rows = table_rows(&readme, "| option | meaning |");
    assert!(rows.len() >= 8, "the option table shrank: {rows:?}");
    for row in rows {
        let (option, meaning) = (&row[0], &row[1]);
        let flag = backticked(option)
            .into_iter()
            .find(|w| w.starts_with("--"))
            .unwrap_or_else(|| panic!("row {option:?} names no --flag"))
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        // Each clause names its commands in backticks before a colon, then what the option
        // means there, with the defaults `--help` prints.
        for clause in meaning.split("; `") {
            let (commands, text) = clause
                .split_once(':')
                .unwrap_or_else(|| panic!("{flag}: clause {clause:?} names no command"));
            let commands: Vec<String> = commands
                .split(',')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect();
            for command in &commands {
                let help = help(&[command]);
                assert!(
                    help.contains(&flag),
                    "README says `{command}` has {flag}, but `s3seal {command} --help` does not list it"
                );
                for default in text.split('[').skip(1) {
                    let default = format!("[{}]", default.split(']').next().unwrap());
                    assert!(
                        help.contains(&default),
                        "README says {flag} of `{command}` has {default}, but `s3seal {command} --help` does not"
                    );
                }
            }
        }
    }
}

#[test]
fn readme_exit_codes_match_help() {
    let readme = readme();
    let rows = table_rows(&readme, "| code | meaning |");
    let help = help(&[]);
    let (_, listed) = help
        .split_once("Exit codes:")
        .expect("s3seal --help lists the exit codes");
    let documented: BTreeSet<String> = rows.iter().map(|r| r[0].clone()).collect();
    let in_help: BTreeSet<String> = listed
        .split(' ')
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    assert_eq!(
        documented, in_help,
        "README and --help list different exit codes"
    );
    for row in rows {
        let (code, meaning) = (&row[0], &row[1]);
        // The first two words of the meaning stand after the code in --help too.
        let words: Vec<&str> = meaning
            .split(|c: char| !c.is_alphanumeric() && c != '-')
            .filter(|w| !w.is_empty())
            .take(2)
            .collect();
        let at = listed
            .find(&format!(" {code} "))
            .unwrap_or_else(|| panic!("--help does not explain exit code {code}"));
        let entry = &listed[at..(at + 120).min(listed.len())];
        for word in words {
            assert!(
                entry.contains(word),
                "exit code {code}: README says {meaning:?}, --help says {entry:?}"
            );
        }
    }
}

#[test]
fn docs_and_sources_name_no_file_outside_the_repository() {
    let mut offenders = Vec::new();
    for dir in ["docs", "src", "tests"] {
        let mut stack = vec![root().join(dir)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    stack.push(entry.unwrap().path());
                }
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("md" | "rs" | "py" | "sh")
            ) {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // Spelled in two pieces so that this file does not find itself.
                if text.contains(concat!("shared/", "notes")) {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these point outside the repository: {offenders:?}"
    );
}

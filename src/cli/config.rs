//! The config file of defaults, and how they reach the parser.
//!
//! `$S3SEAL_CONFIG`, else `$XDG_CONFIG_HOME/s3seal/config.toml`, else
//! `~/.config/s3seal/config.toml`: TOML with a `[default]` section and `[profile.NAME]`
//! sections, one per AWS profile (as in the AWS config files, the section of the profile in use
//! applies, and `[default]` only to the default profile). Each setting also has an environment
//! variable. Precedence: flag > environment > config > built-in default. The mechanism is
//! clap's own: the variable is the argument's `env`, the config value its default value, so the
//! parser, `--help` and `s3seal config show` all see the same thing.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Subcommand, ValueEnum};
use s3seal::{Error, Result};
use serde::Deserialize;
use toml::Spanned;

use super::posture::PostureMode;
use super::{Cli, exit, parse_size};

/// One setting: its key in the file, its flag, its variable, and the commands it applies to.
struct Setting {
    key: &'static str,
    long: &'static str,
    env: &'static str,
    /// Commands (leaf names) that take it; None: every command with that flag.
    only: Option<&'static [&'static str]>,
    /// What applies when nothing sets it.
    builtin: &'static str,
}

const SETTINGS: [Setting; 7] = [
    Setting {
        key: "kms_key_id",
        long: "kms-key-id",
        env: "S3SEAL_KMS_KEY_ID",
        // rewrap's and presign's --kms-key-id name a specific target key: never defaulted.
        only: Some(&["put", "sync", "migrate", "seal", "show"]),
        builtin: "(none: put, sync, migrate and seal need --kms-key-id)",
    },
    Setting {
        key: "expected_kms_key_ids",
        long: "expected-kms-key-id",
        env: "S3SEAL_EXPECTED_KMS_KEY_IDS",
        only: None,
        builtin: "(none: any key the caller may use)",
    },
    Setting {
        key: "posture",
        long: "posture",
        env: "S3SEAL_POSTURE",
        only: None,
        builtin: "enforce",
    },
    Setting {
        key: "expected_owner",
        long: "expected-owner",
        env: "S3SEAL_EXPECTED_OWNER",
        only: None,
        builtin: "(none)",
    },
    Setting {
        key: "trusted_accounts",
        long: "trusted-account",
        env: "S3SEAL_TRUSTED_ACCOUNTS",
        only: None,
        builtin: "(none)",
    },
    Setting {
        key: "concurrency",
        long: "concurrency",
        env: "S3SEAL_CONCURRENCY",
        only: None,
        builtin: "per command (see its --help)",
    },
    Setting {
        key: "part_size",
        long: "part-size",
        env: "S3SEAL_PART_SIZE",
        only: None,
        builtin: "per command: put, migrate and seal 8MiB, get and verify 8MiB",
    },
];

/// A `[default]` or `[profile.NAME]` section.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct Section {
    kms_key_id: Option<Spanned<String>>,
    expected_kms_key_ids: Option<Spanned<Vec<String>>>,
    posture: Option<Spanned<String>>,
    expected_owner: Option<Spanned<String>>,
    trusted_accounts: Option<Spanned<Vec<String>>>,
    concurrency: Option<Spanned<i64>>,
    part_size: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct File {
    default: Option<Section>,
    #[serde(default)]
    profile: BTreeMap<String, Section>,
}

/// The config that applies to this run.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The file read, if any.
    path: Option<PathBuf>,
    /// Where it was looked for when there was none.
    looked_at: Option<PathBuf>,
    profile: String,
    /// Setting key -> values (one, or a list), already validated.
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Loaded {
    fn section_name(&self) -> String {
        if self.profile == "default" {
            "[default]".into()
        } else {
            format!("[profile.{}]", self.profile)
        }
    }
}

/// Which file to read: Ok(None, looked_at) when the usual places hold none.
fn locate() -> Result<(Option<PathBuf>, Option<PathBuf>)> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(explicit) = var("S3SEAL_CONFIG") {
        // Named explicitly: it must be there.
        return Ok((Some(PathBuf::from(explicit)), None));
    }
    let base = match var("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(xdg) if xdg.is_absolute() => xdg,
        _ => match var("HOME") {
            Some(home) => PathBuf::from(home).join(".config"),
            None => return Ok((None, None)),
        },
    };
    let path = base.join("s3seal").join("config.toml");
    if path.exists() {
        Ok((Some(path), None))
    } else {
        Ok((None, Some(path)))
    }
}

/// `config file F, line N: MESSAGE` (exit 2).
fn file_error(path: &Path, text: &str, at: Option<usize>, message: &str) -> Error {
    let place = match at {
        Some(offset) => {
            let line = text[..offset.min(text.len())].matches('\n').count() + 1;
            format!(", line {line}")
        }
        None => String::new(),
    };
    let hint = if message.contains("unknown field `profile ") {
        "a profile's section is written [profile.NAME] in TOML"
    } else {
        "fix or move the file; S3SEAL_CONFIG names another one"
    };
    Error::usage_hint(
        format!("config file {}{place}: {}", path.display(), message.trim()),
        hint,
    )
}

fn strings<T: Clone>(v: &Option<Spanned<T>>) -> Option<(T, usize)> {
    v.as_ref().map(|s| (s.get_ref().clone(), s.span().start))
}

/// Checks one section's values and flattens them to the strings the parser will see.
fn validate(path: &Path, text: &str, s: &Section) -> Result<BTreeMap<&'static str, Vec<String>>> {
    let bad = |at: usize, msg: String| file_error(path, text, Some(at), &msg);
    let mut out = BTreeMap::new();
    for (key, value) in [
        ("kms_key_id", strings(&s.kms_key_id)),
        ("expected_owner", strings(&s.expected_owner)),
    ] {
        if let Some((v, at)) = value {
            if v.trim().is_empty() {
                return Err(bad(at, format!("{key} is empty")));
            }
            out.insert(key, vec![v]);
        }
    }
    for (key, value) in [
        ("expected_kms_key_ids", strings(&s.expected_kms_key_ids)),
        ("trusted_accounts", strings(&s.trusted_accounts)),
    ] {
        if let Some((list, at)) = value {
            if list.iter().any(|v| v.trim().is_empty() || v.contains(',')) {
                return Err(bad(
                    at,
                    format!("{key}: an entry is empty or holds a comma"),
                ));
            }
            out.insert(key, list);
        }
    }
    if let Some((mode, at)) = strings(&s.posture) {
        if PostureMode::from_str(&mode, false).is_err() {
            let msg = format!("posture = {mode:?}: use \"enforce\", \"strict\" or \"off\"");
            return Err(bad(at, msg));
        }
        out.insert("posture", vec![mode]);
    }
    if let Some((n, at)) = strings(&s.concurrency) {
        if n < 1 {
            return Err(bad(at, format!("concurrency = {n}: must be at least 1")));
        }
        out.insert("concurrency", vec![n.to_string()]);
    }
    if let Some(size) = &s.part_size {
        let text_value = match size.get_ref() {
            toml::Value::Integer(n) if *n > 0 => n.to_string(),
            toml::Value::String(s) => s.clone(),
            other => {
                let msg = format!("part_size = {other}: use bytes or a size like \"16MiB\"");
                return Err(bad(size.span().start, msg));
            }
        };
        parse_size(&text_value).map_err(|e| bad(size.span().start, format!("part_size: {e}")))?;
        out.insert("part_size", vec![text_value]);
    }
    Ok(out)
}

/// Reads the config for `profile`. A file that is named but missing, unreadable or malformed
/// is a usage error naming it (and the line, when there is one).
pub fn load(profile: &str) -> Result<Loaded> {
    let (path, looked_at) = locate()?;
    let mut loaded = Loaded {
        path: path.clone(),
        looked_at,
        profile: profile.to_string(),
        values: BTreeMap::new(),
    };
    let Some(path) = path else {
        return Ok(loaded);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| file_error(&path, "", None, &format!("cannot read it: {e}")))?;
    let file: File = toml::from_str(&text)
        .map_err(|e| file_error(&path, &text, e.span().map(|s| s.start), e.message()))?;
    let section = if profile == "default" {
        file.default
    } else {
        file.profile.get(profile).cloned()
    };
    if let Some(section) = section {
        loaded.values = validate(&path, &text, &section)?;
    }
    Ok(loaded)
}

/// The profile in use: `--profile NAME` on the command line, else AWS_PROFILE, else default.
fn profile_from(args: &[OsString]) -> String {
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = it.next() {
        if arg == "--" {
            break;
        }
        if arg == "--profile" {
            if let Some(v) = it.next() {
                return v.into_owned();
            }
        } else if let Some(v) = arg.strip_prefix("--profile=") {
            return v.to_string();
        }
    }
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// Wires the variables (and, with `loaded`, the config values as defaults) into `cmd` and its
/// subcommands.
fn wire(mut cmd: clap::Command, loaded: Option<&Loaded>) -> clap::Command {
    let leaf = cmd.get_name().to_string();
    for setting in &SETTINGS {
        if setting
            .only
            .is_some_and(|only| !only.contains(&leaf.as_str()))
        {
            continue;
        }
        let Some(id) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(setting.long))
            .map(|a| a.get_id().clone())
        else {
            continue;
        };
        let value = loaded.and_then(|l| l.values.get(setting.key)).cloned();
        cmd = cmd.mut_arg(id, |mut arg| {
            if arg.get_env().is_none() {
                // Named in --help, its value not shown (clap would print `NAME=` when unset).
                arg = arg.env(setting.env).hide_env_values(true);
            }
            // A repeatable flag takes a list (its variable split on commas); a single-valued
            // one gets the list joined, which matches no key id: a pin fails closed.
            let repeatable = matches!(arg.get_action(), clap::ArgAction::Append);
            if repeatable {
                arg = arg.value_delimiter(',');
            }
            // A value from the config file shows as the flag's `[default: ...]` (the text's
            // `[built in: ...]` is what applies without one).
            match value {
                Some(values) if repeatable => arg
                    .required(false)
                    .default_values(values)
                    .hide_default_value(false),
                Some(values) => arg
                    .required(false)
                    .default_value(values.join(","))
                    .hide_default_value(false),
                None => arg,
            }
        });
    }
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().into()).collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, |sub| wire(sub, loaded));
    }
    cmd
}

/// The full command line with variables and (when given) config defaults.
pub fn command(loaded: Option<&Loaded>) -> clap::Command {
    wire(Cli::command(), loaded)
}

/// What `main` needs after parsing: the matches and the config, for `config show`.
pub struct Context {
    matches: ArgMatches,
    loaded: Loaded,
}

/// Parses the command line with the config's defaults. Prints clap's own errors and help as
/// `Cli::parse` does; a bad config file is exit 2.
pub fn parse() -> std::result::Result<(Cli, Context), ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let wants_json = args.iter().any(|a| a == "--json");
    let loaded = match load(&profile_from(&args)) {
        Ok(l) => l,
        Err(err) => {
            super::report(&err);
            if wants_json {
                let command = args.get(1).and_then(|a| a.to_str()).unwrap_or("s3seal");
                println!("{}", super::json::failure(command, &err, exit::USAGE));
            }
            return Err(ExitCode::from(exit::USAGE));
        }
    };
    let matches = match command(Some(&loaded)).try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(e) => {
            // A caller that asked for JSON gets its one document for a usage error too.
            if wants_json && e.use_stderr() {
                let command = args.get(1).and_then(|a| a.to_str()).unwrap_or("s3seal");
                let err = clap_error(&e);
                println!("{}", super::json::failure(command, &err, exit::USAGE));
            }
            e.exit()
        }
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    remember_command_line(&matches);
    Ok((cli, Context { matches, loaded }))
}

/// clap's error as the usage error a JSON caller reads: the message clap prints (first line,
/// without its `error: `), and its tip as the hint.
fn clap_error(e: &clap::Error) -> Error {
    let rendered = e.render().to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut message = lines
        .first()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string())
        .unwrap_or_else(|| e.kind().to_string());
    // "the following required arguments were not provided:" is followed by the arguments.
    if message.ends_with(':') {
        let listed: Vec<&str> = lines
            .iter()
            .skip(1)
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("tip:"))
            .copied()
            .collect();
        message = format!("{message} {}", listed.join(", "));
    }
    let hint = lines
        .iter()
        .find_map(|l| l.strip_prefix("tip: "))
        .map_or_else(|| "see --help".to_string(), str::to_string);
    Error::usage_hint(message, hint)
}

/// The ids of the arguments of this run's command that were typed on its command line (not
/// taken from the environment or the config file).
static ON_COMMAND_LINE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn remember_command_line(matches: &ArgMatches) {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let ids = leaf
        .ids()
        .filter(|id| leaf.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect();
    let _ = ON_COMMAND_LINE.set(ids);
}

/// Whether the argument `id` of this run's command was given on the command line. A setting
/// that only the environment or the config file gives is a default, which a command may find
/// does not apply (a bucket check for a presigned URL destination) without it being an error.
pub fn on_command_line(id: &str) -> bool {
    ON_COMMAND_LINE
        .get()
        .is_some_and(|ids| ids.iter().any(|i| i == id))
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print each effective default and where it came from (flag, env, config file, default);
    /// the flags here stand for the same flags of the other commands
    Show(ShowArgs),
}

/// The settings' flags, so that `config show --posture strict` shows what a command with that
/// flag would get. Field names are the config keys.
#[derive(Args, Debug)]
struct ShowArgs {
    /// Envelope KMS key (put, migrate)
    #[arg(long, value_name = "ID")]
    kms_key_id: Option<String>,
    /// KMS key an object's data key must be wrapped under (repeatable)
    #[arg(long = "expected-kms-key-id", value_name = "ID")]
    expected_kms_key_ids: Vec<String>,
    /// Posture gate mode
    #[arg(long, value_enum)]
    posture: Option<PostureMode>,
    /// Account id that must own the bucket
    #[arg(long, value_name = "ACCOUNT_ID", value_parser = super::posture::parse_account_id)]
    expected_owner: Option<String>,
    /// Account whose cross-account access is intended (repeatable)
    #[arg(long = "trusted-account", value_name = "ACCOUNT_ID", value_parser = super::posture::parse_account_id)]
    trusted_accounts: Vec<String>,
    /// Parts or requests in flight
    #[arg(long)]
    concurrency: Option<usize>,
    /// Bytes per part or ranged GET
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    part_size: Option<u64>,
}

/// `s3seal config show`.
pub fn run(ctx: &Context, args: &ConfigArgs) -> Result<()> {
    let ConfigAction::Show(_) = &args.action;
    let m = ctx
        .matches
        .subcommand_matches("config")
        .and_then(|m| m.subcommand_matches("show"))
        .ok_or_else(|| Error::usage("config show: no matches"))?;
    let l = &ctx.loaded;
    match (&l.path, &l.looked_at) {
        (Some(p), _) => println!("config file: {}", p.display()),
        (None, Some(p)) => println!("config file: none ({} does not exist)", p.display()),
        (None, None) => println!("config file: none (neither S3SEAL_CONFIG nor HOME is set)"),
    }
    println!("profile: {} (section {})", l.profile, l.section_name());
    let rows: Vec<(String, String, String)> = SETTINGS
        .iter()
        .map(|s| {
            let values: Vec<String> = m
                .get_raw(s.key)
                .map(|v| v.map(|x| x.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let origin = match m.value_source(s.key) {
                Some(ValueSource::CommandLine) => format!("flag --{}", s.long),
                Some(ValueSource::EnvVariable) => format!("env {}", s.env),
                Some(ValueSource::DefaultValue) => format!(
                    "config {} {}",
                    l.path.as_deref().unwrap_or(Path::new("?")).display(),
                    l.section_name()
                ),
                _ => "default".to_string(),
            };
            let value = if values.is_empty() {
                s.builtin.to_string()
            } else {
                values.join(", ")
            };
            (s.key.to_string(), value, origin)
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    for (key, value, origin) in rows {
        println!("{key:w0$}  {value:w1$}  {origin}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_comes_from_the_flag_first() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            profile_from(&args(&["s3seal", "--profile", "p", "put"])),
            "p"
        );
        assert_eq!(profile_from(&args(&["s3seal", "get", "--profile=q"])), "q");
    }

    #[test]
    fn lists_become_defaults_of_repeatable_and_single_flags() {
        use clap::{Arg, ArgAction};
        let loaded = Loaded {
            values: BTreeMap::from([("expected_kms_key_ids", vec!["a".into(), "b".into()])]),
            ..Loaded::default()
        };
        let pin = |action| Arg::new("pin").long("expected-kms-key-id").action(action);
        for (action, expected) in [
            (ArgAction::Append, vec!["a", "b"]),
            (ArgAction::Set, vec!["a,b"]),
        ] {
            let cmd = wire(clap::Command::new("get").arg(pin(action)), Some(&loaded));
            let m = cmd.try_get_matches_from(["get"]).unwrap();
            let got: Vec<&String> = m.get_many::<String>("pin").unwrap().collect();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn every_setting_reaches_an_argument() {
        let cmd = command(None);
        cmd.clone().debug_assert();
        let show = cmd
            .find_subcommand("config")
            .and_then(|c| c.find_subcommand("show"))
            .unwrap();
        for s in &SETTINGS {
            let arg = show.get_arguments().find(|a| a.get_id() == s.key).unwrap();
            assert_eq!(arg.get_long(), Some(s.long), "{}", s.key);
            assert_eq!(
                arg.get_env().map(|e| e.to_string_lossy().into_owned()),
                Some(s.env.to_string())
            );
        }
    }
}

//! What `put --recursive`, `get --recursive` and `sync` share on the command line: the object
//! settings flags (also on single `put`), the filter and run flags, the per-object JSON lines
//! and summary, and the run's exit code (0, 7 = some objects failed, 3 = any integrity failure).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::{Args, ValueEnum};
use s3seal::kms::Keyring;
use s3seal::store::{LockMode, ObjectSettings, ObjectStore, Retention};
use s3seal::terminal::escape_for_terminal;
use s3seal::transfer::Cancel;
use s3seal::tree::filter::Rule;
use s3seal::tree::run::{DEFAULT_OBJECTS_IN_FLIGHT, ObjectReport, Summary};
use s3seal::tree::{Filters, TreeRequest, run_tree};
use s3seal::{Error, Result};
use serde_json::json;

use super::{exit, json, parse_pair, progress};

/// Object Lock retention mode.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum LockModeArg {
    Governance,
    Compliance,
}

/// `--object-lock-legal-hold`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
#[value(rename_all = "lower")]
pub enum OnOff {
    On,
    Off,
}

/// How new objects are stored (every upload: single, recursive, sync).
#[derive(Args, Debug, Clone, Default)]
pub struct ObjectSettingsArgs {
    /// S3 storage class of new objects, e.g. STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR
    #[arg(long, value_name = "CLASS", value_parser = parse_storage_class)]
    storage_class: Option<String>,
    /// Tag for new objects (repeatable)
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_pair)]
    tags: Vec<(String, String)>,
    /// Object Lock retention mode of new objects (the bucket must have Object Lock enabled)
    #[arg(long, value_enum, requires = "object_lock_retain_until")]
    object_lock_mode: Option<LockModeArg>,
    /// Keep new objects until DATE (YYYY-MM-DD or RFC 3339, UTC), with --object-lock-mode
    #[arg(long, value_name = "DATE", value_parser = parse_date, requires = "object_lock_mode")]
    object_lock_retain_until: Option<String>,
    /// Object Lock legal hold on new objects
    #[arg(long, value_enum, value_name = "on|off")]
    object_lock_legal_hold: Option<OnOff>,
}

impl ObjectSettingsArgs {
    pub fn settings(&self) -> ObjectSettings {
        ObjectSettings {
            storage_class: self.storage_class.clone(),
            tags: self.tags.clone(),
            metadata: Vec::new(),
            retention: match (self.object_lock_mode, &self.object_lock_retain_until) {
                (Some(mode), Some(until)) => Some(Retention {
                    mode: match mode {
                        LockModeArg::Governance => LockMode::Governance,
                        LockModeArg::Compliance => LockMode::Compliance,
                    },
                    retain_until: until.clone(),
                }),
                _ => None,
            },
            legal_hold: self.object_lock_legal_hold == Some(OnOff::On),
        }
    }

    /// Whether the objects need a bucket with Object Lock.
    pub fn wants_lock(&self) -> bool {
        self.object_lock_mode.is_some() || self.object_lock_legal_hold == Some(OnOff::On)
    }
}

/// `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SS[.fff]Z`, returned as RFC 3339.
fn parse_date(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let date_ok = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !date_ok {
        return Err(format!(
            "{s:?} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"
        ));
    }
    if b.len() == 10 {
        return real_and_future(s, format!("{s}T00:00:00Z"));
    }
    let time_ok = b.len() >= 20
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z');
    if time_ok {
        real_and_future(s, s.to_string())
    } else {
        Err(format!(
            "{s:?}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)"
        ))
    }
}

/// `rfc3339` (what `typed` became) if it is a real date and time, and later than now: S3 refuses
/// a retention that ends in the past, and would do so for every object of a tree one by one.
fn real_and_future(typed: &str, rfc3339: String) -> Result<String, String> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let when = DateTime::from_str(&rfc3339, Format::DateTime)
        .map_err(|_| format!("{typed:?} is not a real date and time"))?;
    if when.secs() <= DateTime::from(std::time::SystemTime::now()).secs() {
        return Err(format!(
            "{typed:?} is in the past: Object Lock keeps objects until a later date"
        ));
    }
    Ok(rfc3339)
}

/// An S3 storage class S3 knows (`STANDARD`, `STANDARD_IA`, ...), checked before anything is
/// sent: S3 would refuse every object of a tree one by one.
fn parse_storage_class(s: &str) -> Result<String, String> {
    let known = aws_sdk_s3::types::StorageClass::values();
    if known.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an S3 storage class (one of {})",
            known.join(", ")
        ))
    }
}

/// A pattern with its place on the command line, so includes and excludes keep their order.
#[derive(Clone, Debug)]
pub struct Ordered(usize, String);

static NEXT_FILTER: AtomicUsize = AtomicUsize::new(0);

fn ordered(s: &str) -> Result<Ordered, String> {
    Ok(Ordered(
        NEXT_FILTER.fetch_add(1, Ordering::Relaxed),
        s.to_string(),
    ))
}

/// The flags of a run over many objects.
#[derive(Args, Debug, Clone)]
pub struct TreeArgs {
    /// Take paths matching GLOB back in after an --exclude (repeatable; filters apply in
    /// command-line order and the last match wins, as in the AWS CLI; `*` also matches `/`)
    #[arg(long, value_name = "GLOB", value_parser = ordered)]
    include: Vec<Ordered>,
    /// Leave out paths matching GLOB (repeatable; never transferred, never deleted)
    #[arg(long, value_name = "GLOB", value_parser = ordered)]
    exclude: Vec<Ordered>,
    /// Print what would be transferred or deleted; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Stop at the first failed object (in-flight transfers are aborted)
    #[arg(long)]
    fail_fast: bool,
    /// Follow symbolic links (default: skip and report them)
    #[arg(long)]
    follow_symlinks: bool,
    /// Objects in flight at once (all inside one memory budget)
    #[arg(long, default_value_t = DEFAULT_OBJECTS_IN_FLIGHT, value_name = "N")]
    objects_in_flight: usize,
}

impl TreeArgs {
    /// The first tree flag given, if any (refused without --recursive).
    pub fn given(&self) -> Option<&'static str> {
        [
            (!self.include.is_empty(), "--include"),
            (!self.exclude.is_empty(), "--exclude"),
            (self.dry_run, "--dry-run"),
            (self.fail_fast, "--fail-fast"),
            (self.follow_symlinks, "--follow-symlinks"),
            (
                self.objects_in_flight != DEFAULT_OBJECTS_IN_FLIGHT,
                "--objects-in-flight",
            ),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    pub fn filters(&self) -> Result<Filters> {
        let mut rules: Vec<(usize, Rule, String)> = self
            .include
            .iter()
            .map(|o| (o.0, Rule::Include, o.1.clone()))
            .chain(
                self.exclude
                    .iter()
                    .map(|o| (o.0, Rule::Exclude, o.1.clone())),
            )
            .collect();
        rules.sort_by_key(|r| r.0);
        let rules: Vec<(Rule, String)> = rules.into_iter().map(|(_, r, p)| (r, p)).collect();
        Filters::new(&rules)
    }

    /// The run's flags into `request`.
    pub fn apply(&self, request: &mut TreeRequest) -> Result<()> {
        if self.objects_in_flight == 0 {
            return Err(Error::usage("--objects-in-flight must be at least 1"));
        }
        request.filters = self.filters()?;
        request.dry_run = self.dry_run;
        request.fail_fast = self.fail_fast;
        request.follow_symlinks = self.follow_symlinks;
        request.objects_in_flight = self.objects_in_flight;
        Ok(())
    }
}

fn class_name(err: &Error) -> &'static str {
    match err.class() {
        s3seal::ErrorClass::Runtime => "runtime",
        s3seal::ErrorClass::Usage => "usage",
        s3seal::ErrorClass::Integrity => "integrity",
        s3seal::ErrorClass::Posture => "posture",
        s3seal::ErrorClass::Interrupted => "interrupted",
    }
}

/// One object's JSON line.
fn object_line(command: &str, r: &ObjectReport) -> serde_json::Value {
    json!({
        "schema": json::SCHEMA,
        "command": command,
        "type": "object",
        "source": r.source,
        "destination": r.destination,
        "plaintext_bytes": r.plaintext_bytes,
        "action": r.action.as_str(),
        "dry_run": r.dry_run,
        "reason": r.reason,
        "kms_key_arn": r.kms_key_arn,
        "etag": r.etag,
        "parts_skipped": r.parts_skipped,
        "error": r.error.as_ref().map(|e| json!({
            "class": class_name(e),
            "message": e.to_string(),
            "hint": e.hint(),
        })),
    })
}

/// An object sync left alone because it is current: not worth a line on a terminal.
fn is_unchanged(r: &ObjectReport) -> bool {
    r.action == s3seal::tree::Action::Skipped && r.reason.as_deref() == Some("unchanged")
}

/// One object's line on stderr.
fn human_line(r: &ObjectReport) -> String {
    let dry = if r.dry_run { "(dry run) " } else { "" };
    let arrow = if r.source.is_empty() {
        r.destination.clone()
    } else {
        format!("{} -> {}", r.source, r.destination)
    };
    let mut line = format!("{dry}{}: {arrow}", r.action.as_str());
    if let Some(reason) = &r.reason {
        line.push_str(&format!(" ({reason})"));
    }
    if let Some(err) = &r.error {
        line.push_str(&format!(": {err}"));
    }
    escape_for_terminal(&line).into_owned()
}

/// The exit code of a finished run: 3 if any object failed its integrity check, 7 if some
/// objects failed, else 0.
pub fn exit_code(summary: &Summary) -> u8 {
    if summary.integrity_failures > 0 {
        exit::INTEGRITY
    } else if summary.failed > 0 {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    }
}

/// Runs `request` and prints its objects and summary; returns the exit code.
pub async fn execute<K: Keyring>(
    command: &str, store: Arc<dyn ObjectStore>, keyring: &K, request: &TreeRequest,
    output: json::OutputArgs, cancel: Cancel,
) -> Result<ExitCode> {
    let started = Instant::now();
    let shown = progress::run_reporter(output.quiet || output.json, command);
    let (mut done, mut failed) = (0u64, 0u64);
    let print = |r: &ObjectReport| {
        done += 1;
        failed += u64::from(r.error.is_some());
        shown.objects(done, failed);
        if output.json {
            println!("{}", object_line(command, r));
        } else if r.error.is_some() || !(output.quiet || is_unchanged(r)) {
            shown.eprintln(&human_line(r));
        }
    };
    let bytes = Arc::clone(&shown.bytes);
    let summary = run_tree(store, keyring, request, bytes, cancel, print).await?;
    let code = exit_code(&summary);
    if output.json {
        let failures: Vec<_> = summary
            .failures
            .iter()
            .map(|(source, message)| json!({"source": source, "message": message}))
            .collect();
        let doc = json!({
            "schema": json::SCHEMA,
            "command": command,
            "type": "summary",
            "ok": code == exit::SUCCESS,
            "exit_code": code,
            "dry_run": request.dry_run,
            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "uploaded": summary.uploaded,
            "downloaded": summary.downloaded,
            "skipped": summary.skipped,
            "deleted": summary.deleted,
            "failed": summary.failed,
            "plaintext_bytes": summary.bytes,
            "failures": failures,
        });
        println!("{doc}");
    }
    if !output.quiet {
        eprintln!(
            "{}: {} uploaded, {} downloaded, {} skipped, {} deleted, {} failed ({} bytes in {:.1} s){}",
            command,
            summary.uploaded,
            summary.downloaded,
            summary.skipped,
            summary.deleted,
            summary.failed,
            summary.bytes,
            started.elapsed().as_secs_f64(),
            if request.dry_run {
                "; dry run, nothing changed"
            } else {
                ""
            }
        );
        for (source, message) in &summary.failures {
            eprintln!(
                "  failed: {}",
                escape_for_terminal(&format!("{source}: {message}"))
            );
        }
    }
    Ok(ExitCode::from(code))
}

/// Refuses Object Lock settings before any upload when `bucket` does not have Object Lock
/// enabled (S3 would refuse every object one by one).
pub async fn check_lock(
    aws: &s3seal::aws::Aws, bucket: &str, expected_owner: Option<String>, wanted: bool,
) -> Result<()> {
    if !wanted {
        return Ok(());
    }
    let lock = s3seal::posture::gather::object_lock(&aws.s3, bucket, expected_owner).await;
    if matches!(lock, s3seal::posture::Fact::Present(ref l) if l.enabled) {
        return Ok(());
    }
    Err(Error::usage_hint(
        format!(
            "bucket {bucket} does not have Object Lock enabled (or its configuration cannot be read), so --object-lock-* cannot apply"
        ),
        "Object Lock is enabled when a bucket is created (or later with PutObjectLockConfiguration); `s3seal posture s3://BUCKET` shows it",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("2030-01-02").unwrap(), "2030-01-02T00:00:00Z");
        assert_eq!(
            parse_date("2030-01-02T03:04:05Z").unwrap(),
            "2030-01-02T03:04:05Z"
        );
        assert!(parse_date("2030-1-2").is_err());
        assert!(parse_date("tomorrow").is_err());
        assert!(parse_date("2030-01-02T03:04:05+02:00").is_err());
    }

    #[test]
    fn the_exit_code_ranks_integrity_over_partial() {
        let mut s = Summary::default();
        assert_eq!(exit_code(&s), exit::SUCCESS);
        s.failed = 2;
        assert_eq!(exit_code(&s), exit::PARTIAL);
        s.integrity_failures = 1;
        assert_eq!(exit_code(&s), exit::INTEGRITY);
    }
}

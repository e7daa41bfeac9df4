//! `s3seal posture s3://BUCKET`: the bucket posture report, and the gate `put` runs before it
//! uploads anything. The library judges; this file decides what the judgement looks like on
//! a terminal (colours) and to a shell (the exit code, also in the JSON document).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use s3seal::aws::Aws;
use s3seal::location::ObjectLocation;
use s3seal::posture::{
    self, AccountClients, GateDecision, GateMode, Highlight, PostureOptions, Report, Severity,
    Status, Verdict,
};
use s3seal::{Error, Result};
use serde_json::Value;

use super::{GlobalArgs, exit};

#[derive(Args, Debug)]
pub struct PostureArgs {
    /// Bucket to check, s3://BUCKET
    #[arg(required_unless_present = "print_iam_policy")]
    bucket: Option<String>,
    /// Print exactly one JSON document on stdout
    #[arg(long)]
    pub(super) json: bool,
    /// Print the minimal read-only IAM policy the check needs, and exit
    #[arg(long)]
    print_iam_policy: bool,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// An AWS account id: exactly 12 digits. Anything else would only ever be compared, never
/// matched ("owned by abc" must not read as a pass).
pub fn parse_account_id(s: &str) -> std::result::Result<String, String> {
    let s = s.trim();
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not an AWS account id (12 digits)"))
    }
}

/// Options shared by `posture` and the gate in `put`.
#[derive(Args, Debug, Clone, Default)]
pub struct OwnerArgs {
    /// Account id that must own the bucket; every request then carries ExpectedBucketOwner
    #[arg(long, value_name = "ACCOUNT_ID", value_parser = parse_account_id)]
    pub expected_owner: Option<String>,
    /// Account whose cross-account access is intended (repeatable)
    #[arg(long = "trusted-account", value_name = "ACCOUNT_ID", value_parser = parse_account_id)]
    pub trusted_accounts: Vec<String>,
}

impl OwnerArgs {
    pub fn options(&self) -> PostureOptions {
        PostureOptions {
            expected_owner: self.expected_owner.clone(),
            trusted_accounts: self.trusted_accounts.clone(),
        }
    }
}

/// `--posture` of `put`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PostureMode {
    /// Refuse a `block` verdict; warn about the rest
    #[default]
    Enforce,
    /// Refuse anything but `ok`
    Strict,
    /// Skip the check
    Off,
}

impl From<PostureMode> for GateMode {
    fn from(m: PostureMode) -> Self {
        match m {
            PostureMode::Enforce => GateMode::Enforce,
            PostureMode::Strict => GateMode::Strict,
            PostureMode::Off => GateMode::Off,
        }
    }
}

async fn report_for(aws: &Aws, bucket: &str, opts: &PostureOptions) -> Report {
    let account = AccountClients::from_conf(&aws.config);
    posture::check(&aws.s3, Some(&account), bucket, opts).await
}

/// The gate before an upload: refuses (exit 4) or prints one line per notable finding.
pub async fn gate(aws: &Aws, bucket: &str, mode: PostureMode, owner: &OwnerArgs) -> Result<()> {
    if mode == PostureMode::Off {
        return Ok(());
    }
    let report = report_for(aws, bucket, &owner.options()).await;
    match report.gate(mode.into()) {
        GateDecision::Proceed { notices } => {
            // Checks that could not be read are named together in one line (below).
            for finding in notices
                .iter()
                .filter(|f| f.status != posture::Status::Unknown)
            {
                eprintln!("s3seal: posture: {}", finding.one_line());
            }
            if let Some(line) = unknown_line(&report) {
                eprintln!("s3seal: posture: {line}");
            }
            Ok(())
        }
        GateDecision::Refuse { verdict, reasons } => {
            for finding in &reasons {
                eprintln!("s3seal: posture: {}", finding.one_line());
                eprintln!("    fix: {}", finding.fix);
            }
            Err(Error::Posture(format!(
                "bucket {bucket} has posture verdict {}; nothing was uploaded (`s3seal posture s3://{bucket}` explains, --posture off skips the check)",
                verdict.as_str()
            )))
        }
    }
}

/// One line naming the checks `enforce` could not read (it uploads anyway) and the permissions
/// that would settle them; `None` when every check was read.
fn unknown_line(report: &Report) -> Option<String> {
    let unknown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == posture::Status::Unknown)
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let checks: Vec<&str> = unknown.iter().map(|f| f.check.as_str()).collect();
    // What would settle each: a permission the caller lacks, an owner to check against, or
    // nothing the caller can do (the server did not answer, or does not implement the call).
    let mut permissions: Vec<&str> = unknown
        .iter()
        .filter_map(|f| f.missing_permission.as_deref())
        .collect();
    permissions.sort_unstable();
    permissions.dedup();
    let owner = unknown
        .iter()
        .any(|f| f.check == posture::CheckId::Owner && f.missing_permission.is_none());
    let unanswered: Vec<&str> = unknown
        .iter()
        .filter(|f| f.missing_permission.is_none() && f.check != posture::CheckId::Owner)
        .map(|f| f.check.as_str())
        .collect();
    let mut settle = Vec::new();
    if !permissions.is_empty() {
        settle.push(format!(
            "granting {} would settle them",
            permissions.join(", ")
        ));
    }
    if owner {
        settle.push("--expected-owner ACCOUNT_ID would settle owner".to_string());
    }
    if !unanswered.is_empty() {
        settle.push(format!(
            "the server did not answer {}",
            unanswered.join(", ")
        ));
    }
    Some(format!(
        "uploading although {} check(s) could not be read: {} ({}; --posture strict refuses unknown checks)",
        checks.len(),
        checks.join(", "),
        settle.join("; ")
    ))
}

pub async fn run(global: &GlobalArgs, args: PostureArgs) -> Result<ExitCode> {
    if args.print_iam_policy {
        let bucket = args
            .bucket
            .as_deref()
            .map(ObjectLocation::parse_bucket)
            .transpose()?;
        let policy = posture::minimal_iam_policy(bucket.as_deref());
        println!(
            "{}",
            serde_json::to_string_pretty(&policy).expect("JSON value serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let bucket = ObjectLocation::parse_bucket(args.bucket.as_deref().expect("required by clap"))?;
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let report = report_for(&aws, &bucket, &args.owner.options()).await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_document(&report)).expect("JSON value serializes")
        );
    } else {
        print!("{}", render(&report, std::io::stdout().is_terminal()));
    }
    Ok(ExitCode::from(exit::for_verdict(report.verdict())))
}

/// The document of `--json`: the library's report with the exit code of its verdict.
fn json_document(report: &Report) -> Value {
    let code = exit::for_verdict(report.verdict());
    let mut doc = super::json::enveloped("posture", code == exit::SUCCESS, report.to_json());
    doc["exit_code"] = code.into();
    doc
}

/// The readable report, with ANSI colours when `color`.
fn render(report: &Report, color: bool) -> String {
    if !color {
        return report.render_text();
    }
    report.render_with(|part, text| format!("\x1b[{}m{text}\x1b[0m", ansi_code(part)))
}

/// The colour of a highlighted part: verdicts in bold, statuses by how much they weigh.
fn ansi_code(part: Highlight) -> &'static str {
    match part {
        Highlight::Verdict(Verdict::Ok) => "1;32",
        Highlight::Verdict(Verdict::Warn) => "1;33",
        Highlight::Verdict(Verdict::Block) => "1;31",
        Highlight::Verdict(Verdict::Unknown) => "1;35",
        Highlight::Status(Status::Pass, _) => "32",
        Highlight::Status(Status::Fail, Severity::Block) => "31",
        Highlight::Status(Status::Fail, Severity::Warn) => "33",
        Highlight::Status(Status::Fail, Severity::Info) => "36",
        Highlight::Status(Status::Unknown, _) => "35",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3seal::posture::{BucketFacts, Fact};

    /// A bucket with nothing configured but the public-read policy of the rule fixtures.
    fn public_read() -> Report {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/posture/public-read.json"
        );
        let mut facts = BucketFacts::unconfigured("b");
        facts.policy = Fact::Present(std::fs::read_to_string(path).expect("fixture"));
        facts.policy_status = Fact::Present(true);
        posture::evaluate(&facts, &PostureOptions::default())
    }

    #[test]
    fn exit_codes_of_verdicts() {
        assert_eq!(exit::for_verdict(Verdict::Ok), 0);
        assert_eq!(exit::for_verdict(Verdict::Block), 4);
        assert_eq!(exit::for_verdict(Verdict::Warn), 5);
        assert_eq!(exit::for_verdict(Verdict::Unknown), 6);
    }

    #[test]
    fn json_document_carries_the_exit_code() {
        let r = public_read();
        let doc = json_document(&r);
        assert_eq!(doc["verdict"], "block");
        assert_eq!(doc["exit_code"], 4);
        assert_eq!(doc["findings"], r.to_json()["findings"]);
    }

    #[test]
    fn colours_only_on_a_terminal() {
        let r = public_read();
        let plain = render(&r, false);
        assert_eq!(plain, r.render_text());
        assert!(!plain.contains('\x1b'));
        let colored = render(&r, true);
        assert!(colored.contains("\x1b[31m"), "{colored}");
        let lines: Vec<&str> = colored.lines().collect();
        assert_eq!(
            lines[0],
            "posture of s3://b: verdict \x1b[1;31mBLOCK\x1b[0m"
        );
        let policy_line = lines.iter().find(|l| l.contains("policy-public")).unwrap();
        assert!(
            policy_line.starts_with("\x1b[31mFAIL   \x1b[0m block policy-public "),
            "{policy_line:?}"
        );
        let stripped = colored
            .replace("\x1b[0m", "")
            .split("\x1b[")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    &part[part.find('m').unwrap() + 1..]
                }
            })
            .collect::<String>();
        assert_eq!(stripped, plain);
    }
}

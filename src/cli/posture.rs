//! `s3seal posture s3://BUCKET`: the bucket posture report, and the gate `put` runs before it
//! uploads anything.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use s3seal::aws::Aws;
use s3seal::location::ObjectLocation;
use s3seal::posture::{self, AccountClients, GateDecision, GateMode, PostureOptions, Report};
use s3seal::{Error, Result};

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct PostureArgs {
    /// Bucket to check, s3://BUCKET
    #[arg(required_unless_present = "print_iam_policy")]
    bucket: Option<String>,
    /// Print exactly one JSON document on stdout
    #[arg(long)]
    json: bool,
    /// Print the minimal read-only IAM policy the check needs, and exit
    #[arg(long)]
    print_iam_policy: bool,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// Options shared by `posture` and the gate in `put`.
#[derive(Args, Debug, Clone, Default)]
pub struct OwnerArgs {
    /// Account id that must own the bucket; every request then carries ExpectedBucketOwner
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub expected_owner: Option<String>,
    /// Account whose cross-account access is intended (repeatable)
    #[arg(long = "trusted-account", value_name = "ACCOUNT_ID")]
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
            for finding in notices {
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
    let mut permissions: Vec<&str> = unknown
        .iter()
        .filter_map(|f| f.missing_permission.as_deref())
        .collect();
    permissions.sort_unstable();
    permissions.dedup();
    let settle = if permissions.is_empty() {
        "no permission would settle them (the server could not answer)".to_string()
    } else {
        format!("granting {} would settle them", permissions.join(", "))
    };
    Some(format!(
        "uploading although {} check(s) could not be read: {} ({settle}; --posture strict refuses unknown checks)",
        checks.len(),
        checks.join(", ")
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
            serde_json::to_string_pretty(&report.to_json()).expect("JSON value serializes")
        );
    } else {
        print!("{}", report.render_text(std::io::stdout().is_terminal()));
    }
    Ok(ExitCode::from(report.exit_code() as u8))
}

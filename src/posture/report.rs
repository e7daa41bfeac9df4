//! Findings, the verdict, and how a posture report is shown.
//!
//! One [`Finding`] per check, always in the same order, each with its status, its severity,
//! the evidence it rests on, the permission that was missing when it could not decide, why it
//! matters and how to fix it. The verdict follows from the findings alone (see
//! [`Report::verdict`]), so the CLI, the JSON output and the gate in `put` cannot disagree.
//! What a verdict means to a shell (exit codes) and to a terminal (colours) is the CLI's
//! business: the library renders plain text and marks what may be highlighted
//! ([`Report::render_with`]).

use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;

/// The checks, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    /// The bucket belongs to the expected account.
    Owner,
    /// Effective (bucket OR account) Block Public Access.
    PublicAccessBlock,
    /// Public grants in the bucket policy, by AWS's definition, evaluated by s3seal.
    PolicyPublic,
    /// Allows limited only by wide `aws:SourceIp` ranges.
    PolicyWideCidr,
    /// AWS's own GetBucketPolicyStatus.
    PolicyStatus,
    /// Public grants in the bucket ACL.
    AclPublic,
    /// ACLs disabled (object ownership BucketOwnerEnforced).
    AclDisabled,
    /// Plain HTTP refused by the policy.
    HttpsOnly,
    /// Grants to other AWS accounts.
    CrossAccount,
    /// Default encryption.
    DefaultEncryption,
    /// The policy refuses uploads without SSE-KMS.
    SseKmsRequired,
    /// Versioning and MFA delete.
    Versioning,
    /// Object Lock.
    ObjectLock,
    /// Server access logging.
    AccessLogging,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 14] = [
        CheckId::Owner,
        CheckId::PublicAccessBlock,
        CheckId::PolicyPublic,
        CheckId::PolicyWideCidr,
        CheckId::PolicyStatus,
        CheckId::AclPublic,
        CheckId::AclDisabled,
        CheckId::HttpsOnly,
        CheckId::CrossAccount,
        CheckId::DefaultEncryption,
        CheckId::SseKmsRequired,
        CheckId::Versioning,
        CheckId::ObjectLock,
        CheckId::AccessLogging,
    ];

    /// The id used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Owner => "owner",
            CheckId::PublicAccessBlock => "public-access-block",
            CheckId::PolicyPublic => "policy-public",
            CheckId::PolicyWideCidr => "policy-wide-cidr",
            CheckId::PolicyStatus => "policy-status",
            CheckId::AclPublic => "acl-public",
            CheckId::AclDisabled => "acl-disabled",
            CheckId::HttpsOnly => "https-only",
            CheckId::CrossAccount => "cross-account",
            CheckId::DefaultEncryption => "default-encryption",
            CheckId::SseKmsRequired => "sse-kms-required",
            CheckId::Versioning => "versioning",
            CheckId::ObjectLock => "object-lock",
            CheckId::AccessLogging => "access-logging",
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The rule holds.
    Pass,
    /// The rule is broken.
    Fail,
    /// The rule could not be decided (a read was denied or failed). Never a pass.
    Unknown,
}

impl Status {
    /// `pass`, `fail` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// How much a failed (or undecided) check weighs in the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Reported, never changes the verdict.
    Info,
    /// Makes the verdict `warn` when the check fails or cannot be decided.
    Warn,
    /// Makes the verdict `block`: s3seal refuses to upload by default.
    Block,
}

impl Severity {
    /// `block`, `warn` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Block => "block",
            Severity::Warn => "warn",
            Severity::Info => "info",
        }
    }
}

/// The overall judgement of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing to report above info.
    Ok,
    /// Something worth fixing; uploads go on.
    Warn,
    /// Something that must be fixed before uploading.
    Block,
    /// A block-severity check could not be decided.
    Unknown,
}

impl Verdict {
    /// `ok`, `warn`, `block` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Block => "block",
            Verdict::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Which check.
    pub check: CheckId,
    /// Pass, fail or unknown.
    pub status: Status,
    /// Weight in the verdict. For an unknown status, the severity the check would have had
    /// if it had failed.
    pub severity: Severity,
    /// One sentence: what was found.
    pub summary: String,
    /// The evidence: the statement, the CIDR, the setting.
    pub evidence: Value,
    /// The IAM action s3seal could not use, when the status is unknown because a read failed.
    pub missing_permission: Option<String>,
    /// Why this matters.
    pub why: String,
    /// How to fix it (or "nothing to do").
    pub fix: String,
    /// Where the rule comes from (AWS documentation, Security Hub control, CIS item).
    pub sources: Vec<String>,
}

impl Finding {
    /// True for a finding that makes the verdict `block`.
    pub fn is_blocking(&self) -> bool {
        self.status == Status::Fail && self.severity == Severity::Block
    }

    /// True for a finding worth a line when uploading: anything not passing with a
    /// severity above info.
    pub fn is_notable(&self) -> bool {
        self.status != Status::Pass && self.severity > Severity::Info
    }

    /// One line: `FAIL block policy-public: <summary>`, without why and fix. For stderr
    /// lines in `put`.
    pub fn one_line(&self) -> String {
        let mut line = format!(
            "{} {} {}: {}",
            self.status.as_str().to_uppercase(),
            self.severity.as_str(),
            self.check,
            self.summary
        );
        if let Some(p) = &self.missing_permission {
            line.push_str(&format!(" (missing permission: {p})"));
        }
        line
    }

    /// The JSON form of the finding.
    pub fn to_json(&self) -> Value {
        json!({
            "check": self.check.as_str(),
            "status": self.status.as_str(),
            "severity": self.severity.as_str(),
            "summary": self.summary,
            "evidence": self.evidence,
            "missing_permission": self.missing_permission,
            "why": self.why,
            "fix": self.fix,
            "sources": self.sources,
        })
    }
}

/// How `put` treats the posture verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GateMode {
    /// Refuse on `block`; proceed on warn and unknown, printing each notable finding.
    #[default]
    Enforce,
    /// Refuse on anything but `ok`.
    Strict,
    /// Do not check.
    Off,
}

/// What the gate decided.
#[derive(Debug, Clone, PartialEq)]
pub enum GateDecision<'a> {
    /// Upload; print these findings as warnings (one line each).
    Proceed {
        /// The findings worth a line on stderr.
        notices: Vec<&'a Finding>,
    },
    /// Do not upload; print these findings.
    Refuse {
        /// The verdict that refused.
        verdict: Verdict,
        /// The findings that caused it.
        reasons: Vec<&'a Finding>,
    },
}

/// The posture report of one bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The bucket.
    pub bucket: String,
    /// One finding per check, in [`CheckId::ALL`] order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// `block` if any block-severity check fails; else `unknown` if any block-severity check
    /// is unknown; else `warn` if any warn-severity check fails or is unknown; else `ok`.
    pub fn verdict(&self) -> Verdict {
        let any = |status: &[Status], severity: Severity| {
            self.findings
                .iter()
                .any(|f| f.severity == severity && status.contains(&f.status))
        };
        if any(&[Status::Fail], Severity::Block) {
            Verdict::Block
        } else if any(&[Status::Unknown], Severity::Block) {
            Verdict::Unknown
        } else if any(&[Status::Fail, Status::Unknown], Severity::Warn) {
            Verdict::Warn
        } else {
            Verdict::Ok
        }
    }

    /// The finding of one check.
    pub fn finding(&self, check: CheckId) -> Option<&Finding> {
        self.findings.iter().find(|f| f.check == check)
    }

    /// The findings that make the verdict `block`.
    pub fn blocking_findings(&self) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.is_blocking()).collect()
    }

    /// The gate in `put`: whether to upload under `mode`, and what to print.
    pub fn gate(&self, mode: GateMode) -> GateDecision<'_> {
        let verdict = self.verdict();
        let notable: Vec<&Finding> = self.findings.iter().filter(|f| f.is_notable()).collect();
        let refuse = match mode {
            GateMode::Off => false,
            GateMode::Enforce => verdict == Verdict::Block,
            GateMode::Strict => verdict != Verdict::Ok,
        };
        if refuse {
            let reasons = if verdict == Verdict::Block {
                self.blocking_findings()
            } else {
                notable
            };
            GateDecision::Refuse { verdict, reasons }
        } else if mode == GateMode::Off {
            GateDecision::Proceed {
                notices: Vec::new(),
            }
        } else {
            GateDecision::Proceed { notices: notable }
        }
    }

    /// The JSON document of the report:
    /// `{"bucket", "verdict", "findings": [{"check", "status", "severity", "evidence",
    /// "missing_permission", "fix", ...}]}` (`s3seal posture --json` adds its exit code).
    pub fn to_json(&self) -> Value {
        json!({
            "bucket": self.bucket,
            "verdict": self.verdict().as_str(),
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        })
    }

    /// The readable report: a heading with the verdict, then one line per check with its
    /// status, severity, what was found, and (unless it passed) why it matters and the fix.
    pub fn render_text(&self) -> String {
        self.render_with(|_, text| text.to_string())
    }

    /// [`Report::render_text`], with the verdict word and each status column passed through
    /// `paint` (a terminal colours them by their [`Highlight`]).
    pub fn render_with(&self, paint: impl Fn(Highlight, &str) -> String) -> String {
        let verdict = self.verdict();
        let mut out = format!(
            "posture of s3://{}: verdict {}\n",
            self.bucket,
            paint(
                Highlight::Verdict(verdict),
                &verdict.as_str().to_uppercase()
            )
        );
        for f in &self.findings {
            let status = format!("{:<7}", f.status.as_str().to_uppercase());
            let mut line = format!(
                "{} {:<5} {:<19} {}",
                paint(Highlight::Status(f.status, f.severity), &status),
                f.severity.as_str(),
                f.check.as_str(),
                f.summary
            );
            if let Some(p) = &f.missing_permission {
                line.push_str(&format!(" [missing permission: {p}]"));
            }
            if f.status != Status::Pass {
                line.push_str(&format!(" | why: {} | fix: {}", f.why, f.fix));
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// A part of the readable report that a terminal may highlight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Highlight {
    /// The verdict word of the heading.
    Verdict(Verdict),
    /// The status column of a finding, with the finding's severity.
    Status(Status, Severity),
}

//! Bucket posture: is the target bucket safe to upload to?
//!
//! s3seal encrypts before uploading, but a bucket that is public, writable by another
//! account, or owned by someone else still loses, replaces or exposes what is stored. This
//! module reads the bucket's configuration once ([`gather()`]), judges it with pure rules
//! ([`evaluate`]) and produces a [`Report`] with one [`Finding`] per check and a [`Verdict`].
//! `s3seal posture` prints the report and turns the verdict into its exit code; `put` uses
//! [`Report::gate`] before uploading.
//!
//! Layout: `gather` reads, `facts` holds what was read; `rules` puts the checks in order,
//! which live by subject in `public_checks`, `account_checks` and `data_checks`, on the
//! shared `context`, the policy `analysis` and the `catalogue` of texts; `policy` parses
//! policies, `glob` matches their patterns, `reach` maps resources onto the bucket, `cidr`
//! measures address ranges; `report` holds findings and verdicts.
//!
//! ```no_run
//! # async fn demo(sdk: &aws_config::SdkConfig, s3: &aws_sdk_s3::Client) {
//! use s3seal::posture::{self, AccountClients, PostureOptions};
//! let opts = PostureOptions { expected_owner: Some("111122223333".into()), ..Default::default() };
//! let account = AccountClients::from_conf(sdk);
//! let report = posture::check(s3, Some(&account), "my-bucket", &opts).await;
//! println!("{}", report.render_text());
//! assert!(report.verdict() != posture::Verdict::Block, "refuse to upload");
//! # }
//! ```

mod account_checks;
mod analysis;
mod catalogue;
pub mod cidr;
mod context;
mod data_checks;
pub mod facts;
pub mod gather;
pub mod glob;
pub mod policy;
mod public_checks;
pub mod reach;
pub mod report;
pub mod rules;

pub use facts::{BucketFacts, Fact, Unreadable};
pub use gather::{AccountClients, S3ControlCustomEndpoint, caller_account, gather};
pub use report::{
    CheckId, Finding, GateDecision, GateMode, Highlight, Report, Severity, Status, Verdict,
};
pub use rules::evaluate;

use serde_json::{Value, json};

/// What the caller knows and wants from the check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostureOptions {
    /// The account that must own the bucket (`--expected-owner`). When set, every call
    /// carries `ExpectedBucketOwner`, so S3 refuses a bucket of any other account.
    pub expected_owner: Option<String>,
    /// Accounts whose access is intended (`--trusted-account`, repeatable): the
    /// `cross-account` check does not report them.
    pub trusted_accounts: Vec<String>,
}

/// Gathers the facts and evaluates them: the whole check for one bucket.
pub async fn check(
    s3: &aws_sdk_s3::Client, account: Option<&AccountClients>, bucket: &str, opts: &PostureOptions,
) -> Report {
    let facts = gather(s3, account, bucket, opts).await;
    evaluate(&facts, opts)
}

/// The bucket-level IAM actions the check reads with.
pub const BUCKET_READ_ACTIONS: &[&str] = &[
    "s3:GetBucketLocation",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketAcl",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketOwnershipControls",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketVersioning",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketLogging",
];

/// The minimal read-only IAM policy `s3seal posture` needs (`--print-iam-policy`). With a
/// bucket name the bucket-level actions are limited to that bucket; without, to every bucket.
/// `sts:GetCallerIdentity` needs no permission.
pub fn minimal_iam_policy(bucket: Option<&str>) -> Value {
    let resource = match bucket {
        Some(b) => format!("arn:aws:s3:::{b}"),
        None => "arn:aws:s3:::*".to_string(),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3sealPostureBucketReads",
                "Effect": "Allow",
                "Action": BUCKET_READ_ACTIONS,
                "Resource": resource,
            },
            {
                "Sid": "S3sealPostureAccountBlockPublicAccess",
                "Effect": "Allow",
                "Action": ["s3:GetAccountPublicAccessBlock"],
                "Resource": "*",
            }
        ]
    })
}

//! The catalogue of the checks: why each one matters, how to fix it, where it comes from,
//! and the one way a [`Finding`] is made from them ([`Judge`]).
//!
//! Every check states only its status, severity, summary and evidence; the texts shared by
//! all findings of a check live here, once, so that the report, the JSON output and
//! `docs/POSTURE.md` keep to one wording.

use super::facts::Unreadable;
use super::report::{CheckId, Finding, Severity, Status};
use serde_json::{Value, json};

struct Meta {
    why: &'static str,
    fix: &'static str,
    sources: &'static [&'static str],
}

const BPA_DOC: &str = "AWS S3 User Guide: Blocking public access to your Amazon S3 storage, \
                       'The meaning of public' (access-control-block-public-access)";

fn meta(check: CheckId) -> Meta {
    match check {
        CheckId::Owner => Meta {
            why: "a bucket name is global: a look-alike bucket in another account receives \
                  your uploads, and its owner can read, replace or delete them",
            fix: "pass --expected-owner ACCOUNT_ID so that every request carries \
                  ExpectedBucketOwner and S3 refuses a bucket of any other account",
            sources: &["AWS S3 User Guide: Verifying bucket ownership with bucket owner condition"],
        },
        CheckId::PublicAccessBlock => Meta {
            why: "without all four Block Public Access settings (bucket or account level), one \
                  policy or ACL edit makes the bucket public; IgnorePublicAcls and \
                  RestrictPublicBuckets also neutralize public grants that already exist",
            fix: "aws s3api put-public-access-block --bucket BUCKET \
                  --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,\
                  BlockPublicPolicy=true,RestrictPublicBuckets=true (or the same at account level \
                  with aws s3control put-public-access-block)",
            sources: &[
                BPA_DOC,
                "Security Hub S3.1 (account level) and S3.8 (bucket level)",
                "CIS AWS Foundations Benchmark v1.4.0 2.1.5 / v3.0.0 2.1.4",
            ],
        },
        CheckId::PolicyPublic => Meta {
            why: "the bucket policy grants access to anyone (anonymous callers, any AWS account \
                  or any federated identity) without a fixed-value condition that AWS accepts as \
                  a limit",
            fix: "remove the statement, name specific principals, or limit it with a fixed \
                  aws:SourceVpce / aws:SourceArn / aws:PrincipalOrgID value; turn on \
                  RestrictPublicBuckets and BlockPublicPolicy",
            sources: &[
                BPA_DOC,
                "Security Hub S3.2 (public read) and S3.3 (public write)",
            ],
        },
        CheckId::PolicyWideCidr => Meta {
            why: "AWS counts any aws:SourceIp limit as 'not public', whatever its size, so Block \
                  Public Access never neutralizes it: a /1 is half of the IPv4 internet",
            fix: "narrow aws:SourceIp to the addresses you own (/24 or narrower), or use \
                  aws:SourceVpce / aws:PrincipalOrgID instead of addresses",
            sources: &[
                BPA_DOC,
                "s3seal thresholds (docs/POSTURE.md): IPv4 < /16 or > 65,536 addresses blocks, \
                 /16-/23 warns; IPv6 < /32 blocks, /32-/47 warns",
            ],
        },
        CheckId::PolicyStatus => Meta {
            why: "GetBucketPolicyStatus is AWS's own judgement of the policy; when AWS says \
                  public, it is public",
            fix: "remove the public statements (see policy-public) and turn on \
                  RestrictPublicBuckets",
            sources: &[BPA_DOC, "Amazon S3 API Reference: GetBucketPolicyStatus"],
        },
        CheckId::AclPublic => Meta {
            why: "an ACL grant to AllUsers is open to anyone on the internet; to \
                  AuthenticatedUsers, to anyone with any AWS account",
            fix: "aws s3api put-bucket-acl --bucket BUCKET --acl private, then disable ACLs \
                  with object ownership BucketOwnerEnforced; turn on IgnorePublicAcls",
            sources: &[BPA_DOC, "Security Hub S3.2 and S3.3"],
        },
        CheckId::AclDisabled => Meta {
            why: "while ACLs are enabled, objects (and the bucket) can be opened with an ACL \
                  that bucket policies and audits overlook, and objects written by another \
                  account stay owned by it",
            fix: "aws s3api put-bucket-ownership-controls --bucket BUCKET \
                  --ownership-controls Rules=[{ObjectOwnership=BucketOwnerEnforced}]",
            sources: &[
                "AWS S3 User Guide: Controlling ownership of objects and disabling ACLs",
                "Security Hub S3.12",
            ],
        },
        CheckId::HttpsOnly => Meta {
            why: "without a Deny on aws:SecureTransport=false, S3 accepts plain-HTTP requests; \
                  request metadata, object keys and presigned URLs travel in clear text",
            fix: "add {\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\
                  \"Resource\":[\"arn:aws:s3:::BUCKET\",\"arn:aws:s3:::BUCKET/*\"],\
                  \"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}",
            sources: &[
                "Security Hub S3.5",
                "CIS AWS Foundations Benchmark v1.4.0 2.1.2 / v3.0.0 2.1.1 (deny HTTP requests)",
                "AWS Config rule s3-bucket-ssl-requests-only",
            ],
        },
        CheckId::CrossAccount => Meta {
            why: "another AWS account that can write, delete or change permissions can destroy \
                  or replace your objects or open the bucket; read access lets it copy every \
                  ciphertext",
            fix: "remove the other account from the policy, limit it to read-only actions, or \
                  pass --trusted-account ID when the grant is intended",
            sources: &[
                "Security Hub S3.6 (s3:DeleteBucketPolicy, s3:PutBucketAcl, s3:PutBucketPolicy, \
                 s3:PutEncryptionConfiguration, s3:PutObjectAcl to other accounts)",
                "AWS Config rule s3-bucket-blacklisted-actions-prohibited",
            ],
        },
        CheckId::DefaultEncryption => Meta {
            why: "SSE-S3 (AES256) only protects disks inside AWS: any principal with s3:GetObject \
                  receives plaintext; SSE-KMS with a customer-managed key adds a second, \
                  separately audited permission (kms:Decrypt). s3seal's client-side encryption \
                  is what keeps content from S3 itself",
            fix: "aws s3api put-bucket-encryption --bucket BUCKET \
                  --server-side-encryption-configuration '{\"Rules\":[{\
                  \"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\",\
                  \"KMSMasterKeyID\":\"KEY_ARN\"},\"BucketKeyEnabled\":true}]}'",
            sources: &[
                "AWS S3 User Guide: Setting default server-side encryption behavior",
                "Security Hub S3.4 (retired) and S3.17 (encrypted with KMS keys)",
                "CIS AWS Foundations Benchmark v1.4.0 2.1.1",
            ],
        },
        CheckId::SseKmsRequired => Meta {
            why: "without a Deny on s3:x-amz-server-side-encryption other than aws:kms, other \
                  writers can store objects with SSE-S3 only",
            fix: "add a Deny for s3:PutObject on arn:aws:s3:::BUCKET/* with \
                  StringNotEquals s3:x-amz-server-side-encryption aws:kms; to pin a key, add a \
                  separate Deny with StringNotEquals \
                  s3:x-amz-server-side-encryption-aws-kms-key-id KEY_ARN",
            sources: &["AWS S3 User Guide: Requiring server-side encryption with AWS KMS keys"],
        },
        CheckId::Versioning => Meta {
            why: "without versioning an overwrite or delete destroys the only copy; MFA delete \
                  stops a stolen key from erasing old versions",
            fix: "aws s3api put-bucket-versioning --bucket BUCKET \
                  --versioning-configuration Status=Enabled (MFA delete: the root user with \
                  --mfa and MFADelete=Enabled)",
            sources: &[
                "Security Hub S3.14 (versioning) and S3.20 (MFA delete)",
                "CIS AWS Foundations Benchmark v1.4.0 2.1.3 / v3.0.0 2.1.2 (MFA delete)",
            ],
        },
        CheckId::ObjectLock => Meta {
            why: "Object Lock (WORM) keeps object versions from being deleted or overwritten \
                  for a retention period, even by a compromised administrator",
            fix: "Object Lock is chosen at bucket creation (or enabled on a versioned bucket \
                  through AWS support or put-object-lock-configuration); set a default retention",
            sources: &[
                "Security Hub S3.15",
                "AWS S3 User Guide: Using S3 Object Lock",
            ],
        },
        CheckId::AccessLogging => Meta {
            why: "server access logs record every request, which is what an investigation of a \
                  leak or a deletion needs",
            fix: "aws s3api put-bucket-logging --bucket BUCKET --bucket-logging-status \
                  '{\"LoggingEnabled\":{\"TargetBucket\":\"LOG_BUCKET\",\"TargetPrefix\":\"BUCKET/\"}}'",
            sources: &[
                "Security Hub S3.9",
                "AWS S3 User Guide: Logging requests with server access logging",
            ],
        },
    }
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Makes the findings of one check, with the catalogue's why, fix and sources.
#[derive(Debug, Clone, Copy)]
pub(super) struct Judge(pub(super) CheckId);

impl Judge {
    /// A finding of this check; the fix is the catalogue's unless the check passed.
    pub(super) fn finding(
        self, status: Status, severity: Severity, summary: impl Into<String>, evidence: Value,
    ) -> Finding {
        let m = meta(self.0);
        Finding {
            check: self.0,
            status,
            severity,
            summary: summary.into(),
            evidence,
            missing_permission: None,
            why: squash(m.why),
            fix: if status == Status::Pass {
                "nothing to do".to_string()
            } else {
                squash(m.fix)
            },
            sources: m.sources.iter().map(|s| squash(s)).collect(),
        }
    }

    /// The rule holds.
    pub(super) fn pass(self, severity: Severity, summary: impl Into<String>, ev: Value) -> Finding {
        self.finding(Status::Pass, severity, summary, ev)
    }

    /// The rule is broken.
    pub(super) fn fail(self, severity: Severity, summary: impl Into<String>, ev: Value) -> Finding {
        self.finding(Status::Fail, severity, summary, ev)
    }

    /// The rule cannot be decided from what was read.
    pub(super) fn undecided(
        self, severity: Severity, summary: impl Into<String>, ev: Value,
    ) -> Finding {
        self.finding(Status::Unknown, severity, summary, ev)
    }

    /// The catalogue's fix of this check, whatever the status.
    pub(super) fn catalogue_fix(self) -> String {
        squash(meta(self.0).fix)
    }

    /// An unknown finding because `unreadable` (`what`, e.g. "the bucket ACL") could not be
    /// read.
    pub(super) fn unreadable(self, severity: Severity, what: &str, u: &Unreadable) -> Finding {
        let summary = if u.access_denied {
            format!(
                "could not read {what}: access denied (needs {})",
                u.permission
            )
        } else {
            format!("could not read {what}: {}", u.error)
        };
        let evidence = json!({
            "permission": u.permission,
            "access_denied": u.access_denied,
            "error": u.error,
        });
        let mut f = self.undecided(severity, summary, evidence);
        if u.error == NO_SUCH_BUCKET {
            return f.with_fix("check the bucket name (see the owner finding)");
        }
        // Only a denied read names a missing permission: a server that does not implement the
        // call (NotImplemented) or failed (5xx) is not a permission problem.
        if u.access_denied {
            f.missing_permission = Some(u.permission.clone());
            f.with_fix(format!(
                "grant the checking identity {} on the bucket (s3seal posture --print-iam-policy \
                 prints the whole read-only policy), then run the check again",
                u.permission
            ))
        } else {
            f.with_fix(format!(
                "the read needing {} failed ({}); run the check again",
                u.permission, u.error
            ))
        }
    }
}

impl Finding {
    /// The same finding with a fix of its own instead of the catalogue's.
    pub(super) fn with_fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = fix.into();
        self
    }
}

/// The error of a read on a bucket that does not exist: no permission is missing.
const NO_SUCH_BUCKET: &str = "NoSuchBucket";

//! A bucket's configuration as plain data.
//!
//! [`super::gather()`] fills a [`BucketFacts`] from S3, one read per setting; [`super::evaluate`]
//! judges it without any I/O. Keeping the two apart makes every rule testable with hand-built
//! facts, and makes the three outcomes of a read explicit: the setting is there
//! ([`Fact::Present`]), it is not configured ([`Fact::Absent`], for example
//! `NoSuchBucketPolicy`: a fact, not an error), or it could not be read ([`Fact::Unknown`],
//! which names the IAM action that was needed: unknown is never a pass).

use serde::{Deserialize, Serialize};

/// What one read of the bucket's configuration established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "value", rename_all = "kebab-case")]
pub enum Fact<T> {
    /// The setting exists with this value.
    Present(T),
    /// The setting is not configured (S3 answered with its "not found" error for it).
    Absent,
    /// The setting could not be read.
    Unknown(Unreadable),
}

impl<T> Fact<T> {
    /// The value, when present.
    pub fn present(&self) -> Option<&T> {
        match self {
            Fact::Present(v) => Some(v),
            _ => None,
        }
    }

    /// True when the read succeeded (present or absent).
    pub fn is_known(&self) -> bool {
        !matches!(self, Fact::Unknown(_))
    }

    /// The reason, when unknown.
    pub fn unreadable(&self) -> Option<&Unreadable> {
        match self {
            Fact::Unknown(u) => Some(u),
            _ => None,
        }
    }

    /// A fact that could not be read because the caller lacks `permission`.
    pub fn denied(permission: &str) -> Fact<T> {
        Fact::Unknown(Unreadable {
            permission: permission.to_string(),
            access_denied: true,
            error: "AccessDenied".to_string(),
        })
    }
}

/// Why a setting could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// The IAM action the read needs, e.g. `s3:GetBucketPolicy`.
    pub permission: String,
    /// True when S3 answered AccessDenied (403); false for other failures (network, ...).
    pub access_denied: bool,
    /// The error code or message.
    pub error: String,
}

/// The four Block Public Access settings (of a bucket or of an account).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Rejects new public ACLs.
    pub block_public_acls: bool,
    /// Ignores existing public ACLs (neutralizes them).
    pub ignore_public_acls: bool,
    /// Rejects new public bucket policies.
    pub block_public_policy: bool,
    /// Restricts a bucket with a public policy to the owner's account and AWS services
    /// (neutralizes public policies).
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// All four settings on.
    pub const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
}

/// The grantee of an ACL grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Grantee {
    /// A canonical user id.
    CanonicalUser {
        /// The canonical id.
        id: String,
        /// Display name, when S3 returns one.
        display_name: Option<String>,
    },
    /// A predefined group, by URI.
    Group {
        /// For example `http://acs.amazonaws.com/groups/global/AllUsers`.
        uri: String,
    },
    /// A grantee by e-mail address.
    Email {
        /// The address.
        address: String,
    },
}

/// One ACL grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    pub grantee: Grantee,
    /// `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP` or `FULL_CONTROL`.
    pub permission: String,
}

/// The bucket ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The owner's canonical id.
    pub owner_id: Option<String>,
    /// The grants.
    pub grants: Vec<Grant>,
}

/// The predefined group of everyone, including anonymous callers.
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The predefined group of every AWS account.
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// One default-encryption rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionRule {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    /// The KMS key, when one is set.
    pub kms_key_id: Option<String>,
    /// Whether an S3 Bucket Key is used.
    pub bucket_key_enabled: Option<bool>,
}

/// Versioning state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioning {
    /// `Enabled`, `Suspended`, or `None` when never enabled.
    pub status: Option<String>,
    /// `Enabled`, `Disabled`, or `None` when never configured.
    pub mfa_delete: Option<String>,
}

/// Object Lock configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// `ObjectLockEnabled` is `Enabled`.
    pub enabled: bool,
    /// Default retention mode (`GOVERNANCE` / `COMPLIANCE`), if any.
    pub default_mode: Option<String>,
    /// Default retention in days, if set.
    pub default_days: Option<i32>,
    /// Default retention in years, if set.
    pub default_years: Option<i32>,
}

/// Server access logging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logging {
    /// Where logs go.
    pub target_bucket: String,
    /// Key prefix of the logs.
    pub target_prefix: String,
}

/// The outcome of one probe of the bucket (GetBucketLocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "detail", rename_all = "kebab-case")]
pub enum Probe {
    /// S3 answered 200.
    Ok,
    /// S3 answered 403.
    AccessDenied,
    /// The bucket does not exist.
    NotFound,
    /// Anything else.
    Error(String),
}

/// What is known about who owns the bucket.
///
/// S3 refuses (403) every call that carries an `ExpectedBucketOwner` different from the
/// bucket's real owner. A 403 alone cannot tell a mismatch from a missing permission, so the
/// bucket is probed with the same call with and without the header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerFacts {
    /// `--expected-owner`, if given.
    pub expected_owner: Option<String>,
    /// The caller's account (STS GetCallerIdentity), if known.
    pub caller_account: Option<String>,
    /// GetBucketLocation without `ExpectedBucketOwner`.
    pub probe_plain: Option<Probe>,
    /// GetBucketLocation with `ExpectedBucketOwner` = the expected owner.
    pub probe_expected: Option<Probe>,
    /// GetBucketLocation with `ExpectedBucketOwner` = the caller's account (asked when no
    /// expected owner is given, to learn whether the bucket is the caller's own).
    pub probe_caller: Option<Probe>,
}

/// Everything s3seal read about one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketFacts {
    /// The bucket name.
    pub bucket: String,
    /// The bucket's region, when known.
    pub region: Option<String>,
    /// Ownership probes.
    pub owner: OwnerFacts,
    /// Bucket-level Block Public Access (GetPublicAccessBlock).
    pub bucket_public_access_block: Fact<PublicAccessBlock>,
    /// Account-level Block Public Access (s3control GetPublicAccessBlock).
    pub account_public_access_block: Fact<PublicAccessBlock>,
    /// The bucket policy text (GetBucketPolicy).
    pub policy: Fact<String>,
    /// AWS's own opinion: `IsPublic` of GetBucketPolicyStatus.
    pub policy_status: Fact<bool>,
    /// The bucket ACL (GetBucketAcl).
    pub acl: Fact<Acl>,
    /// Object ownership (GetBucketOwnershipControls): `BucketOwnerEnforced`,
    /// `BucketOwnerPreferred` or `ObjectWriter`.
    pub ownership: Fact<String>,
    /// Default encryption rules (GetBucketEncryption).
    pub encryption: Fact<Vec<EncryptionRule>>,
    /// Versioning (GetBucketVersioning).
    pub versioning: Fact<Versioning>,
    /// Object Lock (GetObjectLockConfiguration).
    pub object_lock: Fact<ObjectLock>,
    /// Server access logging (GetBucketLogging); absent when disabled.
    pub logging: Fact<Logging>,
}

impl BucketFacts {
    /// The facts of a bucket where every read succeeded and nothing is configured: no
    /// policy, no Block Public Access, an owner-only ACL, no default encryption, versioning
    /// never enabled. Tests start from here and set what they need.
    pub fn unconfigured(bucket: &str) -> BucketFacts {
        BucketFacts {
            bucket: bucket.to_string(),
            region: None,
            owner: OwnerFacts::default(),
            bucket_public_access_block: Fact::Absent,
            account_public_access_block: Fact::Absent,
            policy: Fact::Absent,
            policy_status: Fact::Absent,
            acl: Fact::Present(Acl::default()),
            ownership: Fact::Absent,
            encryption: Fact::Absent,
            versioning: Fact::Present(Versioning::default()),
            object_lock: Fact::Absent,
            logging: Fact::Absent,
        }
    }

    /// True when at least one bucket-level read succeeded. Gathering sends
    /// `ExpectedBucketOwner` on every bucket-level call, so such a success confirms the owner.
    pub fn any_bucket_read_succeeded(&self) -> bool {
        self.bucket_public_access_block.is_known()
            || self.policy.is_known()
            || self.policy_status.is_known()
            || self.acl.is_known()
            || self.ownership.is_known()
            || self.encryption.is_known()
            || self.versioning.is_known()
            || self.object_lock.is_known()
            || self.logging.is_known()
    }
}

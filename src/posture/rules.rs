//! The posture rules: pure functions from [`BucketFacts`] to one [`Finding`] per check.
//!
//! No I/O happens here, so every rule is tested with hand-built facts and policy fixtures
//! (`tests/posture_rules.rs`). The rules follow AWS's own definition of "public" (Block
//! Public Access, "The meaning of public") and IAM's evaluation logic, and add what AWS leaves
//! out: how wide an `aws:SourceIp` range is, and grants to other accounts. `docs/POSTURE.md`
//! lists each rule with its sources.

use super::PostureOptions;
use super::cidr::{self, RangeSet, Width};
use super::facts::{
    ALL_USERS_URI, AUTHENTICATED_USERS_URI, BucketFacts, Fact, Grantee, Probe, PublicAccessBlock,
    Unreadable,
};
use super::policy::{
    self, ActionElement, Effect, Operator, Policy, PrincipalElement, ResourceElement, SetQualifier,
    Statement,
};
use super::report::{CheckId, Finding, Report, Severity, Status};
use serde_json::{Value, json};

/// Judges a bucket. Pure and synchronous: the same facts always give the same report.
pub fn evaluate(facts: &BucketFacts, opts: &PostureOptions) -> Report {
    let ctx = Ctx::new(facts, opts);
    let findings = vec![
        check_owner(&ctx),
        check_public_access_block(&ctx),
        check_policy_public(&ctx),
        check_policy_wide_cidr(&ctx),
        check_policy_status(&ctx),
        check_acl_public(&ctx),
        check_acl_disabled(&ctx),
        check_https_only(&ctx),
        check_cross_account(&ctx),
        check_default_encryption(&ctx),
        check_sse_kms_required(&ctx),
        check_versioning(&ctx),
        check_object_lock(&ctx),
        check_access_logging(&ctx),
    ];
    Report {
        bucket: facts.bucket.clone(),
        findings,
    }
}

// ---------------------------------------------------------------------------------------
// Shared context
// ---------------------------------------------------------------------------------------

/// The policy as the rules see it.
enum PolicyState {
    Parsed(Policy),
    Absent,
    Unknown(Unreadable),
    Invalid(String),
}

/// Block Public Access as S3 enforces it: bucket OR account, per setting. `None` when the
/// value cannot be established (one side unknown and the other not `true`).
#[derive(Debug, Clone, Copy)]
struct EffectivePab {
    block_public_acls: Option<bool>,
    ignore_public_acls: Option<bool>,
    block_public_policy: Option<bool>,
    restrict_public_buckets: Option<bool>,
}

fn side(fact: &Fact<PublicAccessBlock>, pick: fn(&PublicAccessBlock) -> bool) -> Option<bool> {
    match fact {
        Fact::Present(p) => Some(pick(p)),
        Fact::Absent => Some(false),
        Fact::Unknown(_) => None,
    }
}

fn either(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

impl EffectivePab {
    fn of(facts: &BucketFacts) -> EffectivePab {
        let b = &facts.bucket_public_access_block;
        let a = &facts.account_public_access_block;
        let combine = |pick: fn(&PublicAccessBlock) -> bool| either(side(b, pick), side(a, pick));
        EffectivePab {
            block_public_acls: combine(|p| p.block_public_acls),
            ignore_public_acls: combine(|p| p.ignore_public_acls),
            block_public_policy: combine(|p| p.block_public_policy),
            restrict_public_buckets: combine(|p| p.restrict_public_buckets),
        }
    }

    fn to_json(self) -> Value {
        json!({
            "block_public_acls": self.block_public_acls,
            "ignore_public_acls": self.ignore_public_acls,
            "block_public_policy": self.block_public_policy,
            "restrict_public_buckets": self.restrict_public_buckets,
        })
    }
}

/// Which level turns a setting on, for evidence ("account", "bucket", "bucket and account").
fn pab_source(facts: &BucketFacts, pick: fn(&PublicAccessBlock) -> bool) -> String {
    let b = side(&facts.bucket_public_access_block, pick) == Some(true);
    let a = side(&facts.account_public_access_block, pick) == Some(true);
    match (b, a) {
        (true, true) => "bucket and account level".into(),
        (true, false) => "bucket level".into(),
        (false, true) => "account level".into(),
        (false, false) => "nowhere".into(),
    }
}

struct Ctx<'a> {
    facts: &'a BucketFacts,
    opts: &'a PostureOptions,
    bucket: &'a str,
    policy: PolicyState,
    pab: EffectivePab,
    owner_account: Option<String>,
}

impl<'a> Ctx<'a> {
    fn new(facts: &'a BucketFacts, opts: &'a PostureOptions) -> Ctx<'a> {
        let policy = match &facts.policy {
            Fact::Present(text) => match Policy::parse(text) {
                Ok(p) => PolicyState::Parsed(p),
                Err(e) => PolicyState::Invalid(e.to_string()),
            },
            Fact::Absent => PolicyState::Absent,
            Fact::Unknown(u) => PolicyState::Unknown(u.clone()),
        };
        let owner_account = opts.expected_owner.clone().or_else(|| {
            if facts.owner.probe_caller == Some(Probe::Ok) {
                facts.owner.caller_account.clone()
            } else {
                None
            }
        });
        Ctx {
            facts,
            opts,
            bucket: &facts.bucket,
            policy,
            pab: EffectivePab::of(facts),
            owner_account,
        }
    }

    fn is_trusted(&self, account: &str) -> bool {
        self.opts
            .trusted_accounts
            .iter()
            .any(|t| t.trim() == account)
    }
}

// ---------------------------------------------------------------------------------------
// Texts
// ---------------------------------------------------------------------------------------

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

fn finding(
    check: CheckId,
    status: Status,
    severity: Severity,
    summary: impl Into<String>,
    evidence: Value,
) -> Finding {
    let m = meta(check);
    Finding {
        check,
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

/// An unknown finding because `unreadable` could not be read.
fn unknown(check: CheckId, severity: Severity, what: &str, unreadable: &Unreadable) -> Finding {
    let mut f = finding(
        check,
        Status::Unknown,
        severity,
        if unreadable.access_denied {
            format!(
                "could not read {what}: access denied (needs {})",
                unreadable.permission
            )
        } else {
            format!("could not read {what}: {}", unreadable.error)
        },
        json!({
            "permission": unreadable.permission,
            "access_denied": unreadable.access_denied,
            "error": unreadable.error,
        }),
    );
    if unreadable.error == NO_SUCH_BUCKET {
        f.fix = "check the bucket name (see the owner finding)".to_string();
        return f;
    }
    // Only a denied read names a missing permission: a server that does not implement the
    // call (NotImplemented) or failed (5xx) is not a permission problem.
    if unreadable.access_denied {
        f.missing_permission = Some(unreadable.permission.clone());
    }
    f.fix = if unreadable.access_denied {
        format!(
            "grant the checking identity {} on the bucket (s3seal posture --print-iam-policy \
             prints the whole read-only policy), then run the check again",
            unreadable.permission
        )
    } else {
        format!(
            "the read needing {} failed ({}); run the check again",
            unreadable.permission, unreadable.error
        )
    };
    f
}

/// The error of a read on a bucket that does not exist: no permission is missing.
const NO_SUCH_BUCKET: &str = "NoSuchBucket";

fn fact_json<T: serde::Serialize>(fact: &Fact<T>) -> Value {
    match fact {
        Fact::Present(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Fact::Absent => json!("not configured"),
        Fact::Unknown(u) => json!({"unknown": u.error, "permission": u.permission}),
    }
}

// ---------------------------------------------------------------------------------------
// Policy analysis
// ---------------------------------------------------------------------------------------

/// Condition keys whose fixed values make a grant non-public, per AWS.
const TRUST_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:userid",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

const SOURCE_IP: &str = "aws:sourceip";

fn has_wildcard(value: &str) -> bool {
    value.contains('*') || value.contains('?')
}

/// True when `value` is a fixed value of `key` under an operator of kind `like` (wildcards
/// meaningful) as AWS defines it for the "public" test.
fn is_fixed_value(key: &str, value: &str, wildcards_meaningful: bool) -> bool {
    let value = value.trim();
    if value.is_empty() || value == "*" {
        return false;
    }
    if key == SOURCE_IP {
        return cidr::parse_network(value).is_some() && !cidr::is_everything(value);
    }
    if !wildcards_meaningful || !has_wildcard(value) {
        return true;
    }
    match key {
        // "aws:userid, outside the pattern AROLEID:*": a role's unique id with any session.
        "aws:userid" => value
            .strip_suffix(":*")
            .is_some_and(|id| !id.is_empty() && !has_wildcard(id)),
        // A wildcard for the access point name is fine as long as the account is fixed.
        "s3:dataaccesspointarn" => {
            let parts: Vec<&str> = value.splitn(6, ':').collect();
            parts.len() == 6
                && parts[..5].iter().all(|p| !has_wildcard(p))
                && parts[4].len() == 12
                && parts[4].chars().all(|c| c.is_ascii_digit())
                && parts[5].starts_with("accesspoint/")
        }
        // An organization path with a fixed organization id.
        "aws:principalorgpaths" => value
            .split_once('/')
            .is_some_and(|(org, _)| !org.is_empty() && !has_wildcard(org)),
        _ => false,
    }
}

/// A limit on who can use a grant: `key` must take one of `values`.
#[derive(Debug, Clone)]
struct Restriction {
    key: String,
    values: Vec<String>,
    /// The statement the limit comes from (the Allow itself or a Deny).
    statement: usize,
}

/// A positive clause that pins a trust key to fixed values (restricts an Allow).
fn restricting_clause(clause: &policy::ConditionClause, statement: usize) -> Option<Restriction> {
    let op = clause.op();
    let key = clause.key_lower();
    if !op.is_positive_match()
        || op.if_exists
        || op.qualifier == Some(SetQualifier::ForAllValues)
        || !TRUST_KEYS.contains(&key.as_str())
    {
        return None;
    }
    if (key == SOURCE_IP) != (op.base == "ipaddress") {
        return None;
    }
    let wild = op.is_like() || op.is_arn();
    if clause.values.is_empty() || !clause.values.iter().all(|v| is_fixed_value(&key, v, wild)) {
        return None;
    }
    Some(Restriction {
        key,
        values: clause.values.clone(),
        statement,
    })
}

/// A negated clause of a Deny on a trust key with fixed values: the Deny refuses everyone
/// outside those values, which limits the Allows it covers to them.
fn negated_trust_clause(clause: &policy::ConditionClause, statement: usize) -> Option<Restriction> {
    let op = clause.op();
    let key = clause.key_lower();
    if !op.is_negated() || op.qualifier.is_some() || !TRUST_KEYS.contains(&key.as_str()) {
        return None;
    }
    if (key == SOURCE_IP) != (op.base == "notipaddress") {
        return None;
    }
    let wild = op.is_like() || op.is_arn();
    if clause.values.is_empty() || !clause.values.iter().all(|v| is_fixed_value(&key, v, wild)) {
        return None;
    }
    Some(Restriction {
        key,
        values: clause.values.clone(),
        statement,
    })
}

/// True when a Deny applies to every member of the public.
fn deny_applies_to_public(deny: &Statement) -> bool {
    match &deny.principal {
        PrincipalElement::Principal(p) => p.everyone,
        // Everyone except named principals: anonymous callers are never named.
        PrincipalElement::NotPrincipal(_) => true,
        PrincipalElement::Missing => false,
    }
}

/// Who can reach an Allow statement, after the Denies of the policy.
#[derive(Debug, Clone)]
enum Reach {
    /// A Deny without conditions covers it: it grants nothing.
    Cancelled { by: usize },
    /// No limit AWS accepts: public.
    Public,
    /// Limited only by source addresses.
    IpLimited { ranges: RangeSet, statement: usize },
    /// Limited by fixed values of these keys.
    Restricted { keys: Vec<String> },
}

/// Analyses one Allow statement against the Denies of `policy` that apply to the public.
/// For statements to named principals only the `Cancelled` outcome is used.
fn analyse_allow(stmt: &Statement, policy: &Policy, bucket: &str) -> Reach {
    let mut groups: Vec<Vec<Restriction>> = stmt
        .conditions
        .iter()
        .filter_map(|c| restricting_clause(c, stmt.index))
        .map(|r| vec![r])
        .collect();
    for deny in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Deny)
    {
        if !deny_applies_to_public(deny)
            || !policy::actions_cover(&deny.action, &stmt.action)
            || !policy::resources_cover(&deny.resource, &stmt.resource, bucket)
        {
            continue;
        }
        if deny.conditions.is_empty() {
            return Reach::Cancelled { by: deny.index };
        }
        let converted: Vec<Restriction> = deny
            .conditions
            .iter()
            .filter_map(|c| negated_trust_clause(c, deny.index))
            .collect();
        // Only a Deny whose every clause is such a limit refuses everyone outside it; with
        // any other clause (ANDed) the Deny fires in fewer cases and limits nothing.
        if converted.len() == deny.conditions.len() {
            groups.push(converted);
        }
    }
    if groups.is_empty() {
        return Reach::Public;
    }
    if let Some(group) = groups.iter().find(|g| g.iter().all(|r| r.key != SOURCE_IP)) {
        let mut keys: Vec<String> = group.iter().map(|r| r.key.clone()).collect();
        keys.dedup();
        return Reach::Restricted { keys };
    }
    // Every limit involves source addresses: the grant reaches the internet through the
    // addresses of the narrowest group.
    let mut best: Option<(RangeSet, usize)> = None;
    for group in &groups {
        let values: Vec<String> = group
            .iter()
            .filter(|r| r.key == SOURCE_IP)
            .flat_map(|r| r.values.iter().cloned())
            .collect();
        let statement = group.first().map(|r| r.statement).unwrap_or(stmt.index);
        let set = cidr::classify_values(&values);
        let narrower = match &best {
            None => true,
            Some((b, _)) => {
                (
                    set.width,
                    set.public_ipv4_addresses,
                    set.public_ipv6_addresses,
                ) < (b.width, b.public_ipv4_addresses, b.public_ipv6_addresses)
            }
        };
        if narrower {
            best = Some((set, statement));
        }
    }
    match best {
        Some((ranges, statement)) => Reach::IpLimited { ranges, statement },
        None => Reach::Public,
    }
}

/// S3 actions that write data or change configuration.
const WRITE_ACTIONS: &[&str] = &[
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:AbortMultipartUpload",
    "s3:RestoreObject",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:ObjectOwnerOverrideToBucketOwner",
    "s3:DeleteBucket",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketLogging",
    "s3:PutReplicationConfiguration",
    "s3:PutBucketCORS",
    "s3:PutBucketWebsite",
    "s3:DeleteBucketWebsite",
    "s3:PutBucketTagging",
    "s3:PutBucketNotification",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutAccelerateConfiguration",
    "s3:PutBucketRequestPayment",
    "s3:PutInventoryConfiguration",
    "s3:PutAnalyticsConfiguration",
    "s3:PutMetricsConfiguration",
    "s3:PutIntelligentTieringConfiguration",
];

/// S3 actions that change who can access the bucket (Security Hub S3.6 and kin).
const PERMISSION_ACTIONS: &[&str] = &[
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:DeleteBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:DeleteBucketOwnershipControls",
];

/// What a set of actions allows, from least to most dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AccessLevel {
    Read,
    Write,
    PermissionChange,
}

impl AccessLevel {
    fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Read => "read",
            AccessLevel::Write => "write",
            AccessLevel::PermissionChange => "permission-change",
        }
    }
}

fn looks_like_write(action: &str) -> bool {
    let name = action
        .rsplit(':')
        .next()
        .unwrap_or(action)
        .to_ascii_lowercase();
    [
        "put",
        "delete",
        "create",
        "update",
        "abort",
        "restore",
        "replicate",
        "bypass",
    ]
    .iter()
    .any(|verb| name.starts_with(verb))
}

fn access_level(actions: &ActionElement) -> AccessLevel {
    if PERMISSION_ACTIONS
        .iter()
        .any(|a| policy::action_matches(actions, a))
    {
        return AccessLevel::PermissionChange;
    }
    let literal_write = match actions {
        ActionElement::Action(list) => list.iter().any(|a| !has_wildcard(a) && looks_like_write(a)),
        ActionElement::NotAction(_) => false,
    };
    if literal_write
        || WRITE_ACTIONS
            .iter()
            .any(|a| policy::action_matches(actions, a))
    {
        AccessLevel::Write
    } else {
        AccessLevel::Read
    }
}

fn describe_grant(stmt: &Statement) -> String {
    format!(
        "{}: Allow {} {} on {}",
        stmt.label(),
        stmt.principal,
        stmt.action,
        stmt.resource
    )
}

/// The policy checks that cannot run: unknown or invalid policy.
fn policy_unavailable(ctx: &Ctx, check: CheckId, severity: Severity) -> Option<Finding> {
    match &ctx.policy {
        PolicyState::Unknown(u) => Some(unknown(check, severity, "the bucket policy", u)),
        PolicyState::Invalid(e) => Some(finding(
            check,
            Status::Unknown,
            severity,
            format!("the bucket policy could not be parsed: {e}"),
            json!({"parse_error": e}),
        )),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

fn probe_json(p: &Option<Probe>) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

fn check_owner(ctx: &Ctx) -> Finding {
    let o = &ctx.facts.owner;
    let evidence = json!({
        "expected_owner": ctx.opts.expected_owner,
        "caller_account": o.caller_account,
        "probe_without_expected_owner": probe_json(&o.probe_plain),
        "probe_with_expected_owner": probe_json(&o.probe_expected),
        "probe_with_caller_account": probe_json(&o.probe_caller),
    });
    let not_found = [&o.probe_plain, &o.probe_expected, &o.probe_caller]
        .iter()
        .any(|p| **p == Some(Probe::NotFound));
    if not_found {
        return finding(
            CheckId::Owner,
            Status::Fail,
            Severity::Block,
            format!("bucket {} does not exist", ctx.bucket),
            evidence,
        );
    }
    let Some(expected) = &ctx.opts.expected_owner else {
        // No owner to enforce: report what is known, never more than info.
        return match (&o.caller_account, &o.probe_caller, &o.probe_plain) {
            (Some(caller), Some(Probe::Ok), _) => finding(
                CheckId::Owner,
                Status::Pass,
                Severity::Info,
                format!("owned by the caller's account {caller} (no --expected-owner given)"),
                evidence,
            ),
            (Some(caller), Some(Probe::AccessDenied), Some(Probe::Ok)) => finding(
                CheckId::Owner,
                Status::Fail,
                Severity::Info,
                format!(
                    "not owned by the caller's account {caller}; pass --expected-owner to pin \
                     the owner"
                ),
                evidence,
            ),
            _ => {
                let mut f = finding(
                    CheckId::Owner,
                    Status::Unknown,
                    Severity::Info,
                    "owner not verified (no --expected-owner given)",
                    evidence,
                );
                f.fix = squash(meta(CheckId::Owner).fix);
                f
            }
        };
    };
    if o.probe_expected == Some(Probe::Ok) {
        return finding(
            CheckId::Owner,
            Status::Pass,
            Severity::Block,
            format!("owned by {expected}: S3 accepted ExpectedBucketOwner"),
            evidence,
        );
    }
    if o.probe_expected == Some(Probe::AccessDenied) && o.probe_plain == Some(Probe::Ok) {
        return finding(
            CheckId::Owner,
            Status::Fail,
            Severity::Block,
            format!(
                "not owned by {expected}: S3 refuses the request with ExpectedBucketOwner \
                 {expected} and accepts the same request without it"
            ),
            evidence,
        );
    }
    if ctx.facts.any_bucket_read_succeeded() {
        return finding(
            CheckId::Owner,
            Status::Pass,
            Severity::Block,
            format!("owned by {expected}: S3 answered requests carrying ExpectedBucketOwner"),
            evidence,
        );
    }
    let mut f = finding(
        CheckId::Owner,
        Status::Unknown,
        Severity::Block,
        format!(
            "could not confirm owner {expected}: every request was refused (a different \
             owner or missing permissions look the same)"
        ),
        evidence,
    );
    f.missing_permission = Some("s3:GetBucketLocation".into());
    f
}

fn check_public_access_block(ctx: &Ctx) -> Finding {
    let eff = ctx.pab;
    let evidence = json!({
        "bucket": fact_json(&ctx.facts.bucket_public_access_block),
        "account": fact_json(&ctx.facts.account_public_access_block),
        "effective": eff.to_json(),
    });
    let settings = [
        ("BlockPublicAcls", eff.block_public_acls),
        ("IgnorePublicAcls", eff.ignore_public_acls),
        ("BlockPublicPolicy", eff.block_public_policy),
        ("RestrictPublicBuckets", eff.restrict_public_buckets),
    ];
    let off: Vec<&str> = settings
        .iter()
        .filter(|(_, v)| *v == Some(false))
        .map(|(n, _)| *n)
        .collect();
    let undecided: Vec<&str> = settings
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if off.is_empty() && undecided.is_empty() {
        return finding(
            CheckId::PublicAccessBlock,
            Status::Pass,
            Severity::Warn,
            "all four Block Public Access settings are on (bucket OR account level)",
            evidence,
        );
    }
    if !off.is_empty() {
        return finding(
            CheckId::PublicAccessBlock,
            Status::Fail,
            Severity::Warn,
            format!(
                "Block Public Access is off at both bucket and account level for: {}",
                off.join(", ")
            ),
            evidence,
        );
    }
    let missing: Vec<String> = [
        &ctx.facts.bucket_public_access_block,
        &ctx.facts.account_public_access_block,
    ]
    .iter()
    .filter_map(|f| {
        f.unreadable()
            .filter(|u| u.access_denied)
            .map(|u| u.permission.clone())
    })
    .collect();
    let mut f = finding(
        CheckId::PublicAccessBlock,
        Status::Unknown,
        Severity::Warn,
        format!(
            "could not establish {} (bucket or account setting unreadable)",
            undecided.join(", ")
        ),
        evidence,
    );
    if !missing.is_empty() {
        f.missing_permission = Some(missing.join(", "));
    }
    f.fix = if missing.is_empty() {
        "the reads failed (not a permission problem); run the check again, or turn the settings \
         on at bucket level"
            .to_string()
    } else {
        format!(
            "grant {} to the checking identity, or turn the settings on at bucket level",
            missing.join(" and ")
        )
    };
    f
}

fn check_policy_public(ctx: &Ctx) -> Finding {
    if let Some(f) = policy_unavailable(ctx, CheckId::PolicyPublic, Severity::Block) {
        return f;
    }
    let PolicyState::Parsed(policy) = &ctx.policy else {
        return finding(
            CheckId::PolicyPublic,
            Status::Pass,
            Severity::Block,
            "no bucket policy",
            json!({"policy": "not configured"}),
        );
    };
    let mut grants = Vec::new();
    let mut limited = Vec::new();
    for stmt in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        if !stmt.principal.includes_public() {
            continue;
        }
        match analyse_allow(stmt, policy, ctx.bucket) {
            Reach::Public => grants.push(json!({
                "statement": stmt.raw,
                "grant": describe_grant(stmt),
                "access": access_level(&stmt.action).as_str(),
            })),
            Reach::Cancelled { by } => limited.push(json!({
                "grant": describe_grant(stmt),
                "cancelled_by_statement": by,
            })),
            Reach::Restricted { keys } => limited.push(json!({
                "grant": describe_grant(stmt),
                "limited_by": keys,
            })),
            Reach::IpLimited { .. } => limited.push(json!({
                "grant": describe_grant(stmt),
                "limited_by": ["aws:SourceIp"],
                "see": "policy-wide-cidr",
            })),
        }
    }
    if grants.is_empty() {
        return finding(
            CheckId::PolicyPublic,
            Status::Pass,
            Severity::Block,
            if limited.is_empty() {
                "no statement grants access to the public".to_string()
            } else {
                format!(
                    "{} public-principal statement(s), each limited to fixed values or \
                     cancelled by a Deny",
                    limited.len()
                )
            },
            json!({"public_grants": [], "limited_grants": limited}),
        );
    }
    let first = grants[0]["grant"].as_str().unwrap_or_default().to_string();
    let more = if grants.len() > 1 {
        format!(" (and {} more)", grants.len() - 1)
    } else {
        String::new()
    };
    match ctx.pab.restrict_public_buckets {
        Some(true) => {
            let by = pab_source(ctx.facts, |p| p.restrict_public_buckets);
            let mut f = finding(
                CheckId::PolicyPublic,
                Status::Fail,
                Severity::Warn,
                format!(
                    "public grant neutralized by RestrictPublicBuckets ({by}), one setting away \
                     from public: {first}{more}"
                ),
                json!({"public_grants": grants, "limited_grants": limited,
                       "neutralized_by": format!("RestrictPublicBuckets at {by}")}),
            );
            f.fix = "remove the public statement from the bucket policy; until then keep \
                     RestrictPublicBuckets on"
                .into();
            f
        }
        other => finding(
            CheckId::PolicyPublic,
            Status::Fail,
            Severity::Block,
            format!(
                "public grant{}: {first}{more}",
                if other.is_none() {
                    " (RestrictPublicBuckets could not be read)"
                } else {
                    ""
                }
            ),
            json!({"public_grants": grants, "limited_grants": limited,
                   "restrict_public_buckets": other}),
        ),
    }
}

fn check_policy_wide_cidr(ctx: &Ctx) -> Finding {
    if let Some(f) = policy_unavailable(ctx, CheckId::PolicyWideCidr, Severity::Block) {
        return f;
    }
    let PolicyState::Parsed(policy) = &ctx.policy else {
        return finding(
            CheckId::PolicyWideCidr,
            Status::Pass,
            Severity::Block,
            "no bucket policy",
            json!({"ip_limited_grants": []}),
        );
    };
    let mut entries = Vec::new();
    let mut worst = Width::GrantsNothing;
    let mut worst_text = String::new();
    for stmt in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        if !stmt.principal.includes_public() {
            continue;
        }
        if let Reach::IpLimited { ranges, statement } = analyse_allow(stmt, policy, ctx.bucket) {
            let listed: Vec<String> = ranges.ranges.iter().map(|r| r.value.clone()).collect();
            let text = format!(
                "{} limited to aws:SourceIp {} ({} public IPv4 addresses{})",
                describe_grant(stmt),
                listed.join(", "),
                ranges.public_ipv4_addresses,
                if ranges.public_ipv6_addresses > 0 {
                    format!(", {} IPv6 addresses", ranges.public_ipv6_addresses)
                } else {
                    String::new()
                }
            );
            if ranges.width > worst || worst_text.is_empty() {
                worst = worst.max(ranges.width);
                worst_text = text.clone();
            }
            entries.push(json!({
                "statement": stmt.raw,
                "grant": describe_grant(stmt),
                "access": access_level(&stmt.action).as_str(),
                "limit_from_statement": statement,
                "source_ip": ranges,
                "width": ranges.width,
            }));
        }
    }
    let evidence = json!({"ip_limited_grants": entries});
    if entries.is_empty() {
        return finding(
            CheckId::PolicyWideCidr,
            Status::Pass,
            Severity::Block,
            "no public grant is limited by source address alone",
            evidence,
        );
    }
    match worst {
        Width::TooWide => finding(
            CheckId::PolicyWideCidr,
            Status::Fail,
            Severity::Block,
            format!("open to a very wide address range: {worst_text}"),
            evidence,
        ),
        Width::Wide => finding(
            CheckId::PolicyWideCidr,
            Status::Fail,
            Severity::Warn,
            format!("open to a wide address range: {worst_text}"),
            evidence,
        ),
        Width::Narrow | Width::GrantsNothing => finding(
            CheckId::PolicyWideCidr,
            Status::Pass,
            Severity::Block,
            format!("only narrow or private ranges: {worst_text}"),
            evidence,
        ),
    }
}

fn check_policy_status(ctx: &Ctx) -> Finding {
    match &ctx.facts.policy_status {
        Fact::Unknown(u) => unknown(
            CheckId::PolicyStatus,
            Severity::Warn,
            "the policy status",
            u,
        ),
        Fact::Absent => finding(
            CheckId::PolicyStatus,
            Status::Pass,
            Severity::Block,
            "no bucket policy, so AWS reports nothing public",
            json!({"is_public": null}),
        ),
        Fact::Present(false) => finding(
            CheckId::PolicyStatus,
            Status::Pass,
            Severity::Block,
            "AWS reports the policy as not public (AWS does not judge the size of \
             aws:SourceIp ranges: see policy-wide-cidr)",
            json!({"is_public": false}),
        ),
        Fact::Present(true) => match ctx.pab.restrict_public_buckets {
            Some(true) => finding(
                CheckId::PolicyStatus,
                Status::Fail,
                Severity::Warn,
                format!(
                    "AWS reports the policy as public; neutralized by RestrictPublicBuckets \
                     ({}), one setting away from public",
                    pab_source(ctx.facts, |p| p.restrict_public_buckets)
                ),
                json!({"is_public": true, "restrict_public_buckets": true}),
            ),
            other => finding(
                CheckId::PolicyStatus,
                Status::Fail,
                Severity::Block,
                "AWS reports the bucket policy as public",
                json!({"is_public": true, "restrict_public_buckets": other}),
            ),
        },
    }
}

fn check_acl_public(ctx: &Ctx) -> Finding {
    let enforced = ctx.facts.ownership.present().map(String::as_str) == Some("BucketOwnerEnforced");
    let acl = match &ctx.facts.acl {
        Fact::Present(acl) => acl,
        Fact::Absent => {
            return finding(
                CheckId::AclPublic,
                Status::Pass,
                Severity::Block,
                "no ACL",
                json!({"grants": []}),
            );
        }
        Fact::Unknown(u) => {
            if enforced {
                let mut f = finding(
                    CheckId::AclPublic,
                    Status::Pass,
                    Severity::Block,
                    "ACLs are disabled (BucketOwnerEnforced), so no ACL grants anything",
                    json!({"object_ownership": "BucketOwnerEnforced", "acl": fact_json(&ctx.facts.acl)}),
                );
                f.missing_permission = None;
                return f;
            }
            // Whatever the ACL says, IgnorePublicAcls would neutralize it: the worst case is
            // a warning, not a block.
            let severity = if ctx.pab.ignore_public_acls == Some(true) {
                Severity::Warn
            } else {
                Severity::Block
            };
            return unknown(CheckId::AclPublic, severity, "the bucket ACL", u);
        }
    };
    let public: Vec<Value> = acl
        .grants
        .iter()
        .filter_map(|g| match &g.grantee {
            Grantee::Group { uri } if uri == ALL_USERS_URI || uri == AUTHENTICATED_USERS_URI => {
                Some(json!({
                    "grantee": uri,
                    "permission": g.permission,
                    "who": if uri == ALL_USERS_URI { "anyone" } else { "any AWS account" },
                }))
            }
            _ => None,
        })
        .collect();
    let evidence = json!({"public_grants": public, "grants": acl.grants,
                          "object_ownership": fact_json(&ctx.facts.ownership)});
    if public.is_empty() {
        return finding(
            CheckId::AclPublic,
            Status::Pass,
            Severity::Block,
            "the bucket ACL grants nothing to AllUsers or AuthenticatedUsers",
            evidence,
        );
    }
    let list = public
        .iter()
        .map(|p| {
            format!(
                "{} to {}",
                p["permission"].as_str().unwrap_or_default(),
                p["grantee"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    if enforced {
        return finding(
            CheckId::AclPublic,
            Status::Fail,
            Severity::Warn,
            format!(
                "public ACL grant ({list}) with ACLs disabled (BucketOwnerEnforced): not in effect"
            ),
            evidence,
        );
    }
    match ctx.pab.ignore_public_acls {
        Some(true) => finding(
            CheckId::AclPublic,
            Status::Fail,
            Severity::Warn,
            format!(
                "public ACL grant ({list}) neutralized by IgnorePublicAcls ({}), one setting away \
                 from public",
                pab_source(ctx.facts, |p| p.ignore_public_acls)
            ),
            evidence,
        ),
        _ => finding(
            CheckId::AclPublic,
            Status::Fail,
            Severity::Block,
            format!("public ACL grant: {list}"),
            evidence,
        ),
    }
}

fn check_acl_disabled(ctx: &Ctx) -> Finding {
    match &ctx.facts.ownership {
        Fact::Unknown(u) => unknown(
            CheckId::AclDisabled,
            Severity::Warn,
            "the object ownership setting",
            u,
        ),
        Fact::Present(o) if o == "BucketOwnerEnforced" => finding(
            CheckId::AclDisabled,
            Status::Pass,
            Severity::Warn,
            "ACLs are disabled (object ownership BucketOwnerEnforced)",
            json!({"object_ownership": o}),
        ),
        Fact::Present(o) => finding(
            CheckId::AclDisabled,
            Status::Fail,
            Severity::Warn,
            format!("ACLs are enabled (object ownership {o})"),
            json!({"object_ownership": o}),
        ),
        Fact::Absent => finding(
            CheckId::AclDisabled,
            Status::Fail,
            Severity::Warn,
            "ACLs are enabled (no ownership controls: ObjectWriter)",
            json!({"object_ownership": "not configured (ObjectWriter)"}),
        ),
    }
}

/// Why a Deny statement that mentions aws:SecureTransport does not enforce HTTPS, or `None`
/// when it has the enforcing shape (apart from which resources it covers).
fn secure_transport_shape_problem(stmt: &Statement) -> Option<String> {
    if !stmt.principal.is_everyone() {
        return Some(format!(
            "principal is {}, not \"*\": other callers may still use HTTP",
            stmt.principal
        ));
    }
    let all_s3 = ActionElement::Action(vec!["s3:*".to_string()]);
    if !policy::actions_cover(&stmt.action, &all_s3) {
        return Some(format!(
            "actions {} do not cover s3:*: other actions still work over HTTP",
            stmt.action
        ));
    }
    if stmt.conditions.len() != 1 {
        return Some(
            "other conditions are ANDed with aws:SecureTransport, so the Deny fires in fewer \
             cases"
                .to_string(),
        );
    }
    let clause = &stmt.conditions[0];
    let op = clause.op();
    if clause.key_lower() != "aws:securetransport" {
        return Some(format!(
            "the condition is on {}, not aws:SecureTransport (a plain-HTTP request may not \
             carry that key at all)",
            clause.key
        ));
    }
    if op.base != "bool" || op.qualifier.is_some() {
        return Some(format!(
            "operator {} instead of Bool / BoolIfExists",
            clause.operator
        ));
    }
    if clause.values.is_empty()
        || !clause
            .values
            .iter()
            .all(|v| v.trim().eq_ignore_ascii_case("false"))
    {
        return Some(format!(
            "denies aws:SecureTransport = {}, not false",
            clause.values.join(",")
        ));
    }
    None
}

fn check_https_only(ctx: &Ctx) -> Finding {
    if let Some(f) = policy_unavailable(ctx, CheckId::HttpsOnly, Severity::Warn) {
        return f;
    }
    let PolicyState::Parsed(policy) = &ctx.policy else {
        return finding(
            CheckId::HttpsOnly,
            Status::Fail,
            Severity::Warn,
            "no bucket policy, so plain HTTP is accepted",
            json!({"policy": "not configured"}),
        );
    };
    let bucket_arn = policy::bucket_arn(ctx.bucket);
    let all_objects = format!("{bucket_arn}/*");
    let mut enforcing = Vec::new();
    let mut near_misses = Vec::new();
    let mut partial = Vec::new();
    let (mut covers_bucket, mut covers_objects) = (false, false);
    for stmt in &policy.statements {
        let mentions = stmt
            .conditions
            .iter()
            .any(|c| c.key_lower() == "aws:securetransport" || c.key_lower() == "s3:tlsversion");
        if !mentions {
            continue;
        }
        if stmt.effect == Effect::Allow {
            near_misses.push(json!({
                "statement": stmt.raw,
                "why_not": "an Allow with aws:SecureTransport does not refuse plain HTTP; only a \
                            Deny does",
            }));
            continue;
        }
        if let Some(problem) = secure_transport_shape_problem(stmt) {
            near_misses.push(json!({"statement": stmt.raw, "why_not": problem}));
            continue;
        }
        let reach = policy::reach(&stmt.resource, ctx.bucket);
        let objects = policy::resources_cover(
            &stmt.resource,
            &ResourceElement::Resource(vec![all_objects.clone()]),
            ctx.bucket,
        );
        covers_bucket |= reach.bucket;
        covers_objects |= objects;
        if !(reach.bucket && objects) {
            partial.push(json!({
                "statement": stmt.raw,
                "why_not": format!(
                    "covers {} but not {}",
                    if reach.bucket { bucket_arn.as_str() } else { all_objects.as_str() },
                    if reach.bucket { all_objects.as_str() } else { bucket_arn.as_str() },
                ),
            }));
        }
        enforcing.push(stmt.raw.clone());
    }
    if covers_bucket && covers_objects {
        return finding(
            CheckId::HttpsOnly,
            Status::Pass,
            Severity::Warn,
            "plain HTTP is refused: Deny s3:* to \"*\" when aws:SecureTransport is false, on the \
             bucket and its objects",
            json!({"enforcing_statements": enforcing, "near_misses": near_misses}),
        );
    }
    // Statements covering only the bucket or only its objects explain the failure first.
    partial.append(&mut near_misses);
    let near_misses = partial;
    let summary = match near_misses.first() {
        Some(m) => format!(
            "plain HTTP is not refused: {}",
            m["why_not"].as_str().unwrap_or_default()
        ),
        None => "plain HTTP is not refused: no Deny on aws:SecureTransport = false".to_string(),
    };
    finding(
        CheckId::HttpsOnly,
        Status::Fail,
        Severity::Warn,
        summary,
        json!({"enforcing_statements": enforcing, "near_misses": near_misses}),
    )
}

/// The account of a principal ARN or account id, compared exactly (never as a substring).
pub fn account_of_principal(principal: &str) -> Option<String> {
    let p = principal.trim();
    if p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()) {
        return Some(p.to_string());
    }
    let parts: Vec<&str> = p.splitn(6, ':').collect();
    if parts.len() >= 5 && parts[0] == "arn" && matches!(parts[2], "iam" | "sts") {
        let account = parts[4];
        if account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) {
            return Some(account.to_string());
        }
    }
    None
}

fn check_cross_account(ctx: &Ctx) -> Finding {
    let severity_if_unknown = Severity::Block;
    if let Some(f) = policy_unavailable(ctx, CheckId::CrossAccount, severity_if_unknown) {
        return f;
    }
    let PolicyState::Parsed(policy) = &ctx.policy else {
        return finding(
            CheckId::CrossAccount,
            Status::Pass,
            Severity::Block,
            "no bucket policy, so no grants to other accounts",
            json!({"external_grants": []}),
        );
    };
    let owner = ctx.owner_account.clone();
    let acl_owner = ctx.facts.acl.present().and_then(|a| a.owner_id.clone());
    let mut external = Vec::new();
    let mut undecided = Vec::new();
    let mut orgs = Vec::new();
    let mut internal = Vec::new();
    for stmt in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        if let Reach::Cancelled { .. } = analyse_allow(stmt, policy, ctx.bucket) {
            continue;
        }
        let level = access_level(&stmt.action);
        // Who the statement names: (account or identity, kind).
        let mut named: Vec<(Option<String>, String)> = Vec::new();
        match &stmt.principal {
            PrincipalElement::Principal(p) if !p.includes_public() => {
                for a in &p.aws {
                    named.push((account_of_principal(a), a.clone()));
                }
                for c in &p.canonical_user {
                    if acl_owner.as_deref() == Some(c.as_str()) {
                        internal.push(json!({"principal": c, "statement": stmt.label()}));
                    } else {
                        named.push((None, format!("CanonicalUser {c}")));
                    }
                }
            }
            PrincipalElement::Principal(_) | PrincipalElement::NotPrincipal(_) => {
                // Public principal: only a principal-account limit makes it a grant to named
                // accounts (otherwise policy-public / policy-wide-cidr report it).
                for c in &stmt.conditions {
                    let Some(r) = restricting_clause(c, stmt.index) else {
                        continue;
                    };
                    match r.key.as_str() {
                        "aws:principalaccount" => {
                            for v in &r.values {
                                named.push((Some(v.trim().to_string()), v.clone()));
                            }
                        }
                        "aws:principalarn" => {
                            for v in &r.values {
                                named.push((account_of_principal(v), v.clone()));
                            }
                        }
                        "aws:principalorgid" | "aws:principalorgpaths" => {
                            orgs.push(json!({
                                "organization": r.values,
                                "statement": stmt.label(),
                                "access": level.as_str(),
                            }));
                        }
                        _ => {}
                    }
                }
            }
            PrincipalElement::Missing => {}
        }
        for (account, who) in named {
            // A deleted principal is shown by IAM as its unique id (AIDA..., AROA...): it
            // grants nothing to anyone.
            if account.is_none() && !who.contains(':') && !who.starts_with("CanonicalUser") {
                continue;
            }
            if let Some(acct) = &account {
                if owner.as_deref() == Some(acct.as_str()) {
                    internal.push(json!({"principal": who, "statement": stmt.label()}));
                    continue;
                }
                if ctx.is_trusted(acct) {
                    internal.push(json!({"principal": who, "statement": stmt.label(),
                                         "trusted": true}));
                    continue;
                }
                if deny_excludes_account(policy, stmt, acct, ctx.bucket) {
                    continue;
                }
            }
            let entry = json!({
                "principal": who,
                "account": account,
                "statement": stmt.raw,
                "label": stmt.label(),
                "actions": stmt.action.to_string(),
                "access": level.as_str(),
            });
            if owner.is_none() && account.is_some() {
                undecided.push((level, entry));
            } else {
                external.push((level, entry));
            }
        }
    }
    let evidence = |ext: &[(AccessLevel, Value)], und: &[(AccessLevel, Value)]| {
        json!({
            "owner_account": owner,
            "trusted_accounts": ctx.opts.trusted_accounts,
            "external_grants": ext.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "undecided_grants": und.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "organization_grants": orgs,
            "own_or_trusted": internal,
        })
    };
    let ev = evidence(&external, &undecided);
    let describe = |list: &[(AccessLevel, Value)]| {
        list.iter()
            .map(|(l, v)| {
                format!(
                    "{} {} to {}",
                    l.as_str(),
                    v["actions"].as_str().unwrap_or_default(),
                    v["principal"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let worst = external.iter().map(|(l, _)| *l).max();
    match worst {
        Some(AccessLevel::Write) | Some(AccessLevel::PermissionChange) => {
            let writes: Vec<(AccessLevel, Value)> = external
                .iter()
                .filter(|(l, _)| *l >= AccessLevel::Write)
                .cloned()
                .collect();
            return finding(
                CheckId::CrossAccount,
                Status::Fail,
                Severity::Block,
                format!("other accounts can write: {}", describe(&writes)),
                ev,
            );
        }
        Some(AccessLevel::Read) => {
            return finding(
                CheckId::CrossAccount,
                Status::Fail,
                Severity::Warn,
                format!("other accounts can read: {}", describe(&external)),
                ev,
            );
        }
        None => {}
    }
    if !undecided.is_empty() {
        let write = undecided.iter().any(|(l, _)| *l >= AccessLevel::Write);
        let mut f = finding(
            CheckId::CrossAccount,
            Status::Unknown,
            if write {
                Severity::Block
            } else {
                Severity::Warn
            },
            format!(
                "the bucket owner's account is unknown, so these grants cannot be judged: {}",
                describe(&undecided)
            ),
            ev,
        );
        f.fix = "pass --expected-owner ACCOUNT_ID (and --trusted-account ID for intended \
                 grants)"
            .into();
        return f;
    }
    if !orgs.is_empty() {
        return finding(
            CheckId::CrossAccount,
            Status::Fail,
            Severity::Warn,
            "the policy grants access to every account of an organization",
            ev,
        );
    }
    finding(
        CheckId::CrossAccount,
        Status::Pass,
        Severity::Block,
        "no grants to accounts other than the owner's and trusted ones",
        ev,
    )
}

/// True when a Deny to everyone covering `stmt` refuses every principal outside a fixed
/// `aws:PrincipalAccount` list that does not contain `account`.
fn deny_excludes_account(policy: &Policy, stmt: &Statement, account: &str, bucket: &str) -> bool {
    policy
        .statements
        .iter()
        .filter(|d| d.effect == Effect::Deny && d.principal.is_everyone())
        .filter(|d| {
            policy::actions_cover(&d.action, &stmt.action)
                && policy::resources_cover(&d.resource, &stmt.resource, bucket)
        })
        .any(|d| {
            d.conditions.len() == 1
                && negated_trust_clause(&d.conditions[0], d.index).is_some_and(|r| {
                    r.key == "aws:principalaccount" && !r.values.iter().any(|v| v.trim() == account)
                })
        })
}

fn is_customer_managed(key: &Option<String>) -> bool {
    match key {
        None => false,
        Some(k) => !k.trim().is_empty() && !k.contains("alias/aws/"),
    }
}

fn check_default_encryption(ctx: &Ctx) -> Finding {
    let rules = match &ctx.facts.encryption {
        Fact::Unknown(u) => {
            return unknown(
                CheckId::DefaultEncryption,
                Severity::Warn,
                "the default encryption",
                u,
            );
        }
        Fact::Absent => {
            return finding(
                CheckId::DefaultEncryption,
                Status::Fail,
                Severity::Warn,
                "no default encryption: objects uploaded without encryption headers are stored \
                 unencrypted by S3",
                json!({"rules": []}),
            );
        }
        Fact::Present(rules) => rules,
    };
    let evidence = json!({"rules": rules});
    if rules.is_empty() {
        return finding(
            CheckId::DefaultEncryption,
            Status::Fail,
            Severity::Warn,
            "default encryption configuration has no rule",
            evidence,
        );
    }
    let kms = |r: &&super::facts::EncryptionRule| {
        let a = r.algorithm.to_ascii_lowercase();
        a == "aws:kms" || a == "aws:kms:dsse"
    };
    if let Some(r) = rules
        .iter()
        .filter(kms)
        .find(|r| is_customer_managed(&r.kms_key_id))
    {
        return finding(
            CheckId::DefaultEncryption,
            Status::Pass,
            Severity::Info,
            format!(
                "default encryption {} with customer-managed key {}",
                r.algorithm,
                r.kms_key_id.clone().unwrap_or_default()
            ),
            evidence,
        );
    }
    if let Some(r) = rules.iter().find(kms) {
        return finding(
            CheckId::DefaultEncryption,
            Status::Fail,
            Severity::Info,
            format!(
                "default encryption {} with the AWS managed key (aws/s3): its key policy lets \
                 any principal of the account decrypt through S3",
                r.algorithm
            ),
            evidence,
        );
    }
    finding(
        CheckId::DefaultEncryption,
        Status::Fail,
        Severity::Info,
        format!(
            "default encryption {} (SSE-S3) only: anyone with s3:GetObject receives plaintext; \
             s3seal's client-side encryption is what protects the content",
            rules[0].algorithm
        ),
        evidence,
    )
}

/// What a Deny on PutObject demands about server-side encryption headers.
fn sse_demand(stmt: &Statement, bucket: &str) -> Option<(String, Vec<String>, usize)> {
    if stmt.effect != Effect::Deny
        || !stmt.principal.is_everyone()
        || !policy::action_matches(&stmt.action, "s3:PutObject")
    {
        return None;
    }
    let objects = ResourceElement::Resource(vec![format!("{}/*", policy::bucket_arn(bucket))]);
    if !policy::resources_cover(&stmt.resource, &objects, bucket) {
        return None;
    }
    let relevant: Vec<_> = stmt
        .conditions
        .iter()
        .filter(|c| {
            let k = c.key_lower();
            k == "s3:x-amz-server-side-encryption"
                || k == "s3:x-amz-server-side-encryption-aws-kms-key-id"
        })
        .collect();
    if relevant.is_empty() {
        return None;
    }
    let first = relevant[0];
    Some((
        first.key_lower(),
        first.values.clone(),
        stmt.conditions.len(),
    ))
}

fn check_sse_kms_required(ctx: &Ctx) -> Finding {
    if let Some(f) = policy_unavailable(ctx, CheckId::SseKmsRequired, Severity::Info) {
        return f;
    }
    let PolicyState::Parsed(policy) = &ctx.policy else {
        return finding(
            CheckId::SseKmsRequired,
            Status::Fail,
            Severity::Info,
            "no bucket policy, so uploads without SSE-KMS are accepted",
            json!({"policy": "not configured"}),
        );
    };
    let mut requiring = Vec::new();
    let mut pinned = Vec::new();
    let mut notes = Vec::new();
    for stmt in &policy.statements {
        let Some(_) = sse_demand(stmt, ctx.bucket) else {
            continue;
        };
        if stmt.conditions.len() != 1 {
            notes.push(json!({
                "statement": stmt.raw,
                "why_not": "several condition keys in one statement are ANDed: the Deny fires \
                            only when all of them match, so each demand needs its own statement",
            }));
            continue;
        }
        let clause = &stmt.conditions[0];
        let op: Operator = clause.op();
        let key = clause.key_lower();
        if key == "s3:x-amz-server-side-encryption" {
            let kms_only = !clause.values.is_empty()
                && clause.values.iter().all(|v| {
                    let v = v.trim().to_ascii_lowercase();
                    v == "aws:kms" || v == "aws:kms:dsse"
                });
            if op.is_negated()
                && op.base.starts_with("stringnot")
                && op.qualifier.is_none()
                && kms_only
            {
                requiring.push(stmt.raw.clone());
            } else if op.base == "null" {
                notes.push(json!({
                    "statement": stmt.raw,
                    "why_not": "refuses uploads without the header only; SSE-S3 (AES256) is \
                                still accepted",
                }));
            } else {
                notes.push(json!({
                    "statement": stmt.raw,
                    "why_not": format!("{} {} does not demand aws:kms", clause.operator, clause.values.join(",")),
                }));
            }
        } else if op.is_negated() && op.base.starts_with("stringnot") && op.qualifier.is_none() {
            pinned.extend(clause.values.iter().cloned());
        }
    }
    let evidence = json!({
        "requiring_statements": requiring,
        "pinned_keys": pinned,
        "notes": notes,
    });
    if requiring.is_empty() {
        return finding(
            CheckId::SseKmsRequired,
            Status::Fail,
            Severity::Info,
            "the policy does not refuse uploads without SSE-KMS",
            evidence,
        );
    }
    finding(
        CheckId::SseKmsRequired,
        Status::Pass,
        Severity::Info,
        if pinned.is_empty() {
            "uploads without SSE-KMS are refused (no specific key pinned)".to_string()
        } else {
            format!(
                "uploads without SSE-KMS are refused; key pinned to {}",
                pinned.join(", ")
            )
        },
        evidence,
    )
}

fn check_versioning(ctx: &Ctx) -> Finding {
    let v = match &ctx.facts.versioning {
        Fact::Unknown(u) => {
            return unknown(
                CheckId::Versioning,
                Severity::Warn,
                "the versioning state",
                u,
            );
        }
        Fact::Absent => super::facts::Versioning::default(),
        Fact::Present(v) => v.clone(),
    };
    let evidence = json!({"status": v.status, "mfa_delete": v.mfa_delete});
    let enabled = v.status.as_deref() == Some("Enabled");
    let mfa = v.mfa_delete.as_deref() == Some("Enabled");
    match (enabled, mfa) {
        (true, true) => finding(
            CheckId::Versioning,
            Status::Pass,
            Severity::Warn,
            "versioning enabled with MFA delete",
            evidence,
        ),
        (true, false) => {
            let mut f = finding(
                CheckId::Versioning,
                Status::Fail,
                Severity::Info,
                "versioning enabled; MFA delete is off",
                evidence,
            );
            f.fix = "enable MFA delete with the root user: aws s3api put-bucket-versioning \
                     --bucket BUCKET --versioning-configuration Status=Enabled,MFADelete=Enabled \
                     --mfa 'SERIAL CODE'"
                .into();
            f
        }
        (false, _) => finding(
            CheckId::Versioning,
            Status::Fail,
            Severity::Warn,
            format!(
                "versioning is {}",
                match v.status.as_deref() {
                    Some(s) => s.to_ascii_lowercase(),
                    None => "not enabled".to_string(),
                }
            ),
            evidence,
        ),
    }
}

fn check_object_lock(ctx: &Ctx) -> Finding {
    match &ctx.facts.object_lock {
        Fact::Unknown(u) => unknown(
            CheckId::ObjectLock,
            Severity::Info,
            "the Object Lock configuration",
            u,
        ),
        Fact::Present(l) if l.enabled => finding(
            CheckId::ObjectLock,
            Status::Pass,
            Severity::Info,
            match (&l.default_mode, l.default_days, l.default_years) {
                (Some(mode), Some(d), _) => format!("Object Lock on, default {mode} {d} days"),
                (Some(mode), _, Some(y)) => format!("Object Lock on, default {mode} {y} years"),
                _ => "Object Lock on, no default retention".to_string(),
            },
            serde_json::to_value(l).unwrap_or(Value::Null),
        ),
        Fact::Present(l) => finding(
            CheckId::ObjectLock,
            Status::Fail,
            Severity::Info,
            "Object Lock is not enabled",
            serde_json::to_value(l).unwrap_or(Value::Null),
        ),
        Fact::Absent => finding(
            CheckId::ObjectLock,
            Status::Fail,
            Severity::Info,
            "Object Lock is not enabled",
            json!({"object_lock": "not configured"}),
        ),
    }
}

fn check_access_logging(ctx: &Ctx) -> Finding {
    match &ctx.facts.logging {
        Fact::Unknown(u) => unknown(
            CheckId::AccessLogging,
            Severity::Info,
            "the logging configuration",
            u,
        ),
        Fact::Present(l) => finding(
            CheckId::AccessLogging,
            Status::Pass,
            Severity::Info,
            format!(
                "server access logs go to s3://{}/{}",
                l.target_bucket, l.target_prefix
            ),
            serde_json::to_value(l).unwrap_or(Value::Null),
        ),
        Fact::Absent => finding(
            CheckId::AccessLogging,
            Status::Fail,
            Severity::Info,
            "server access logging is off",
            json!({"logging": "disabled"}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_comparison_is_exact() {
        assert_eq!(
            account_of_principal("arn:aws:iam::111122223333:root").as_deref(),
            Some("111122223333")
        );
        assert_eq!(
            account_of_principal("111122223333").as_deref(),
            Some("111122223333")
        );
        assert_eq!(
            account_of_principal("arn:aws:iam::1111222233334:root"),
            None
        );
        assert_eq!(account_of_principal("AIDAEXAMPLE"), None);
    }

    #[test]
    fn fixed_values() {
        assert!(is_fixed_value("aws:sourcevpc", "vpc-1234", true));
        assert!(!is_fixed_value("aws:sourcevpc", "vpc-*", true));
        assert!(is_fixed_value("aws:userid", "AROAEXAMPLE:*", true));
        assert!(!is_fixed_value("aws:userid", "*:session", true));
        assert!(is_fixed_value(
            "s3:dataaccesspointarn",
            "arn:aws:s3:us-west-2:123456789012:accesspoint/*",
            true
        ));
        assert!(!is_fixed_value(
            "s3:dataaccesspointarn",
            "arn:aws:s3:us-west-2:*:accesspoint/*",
            true
        ));
        assert!(!is_fixed_value("aws:sourceip", "0.0.0.0/0", false));
        assert!(is_fixed_value("aws:sourceip", "0.0.0.0/1", false));
    }

    #[test]
    fn access_levels() {
        let a = |v: &[&str]| ActionElement::Action(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(access_level(&a(&["s3:GetObject"])), AccessLevel::Read);
        assert_eq!(
            access_level(&a(&["s3:Get*", "s3:List*"])),
            AccessLevel::Read
        );
        assert_eq!(access_level(&a(&["s3:PutObject"])), AccessLevel::Write);
        assert_eq!(access_level(&a(&["s3:*"])), AccessLevel::PermissionChange);
        assert_eq!(
            access_level(&a(&["S3:PUTBUCKETPOLICY"])),
            AccessLevel::PermissionChange
        );
        assert_eq!(access_level(&a(&["s3:*Object"])), AccessLevel::Write);
        assert_eq!(
            access_level(&ActionElement::NotAction(vec!["s3:GetObject".into()])),
            AccessLevel::PermissionChange
        );
    }
}

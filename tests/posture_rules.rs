//! Pure tests of the posture rules, no network. Most of them are one table
//! ([`table`]): given facts (a policy fixture from `tests/fixtures/posture/` on a bucket of
//! account OWNER, or hand-built facts), a check, the status and severity it must give, and
//! what else must hold of the finding and the verdict; one runner checks every row. Covers
//! every sample configuration listed in `docs/POSTURE.md` and an edge case for each rule.
//! The table of docs/POSTURE.md, the parser, the verdict, the JSON document, the text and the
//! gate have their own tests after it.

use s3seal::posture::facts::{
    ALL_USERS_URI, AUTHENTICATED_USERS_URI, Acl, EncryptionRule, Grant, Grantee, Logging,
    ObjectLock, OwnerFacts, Probe, PublicAccessBlock, Versioning,
};
use s3seal::posture::policy::{ActionElement, Effect, Policy, PrincipalElement};
use s3seal::posture::{
    self, BucketFacts, CheckId, Fact, Finding, GateDecision, GateMode, PostureOptions, Report,
    Severity, Status, Unreadable, Verdict,
};
use serde_json::{Value, json};

const BUCKET: &str = "b";
const OWNER: &str = "111122223333";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/posture/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn opts() -> PostureOptions {
    PostureOptions {
        expected_owner: Some(OWNER.to_string()),
        trusted_accounts: Vec::new(),
    }
}

/// A bucket of account OWNER with nothing configured, every read allowed.
fn base() -> BucketFacts {
    let mut f = BucketFacts::unconfigured(BUCKET);
    f.owner = OwnerFacts {
        expected_owner: Some(OWNER.to_string()),
        caller_account: Some(OWNER.to_string()),
        probe_plain: Some(Probe::Ok),
        probe_expected: Some(Probe::Ok),
        probe_caller: None,
    };
    f
}

/// `base()` changed by `change`.
fn tweak(change: impl FnOnce(&mut BucketFacts)) -> BucketFacts {
    let mut f = base();
    change(&mut f);
    f
}

/// `base()` with the policy of a fixture, and AWS's status for it.
fn with_policy(name: &str, aws_is_public: bool) -> BucketFacts {
    tweak(|f| {
        f.policy = Fact::Present(fixture(name));
        f.policy_status = Fact::Present(aws_is_public);
    })
}

/// A bucket that passes every check with a severity above info.
fn hardened() -> BucketFacts {
    let mut f = with_policy("hardened", false);
    f.bucket_public_access_block = Fact::Present(PublicAccessBlock::ALL);
    f.ownership = Fact::Present("BucketOwnerEnforced".into());
    f.encryption = Fact::Present(vec![EncryptionRule {
        bucket_key_enabled: Some(true),
        ..rule("aws:kms", Some("arn:aws:kms:us-east-1:111122223333:key/k1"))
    }]);
    f.versioning = versioning(Some("Enabled"), Some("Enabled"));
    f.object_lock = Fact::Present(ObjectLock {
        enabled: true,
        default_mode: Some("GOVERNANCE".into()),
        default_days: Some(30),
        default_years: None,
    });
    f.logging = Fact::Present(Logging {
        target_bucket: "logs".into(),
        target_prefix: "b/".into(),
    });
    f
}

fn eval(f: &BucketFacts) -> Report {
    posture::evaluate(f, &opts())
}

fn pab(change: impl FnOnce(&mut PublicAccessBlock)) -> Fact<PublicAccessBlock> {
    let mut p = PublicAccessBlock::default();
    change(&mut p);
    Fact::Present(p)
}

fn account_rpb() -> Fact<PublicAccessBlock> {
    pab(|p| p.restrict_public_buckets = true)
}

fn acl_with(uri: &str, permission: &str) -> Fact<Acl> {
    let grant = |grantee, permission: &str| Grant {
        grantee,
        permission: permission.into(),
    };
    let owner = Grantee::CanonicalUser {
        id: "owner-canonical-id".into(),
        display_name: None,
    };
    Fact::Present(Acl {
        owner_id: Some("owner-canonical-id".into()),
        grants: vec![
            grant(owner, "FULL_CONTROL"),
            grant(Grantee::Group { uri: uri.into() }, permission),
        ],
    })
}

fn rule(algorithm: &str, key: Option<&str>) -> EncryptionRule {
    EncryptionRule {
        algorithm: algorithm.into(),
        kms_key_id: key.map(str::to_string),
        bucket_key_enabled: None,
    }
}

fn versioning(status: Option<&str>, mfa_delete: Option<&str>) -> Fact<Versioning> {
    Fact::Present(Versioning {
        status: status.map(str::to_string),
        mfa_delete: mfa_delete.map(str::to_string),
    })
}

fn for_every_bucket_fact_denied(f: &mut BucketFacts) {
    f.bucket_public_access_block = Fact::denied("s3:GetBucketPublicAccessBlock");
    f.policy = Fact::denied("s3:GetBucketPolicy");
    f.policy_status = Fact::denied("s3:GetBucketPolicyStatus");
    f.acl = Fact::denied("s3:GetBucketAcl");
    f.ownership = Fact::denied("s3:GetBucketOwnershipControls");
    f.encryption = Fact::denied("s3:GetEncryptionConfiguration");
    f.versioning = Fact::denied("s3:GetBucketVersioning");
    f.object_lock = Fact::denied("s3:GetBucketObjectLockConfiguration");
    f.logging = Fact::denied("s3:GetBucketLogging");
}

/// Every bucket read and the owner probes refused.
fn everything_refused() -> BucketFacts {
    let mut facts = BucketFacts::unconfigured(BUCKET);
    for_every_bucket_fact_denied(&mut facts);
    facts.owner = OwnerFacts {
        expected_owner: Some(OWNER.into()),
        probe_plain: Some(Probe::AccessDenied),
        probe_expected: Some(Probe::AccessDenied),
        ..Default::default()
    };
    facts
}

/// A read that failed without a 403 (`access_denied` false), with this error.
fn failed(permission: &str, error: &str) -> Unreadable {
    Unreadable {
        permission: permission.into(),
        access_denied: false,
        error: error.into(),
    }
}

/// Reads that the server does not implement (S3-compatible servers answer NotImplemented).
fn unimplemented() -> BucketFacts {
    let not_implemented = "NotImplemented: GetBucketPolicy is not implemented yet";
    tweak(|f| {
        f.policy = Fact::Unknown(failed("s3:GetBucketPolicy", not_implemented));
        f.bucket_public_access_block =
            Fact::Unknown(failed("s3:GetBucketPublicAccessBlock", not_implemented));
        f.account_public_access_block =
            Fact::Unknown(failed("s3:GetAccountPublicAccessBlock", not_implemented));
    })
}

/// The bucket owner is not known: no `--expected-owner`, the caller's account not confirmed.
fn owner_unknown(name: &str) -> BucketFacts {
    let mut f = with_policy(name, false);
    f.owner = OwnerFacts {
        probe_plain: Some(Probe::Ok),
        ..Default::default()
    };
    f
}

/// The owner learned from the caller's account, which S3 accepts as ExpectedBucketOwner.
fn owner_is_caller(probe_caller: Probe) -> BucketFacts {
    tweak(|f| {
        f.owner = OwnerFacts {
            caller_account: Some(OWNER.into()),
            probe_plain: Some(Probe::Ok),
            probe_caller: Some(probe_caller),
            ..Default::default()
        }
    })
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

/// The facts of a row.
#[derive(Clone, Copy)]
enum Given {
    /// `base()` with a fixture's policy, and whether AWS's GetBucketPolicyStatus says public.
    Pol(&'static str, bool),
    /// Hand-built facts, judged with `--expected-owner OWNER`.
    Facts(&'static str, fn() -> BucketFacts),
    /// Hand-built facts and options.
    With(&'static str, fn() -> BucketFacts, fn() -> PostureOptions),
}

/// What else must hold of a row's finding (and report).
enum Then {
    /// The summary contains this text.
    Says(&'static str),
    /// The fix contains this text.
    Fix(&'static str),
    /// The evidence at this JSON pointer is this value.
    Ev(&'static str, Value),
    /// The evidence at this JSON pointer is a string containing this text.
    EvHas(&'static str, &'static str),
    /// The permission the finding names as missing.
    Perm(Option<&'static str>),
    /// The verdict of the whole report.
    V(Verdict),
    /// s3seal's own analysis agrees with AWS's: the check fails exactly when AWS says public.
    AgreesWithAws,
}

fn ev(pointer: &'static str, value: impl Into<Value>) -> Then {
    Then::Ev(pointer, value.into())
}

type Row = (Given, CheckId, Status, Severity, Vec<Then>);

#[rustfmt::skip]
fn table() -> Vec<Row> {
    use CheckId as C;
    use Given::*;
    use Severity::*;
    use Status::*;
    use Then::*;
    const GBP: Option<&str> = Some("s3:GetBucketPolicy");
    vec![
        // The sample configurations of docs/POSTURE.md: policy-public and the verdict.
        (Pol("public-read", true), C::PolicyPublic, Fail, Block, vec![AgreesWithAws, V(Verdict::Block), ev("/public_grants/0/statement/Sid", "PublicRead"), ev("/public_grants/0/access", "read"), Says("s3:GetObject")]),
        (Pol("public-read", true), C::PolicyStatus, Fail, Block, vec![]),
        (Pol("ip-narrow", false), C::PolicyPublic, Pass, Block, vec![AgreesWithAws, V(Verdict::Warn)]),
        (Pol("ip-narrow", false), C::PolicyWideCidr, Pass, Block, vec![ev("/ip_limited_grants/0/source_ip/ranges/0/value", "203.0.113.0/24"), ev("/ip_limited_grants/0/source_ip/public_ipv4_addresses", 256), Says("203.0.113.0/24")]),
        (Pol("vpc-wildcard", true), C::PolicyPublic, Fail, Block, vec![AgreesWithAws, V(Verdict::Block)]),
        (Pol("federated-facebook", true), C::PolicyPublic, Fail, Block, vec![AgreesWithAws, V(Verdict::Block), ev("/public_grants/0/access", "write")]),
        (Pol("deny-outside-vpce", false), C::PolicyPublic, Pass, Block, vec![AgreesWithAws, V(Verdict::Warn), ev("/limited_grants/0/limited_by/0", "aws:sourcevpce")]),
        (Pol("deny-outside-vpce", false), C::PolicyWideCidr, Pass, Block, vec![]),
        (Pol("ip-slash1", false), C::PolicyPublic, Pass, Block, vec![AgreesWithAws, V(Verdict::Block)]),
        (Pol("ip-slash16", false), C::PolicyPublic, Pass, Block, vec![AgreesWithAws, V(Verdict::Warn)]),
        (Pol("https-canonical", false), C::PolicyPublic, Pass, Block, vec![AgreesWithAws, V(Verdict::Warn)]),
        (Pol("https-canonical", false), C::HttpsOnly, Pass, Warn, vec![ev("/enforcing_statements/0/Sid", "HttpsOnly")]),
        // RestrictPublicBuckets neutralizes a public policy, at either level, when readable.
        (Facts("public-read, account RestrictPublicBuckets", || { let mut f = with_policy("public-read", true); f.account_public_access_block = account_rpb(); f }), C::PolicyPublic, Fail, Warn, vec![Says("one setting away"), Says("account level")]),
        (Facts("public-read, account RestrictPublicBuckets", || { let mut f = with_policy("public-read", true); f.account_public_access_block = account_rpb(); f }), C::PolicyStatus, Fail, Warn, vec![V(Verdict::Warn)]),
        (Facts("public-read, bucket RestrictPublicBuckets", || { let mut f = with_policy("public-read", true); f.bucket_public_access_block = account_rpb(); f }), C::PolicyPublic, Fail, Warn, vec![Says("bucket level")]),
        (Facts("public-read, Block Public Access unreadable", || { let mut f = with_policy("public-read", true); f.bucket_public_access_block = Fact::denied("s3:GetBucketPublicAccessBlock"); f.account_public_access_block = Fact::denied("s3:GetAccountPublicAccessBlock"); f }), C::PolicyPublic, Fail, Block, vec![]),
        // HTTPS enforcement and its near misses.
        (Pol("https-bucket-only", false), C::HttpsOnly, Fail, Warn, vec![Says("arn:aws:s3:::b/*")]),
        (Pol("https-one-role", false), C::HttpsOnly, Fail, Warn, vec![Says("principal")]),
        (Pol("https-get-only", false), C::HttpsOnly, Fail, Warn, vec![Says("do not cover s3:*")]),
        (Pol("https-allow-true", false), C::HttpsOnly, Fail, Warn, vec![Says("Allow")]),
        (Pol("https-tlsversion-only", false), C::HttpsOnly, Fail, Warn, vec![Says("s3:TlsVersion")]),
        (Pol("https-extra-condition", false), C::HttpsOnly, Fail, Warn, vec![Says("ANDed")]),
        (Pol("https-value-true", false), C::HttpsOnly, Fail, Warn, vec![Says("not false")]),
        (Facts("no policy", base), C::HttpsOnly, Fail, Warn, vec![Says("no bucket policy")]),
        // Deny "*" on arn:aws:s3:::b* with {"bool": {"AWS:SECURETRANSPORT": false}}.
        (Pol("https-json-bool", false), C::HttpsOnly, Pass, Warn, vec![]),
        (Pol("https-boolifexists-split", false), C::HttpsOnly, Pass, Warn, vec![]),
        // The caller lacks s3:GetBucketPolicy (and ...Status): unknown, never pass; the rest goes on.
        (Facts("policy denied", policy_denied), C::PolicyPublic, Unknown, Block, vec![Perm(GBP), Says("s3:GetBucketPolicy")]),
        (Facts("policy denied", policy_denied), C::PolicyWideCidr, Unknown, Block, vec![Perm(GBP), Says("s3:GetBucketPolicy")]),
        (Facts("policy denied", policy_denied), C::CrossAccount, Unknown, Block, vec![Perm(GBP), Says("s3:GetBucketPolicy")]),
        (Facts("policy denied", policy_denied), C::HttpsOnly, Unknown, Warn, vec![Perm(GBP), Says("s3:GetBucketPolicy")]),
        (Facts("policy denied", policy_denied), C::SseKmsRequired, Unknown, Info, vec![Perm(GBP), Says("s3:GetBucketPolicy")]),
        (Facts("policy denied", policy_denied), C::PolicyStatus, Unknown, Warn, vec![Perm(Some("s3:GetBucketPolicyStatus"))]),
        (Facts("policy denied", policy_denied), C::AclPublic, Pass, Block, vec![]),
        (Facts("policy denied", policy_denied), C::Owner, Pass, Block, vec![V(Verdict::Unknown)]),
        // Lenient parsing: one statement object, names, operators and keys in any case.
        (Pol("single-statement", true), C::PolicyPublic, Fail, Block, vec![]),
        // StringEquals aws:SourceVpce written in lower and upper case still limits the grant.
        (Pol("case-insensitive", false), C::PolicyPublic, Pass, Block, vec![]),
        // "ALLOW", {"aws": ["*"]}, "S3:PUTOBJECT" is a public write.
        (Pol("case-insensitive-public", true), C::PolicyPublic, Fail, Block, vec![ev("/public_grants/0/access", "write")]),
        (Pol("invalid", false), C::PolicyPublic, Unknown, Block, vec![EvHas("/parse_error", "Maybe"), V(Verdict::Unknown)]),
        (Pol("numeric-account-principal", false), C::CrossAccount, Pass, Block, vec![ev("/own_or_trusted/0/principal", OWNER)]),
        // NotPrincipal, NotAction, Denies.
        (Pol("notprincipal-allow", true), C::PolicyPublic, Fail, Block, vec![Says("everyone except")]),
        (Pol("notaction-allow", true), C::PolicyPublic, Fail, Block, vec![ev("/public_grants/0/access", "permission-change")]),
        (Pol("notaction-deny-vpce", false), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("deny-unconditional", false), C::PolicyPublic, Pass, Block, vec![ev("/limited_grants/0/cancelled_by_statement", 1)]),
        (Pol("deny-partial-actions", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("deny-partial-condition", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("deny-only-bucket-arn", true), C::PolicyPublic, Fail, Block, vec![]),
        // IfExists, negated and ForAllValues operators never restrict an Allow; nor do 0.0.0.0/0 or other keys.
        (Pol("ifexists-allow", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("negated-allow", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("forallvalues-allow", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("nontrust-condition", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("ip-notipaddress", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("ip-ifexists", true), C::PolicyPublic, Fail, Block, vec![]),
        (Pol("ip-slash0", true), C::PolicyPublic, Fail, Block, vec![]),
        // Fixed trust values restrict (userid-no-wildcard: policyuniverse #189 called it public).
        (Pol("foranyvalue-allow", false), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("userid-role-pattern", false), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("userid-no-wildcard", false), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("orgid-fixed", false), C::PolicyPublic, Pass, Block, vec![]),
        // Wide CIDRs: thresholds by prefix and by union; AWS calls every one of them non-public.
        (Pol("ip-slash1", false), C::PolicyWideCidr, Fail, Block, vec![]),
        (Pol("ip-slash16", false), C::PolicyWideCidr, Fail, Warn, vec![]),
        (Pol("ip-slash23", false), C::PolicyWideCidr, Fail, Warn, vec![]),
        (Pol("ip-slash23", false), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("ip-private", false), C::PolicyWideCidr, Pass, Block, vec![ev("/ip_limited_grants/0/source_ip/public_ipv4_addresses", 0), ev("/ip_limited_grants/0/source_ip/width", "grants-nothing"), ev("/ip_limited_grants/0/source_ip/ranges/0/width", "grants-nothing")]),
        (Pol("ip-private", false), C::PolicyPublic, Pass, Block, vec![]),
        (Facts("ip-slash1, Block Public Access on", || { let mut f = with_policy("ip-slash1", false); f.bucket_public_access_block = Fact::Present(PublicAccessBlock::ALL); f }), C::PolicyWideCidr, Fail, Block, vec![Says("0.0.0.0/1"), V(Verdict::Block)]),
        (Pol("ip-union", false), C::PolicyWideCidr, Fail, Block, vec![ev("/ip_limited_grants/0/source_ip/public_ipv4_addresses", 131_072)]),
        // 300 /24s, each narrow, together 76,800 addresses.
        (Pol("ip-union-many-24", false), C::PolicyWideCidr, Fail, Block, vec![ev("/ip_limited_grants/0/source_ip/public_ipv4_addresses", 76_800)]),
        (Pol("ipv6-slash31", false), C::PolicyWideCidr, Fail, Block, vec![]),
        (Pol("ipv6-slash40", false), C::PolicyWideCidr, Fail, Warn, vec![]),
        (Pol("ipv6-slash48", false), C::PolicyWideCidr, Pass, Block, vec![]),
        // A Deny with NotIpAddress limits the Allow to that range.
        (Pol("ip-deny-outside-wide", false), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("ip-deny-outside-wide", false), C::PolicyWideCidr, Fail, Block, vec![Says("0.0.0.0/2")]),
        // Cross-account: write blocks, read warns; exact account comparison, never a substring.
        (Pol("cross-write", false), C::CrossAccount, Fail, Block, vec![ev("/external_grants/0/account", "444455556666"), ev("/external_grants/0/access", "write")]),
        (Pol("cross-read", false), C::CrossAccount, Fail, Warn, vec![]),
        (Pol("cross-permission", false), C::CrossAccount, Fail, Block, vec![ev("/external_grants/0/access", "permission-change")]),
        (With("cross-write, 444455556666 trusted", || with_policy("cross-write", false), || PostureOptions { trusted_accounts: vec!["444455556666".into()], ..opts() }), C::CrossAccount, Pass, Block, vec![ev("/own_or_trusted/0/trusted", true)]),
        // arn:aws:iam::444455556666:role/111122223333-writer mentions the owner's id in its name.
        (Pol("cross-substring-trap", false), C::CrossAccount, Fail, Block, vec![]),
        (Pol("own-account", false), C::CrossAccount, Pass, Block, vec![]),
        (Pol("principal-account-condition", false), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("principal-account-condition", false), C::CrossAccount, Fail, Block, vec![ev("/external_grants/0/account", "444455556666")]),
        (Pol("cross-denied-by-account", false), C::CrossAccount, Pass, Block, vec![]),
        (Pol("deleted-principal", false), C::CrossAccount, Pass, Block, vec![]),
        (Pol("service-principal", false), C::CrossAccount, Pass, Block, vec![]),
        (Pol("orgid-fixed", false), C::CrossAccount, Fail, Warn, vec![ev("/organization_grants/0/organization/0", "o-abc123")]),
        (With("cross-write, owner unknown", || owner_unknown("cross-write"), PostureOptions::default), C::CrossAccount, Unknown, Block, vec![]),
        (With("cross-write, owner is the caller", || { let mut f = owner_unknown("cross-write"); f.owner.caller_account = Some(OWNER.into()); f.owner.probe_caller = Some(Probe::Ok); f }, PostureOptions::default), C::CrossAccount, Fail, Block, vec![]),
        // SSE-KMS by policy.
        (Pol("sse-kms-required", false), C::SseKmsRequired, Pass, Info, vec![ev("/pinned_keys/0", "arn:aws:kms:us-east-1:111122223333:key/k1")]),
        (Pol("sse-kms-anded", false), C::SseKmsRequired, Fail, Info, vec![EvHas("/notes/0/why_not", "ANDed")]),
        (Pol("sse-null-only", false), C::SseKmsRequired, Fail, Info, vec![EvHas("/notes/0/why_not", "AES256")]),
        (Pol("sse-aes256", false), C::SseKmsRequired, Fail, Info, vec![EvHas("/notes/0/why_not", "does not demand aws:kms")]),
        // ACLs: public grants block unless ignored; unreadable is unknown unless ACLs are disabled.
        (Facts("AllUsers READ", || tweak(|f| f.acl = acl_with(ALL_USERS_URI, "READ"))), C::AclPublic, Fail, Block, vec![ev("/public_grants/0/permission", "READ"), V(Verdict::Block)]),
        (Facts("AuthenticatedUsers READ", || tweak(|f| f.acl = acl_with(AUTHENTICATED_USERS_URI, "READ"))), C::AclPublic, Fail, Block, vec![ev("/public_grants/0/permission", "READ"), V(Verdict::Block)]),
        (Facts("AllUsers READ, IgnorePublicAcls", || tweak(|f| { f.acl = acl_with(ALL_USERS_URI, "READ"); f.account_public_access_block = pab(|p| p.ignore_public_acls = true) })), C::AclPublic, Fail, Warn, vec![Says("one setting away")]),
        (Facts("AuthenticatedUsers READ, IgnorePublicAcls", || tweak(|f| { f.acl = acl_with(AUTHENTICATED_USERS_URI, "READ"); f.account_public_access_block = pab(|p| p.ignore_public_acls = true) })), C::AclPublic, Fail, Warn, vec![Says("one setting away")]),
        (Facts("no ACL grants", base), C::AclPublic, Pass, Block, vec![]),
        (Facts("ACL denied", || tweak(|f| f.acl = Fact::denied("s3:GetBucketAcl"))), C::AclPublic, Unknown, Block, vec![Perm(Some("s3:GetBucketAcl"))]),
        (Facts("ACL denied, ACLs disabled", || tweak(|f| { f.acl = Fact::denied("s3:GetBucketAcl"); f.ownership = Fact::Present("BucketOwnerEnforced".into()) })), C::AclPublic, Pass, Block, vec![]),
        (Facts("no ownership controls", base), C::AclDisabled, Fail, Warn, vec![]),
        (Facts("BucketOwnerPreferred", || tweak(|f| f.ownership = Fact::Present("BucketOwnerPreferred".into()))), C::AclDisabled, Fail, Warn, vec![ev("/object_ownership", "BucketOwnerPreferred")]),
        (Facts("BucketOwnerEnforced", || tweak(|f| f.ownership = Fact::Present("BucketOwnerEnforced".into()))), C::AclDisabled, Pass, Warn, vec![]),
        // Effective Block Public Access is bucket OR account, per setting.
        (Facts("no Block Public Access", base), C::PublicAccessBlock, Fail, Warn, vec![Says("RestrictPublicBuckets")]),
        (Facts("Block Public Access split over both levels", || tweak(|f| { f.bucket_public_access_block = pab(|p| { p.block_public_acls = true; p.ignore_public_acls = true }); f.account_public_access_block = pab(|p| { p.block_public_policy = true; p.restrict_public_buckets = true }) })), C::PublicAccessBlock, Pass, Warn, vec![ev("/effective/restrict_public_buckets", true)]),
        // Account level all on: the unreadable bucket level does not matter.
        (Facts("bucket level denied, account level on", || tweak(|f| { f.bucket_public_access_block = Fact::denied("s3:GetBucketPublicAccessBlock"); f.account_public_access_block = Fact::Present(PublicAccessBlock::ALL) })), C::PublicAccessBlock, Pass, Warn, vec![]),
        (Facts("bucket level denied, account level off", || tweak(|f| f.bucket_public_access_block = Fact::denied("s3:GetBucketPublicAccessBlock"))), C::PublicAccessBlock, Unknown, Warn, vec![Perm(Some("s3:GetBucketPublicAccessBlock"))]),
        // s3seal's own analysis sees a narrow range; AWS says public: believe AWS.
        (Pol("ip-narrow", true), C::PolicyPublic, Pass, Block, vec![]),
        (Pol("ip-narrow", true), C::PolicyStatus, Fail, Block, vec![V(Verdict::Block)]),
        // Owner.
        (Facts("owner confirmed", base), C::Owner, Pass, Block, vec![Says(OWNER)]),
        // S3 refuses the call with ExpectedBucketOwner and accepts the same call without it.
        (Facts("owner mismatch", || tweak(|f| { f.owner.probe_expected = Some(Probe::AccessDenied); f.owner.probe_plain = Some(Probe::Ok) })), C::Owner, Fail, Block, vec![Says("not owned by"), V(Verdict::Block)]),
        (Facts("everything refused", everything_refused), C::Owner, Unknown, Block, vec![Perm(Some("s3:GetBucketLocation")), V(Verdict::Unknown)]),
        // One bucket read that carried ExpectedBucketOwner succeeded: the owner is confirmed.
        (Facts("everything refused but logging", || { let mut f = everything_refused(); f.logging = Fact::Absent; f }), C::Owner, Pass, Block, vec![]),
        (Facts("missing bucket", || tweak(|f| f.owner.probe_plain = Some(Probe::NotFound))), C::Owner, Fail, Block, vec![Says("does not exist"), Fix("check the bucket name")]),
        // The other reads failed with NoSuchBucket: unknown, but no permission is missing.
        (Facts("missing bucket, policy NoSuchBucket", || tweak(|f| { f.owner.probe_plain = Some(Probe::NotFound); f.policy = Fact::Unknown(failed("s3:GetBucketPolicy", "NoSuchBucket")) })), C::PolicyPublic, Unknown, Block, vec![Perm(None), V(Verdict::Block)]),
        (With("caller's account owns it", || owner_is_caller(Probe::Ok), PostureOptions::default), C::Owner, Pass, Info, vec![]),
        (With("caller's account refused", || owner_is_caller(Probe::AccessDenied), PostureOptions::default), C::Owner, Fail, Info, vec![]),
        (With("owner not known", || tweak(|f| f.owner = OwnerFacts::default()), PostureOptions::default), C::Owner, Unknown, Info, vec![Fix("--expected-owner")]),
        // Default encryption.
        (Facts("no default encryption", base), C::DefaultEncryption, Fail, Warn, vec![]),
        (Facts("AES256", || tweak(|f| f.encryption = Fact::Present(vec![rule("AES256", None)]))), C::DefaultEncryption, Fail, Info, vec![]),
        (Facts("aws:kms, no key", || tweak(|f| f.encryption = Fact::Present(vec![rule("aws:kms", None)]))), C::DefaultEncryption, Fail, Info, vec![]),
        (Facts("aws:kms, aws/s3", || tweak(|f| f.encryption = Fact::Present(vec![rule("aws:kms", Some("alias/aws/s3"))]))), C::DefaultEncryption, Fail, Info, vec![]),
        (Facts("aws:kms, own key", || tweak(|f| f.encryption = Fact::Present(vec![rule("aws:kms", Some("arn:aws:kms:us-east-1:1:key/k"))]))), C::DefaultEncryption, Pass, Info, vec![]),
        (Facts("aws:kms:dsse, own key", || tweak(|f| f.encryption = Fact::Present(vec![rule("aws:kms:dsse", Some("arn:aws:kms:us-east-1:1:key/k"))]))), C::DefaultEncryption, Pass, Info, vec![]),
        (Facts("encryption denied", || tweak(|f| f.encryption = Fact::denied("s3:GetEncryptionConfiguration"))), C::DefaultEncryption, Unknown, Warn, vec![]),
        // Versioning and MFA delete.
        (Facts("versioning with MFA delete", || tweak(|f| f.versioning = versioning(Some("Enabled"), Some("Enabled")))), C::Versioning, Pass, Warn, vec![]),
        (Facts("versioning without MFA delete", || tweak(|f| f.versioning = versioning(Some("Enabled"), None))), C::Versioning, Fail, Info, vec![]),
        (Facts("versioning suspended", || tweak(|f| f.versioning = versioning(Some("Suspended"), None))), C::Versioning, Fail, Warn, vec![]),
        (Facts("versioning never enabled", || tweak(|f| f.versioning = versioning(None, None))), C::Versioning, Fail, Warn, vec![]),
        // Object Lock and logging are info.
        (Facts("nothing configured", base), C::ObjectLock, Fail, Info, vec![]),
        (Facts("nothing configured", base), C::AccessLogging, Fail, Info, vec![]),
        (Facts("hardened", hardened), C::ObjectLock, Pass, Info, vec![Says("GOVERNANCE 30 days")]),
        (Facts("hardened", hardened), C::AccessLogging, Pass, Info, vec![Says("s3://logs/b/")]),
        // AccessDenied on every read: unknown, naming the permission.
        (Facts("every read denied", every_read_denied), C::PublicAccessBlock, Unknown, Warn, vec![Perm(Some("s3:GetBucketPublicAccessBlock, s3:GetAccountPublicAccessBlock")), Fix("grant"), V(Verdict::Unknown)]),
        (Facts("every read denied", every_read_denied), C::PolicyPublic, Unknown, Block, vec![Perm(GBP), Fix("grant")]),
        (Facts("every read denied", every_read_denied), C::PolicyStatus, Unknown, Warn, vec![Perm(Some("s3:GetBucketPolicyStatus")), Fix("grant")]),
        (Facts("every read denied", every_read_denied), C::AclPublic, Unknown, Block, vec![Perm(Some("s3:GetBucketAcl")), Fix("grant")]),
        (Facts("every read denied", every_read_denied), C::AclDisabled, Unknown, Warn, vec![Perm(Some("s3:GetBucketOwnershipControls")), Fix("grant")]),
        (Facts("every read denied", every_read_denied), C::DefaultEncryption, Unknown, Warn, vec![Perm(Some("s3:GetEncryptionConfiguration")), Fix("grant")]),
        (Facts("every read denied", every_read_denied), C::Versioning, Unknown, Warn, vec![Perm(Some("s3:GetBucketVersioning")), Fix("grant")]),
        (Facts("every read denied", every_read_denied), C::ObjectLock, Unknown, Info, vec![Perm(Some("s3:GetBucketObjectLockConfiguration")), Fix("grant")]),
        (Facts("every read denied", every_read_denied), C::AccessLogging, Unknown, Info, vec![Perm(Some("s3:GetBucketLogging")), Fix("grant")]),
        // NotImplemented: unknown, but no IAM permission would help, so none is named.
        (Facts("reads not implemented", unimplemented), C::PolicyPublic, Unknown, Block, vec![Perm(None), Says("NotImplemented")]),
        (Facts("reads not implemented", unimplemented), C::PublicAccessBlock, Unknown, Warn, vec![Perm(None)]),
        // A denied read still names the permission.
        (Facts("reads not implemented, policy denied", || { let mut f = unimplemented(); f.policy = Fact::denied("s3:GetBucketPolicy"); f }), C::PolicyPublic, Unknown, Block, vec![Perm(GBP)]),
    ]
}

fn policy_denied() -> BucketFacts {
    tweak(|f| {
        f.policy = Fact::denied("s3:GetBucketPolicy");
        f.policy_status = Fact::denied("s3:GetBucketPolicyStatus");
    })
}

fn every_read_denied() -> BucketFacts {
    tweak(|f| {
        for_every_bucket_fact_denied(f);
        f.account_public_access_block = Fact::denied("s3:GetAccountPublicAccessBlock");
    })
}

/// What is wrong with one row, if anything.
fn check_row((given, check, status, severity, then): &Row) -> Vec<String> {
    let (label, facts, options, aws_public) = match *given {
        Given::Pol(name, aws) => (name, with_policy(name, aws), opts(), Some(aws)),
        Given::Facts(label, facts) => (label, facts(), opts(), None),
        Given::With(label, facts, options) => (label, facts(), options(), None),
    };
    let r = posture::evaluate(&facts, &options);
    let f = r.finding(*check).expect("every check has a finding");
    let mut wrong = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            wrong.push(format!("{label} / {check}: {what}"));
        }
    };
    let got = (f.status, f.severity);
    expect(got == (*status, *severity), format!("{got:?}"));
    for t in then {
        match t {
            Then::Says(text) => {
                expect(f.summary.contains(text), format!("summary {:?}", f.summary))
            }
            Then::Fix(text) => expect(f.fix.contains(text), format!("fix {:?}", f.fix)),
            Then::Ev(pointer, value) => {
                let at = f.evidence.pointer(pointer);
                expect(at == Some(value), format!("{pointer} is {at:?}"));
            }
            Then::EvHas(pointer, text) => {
                let at = f.evidence.pointer(pointer).and_then(Value::as_str);
                expect(
                    at.is_some_and(|s| s.contains(text)),
                    format!("{pointer} is {at:?}"),
                );
            }
            Then::Perm(p) => {
                let got = f.missing_permission.as_deref();
                expect(got == *p, format!("missing permission {got:?}"));
            }
            Then::V(v) => expect(r.verdict() == *v, format!("verdict {}", r.verdict())),
            Then::AgreesWithAws => {
                let aws = aws_public.expect("AgreesWithAws needs a fixture row");
                expect(
                    (f.status == Status::Fail) == aws,
                    "disagrees with AWS".into(),
                );
            }
        }
    }
    if !wrong.is_empty() {
        wrong.push(serde_json::to_string_pretty(&f.to_json()).unwrap());
    }
    wrong
}

#[test]
fn rules_table() {
    let wrong: Vec<String> = table().iter().flat_map(check_row).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The table of docs/POSTURE.md, parsing, the IAM policy
// ---------------------------------------------------------------------------------------

/// The table of docs/POSTURE.md: (fixture, AWS status, account RestrictPublicBuckets,
/// verdict of the policy checks). Rows whose fixture is not about HTTPS also carry the
/// canonical HTTPS Deny.
const DOC_TABLE: &[(&str, bool, bool, Verdict)] = &[
    ("public-read", true, false, Verdict::Block),
    ("public-read", true, true, Verdict::Warn),
    ("ip-narrow", false, false, Verdict::Ok),
    ("ip-slash16", false, false, Verdict::Warn),
    ("ip-slash1", false, false, Verdict::Block),
    ("ip-union", false, false, Verdict::Block),
    ("ip-union-many-24", false, false, Verdict::Block),
    ("ip-private", false, false, Verdict::Ok),
    ("ip-ifexists", true, false, Verdict::Block),
    ("ip-notipaddress", true, false, Verdict::Block),
    ("vpc-wildcard", true, false, Verdict::Block),
    ("federated-facebook", true, false, Verdict::Block),
    ("deny-outside-vpce", false, false, Verdict::Ok),
    ("ip-deny-outside-wide", false, false, Verdict::Block),
    ("https-canonical", false, false, Verdict::Ok),
    ("https-bucket-only", false, false, Verdict::Warn),
    ("https-one-role", false, false, Verdict::Warn),
    ("https-get-only", false, false, Verdict::Warn),
    ("https-allow-true", false, false, Verdict::Warn),
    ("https-tlsversion-only", false, false, Verdict::Warn),
    ("cross-write", false, false, Verdict::Block),
    ("cross-read", false, false, Verdict::Warn),
    ("cross-substring-trap", false, false, Verdict::Block),
];

const POLICY_CHECKS: [CheckId; 5] = [
    CheckId::PolicyPublic,
    CheckId::PolicyWideCidr,
    CheckId::PolicyStatus,
    CheckId::HttpsOnly,
    CheckId::CrossAccount,
];

fn policy_verdict(r: &Report) -> Verdict {
    let findings = r
        .findings
        .iter()
        .filter(|f| POLICY_CHECKS.contains(&f.check));
    Report {
        bucket: r.bucket.clone(),
        findings: findings.cloned().collect(),
    }
    .verdict()
}

/// The statements of a fixture, as a list whether written as an object or a list.
fn statements(name: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(&fixture(name)).unwrap();
    match &doc["Statement"] {
        Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    }
}

#[test]
fn docs_sample_table() {
    let https = statements("https-canonical");
    for (name, aws_public, rpb, verdict) in DOC_TABLE {
        let mut stmts = statements(name);
        if !name.starts_with("https-") {
            stmts.extend(https.iter().cloned());
        }
        let mut facts = base();
        facts.policy =
            Fact::Present(json!({"Version": "2012-10-17", "Statement": stmts}).to_string());
        facts.policy_status = Fact::Present(*aws_public);
        if *rpb {
            facts.account_public_access_block = account_rpb();
        }
        let r = eval(&facts);
        let text = r.render_text();
        assert_eq!(policy_verdict(&r), *verdict, "{name} (rpb {rpb}):\n{text}");
    }
    // The last row: the caller lacks s3:GetBucketPolicy.
    let facts = tweak(|f| f.policy = Fact::denied("s3:GetBucketPolicy"));
    assert_eq!(policy_verdict(&eval(&facts)), Verdict::Unknown);
}

#[test]
fn single_object_statement_and_string_fields_parse() {
    let p = Policy::parse(&fixture("single-statement")).unwrap();
    assert_eq!(p.statements.len(), 1);
    assert_eq!(p.statements[0].effect, Effect::Allow);
    assert!(matches!(&p.statements[0].principal, PrincipalElement::Principal(pr) if pr.everyone));
    let get_object = ActionElement::Action(vec!["s3:GetObject".into()]);
    assert_eq!(p.statements[0].action, get_object);
}

#[test]
fn minimal_iam_policy_covers_every_permission_and_is_read_only() {
    let p = posture::minimal_iam_policy(Some(BUCKET));
    let actions: Vec<String> = p["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    for needed in [
        "s3:GetBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
        "s3:GetBucketPolicy",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetBucketOwnershipControls",
        "s3:GetEncryptionConfiguration",
        "s3:GetBucketVersioning",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketLogging",
        "s3:GetBucketLocation",
    ] {
        assert!(actions.iter().any(|a| a == needed), "{needed} missing");
    }
    let read_only = actions.iter().all(|a| a.starts_with("s3:Get"));
    assert!(read_only, "{actions:?}");
    assert_eq!(p["Statement"][0]["Resource"], "arn:aws:s3:::b");
    // It is itself a policy s3seal can parse.
    Policy::from_value(&p).unwrap();
    let every_bucket = posture::minimal_iam_policy(None);
    assert_eq!(every_bucket["Statement"][0]["Resource"], "arn:aws:s3:::*");
}

// ---------------------------------------------------------------------------------------
// Verdict, JSON, text, gate (exit codes and colours: src/cli/posture.rs)
// ---------------------------------------------------------------------------------------

fn synthetic(findings: &[(Status, Severity)]) -> Report {
    let template = eval(&hardened()).findings[0].clone();
    let finding = |(status, severity): &(Status, Severity)| Finding {
        status: *status,
        severity: *severity,
        ..template.clone()
    };
    Report {
        bucket: BUCKET.into(),
        findings: findings.iter().map(finding).collect(),
    }
}

#[test]
fn verdict_precedence() {
    use Severity::*;
    use Status::*;
    #[rustfmt::skip]
    let cases: &[(&[(Status, Severity)], Verdict)] = &[
        (&[(Pass, Block), (Fail, Info), (Unknown, Info)], Verdict::Ok),
        (&[(Fail, Warn)], Verdict::Warn),
        (&[(Unknown, Warn)], Verdict::Warn),
        (&[(Unknown, Block), (Fail, Warn)], Verdict::Unknown),
        (&[(Unknown, Block), (Fail, Block), (Fail, Warn)], Verdict::Block),
        (&[(Fail, Block)], Verdict::Block),
    ];
    for (findings, verdict) in cases {
        assert_eq!(synthetic(findings).verdict(), *verdict, "{findings:?}");
    }
}

#[test]
fn hardened_bucket_is_ok() {
    let r = eval(&hardened());
    assert_eq!(r.verdict(), Verdict::Ok, "{}", r.render_text());
    for f in &r.findings {
        let fine = f.status == Status::Pass || f.severity == Severity::Info;
        assert!(fine, "{}", f.one_line());
    }
    // Versioning without MFA delete is only info.
    let mut facts = hardened();
    facts.versioning = versioning(Some("Enabled"), None);
    assert_eq!(eval(&facts).verdict(), Verdict::Ok);
}

#[test]
fn json_document_shape() {
    let r = eval(&with_policy("public-read", true));
    let doc = r.to_json();
    assert_eq!(doc["bucket"], "b");
    assert_eq!(doc["verdict"], "block");
    let findings = doc["findings"].as_array().unwrap();
    let ids: Vec<&str> = findings
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    #[rustfmt::skip]
    assert_eq!(ids, [
        "owner", "public-access-block", "policy-public", "policy-wide-cidr", "policy-status",
        "acl-public", "acl-disabled", "https-only", "cross-account", "default-encryption",
        "sse-kms-required", "versioning", "object-lock", "access-logging",
    ]);
    for f in findings {
        for key in [
            "check",
            "status",
            "severity",
            "evidence",
            "missing_permission",
            "fix",
        ] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
        assert!(["pass", "fail", "unknown"].contains(&f["status"].as_str().unwrap()));
        assert!(["block", "warn", "info"].contains(&f["severity"].as_str().unwrap()));
        assert!(f["fix"].is_string());
    }
    let public = &findings[2];
    assert_eq!(public["status"], "fail");
    assert_eq!(public["missing_permission"], Value::Null);
    // One document: it round-trips through text.
    let text = serde_json::to_string(&doc).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), doc);
}

#[test]
fn text_rendering_one_line_per_check() {
    let r = eval(&with_policy("public-read", true));
    let plain = r.render_text();
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines.len(), 1 + CheckId::ALL.len(), "{plain}");
    assert!(lines[0].contains("verdict BLOCK"), "{}", lines[0]);
    assert!(!plain.contains('\x1b'));
    let policy_line = lines.iter().find(|l| l.contains("policy-public")).unwrap();
    assert!(policy_line.starts_with("FAIL"), "{policy_line}");
    let explained = policy_line.contains("why:") && policy_line.contains("fix:");
    assert!(explained, "{policy_line}");
    assert!(policy_line.contains("s3:GetObject"), "{policy_line}");
}

#[test]
fn gate_modes() {
    let blocked = eval(&with_policy("public-read", true));
    match blocked.gate(GateMode::Enforce) {
        GateDecision::Refuse { verdict, reasons } => {
            assert_eq!(verdict, Verdict::Block);
            assert!(reasons.iter().all(|f| f.is_blocking()));
            assert!(reasons.iter().any(|f| f.check == CheckId::PolicyPublic));
        }
        other => panic!("{other:?}"),
    }
    let off = blocked.gate(GateMode::Off);
    assert!(matches!(off, GateDecision::Proceed { notices } if notices.is_empty()));

    let warned = eval(&base());
    assert_eq!(warned.verdict(), Verdict::Warn);
    match warned.gate(GateMode::Enforce) {
        GateDecision::Proceed { notices } => {
            assert!(!notices.is_empty());
            assert!(notices.iter().all(|f| f.severity > Severity::Info));
            assert!(notices.iter().all(|f| !f.one_line().contains('\n')));
        }
        other => panic!("{other:?}"),
    }
    let refusal = |decision| match decision {
        GateDecision::Refuse { verdict, .. } => Some(verdict),
        GateDecision::Proceed { .. } => None,
    };
    assert_eq!(refusal(warned.gate(GateMode::Strict)), Some(Verdict::Warn));

    let unknown = eval(&tweak(|f| f.policy = Fact::denied("s3:GetBucketPolicy")));
    assert_eq!(refusal(unknown.gate(GateMode::Enforce)), None);
    assert_eq!(
        refusal(unknown.gate(GateMode::Strict)),
        Some(Verdict::Unknown)
    );

    let ok = eval(&hardened());
    let strict = ok.gate(GateMode::Strict);
    assert!(matches!(strict, GateDecision::Proceed { notices } if notices.is_empty()));
}

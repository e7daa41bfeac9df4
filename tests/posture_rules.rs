//! Pure tests of the posture rules: hand-built bucket facts and policy fixtures
//! (`tests/fixtures/posture/`), no network. Covers every sample configuration of
//! `shared/notes/posture.md` and an edge case for each rule.

use s3seal::posture::facts::{
    ALL_USERS_URI, AUTHENTICATED_USERS_URI, Acl, EncryptionRule, Grant, Grantee, Logging,
    ObjectLock, OwnerFacts, Probe, PublicAccessBlock, Versioning,
};
use s3seal::posture::policy::{ActionElement, Effect, Policy, PrincipalElement};
use s3seal::posture::{
    self, BucketFacts, CheckId, Fact, Finding, GateDecision, GateMode, PostureOptions, Report,
    Severity, Status, Verdict,
};
use serde_json::Value;

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

/// `base()` with the policy of a fixture, and AWS's status for it.
fn with_policy(name: &str, aws_is_public: bool) -> BucketFacts {
    let mut f = base();
    f.policy = Fact::Present(fixture(name));
    f.policy_status = Fact::Present(aws_is_public);
    f
}

/// A bucket that passes every check with a severity above info.
fn hardened() -> BucketFacts {
    let mut f = with_policy("hardened", false);
    f.bucket_public_access_block = Fact::Present(PublicAccessBlock::ALL);
    f.ownership = Fact::Present("BucketOwnerEnforced".into());
    f.encryption = Fact::Present(vec![EncryptionRule {
        algorithm: "aws:kms".into(),
        kms_key_id: Some("arn:aws:kms:us-east-1:111122223333:key/k1".into()),
        bucket_key_enabled: Some(true),
    }]);
    f.versioning = Fact::Present(Versioning {
        status: Some("Enabled".into()),
        mfa_delete: Some("Enabled".into()),
    });
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

fn get(r: &Report, check: CheckId) -> &Finding {
    r.finding(check).expect("every check has a finding")
}

#[track_caller]
fn expect(r: &Report, check: CheckId, status: Status, severity: Severity) -> &Finding {
    let f = get(r, check);
    assert_eq!(
        (f.status, f.severity),
        (status, severity),
        "{check}: {}",
        serde_json::to_string_pretty(&f.to_json()).unwrap()
    );
    f
}

fn account_rpb() -> Fact<PublicAccessBlock> {
    Fact::Present(PublicAccessBlock {
        restrict_public_buckets: true,
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------------------
// The sample configurations of shared/notes/posture.md
// ---------------------------------------------------------------------------------------

/// (fixture, what AWS's GetBucketPolicyStatus says, policy-public status and severity,
/// verdict from the policy alone). The same table is in docs/POSTURE.md.
const POLICY_SAMPLES: &[(&str, bool, Status, Severity, Verdict)] = &[
    (
        "public-read",
        true,
        Status::Fail,
        Severity::Block,
        Verdict::Block,
    ),
    (
        "ip-narrow",
        false,
        Status::Pass,
        Severity::Block,
        Verdict::Warn,
    ),
    (
        "vpc-wildcard",
        true,
        Status::Fail,
        Severity::Block,
        Verdict::Block,
    ),
    (
        "federated-facebook",
        true,
        Status::Fail,
        Severity::Block,
        Verdict::Block,
    ),
    (
        "deny-outside-vpce",
        false,
        Status::Pass,
        Severity::Block,
        Verdict::Warn,
    ),
    (
        "ip-slash1",
        false,
        Status::Pass,
        Severity::Block,
        Verdict::Block,
    ),
    (
        "ip-slash16",
        false,
        Status::Pass,
        Severity::Block,
        Verdict::Warn,
    ),
    (
        "https-canonical",
        false,
        Status::Pass,
        Severity::Block,
        Verdict::Warn,
    ),
];

#[test]
fn notes_samples_policy_public_and_verdict() {
    for (name, aws_public, status, severity, verdict) in POLICY_SAMPLES {
        let r = eval(&with_policy(name, *aws_public));
        let f = get(&r, CheckId::PolicyPublic);
        assert_eq!(
            (f.status, f.severity),
            (*status, *severity),
            "{name}: {:?}",
            f.summary
        );
        // s3seal's own analysis agrees with AWS's definition of public.
        assert_eq!(
            f.status == Status::Fail,
            *aws_public,
            "{name}: disagrees with AWS"
        );
        assert_eq!(r.verdict(), *verdict, "{name}");
    }
}

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
    Report {
        bucket: r.bucket.clone(),
        findings: r
            .findings
            .iter()
            .filter(|f| POLICY_CHECKS.contains(&f.check))
            .cloned()
            .collect(),
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
        facts.policy = Fact::Present(
            serde_json::json!({"Version": "2012-10-17", "Statement": stmts}).to_string(),
        );
        facts.policy_status = Fact::Present(*aws_public);
        if *rpb {
            facts.account_public_access_block = account_rpb();
        }
        let r = eval(&facts);
        assert_eq!(
            policy_verdict(&r),
            *verdict,
            "{name} (rpb {rpb}):\n{}",
            r.render_text()
        );
    }
    // The last row: the caller lacks s3:GetBucketPolicy.
    let mut facts = base();
    facts.policy = Fact::denied("s3:GetBucketPolicy");
    assert_eq!(policy_verdict(&eval(&facts)), Verdict::Unknown);
}

#[test]
fn sample_public_read_blocks_with_statement_as_evidence() {
    let r = eval(&with_policy("public-read", true));
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    let grant = &f.evidence["public_grants"][0];
    assert_eq!(grant["statement"]["Sid"], "PublicRead");
    assert_eq!(grant["access"], "read");
    assert!(f.summary.contains("s3:GetObject"), "{}", f.summary);
    expect(&r, CheckId::PolicyStatus, Status::Fail, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Block);
}

#[test]
fn sample_public_read_neutralized_by_account_restrict_public_buckets() {
    let mut facts = with_policy("public-read", true);
    facts.account_public_access_block = account_rpb();
    let r = eval(&facts);
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Warn);
    assert!(f.summary.contains("one setting away"), "{}", f.summary);
    assert!(f.summary.contains("account level"), "{}", f.summary);
    expect(&r, CheckId::PolicyStatus, Status::Fail, Severity::Warn);
    assert_eq!(r.verdict(), Verdict::Warn);
}

#[test]
fn bucket_level_restrict_public_buckets_also_neutralizes() {
    let mut facts = with_policy("public-read", true);
    facts.bucket_public_access_block = account_rpb();
    let r = eval(&facts);
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Warn);
    assert!(f.summary.contains("bucket level"), "{}", f.summary);
}

#[test]
fn unreadable_restrict_public_buckets_does_not_neutralize() {
    let mut facts = with_policy("public-read", true);
    facts.bucket_public_access_block = Fact::denied("s3:GetBucketPublicAccessBlock");
    facts.account_public_access_block = Fact::denied("s3:GetAccountPublicAccessBlock");
    let r = eval(&facts);
    expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
}

#[test]
fn sample_narrow_ip_passes_and_lists_the_range() {
    let r = eval(&with_policy("ip-narrow", false));
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    let f = expect(&r, CheckId::PolicyWideCidr, Status::Pass, Severity::Block);
    let source_ip = &f.evidence["ip_limited_grants"][0]["source_ip"];
    assert_eq!(source_ip["ranges"][0]["value"], "203.0.113.0/24");
    assert_eq!(source_ip["public_ipv4_addresses"], 256);
    assert!(f.summary.contains("203.0.113.0/24"), "{}", f.summary);
}

#[test]
fn sample_wildcard_vpc_blocks() {
    let r = eval(&with_policy("vpc-wildcard", true));
    expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
}

#[test]
fn sample_federated_principal_blocks_as_write() {
    let r = eval(&with_policy("federated-facebook", true));
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    assert_eq!(f.evidence["public_grants"][0]["access"], "write");
}

#[test]
fn sample_deny_outside_vpce_cancels_the_public_grant() {
    let r = eval(&with_policy("deny-outside-vpce", false));
    let f = expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    assert_eq!(
        f.evidence["limited_grants"][0]["limited_by"][0],
        "aws:sourcevpce"
    );
    expect(&r, CheckId::PolicyWideCidr, Status::Pass, Severity::Block);
}

#[test]
fn sample_https_canonical_is_enforced() {
    let r = eval(&with_policy("https-canonical", false));
    let f = expect(&r, CheckId::HttpsOnly, Status::Pass, Severity::Warn);
    assert_eq!(f.evidence["enforcing_statements"][0]["Sid"], "HttpsOnly");
}

#[test]
fn sample_https_near_misses_are_not_enforced() {
    for (name, reason) in [
        ("https-bucket-only", "arn:aws:s3:::b/*"),
        ("https-one-role", "principal"),
        ("https-get-only", "do not cover s3:*"),
        ("https-allow-true", "Allow"),
    ] {
        let r = eval(&with_policy(name, false));
        let f = expect(&r, CheckId::HttpsOnly, Status::Fail, Severity::Warn);
        assert!(f.summary.contains(reason), "{name}: {}", f.summary);
    }
}

#[test]
fn sample_caller_lacks_get_bucket_policy_is_unknown_not_pass() {
    let mut facts = base();
    facts.policy = Fact::denied("s3:GetBucketPolicy");
    facts.policy_status = Fact::denied("s3:GetBucketPolicyStatus");
    let r = eval(&facts);
    for (check, severity) in [
        (CheckId::PolicyPublic, Severity::Block),
        (CheckId::PolicyWideCidr, Severity::Block),
        (CheckId::CrossAccount, Severity::Block),
        (CheckId::HttpsOnly, Severity::Warn),
        (CheckId::SseKmsRequired, Severity::Info),
    ] {
        let f = expect(&r, check, Status::Unknown, severity);
        assert_eq!(f.missing_permission.as_deref(), Some("s3:GetBucketPolicy"));
        assert!(f.summary.contains("s3:GetBucketPolicy"), "{}", f.summary);
    }
    let f = expect(&r, CheckId::PolicyStatus, Status::Unknown, Severity::Warn);
    assert_eq!(
        f.missing_permission.as_deref(),
        Some("s3:GetBucketPolicyStatus")
    );
    // Other checks went on.
    expect(&r, CheckId::AclPublic, Status::Pass, Severity::Block);
    expect(&r, CheckId::Owner, Status::Pass, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Unknown);
}

// ---------------------------------------------------------------------------------------
// Lenient parsing
// ---------------------------------------------------------------------------------------

#[test]
fn single_object_statement_and_string_fields_parse() {
    let p = Policy::parse(&fixture("single-statement")).unwrap();
    assert_eq!(p.statements.len(), 1);
    assert_eq!(p.statements[0].effect, Effect::Allow);
    assert!(matches!(&p.statements[0].principal, PrincipalElement::Principal(pr) if pr.everyone));
    assert_eq!(
        p.statements[0].action,
        ActionElement::Action(vec!["s3:GetObject".into()])
    );
    let r = eval(&with_policy("single-statement", true));
    expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
}

#[test]
fn element_names_operators_and_keys_are_case_insensitive() {
    // StringEquals aws:SourceVpce written in lower and upper case still limits the grant.
    let r = eval(&with_policy("case-insensitive", false));
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    // "ALLOW", {"aws": ["*"]}, "S3:PUTOBJECT" is a public write.
    let r = eval(&with_policy("case-insensitive-public", true));
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    assert_eq!(f.evidence["public_grants"][0]["access"], "write");
}

#[test]
fn json_boolean_condition_values_and_action_star() {
    // Deny "*" on arn:aws:s3:::b* with {"bool": {"AWS:SECURETRANSPORT": false}}.
    let r = eval(&with_policy("https-json-bool", false));
    expect(&r, CheckId::HttpsOnly, Status::Pass, Severity::Warn);
}

#[test]
fn https_split_over_two_statements_with_bool_if_exists() {
    let r = eval(&with_policy("https-boolifexists-split", false));
    expect(&r, CheckId::HttpsOnly, Status::Pass, Severity::Warn);
}

#[test]
fn https_other_shapes_that_do_not_enforce() {
    for (name, reason) in [
        ("https-tlsversion-only", "s3:TlsVersion"),
        ("https-extra-condition", "ANDed"),
        ("https-value-true", "not false"),
    ] {
        let r = eval(&with_policy(name, false));
        let f = expect(&r, CheckId::HttpsOnly, Status::Fail, Severity::Warn);
        assert!(f.summary.contains(reason), "{name}: {}", f.summary);
    }
    let r = eval(&base());
    let f = expect(&r, CheckId::HttpsOnly, Status::Fail, Severity::Warn);
    assert!(f.summary.contains("no bucket policy"), "{}", f.summary);
}

#[test]
fn invalid_policy_is_unknown_not_pass() {
    let r = eval(&with_policy("invalid", false));
    let f = expect(&r, CheckId::PolicyPublic, Status::Unknown, Severity::Block);
    assert!(
        f.evidence["parse_error"]
            .as_str()
            .unwrap()
            .contains("Maybe")
    );
    assert_eq!(r.verdict(), Verdict::Unknown);
}

#[test]
fn numeric_account_principal_is_read_as_the_account() {
    let r = eval(&with_policy("numeric-account-principal", false));
    let f = expect(&r, CheckId::CrossAccount, Status::Pass, Severity::Block);
    assert_eq!(f.evidence["own_or_trusted"][0]["principal"], OWNER);
}

// ---------------------------------------------------------------------------------------
// NotPrincipal, NotAction, Denies
// ---------------------------------------------------------------------------------------

#[test]
fn not_principal_allow_is_public() {
    let r = eval(&with_policy("notprincipal-allow", true));
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    assert!(f.summary.contains("everyone except"), "{}", f.summary);
}

#[test]
fn not_action_allow_is_public_and_changes_permissions() {
    let r = eval(&with_policy("notaction-allow", true));
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    assert_eq!(
        f.evidence["public_grants"][0]["access"],
        "permission-change"
    );
}

#[test]
fn not_action_deny_outside_vpce_cancels() {
    let r = eval(&with_policy("notaction-deny-vpce", false));
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
}

#[test]
fn unconditional_deny_cancels_and_partial_denies_do_not() {
    let r = eval(&with_policy("deny-unconditional", false));
    let f = expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    assert_eq!(f.evidence["limited_grants"][0]["cancelled_by_statement"], 1);
    for name in [
        "deny-partial-actions",
        "deny-partial-condition",
        "deny-only-bucket-arn",
    ] {
        let r = eval(&with_policy(name, true));
        expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    }
}

#[test]
fn if_exists_negated_and_for_all_values_never_restrict_an_allow() {
    for name in [
        "ifexists-allow",
        "negated-allow",
        "forallvalues-allow",
        "nontrust-condition",
        "ip-notipaddress",
        "ip-ifexists",
        "ip-slash0",
    ] {
        let r = eval(&with_policy(name, true));
        expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    }
}

#[test]
fn fixed_trust_values_restrict() {
    // userid-no-wildcard: policyuniverse #189 reported this shape as public.
    for name in [
        "foranyvalue-allow",
        "userid-role-pattern",
        "userid-no-wildcard",
        "orgid-fixed",
    ] {
        let r = eval(&with_policy(name, false));
        expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    }
}

// ---------------------------------------------------------------------------------------
// Wide CIDRs
// ---------------------------------------------------------------------------------------

#[test]
fn ipv4_prefix_thresholds() {
    for (name, status, severity) in [
        ("ip-slash1", Status::Fail, Severity::Block),
        ("ip-slash16", Status::Fail, Severity::Warn),
        ("ip-slash23", Status::Fail, Severity::Warn),
        ("ip-narrow", Status::Pass, Severity::Block),
        ("ip-private", Status::Pass, Severity::Block),
    ] {
        let r = eval(&with_policy(name, false));
        expect(&r, CheckId::PolicyWideCidr, status, severity);
        // AWS calls every one of them non-public.
        expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    }
}

#[test]
fn wide_cidr_is_not_neutralized_by_block_public_access() {
    let mut facts = with_policy("ip-slash1", false);
    facts.bucket_public_access_block = Fact::Present(PublicAccessBlock::ALL);
    let r = eval(&facts);
    let f = expect(&r, CheckId::PolicyWideCidr, Status::Fail, Severity::Block);
    assert!(f.summary.contains("0.0.0.0/1"), "{}", f.summary);
    assert_eq!(r.verdict(), Verdict::Block);
}

#[test]
fn cidr_unions_count_addresses() {
    let r = eval(&with_policy("ip-union", false));
    let f = expect(&r, CheckId::PolicyWideCidr, Status::Fail, Severity::Block);
    assert_eq!(
        f.evidence["ip_limited_grants"][0]["source_ip"]["public_ipv4_addresses"],
        131_072
    );
    // 300 /24s, each narrow, together 76,800 addresses.
    let r = eval(&with_policy("ip-union-many-24", false));
    let f = expect(&r, CheckId::PolicyWideCidr, Status::Fail, Severity::Block);
    assert_eq!(
        f.evidence["ip_limited_grants"][0]["source_ip"]["public_ipv4_addresses"],
        76_800
    );
}

#[test]
fn private_ranges_grant_nothing() {
    let r = eval(&with_policy("ip-private", false));
    let f = get(&r, CheckId::PolicyWideCidr);
    let set = &f.evidence["ip_limited_grants"][0]["source_ip"];
    assert_eq!(set["public_ipv4_addresses"], 0);
    assert_eq!(set["width"], "grants-nothing");
    assert_eq!(set["ranges"][0]["width"], "grants-nothing");
}

#[test]
fn ipv6_thresholds() {
    for (name, status, severity) in [
        ("ipv6-slash31", Status::Fail, Severity::Block),
        ("ipv6-slash40", Status::Fail, Severity::Warn),
        ("ipv6-slash48", Status::Pass, Severity::Block),
    ] {
        let r = eval(&with_policy(name, false));
        expect(&r, CheckId::PolicyWideCidr, status, severity);
    }
}

#[test]
fn deny_not_ip_address_limits_the_allow_to_that_range() {
    let r = eval(&with_policy("ip-deny-outside-wide", false));
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    let f = expect(&r, CheckId::PolicyWideCidr, Status::Fail, Severity::Block);
    assert!(f.summary.contains("0.0.0.0/2"), "{}", f.summary);
}

// ---------------------------------------------------------------------------------------
// Cross-account
// ---------------------------------------------------------------------------------------

#[test]
fn cross_account_write_blocks_read_warns() {
    let r = eval(&with_policy("cross-write", false));
    let f = expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Block);
    assert_eq!(f.evidence["external_grants"][0]["account"], "444455556666");
    assert_eq!(f.evidence["external_grants"][0]["access"], "write");

    let r = eval(&with_policy("cross-read", false));
    expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Warn);

    let r = eval(&with_policy("cross-permission", false));
    let f = expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Block);
    assert_eq!(
        f.evidence["external_grants"][0]["access"],
        "permission-change"
    );
}

#[test]
fn trusted_accounts_are_excluded() {
    let facts = with_policy("cross-write", false);
    let mut o = opts();
    o.trusted_accounts = vec!["444455556666".into()];
    let r = posture::evaluate(&facts, &o);
    let f = expect(&r, CheckId::CrossAccount, Status::Pass, Severity::Block);
    assert_eq!(f.evidence["own_or_trusted"][0]["trusted"], true);
}

#[test]
fn account_comparison_is_exact_not_substring() {
    // arn:aws:iam::444455556666:role/111122223333-writer mentions the owner's id in its name.
    let r = eval(&with_policy("cross-substring-trap", false));
    expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Block);
    let r = eval(&with_policy("own-account", false));
    expect(&r, CheckId::CrossAccount, Status::Pass, Severity::Block);
}

#[test]
fn principal_account_condition_on_public_principal_is_cross_account() {
    let r = eval(&with_policy("principal-account-condition", false));
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    let f = expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Block);
    assert_eq!(f.evidence["external_grants"][0]["account"], "444455556666");
}

#[test]
fn deny_outside_owner_account_cancels_cross_account_grant() {
    let r = eval(&with_policy("cross-denied-by-account", false));
    expect(&r, CheckId::CrossAccount, Status::Pass, Severity::Block);
}

#[test]
fn deleted_and_service_principals_are_not_other_accounts() {
    for name in ["deleted-principal", "service-principal"] {
        let r = eval(&with_policy(name, false));
        expect(&r, CheckId::CrossAccount, Status::Pass, Severity::Block);
    }
}

#[test]
fn organization_grants_warn() {
    let r = eval(&with_policy("orgid-fixed", false));
    let f = expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Warn);
    assert_eq!(
        f.evidence["organization_grants"][0]["organization"][0],
        "o-abc123"
    );
}

#[test]
fn cross_account_without_known_owner_is_unknown() {
    let mut facts = with_policy("cross-write", false);
    facts.owner = OwnerFacts {
        probe_plain: Some(Probe::Ok),
        ..Default::default()
    };
    let r = posture::evaluate(&facts, &PostureOptions::default());
    expect(&r, CheckId::CrossAccount, Status::Unknown, Severity::Block);
    // Learned from the caller's account when S3 accepts it as ExpectedBucketOwner.
    facts.owner.caller_account = Some(OWNER.into());
    facts.owner.probe_caller = Some(Probe::Ok);
    let r = posture::evaluate(&facts, &PostureOptions::default());
    expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Block);
}

// ---------------------------------------------------------------------------------------
// SSE-KMS by policy
// ---------------------------------------------------------------------------------------

#[test]
fn sse_kms_required_and_key_pinning() {
    let r = eval(&with_policy("sse-kms-required", false));
    let f = expect(&r, CheckId::SseKmsRequired, Status::Pass, Severity::Info);
    assert_eq!(
        f.evidence["pinned_keys"][0],
        "arn:aws:kms:us-east-1:111122223333:key/k1"
    );
    for (name, note) in [
        ("sse-kms-anded", "ANDed"),
        ("sse-null-only", "AES256"),
        ("sse-aes256", "does not demand aws:kms"),
    ] {
        let r = eval(&with_policy(name, false));
        let f = expect(&r, CheckId::SseKmsRequired, Status::Fail, Severity::Info);
        let why = f.evidence["notes"][0]["why_not"]
            .as_str()
            .unwrap_or_default();
        assert!(why.contains(note), "{name}: {why}");
    }
}

// ---------------------------------------------------------------------------------------
// ACLs and Block Public Access
// ---------------------------------------------------------------------------------------

fn acl_with(uri: &str, permission: &str) -> Fact<Acl> {
    Fact::Present(Acl {
        owner_id: Some("owner-canonical-id".into()),
        grants: vec![
            Grant {
                grantee: Grantee::CanonicalUser {
                    id: "owner-canonical-id".into(),
                    display_name: None,
                },
                permission: "FULL_CONTROL".into(),
            },
            Grant {
                grantee: Grantee::Group { uri: uri.into() },
                permission: permission.into(),
            },
        ],
    })
}

#[test]
fn public_acl_blocks_unless_ignored() {
    for uri in [ALL_USERS_URI, AUTHENTICATED_USERS_URI] {
        let mut facts = base();
        facts.acl = acl_with(uri, "READ");
        let r = eval(&facts);
        let f = expect(&r, CheckId::AclPublic, Status::Fail, Severity::Block);
        assert_eq!(f.evidence["public_grants"][0]["permission"], "READ");
        assert_eq!(r.verdict(), Verdict::Block);

        facts.account_public_access_block = Fact::Present(PublicAccessBlock {
            ignore_public_acls: true,
            ..Default::default()
        });
        let r = eval(&facts);
        let f = expect(&r, CheckId::AclPublic, Status::Fail, Severity::Warn);
        assert!(f.summary.contains("one setting away"), "{}", f.summary);
    }
}

#[test]
fn private_acl_passes_and_unreadable_acl_is_unknown() {
    let r = eval(&base());
    expect(&r, CheckId::AclPublic, Status::Pass, Severity::Block);

    let mut facts = base();
    facts.acl = Fact::denied("s3:GetBucketAcl");
    let r = eval(&facts);
    let f = expect(&r, CheckId::AclPublic, Status::Unknown, Severity::Block);
    assert_eq!(f.missing_permission.as_deref(), Some("s3:GetBucketAcl"));

    // With ACLs disabled, no ACL can grant anything: the unreadable ACL does not matter.
    facts.ownership = Fact::Present("BucketOwnerEnforced".into());
    let r = eval(&facts);
    expect(&r, CheckId::AclPublic, Status::Pass, Severity::Block);
}

#[test]
fn acl_disabled_reports_object_ownership() {
    let r = eval(&base());
    expect(&r, CheckId::AclDisabled, Status::Fail, Severity::Warn);
    let mut facts = base();
    facts.ownership = Fact::Present("BucketOwnerPreferred".into());
    let r = eval(&facts);
    let f = expect(&r, CheckId::AclDisabled, Status::Fail, Severity::Warn);
    assert_eq!(f.evidence["object_ownership"], "BucketOwnerPreferred");
    facts.ownership = Fact::Present("BucketOwnerEnforced".into());
    let r = eval(&facts);
    expect(&r, CheckId::AclDisabled, Status::Pass, Severity::Warn);
}

#[test]
fn effective_block_public_access_is_bucket_or_account_per_setting() {
    let mut facts = base();
    let r = eval(&facts);
    let f = expect(&r, CheckId::PublicAccessBlock, Status::Fail, Severity::Warn);
    assert!(f.summary.contains("RestrictPublicBuckets"), "{}", f.summary);

    facts.bucket_public_access_block = Fact::Present(PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        ..Default::default()
    });
    facts.account_public_access_block = Fact::Present(PublicAccessBlock {
        block_public_policy: true,
        restrict_public_buckets: true,
        ..Default::default()
    });
    let r = eval(&facts);
    let f = expect(&r, CheckId::PublicAccessBlock, Status::Pass, Severity::Warn);
    assert_eq!(f.evidence["effective"]["restrict_public_buckets"], true);

    // Account level all on: the unreadable bucket level does not matter.
    facts.bucket_public_access_block = Fact::denied("s3:GetBucketPublicAccessBlock");
    facts.account_public_access_block = Fact::Present(PublicAccessBlock::ALL);
    let r = eval(&facts);
    expect(&r, CheckId::PublicAccessBlock, Status::Pass, Severity::Warn);

    // Bucket level unreadable and account level off: unknown, naming the permission.
    facts.account_public_access_block = Fact::Absent;
    let r = eval(&facts);
    let f = expect(
        &r,
        CheckId::PublicAccessBlock,
        Status::Unknown,
        Severity::Warn,
    );
    assert_eq!(
        f.missing_permission.as_deref(),
        Some("s3:GetBucketPublicAccessBlock")
    );
}

#[test]
fn aws_policy_status_public_is_believed() {
    // s3seal's own analysis sees a narrow range; AWS says public: believe AWS.
    let r = eval(&with_policy("ip-narrow", true));
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    expect(&r, CheckId::PolicyStatus, Status::Fail, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Block);
}

// ---------------------------------------------------------------------------------------
// Owner
// ---------------------------------------------------------------------------------------

#[test]
fn owner_confirmed_by_expected_bucket_owner() {
    let r = eval(&base());
    let f = expect(&r, CheckId::Owner, Status::Pass, Severity::Block);
    assert!(f.summary.contains(OWNER), "{}", f.summary);
}

#[test]
fn owner_mismatch_blocks() {
    // S3 refuses the call with ExpectedBucketOwner and accepts the same call without it.
    let mut facts = base();
    facts.owner.probe_expected = Some(Probe::AccessDenied);
    facts.owner.probe_plain = Some(Probe::Ok);
    let r = eval(&facts);
    let f = expect(&r, CheckId::Owner, Status::Fail, Severity::Block);
    assert!(f.summary.contains("not owned by"), "{}", f.summary);
    assert_eq!(r.verdict(), Verdict::Block);
}

#[test]
fn owner_undecidable_when_everything_is_refused() {
    let mut facts = BucketFacts::unconfigured(BUCKET);
    for_every_bucket_fact_denied(&mut facts);
    facts.owner = OwnerFacts {
        expected_owner: Some(OWNER.into()),
        probe_plain: Some(Probe::AccessDenied),
        probe_expected: Some(Probe::AccessDenied),
        ..Default::default()
    };
    let r = eval(&facts);
    let f = expect(&r, CheckId::Owner, Status::Unknown, Severity::Block);
    assert_eq!(
        f.missing_permission.as_deref(),
        Some("s3:GetBucketLocation")
    );
    assert_eq!(r.verdict(), Verdict::Unknown);

    // One bucket read that carried ExpectedBucketOwner succeeded: the owner is confirmed.
    facts.logging = Fact::Absent;
    let r = eval(&facts);
    expect(&r, CheckId::Owner, Status::Pass, Severity::Block);
}

#[test]
fn missing_bucket_blocks() {
    let mut facts = base();
    facts.owner.probe_plain = Some(Probe::NotFound);
    let r = eval(&facts);
    let f = expect(&r, CheckId::Owner, Status::Fail, Severity::Block);
    assert!(f.summary.contains("does not exist"), "{}", f.summary);
    // The other reads failed with NoSuchBucket: unknown, but no permission is missing.
    facts.policy = Fact::Unknown(s3seal::posture::Unreadable {
        permission: "s3:GetBucketPolicy".into(),
        access_denied: false,
        error: "NoSuchBucket".into(),
    });
    let r = eval(&facts);
    let f = expect(&r, CheckId::PolicyPublic, Status::Unknown, Severity::Block);
    assert_eq!(f.missing_permission, None);
    assert_eq!(r.verdict(), Verdict::Block);
}

#[test]
fn owner_without_expected_owner_is_info_only() {
    let mut facts = base();
    facts.owner = OwnerFacts {
        caller_account: Some(OWNER.into()),
        probe_plain: Some(Probe::Ok),
        probe_caller: Some(Probe::Ok),
        ..Default::default()
    };
    let none = PostureOptions::default();
    let r = posture::evaluate(&facts, &none);
    expect(&r, CheckId::Owner, Status::Pass, Severity::Info);

    facts.owner.probe_caller = Some(Probe::AccessDenied);
    let r = posture::evaluate(&facts, &none);
    expect(&r, CheckId::Owner, Status::Fail, Severity::Info);

    facts.owner = OwnerFacts::default();
    let r = posture::evaluate(&facts, &none);
    let f = expect(&r, CheckId::Owner, Status::Unknown, Severity::Info);
    assert!(f.fix.contains("--expected-owner"), "{}", f.fix);
}

// ---------------------------------------------------------------------------------------
// Encryption, versioning, Object Lock, logging
// ---------------------------------------------------------------------------------------

fn rule(algorithm: &str, key: Option<&str>) -> EncryptionRule {
    EncryptionRule {
        algorithm: algorithm.into(),
        kms_key_id: key.map(str::to_string),
        bucket_key_enabled: None,
    }
}

#[test]
fn default_encryption_levels() {
    let cases = [
        (Fact::Absent, Status::Fail, Severity::Warn),
        (
            Fact::Present(vec![rule("AES256", None)]),
            Status::Fail,
            Severity::Info,
        ),
        (
            Fact::Present(vec![rule("aws:kms", None)]),
            Status::Fail,
            Severity::Info,
        ),
        (
            Fact::Present(vec![rule("aws:kms", Some("alias/aws/s3"))]),
            Status::Fail,
            Severity::Info,
        ),
        (
            Fact::Present(vec![rule("aws:kms", Some("arn:aws:kms:us-east-1:1:key/k"))]),
            Status::Pass,
            Severity::Info,
        ),
        (
            Fact::Present(vec![rule(
                "aws:kms:dsse",
                Some("arn:aws:kms:us-east-1:1:key/k"),
            )]),
            Status::Pass,
            Severity::Info,
        ),
        (
            Fact::denied("s3:GetEncryptionConfiguration"),
            Status::Unknown,
            Severity::Warn,
        ),
    ];
    for (fact, status, severity) in cases {
        let mut facts = base();
        facts.encryption = fact;
        let r = eval(&facts);
        expect(&r, CheckId::DefaultEncryption, status, severity);
    }
}

#[test]
fn versioning_and_mfa_delete() {
    let cases = [
        (
            Some("Enabled"),
            Some("Enabled"),
            Status::Pass,
            Severity::Warn,
        ),
        (Some("Enabled"), None, Status::Fail, Severity::Info),
        (Some("Suspended"), None, Status::Fail, Severity::Warn),
        (None, None, Status::Fail, Severity::Warn),
    ];
    for (status_v, mfa, status, severity) in cases {
        let mut facts = base();
        facts.versioning = Fact::Present(Versioning {
            status: status_v.map(str::to_string),
            mfa_delete: mfa.map(str::to_string),
        });
        let r = eval(&facts);
        expect(&r, CheckId::Versioning, status, severity);
    }
}

#[test]
fn object_lock_and_logging_are_info() {
    let r = eval(&base());
    expect(&r, CheckId::ObjectLock, Status::Fail, Severity::Info);
    expect(&r, CheckId::AccessLogging, Status::Fail, Severity::Info);
    let r = eval(&hardened());
    let f = expect(&r, CheckId::ObjectLock, Status::Pass, Severity::Info);
    assert!(f.summary.contains("GOVERNANCE 30 days"), "{}", f.summary);
    let f = expect(&r, CheckId::AccessLogging, Status::Pass, Severity::Info);
    assert!(f.summary.contains("s3://logs/b/"), "{}", f.summary);
}

// ---------------------------------------------------------------------------------------
// AccessDenied on every read: unknown, naming the permission
// ---------------------------------------------------------------------------------------

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

#[test]
fn every_denied_read_names_its_permission() {
    let mut facts = base();
    for_every_bucket_fact_denied(&mut facts);
    facts.account_public_access_block = Fact::denied("s3:GetAccountPublicAccessBlock");
    let r = eval(&facts);
    let expected = [
        (
            CheckId::PublicAccessBlock,
            "s3:GetBucketPublicAccessBlock, s3:GetAccountPublicAccessBlock",
        ),
        (CheckId::PolicyPublic, "s3:GetBucketPolicy"),
        (CheckId::PolicyStatus, "s3:GetBucketPolicyStatus"),
        (CheckId::AclPublic, "s3:GetBucketAcl"),
        (CheckId::AclDisabled, "s3:GetBucketOwnershipControls"),
        (CheckId::DefaultEncryption, "s3:GetEncryptionConfiguration"),
        (CheckId::Versioning, "s3:GetBucketVersioning"),
        (CheckId::ObjectLock, "s3:GetBucketObjectLockConfiguration"),
        (CheckId::AccessLogging, "s3:GetBucketLogging"),
    ];
    for (check, permission) in expected {
        let f = get(&r, check);
        assert_eq!(f.status, Status::Unknown, "{check}");
        assert_eq!(f.missing_permission.as_deref(), Some(permission), "{check}");
        assert!(
            f.fix.contains("--print-iam-policy") || f.fix.contains("grant"),
            "{check}"
        );
    }
    assert_eq!(r.verdict(), Verdict::Unknown);
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
    assert!(
        actions.iter().all(|a| a.starts_with("s3:Get")),
        "{actions:?}"
    );
    assert_eq!(p["Statement"][0]["Resource"], "arn:aws:s3:::b");
    // It is itself a policy s3seal can parse.
    Policy::from_value(&p).unwrap();
    assert_eq!(
        posture::minimal_iam_policy(None)["Statement"][0]["Resource"],
        "arn:aws:s3:::*"
    );
}

// ---------------------------------------------------------------------------------------
// Verdict, exit codes, JSON, text, gate
// ---------------------------------------------------------------------------------------

fn synthetic(findings: &[(Status, Severity)]) -> Report {
    let base = eval(&hardened());
    let template = base.findings[0].clone();
    Report {
        bucket: BUCKET.into(),
        findings: findings
            .iter()
            .map(|(status, severity)| Finding {
                status: *status,
                severity: *severity,
                ..template.clone()
            })
            .collect(),
    }
}

#[test]
fn verdict_precedence() {
    use Severity::*;
    use Status::*;
    let cases: &[(&[(Status, Severity)], Verdict)] = &[
        (&[(Pass, Block), (Fail, Info), (Unknown, Info)], Verdict::Ok),
        (&[(Fail, Warn)], Verdict::Warn),
        (&[(Unknown, Warn)], Verdict::Warn),
        (&[(Unknown, Block), (Fail, Warn)], Verdict::Unknown),
        (
            &[(Unknown, Block), (Fail, Block), (Fail, Warn)],
            Verdict::Block,
        ),
        (&[(Fail, Block)], Verdict::Block),
    ];
    for (findings, verdict) in cases {
        let r = synthetic(findings);
        assert_eq!(r.verdict(), *verdict, "{findings:?}");
    }
}

#[test]
fn hardened_bucket_is_ok() {
    let r = eval(&hardened());
    assert_eq!(r.verdict(), Verdict::Ok, "{}", r.render_text());
    for f in &r.findings {
        assert!(
            f.status == Status::Pass || f.severity == Severity::Info,
            "{}",
            f.one_line()
        );
    }
    // Versioning without MFA delete is only info.
    let mut facts = hardened();
    facts.versioning = Fact::Present(Versioning {
        status: Some("Enabled".into()),
        mfa_delete: None,
    });
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
    assert_eq!(
        ids,
        [
            "owner",
            "public-access-block",
            "policy-public",
            "policy-wide-cidr",
            "policy-status",
            "acl-public",
            "acl-disabled",
            "https-only",
            "cross-account",
            "default-encryption",
            "sse-kms-required",
            "versioning",
            "object-lock",
            "access-logging"
        ]
    );
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
    assert!(
        policy_line.contains("why:") && policy_line.contains("fix:"),
        "{policy_line}"
    );
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
    assert!(matches!(
        blocked.gate(GateMode::Off),
        GateDecision::Proceed { notices } if notices.is_empty()
    ));

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
    assert!(matches!(
        warned.gate(GateMode::Strict),
        GateDecision::Refuse {
            verdict: Verdict::Warn,
            ..
        }
    ));

    let mut unknown_facts = base();
    unknown_facts.policy = Fact::denied("s3:GetBucketPolicy");
    let unknown = eval(&unknown_facts);
    assert!(matches!(
        unknown.gate(GateMode::Enforce),
        GateDecision::Proceed { .. }
    ));
    assert!(matches!(
        unknown.gate(GateMode::Strict),
        GateDecision::Refuse {
            verdict: Verdict::Unknown,
            ..
        }
    ));

    let ok = eval(&hardened());
    assert!(matches!(
        ok.gate(GateMode::Strict),
        GateDecision::Proceed { notices } if notices.is_empty()
    ));
}

#[test]
fn unimplemented_reads_are_unknown_without_a_missing_permission() {
    // S3-compatible servers answer NotImplemented for configuration calls they lack: unknown,
    // but no IAM permission would help, so none is named.
    let mut facts = base();
    let unreadable = |permission: &str| s3seal::posture::Unreadable {
        permission: permission.into(),
        access_denied: false,
        error: "NotImplemented: GetBucketPolicy is not implemented yet".into(),
    };
    facts.policy = Fact::Unknown(unreadable("s3:GetBucketPolicy"));
    facts.bucket_public_access_block = Fact::Unknown(unreadable("s3:GetBucketPublicAccessBlock"));
    facts.account_public_access_block = Fact::Unknown(unreadable("s3:GetAccountPublicAccessBlock"));
    let r = eval(&facts);
    let f = expect(&r, CheckId::PolicyPublic, Status::Unknown, Severity::Block);
    assert_eq!(f.missing_permission, None);
    assert!(f.summary.contains("NotImplemented"), "{}", f.summary);
    let f = r.finding(CheckId::PublicAccessBlock).unwrap();
    assert_eq!(f.status, Status::Unknown);
    assert_eq!(f.missing_permission, None);
    // A denied read still names the permission.
    facts.policy = Fact::Unknown(s3seal::posture::Unreadable {
        permission: "s3:GetBucketPolicy".into(),
        access_denied: true,
        error: "AccessDenied".into(),
    });
    let r = eval(&facts);
    let f = expect(&r, CheckId::PolicyPublic, Status::Unknown, Severity::Block);
    assert_eq!(f.missing_permission.as_deref(), Some("s3:GetBucketPolicy"));
}

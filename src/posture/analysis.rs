//! Policy analysis shared by the checks: which condition values AWS accepts as limits
//! ("The meaning of public"), who can still reach an Allow after the policy's Denies
//! ([`Reach`]), and what a set of actions lets a grantee do ([`AccessLevel`]).
//!
//! `policy-public`, `policy-wide-cidr` and `cross-account` judge the same statements; one
//! analysis keeps them from contradicting each other.

use super::cidr::{self, RangeSet};
use super::policy::{
    self, ActionElement, ConditionClause, Effect, Policy, PrincipalElement, SetQualifier, Statement,
};

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
pub(super) struct Restriction {
    pub(super) key: String,
    pub(super) values: Vec<String>,
    /// The statement the limit comes from (the Allow itself or a Deny).
    pub(super) statement: usize,
}

/// A positive clause that pins a trust key to fixed values (restricts an Allow).
pub(super) fn restricting_clause(
    clause: &ConditionClause, statement: usize,
) -> Option<Restriction> {
    let op = clause.op();
    let positive =
        op.is_positive_match() && !op.if_exists && op.qualifier != Some(SetQualifier::ForAllValues);
    trust_clause(clause, statement, positive, "ipaddress")
}

/// A negated clause of a Deny on a trust key with fixed values: the Deny refuses everyone
/// outside those values, which limits the Allows it covers to them.
pub(super) fn negated_trust_clause(
    clause: &ConditionClause, statement: usize,
) -> Option<Restriction> {
    let op = clause.op();
    trust_clause(
        clause,
        statement,
        op.is_negated() && op.qualifier.is_none(),
        "notipaddress",
    )
}

/// A clause of an accepted operator kind (`operator_ok`) that pins a trust key to fixed
/// values; `aws:SourceIp` only with the IP operator `ip_operator`, other keys never with it.
fn trust_clause(
    clause: &ConditionClause, statement: usize, operator_ok: bool, ip_operator: &str,
) -> Option<Restriction> {
    let op = clause.op();
    let key = clause.key_lower();
    if !operator_ok || !TRUST_KEYS.contains(&key.as_str()) {
        return None;
    }
    if (key == SOURCE_IP) != (op.base == ip_operator) {
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
pub(super) enum Reach {
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
pub(super) fn analyse_allow(stmt: &Statement, policy: &Policy, bucket: &str) -> Reach {
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

/// The Allow statements that apply to the public, each with who can still reach it.
pub(super) fn public_allows<'p>(
    policy: &'p Policy, bucket: &'p str,
) -> impl Iterator<Item = (&'p Statement, Reach)> + 'p {
    policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow && s.principal.includes_public())
        .map(move |s| (s, analyse_allow(s, policy, bucket)))
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
pub(super) enum AccessLevel {
    Read,
    Write,
    PermissionChange,
}

impl AccessLevel {
    pub(super) fn as_str(self) -> &'static str {
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

pub(super) fn access_level(actions: &ActionElement) -> AccessLevel {
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

pub(super) fn describe_grant(stmt: &Statement) -> String {
    format!(
        "{}: Allow {} {} on {}",
        stmt.label(),
        stmt.principal,
        stmt.action,
        stmt.resource
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

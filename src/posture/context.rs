//! What every check sees: the facts, the options, the parsed policy, the effective Block
//! Public Access and the owner's account, worked out once per evaluation.
//!
//! Several checks read the same derived values (the policy, the effective setting of
//! RestrictPublicBuckets); computing them here keeps the checks from disagreeing.

use super::PostureOptions;
use super::catalogue::Judge;
use super::facts::{BucketFacts, Fact, Probe, PublicAccessBlock, Unreadable};
use super::policy::Policy;
use super::report::{CheckId, Finding, Severity, Status};
use serde_json::{Value, json};

/// The policy as the rules see it.
pub(super) enum PolicyState {
    Parsed(Policy),
    Absent,
    Unknown(Unreadable),
    Invalid(String),
}

/// Block Public Access as S3 enforces it: bucket OR account, per setting. `None` when the
/// value cannot be established (one side unknown and the other not `true`).
#[derive(Debug, Clone, Copy)]
pub(super) struct EffectivePab {
    pub(super) block_public_acls: Option<bool>,
    pub(super) ignore_public_acls: Option<bool>,
    pub(super) block_public_policy: Option<bool>,
    pub(super) restrict_public_buckets: Option<bool>,
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

    pub(super) fn to_json(self) -> Value {
        json!({
            "block_public_acls": self.block_public_acls,
            "ignore_public_acls": self.ignore_public_acls,
            "block_public_policy": self.block_public_policy,
            "restrict_public_buckets": self.restrict_public_buckets,
        })
    }
}

/// Which level turns a setting on, for evidence ("account", "bucket", "bucket and account").
pub(super) fn pab_source(facts: &BucketFacts, pick: fn(&PublicAccessBlock) -> bool) -> String {
    let b = side(&facts.bucket_public_access_block, pick) == Some(true);
    let a = side(&facts.account_public_access_block, pick) == Some(true);
    match (b, a) {
        (true, true) => "bucket and account level".into(),
        (true, false) => "bucket level".into(),
        (false, true) => "account level".into(),
        (false, false) => "nowhere".into(),
    }
}

pub(super) struct Ctx<'a> {
    pub(super) facts: &'a BucketFacts,
    pub(super) opts: &'a PostureOptions,
    pub(super) bucket: &'a str,
    pub(super) policy: PolicyState,
    pub(super) pab: EffectivePab,
    pub(super) owner_account: Option<String>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(facts: &'a BucketFacts, opts: &'a PostureOptions) -> Ctx<'a> {
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

    pub(super) fn is_trusted(&self, account: &str) -> bool {
        self.opts
            .trusted_accounts
            .iter()
            .any(|t| t.trim() == account)
    }

    /// Runs `check`, a check on the bucket policy, on the parsed policy. Without a policy its
    /// finding is the one [`WITHOUT_POLICY`] lists; when the policy is unreadable or invalid
    /// the check cannot run: its finding is unknown, with `severity`, the severity it would
    /// have if it failed.
    pub(super) fn on_policy(
        &self, id: CheckId, severity: Severity, check: fn(&Ctx, &Policy) -> Finding,
    ) -> Finding {
        let judge = Judge(id);
        match &self.policy {
            PolicyState::Parsed(p) => check(self, p),
            PolicyState::Absent => without_policy(judge),
            PolicyState::Unknown(u) => judge.unreadable(severity, "the bucket policy", u),
            PolicyState::Invalid(e) => judge.undecided(
                severity,
                format!("the bucket policy could not be parsed: {e}"),
                json!({"parse_error": e}),
            ),
        }
    }
}

/// What each check on the bucket policy finds when the bucket has none: status, severity,
/// summary, and the one member of the evidence (a text, or an empty list for `None`).
#[rustfmt::skip]
const WITHOUT_POLICY: &[WithoutPolicy] = &[
    (CheckId::PolicyPublic, Status::Pass, Severity::Block,
     "no bucket policy", "policy", Some("not configured")),
    (CheckId::PolicyWideCidr, Status::Pass, Severity::Block,
     "no bucket policy", "ip_limited_grants", None),
    (CheckId::HttpsOnly, Status::Fail, Severity::Warn,
     "no bucket policy, so plain HTTP is accepted", "policy", Some("not configured")),
    (CheckId::CrossAccount, Status::Pass, Severity::Block,
     "no bucket policy, so no grants to other accounts", "external_grants", None),
    (CheckId::SseKmsRequired, Status::Fail, Severity::Info,
     "no bucket policy, so uploads without SSE-KMS are accepted", "policy", Some("not configured")),
];

type WithoutPolicy = (
    CheckId,
    Status,
    Severity,
    &'static str,
    &'static str,
    Option<&'static str>,
);

fn without_policy(judge: Judge) -> Finding {
    let (_, status, severity, summary, member, value) = WITHOUT_POLICY
        .iter()
        .find(|row| row.0 == judge.0)
        .expect("every check on the policy is in WITHOUT_POLICY");
    let value = match value {
        Some(text) => json!(text),
        None => json!([]),
    };
    judge.finding(*status, *severity, *summary, json!({ *member: value }))
}

/// A fact as evidence: its value, "not configured", or why it is unknown.
pub(super) fn fact_json<T: serde::Serialize>(fact: &Fact<T>) -> Value {
    match fact {
        Fact::Present(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Fact::Absent => json!("not configured"),
        Fact::Unknown(u) => json!({"unknown": u.error, "permission": u.permission}),
    }
}

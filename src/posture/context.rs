//! What every check sees: the facts, the options, the parsed policy, the effective Block
//! Public Access and the owner's account, worked out once per evaluation.
//!
//! Several checks read the same derived values (the policy, the effective setting of
//! RestrictPublicBuckets); computing them here keeps the checks from disagreeing.

use super::PostureOptions;
use super::catalogue::Judge;
use super::facts::{BucketFacts, Fact, Probe, PublicAccessBlock, Unreadable};
use super::policy::Policy;
use super::report::{Finding, Severity};
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

    /// The parsed policy for a check on it; otherwise the finding of that check: `absent`
    /// without a policy, unknown (with `severity`) when it is unreadable or invalid. (Boxed:
    /// a finding is large and the policy is the common case.)
    pub(super) fn policy_for(
        &self,
        judge: Judge,
        severity: Severity,
        absent: Finding,
    ) -> Result<&Policy, Box<Finding>> {
        match &self.policy {
            PolicyState::Parsed(p) => Ok(p),
            PolicyState::Absent => Err(Box::new(absent)),
            PolicyState::Unknown(u) => {
                Err(Box::new(judge.unreadable(severity, "the bucket policy", u)))
            }
            PolicyState::Invalid(e) => Err(Box::new(judge.undecided(
                severity,
                format!("the bucket policy could not be parsed: {e}"),
                json!({"parse_error": e}),
            ))),
        }
    }
}

/// A fact as evidence: its value, "not configured", or why it is unknown.
pub(super) fn fact_json<T: serde::Serialize>(fact: &Fact<T>) -> Value {
    match fact {
        Fact::Present(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Fact::Absent => json!("not configured"),
        Fact::Unknown(u) => json!({"unknown": u.error, "permission": u.permission}),
    }
}

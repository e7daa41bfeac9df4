//! The checks about who else can reach the bucket: its owner (`owner`), plain-HTTP callers
//! (`https-only`) and other AWS accounts (`cross-account`).
//!
//! Each one answers "can someone outside the owner's account, or outside TLS, touch these
//! objects?"; they read the owner probes and the bucket policy.

use super::analysis::{
    AccessLevel, Reach, access_level, account_of_principal, analyse_allow, negated_trust_clause,
    restricting_clause,
};
use super::catalogue::Judge;
use super::context::Ctx;
use super::facts::Probe;
use super::policy::{
    self, ActionElement, Effect, Policy, PrincipalElement, ResourceElement, Statement,
};
use super::report::{CheckId, Finding, Severity};
use serde_json::{Value, json};

fn probe_json(p: &Option<Probe>) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

pub(super) fn owner(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::Owner);
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
        // Nothing about owners to fix: the name (or where it is looked for) is wrong.
        return j
            .fail(
                Severity::Block,
                format!("bucket {} does not exist", ctx.bucket),
                evidence,
            )
            .with_fix(
                "check the bucket name, and the endpoint (--endpoint-url) and region it is looked for in",
            );
    }
    let Some(expected) = &ctx.opts.expected_owner else {
        // No owner to enforce: report what is known, never more than info.
        return match (&o.caller_account, &o.probe_caller, &o.probe_plain) {
            (Some(caller), Some(Probe::Ok), _) => j.pass(
                Severity::Info,
                format!("owned by the caller's account {caller} (no --expected-owner given)"),
                evidence,
            ),
            (Some(caller), Some(Probe::AccessDenied), Some(Probe::Ok)) => j.fail(
                Severity::Info,
                format!(
                    "not owned by the caller's account {caller}; pass --expected-owner to pin \
                     the owner"
                ),
                evidence,
            ),
            _ => j
                .undecided(
                    Severity::Info,
                    "owner not verified (no --expected-owner given)",
                    evidence,
                )
                .with_fix(j.catalogue_fix()),
        };
    };
    if o.probe_expected == Some(Probe::Ok) {
        return j.pass(
            Severity::Block,
            format!("owned by {expected}: S3 accepted ExpectedBucketOwner"),
            evidence,
        );
    }
    if o.probe_expected == Some(Probe::AccessDenied) && o.probe_plain == Some(Probe::Ok) {
        return j.fail(
            Severity::Block,
            format!(
                "not owned by {expected}: S3 refuses the request with ExpectedBucketOwner \
                 {expected} and accepts the same request without it"
            ),
            evidence,
        );
    }
    if ctx.facts.any_bucket_read_succeeded() {
        return j.pass(
            Severity::Block,
            format!("owned by {expected}: S3 answered requests carrying ExpectedBucketOwner"),
            evidence,
        );
    }
    let mut f = j.undecided(
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

pub(super) fn https_only(ctx: &Ctx, policy: &Policy) -> Finding {
    let j = Judge(CheckId::HttpsOnly);
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
        return j.pass(
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
    j.fail(
        Severity::Warn,
        summary,
        json!({"enforcing_statements": enforcing, "near_misses": near_misses}),
    )
}

pub(super) fn cross_account(ctx: &Ctx, policy: &Policy) -> Finding {
    let j = Judge(CheckId::CrossAccount);
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
            return j.fail(
                Severity::Block,
                format!("other accounts can write: {}", describe(&writes)),
                ev,
            );
        }
        Some(AccessLevel::Read) => {
            return j.fail(
                Severity::Warn,
                format!("other accounts can read: {}", describe(&external)),
                ev,
            );
        }
        None => {}
    }
    if !undecided.is_empty() {
        let write = undecided.iter().any(|(l, _)| *l >= AccessLevel::Write);
        let severity = if write {
            Severity::Block
        } else {
            Severity::Warn
        };
        let summary = format!(
            "the bucket owner's account is unknown, so these grants cannot be judged: {}",
            describe(&undecided)
        );
        return j.undecided(severity, summary, ev).with_fix(
            "pass --expected-owner ACCOUNT_ID (and --trusted-account ID for intended grants)",
        );
    }
    if !orgs.is_empty() {
        return j.fail(
            Severity::Warn,
            "the policy grants access to every account of an organization",
            ev,
        );
    }
    j.pass(
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

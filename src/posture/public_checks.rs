//! The checks about the public: Block Public Access, public grants in the bucket policy
//! (by AWS's definition and by the width of `aws:SourceIp` ranges), AWS's own policy status,
//! and public grants in the ACL.
//!
//! They share one rule: a public grant that an effective Block Public Access setting
//! neutralizes is a warning ("one setting away from public"), never a pass.

use super::analysis::{Reach, access_level, describe_grant, public_allows};
use super::catalogue::Judge;
use super::cidr::Width;
use super::context::{Ctx, fact_json, pab_source};
use super::facts::{ALL_USERS_URI, AUTHENTICATED_USERS_URI, Fact, Grantee};
use super::policy::{Policy, Statement};
use super::report::{CheckId, Finding, Severity};
use serde_json::{Value, json};

pub(super) fn public_access_block(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::PublicAccessBlock);
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
        return j.pass(
            Severity::Warn,
            "all four Block Public Access settings are on (bucket OR account level)",
            evidence,
        );
    }
    if !off.is_empty() {
        return j.fail(
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
    let summary = format!(
        "could not establish {} (bucket or account setting unreadable)",
        undecided.join(", ")
    );
    let mut f = j.undecided(Severity::Warn, summary, evidence);
    if !missing.is_empty() {
        f.missing_permission = Some(missing.join(", "));
    }
    let fix = if missing.is_empty() {
        "the reads failed (not a permission problem); run the check again, or turn the settings \
         on at bucket level"
            .to_string()
    } else {
        format!(
            "grant {} to the checking identity, or turn the settings on at bucket level",
            missing.join(" and ")
        )
    };
    f.with_fix(fix)
}

pub(super) fn policy_public(ctx: &Ctx, policy: &Policy) -> Finding {
    let j = Judge(CheckId::PolicyPublic);
    let mut grants = Vec::new();
    let mut limited = Vec::new();
    for (stmt, reach) in public_allows(policy, ctx.bucket) {
        match reach {
            Reach::Public => grants.push(grant_json(stmt)),
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
        return j.pass(
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
            j.fail(
                Severity::Warn,
                format!(
                    "public grant neutralized by RestrictPublicBuckets ({by}), one setting away \
                     from public: {first}{more}"
                ),
                json!({"public_grants": grants, "limited_grants": limited,
                       "neutralized_by": format!("RestrictPublicBuckets at {by}")}),
            )
            .with_fix(
                "remove the public statement from the bucket policy; until then keep \
                 RestrictPublicBuckets on",
            )
        }
        other => j.fail(
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

pub(super) fn policy_wide_cidr(ctx: &Ctx, policy: &Policy) -> Finding {
    let j = Judge(CheckId::PolicyWideCidr);
    let mut entries = Vec::new();
    let mut worst = Width::GrantsNothing;
    let mut worst_text = String::new();
    for (stmt, reach) in public_allows(policy, ctx.bucket) {
        if let Reach::IpLimited { ranges, statement } = reach {
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
            let mut entry = grant_json(stmt);
            entry["limit_from_statement"] = json!(statement);
            entry["width"] = json!(ranges.width);
            entry["source_ip"] = json!(ranges);
            entries.push(entry);
        }
    }
    let evidence = json!({"ip_limited_grants": entries});
    if entries.is_empty() {
        return j.pass(
            Severity::Block,
            "no public grant is limited by source address alone",
            evidence,
        );
    }
    match worst {
        Width::TooWide => j.fail(
            Severity::Block,
            format!("open to a very wide address range: {worst_text}"),
            evidence,
        ),
        Width::Wide => j.fail(
            Severity::Warn,
            format!("open to a wide address range: {worst_text}"),
            evidence,
        ),
        Width::Narrow | Width::GrantsNothing => j.pass(
            Severity::Block,
            format!("only narrow or private ranges: {worst_text}"),
            evidence,
        ),
    }
}

pub(super) fn policy_status(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::PolicyStatus);
    match &ctx.facts.policy_status {
        Fact::Unknown(u) => j.unreadable(Severity::Warn, "the policy status", u),
        Fact::Absent => j.pass(
            Severity::Block,
            "no bucket policy, so AWS reports nothing public",
            json!({"is_public": null}),
        ),
        Fact::Present(false) => j.pass(
            Severity::Block,
            "AWS reports the policy as not public (AWS does not judge the size of \
             aws:SourceIp ranges: see policy-wide-cidr)",
            json!({"is_public": false}),
        ),
        Fact::Present(true) => match ctx.pab.restrict_public_buckets {
            Some(true) => j.fail(
                Severity::Warn,
                format!(
                    "AWS reports the policy as public; neutralized by RestrictPublicBuckets \
                     ({}), one setting away from public",
                    pab_source(ctx.facts, |p| p.restrict_public_buckets)
                ),
                json!({"is_public": true, "restrict_public_buckets": true}),
            ),
            other => j.fail(
                Severity::Block,
                "AWS reports the bucket policy as public",
                json!({"is_public": true, "restrict_public_buckets": other}),
            ),
        },
    }
}

pub(super) fn acl_public(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::AclPublic);
    let enforced = ctx.facts.ownership.present().map(String::as_str) == Some("BucketOwnerEnforced");
    let acl = match &ctx.facts.acl {
        Fact::Present(acl) => acl,
        Fact::Absent => {
            return j.pass(Severity::Block, "no ACL", json!({"grants": []}));
        }
        Fact::Unknown(u) => {
            if enforced {
                return j.pass(
                    Severity::Block,
                    "ACLs are disabled (BucketOwnerEnforced), so no ACL grants anything",
                    json!({"object_ownership": "BucketOwnerEnforced", "acl": fact_json(&ctx.facts.acl)}),
                );
            }
            // Whatever the ACL says, IgnorePublicAcls would neutralize it: the worst case is
            // a warning, not a block.
            let severity = if ctx.pab.ignore_public_acls == Some(true) {
                Severity::Warn
            } else {
                Severity::Block
            };
            return j.unreadable(severity, "the bucket ACL", u);
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
        return j.pass(
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
        return j.fail(
            Severity::Warn,
            format!(
                "public ACL grant ({list}) with ACLs disabled (BucketOwnerEnforced): not in effect"
            ),
            evidence,
        );
    }
    match ctx.pab.ignore_public_acls {
        Some(true) => j.fail(
            Severity::Warn,
            format!(
                "public ACL grant ({list}) neutralized by IgnorePublicAcls ({}), one setting away \
                 from public",
                pab_source(ctx.facts, |p| p.ignore_public_acls)
            ),
            evidence,
        ),
        _ => j.fail(
            Severity::Block,
            format!("public ACL grant: {list}"),
            evidence,
        ),
    }
}

pub(super) fn acl_disabled(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::AclDisabled);
    match &ctx.facts.ownership {
        Fact::Unknown(u) => j.unreadable(Severity::Warn, "the object ownership setting", u),
        Fact::Present(o) if o == "BucketOwnerEnforced" => j.pass(
            Severity::Warn,
            "ACLs are disabled (object ownership BucketOwnerEnforced)",
            json!({"object_ownership": o}),
        ),
        Fact::Present(o) => j.fail(
            Severity::Warn,
            format!("ACLs are enabled (object ownership {o})"),
            json!({"object_ownership": o}),
        ),
        Fact::Absent => j.fail(
            Severity::Warn,
            "ACLs are enabled (no ownership controls: ObjectWriter)",
            json!({"object_ownership": "not configured (ObjectWriter)"}),
        ),
    }
}

/// A public grant as evidence: the statement as written, what it grants, and how much.
fn grant_json(stmt: &Statement) -> Value {
    json!({
        "statement": stmt.raw,
        "grant": describe_grant(stmt),
        "access": access_level(&stmt.action).as_str(),
    })
}

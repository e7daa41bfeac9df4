//! The checks about what happens to the stored data: default encryption, a policy that
//! demands SSE-KMS, versioning with MFA delete, Object Lock and server access logging.
//!
//! None of them lets anyone in; they decide how much a mistake or a stolen key can destroy
//! or hide, so most of their failures are warnings or information.

use super::catalogue::Judge;
use super::context::Ctx;
use super::facts::{EncryptionRule, Fact, Versioning};
use super::policy::{self, Effect, Policy, ResourceElement, Statement};
use super::report::{CheckId, Finding, Severity};
use serde_json::{Value, json};

fn is_customer_managed(key: &Option<String>) -> bool {
    match key {
        None => false,
        Some(k) => !k.trim().is_empty() && !k.contains("alias/aws/"),
    }
}

pub(super) fn default_encryption(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::DefaultEncryption);
    let rules = match &ctx.facts.encryption {
        Fact::Unknown(u) => {
            return j.unreadable(Severity::Warn, "the default encryption", u);
        }
        Fact::Absent => {
            return j.fail(
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
        return j.fail(
            Severity::Warn,
            "default encryption configuration has no rule",
            evidence,
        );
    }
    let kms = |r: &&EncryptionRule| {
        let a = r.algorithm.to_ascii_lowercase();
        a == "aws:kms" || a == "aws:kms:dsse"
    };
    if let Some(r) = rules
        .iter()
        .filter(kms)
        .find(|r| is_customer_managed(&r.kms_key_id))
    {
        return j.pass(
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
        return j.fail(
            Severity::Info,
            format!(
                "default encryption {} with the AWS managed key (aws/s3): its key policy lets \
                 any principal of the account decrypt through S3",
                r.algorithm
            ),
            evidence,
        );
    }
    j.fail(
        Severity::Info,
        format!(
            "default encryption {} (SSE-S3) only: anyone with s3:GetObject receives plaintext; \
             s3seal's client-side encryption is what protects the content",
            rules[0].algorithm
        ),
        evidence,
    )
}

/// True for a Deny to everyone on PutObject into the whole bucket with a condition on the
/// server-side encryption headers.
fn demands_sse(stmt: &Statement, bucket: &str) -> bool {
    if stmt.effect != Effect::Deny
        || !stmt.principal.is_everyone()
        || !policy::action_matches(&stmt.action, "s3:PutObject")
    {
        return false;
    }
    let objects = ResourceElement::Resource(vec![format!("{}/*", policy::bucket_arn(bucket))]);
    policy::resources_cover(&stmt.resource, &objects, bucket)
        && stmt.conditions.iter().any(|c| {
            let k = c.key_lower();
            k == "s3:x-amz-server-side-encryption"
                || k == "s3:x-amz-server-side-encryption-aws-kms-key-id"
        })
}

pub(super) fn sse_kms_required(ctx: &Ctx, policy: &Policy) -> Finding {
    let j = Judge(CheckId::SseKmsRequired);
    let mut requiring = Vec::new();
    let mut pinned = Vec::new();
    let mut notes = Vec::new();
    for stmt in &policy.statements {
        if !demands_sse(stmt, ctx.bucket) {
            continue;
        }
        if stmt.conditions.len() != 1 {
            notes.push(json!({
                "statement": stmt.raw,
                "why_not": "several condition keys in one statement are ANDed: the Deny fires \
                            only when all of them match, so each demand needs its own statement",
            }));
            continue;
        }
        let clause = &stmt.conditions[0];
        let op = clause.op();
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
        return j.fail(
            Severity::Info,
            "the policy does not refuse uploads without SSE-KMS",
            evidence,
        );
    }
    j.pass(
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

pub(super) fn versioning(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::Versioning);
    let v = match &ctx.facts.versioning {
        Fact::Unknown(u) => {
            return j.unreadable(Severity::Warn, "the versioning state", u);
        }
        Fact::Absent => Versioning::default(),
        Fact::Present(v) => v.clone(),
    };
    let evidence = json!({"status": v.status, "mfa_delete": v.mfa_delete});
    let enabled = v.status.as_deref() == Some("Enabled");
    let mfa = v.mfa_delete.as_deref() == Some("Enabled");
    match (enabled, mfa) {
        (true, true) => j.pass(
            Severity::Warn,
            "versioning enabled with MFA delete",
            evidence,
        ),
        (true, false) => j
            .fail(
                Severity::Info,
                "versioning enabled; MFA delete is off",
                evidence,
            )
            .with_fix(
                "enable MFA delete with the root user: aws s3api put-bucket-versioning \
                     --bucket BUCKET --versioning-configuration Status=Enabled,MFADelete=Enabled \
                     --mfa 'SERIAL CODE'",
            ),
        (false, _) => j.fail(
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

pub(super) fn object_lock(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::ObjectLock);
    match &ctx.facts.object_lock {
        Fact::Unknown(u) => j.unreadable(Severity::Info, "the Object Lock configuration", u),
        Fact::Present(l) if l.enabled => j.pass(
            Severity::Info,
            match (&l.default_mode, l.default_days, l.default_years) {
                (Some(mode), Some(d), _) => format!("Object Lock on, default {mode} {d} days"),
                (Some(mode), _, Some(y)) => format!("Object Lock on, default {mode} {y} years"),
                _ => "Object Lock on, no default retention".to_string(),
            },
            serde_json::to_value(l).unwrap_or(Value::Null),
        ),
        Fact::Present(l) => j.fail(
            Severity::Info,
            "Object Lock is not enabled",
            serde_json::to_value(l).unwrap_or(Value::Null),
        ),
        Fact::Absent => j.fail(
            Severity::Info,
            "Object Lock is not enabled",
            json!({"object_lock": "not configured"}),
        ),
    }
}

pub(super) fn access_logging(ctx: &Ctx) -> Finding {
    let j = Judge(CheckId::AccessLogging);
    match &ctx.facts.logging {
        Fact::Unknown(u) => j.unreadable(Severity::Info, "the logging configuration", u),
        Fact::Present(l) => j.pass(
            Severity::Info,
            format!(
                "server access logs go to s3://{}/{}",
                l.target_bucket, l.target_prefix
            ),
            serde_json::to_value(l).unwrap_or(Value::Null),
        ),
        Fact::Absent => j.fail(
            Severity::Info,
            "server access logging is off",
            json!({"logging": "disabled"}),
        ),
    }
}

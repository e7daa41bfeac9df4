//! The posture rules: pure functions from [`BucketFacts`] to one [`Finding`] per check.
//!
//! This file only puts the checks in report order; the checks live by subject
//! (`public_checks`, `account_checks`, `data_checks`), on a shared evaluation context
//! (`context`), the policy analysis they share (`analysis`) and the catalogue of titles and
//! fixes (`catalogue`). No I/O happens in any of them, so every rule is tested with
//! hand-built facts and policy fixtures (`tests/posture_rules.rs`). The rules follow AWS's own
//! definition of "public" (Block Public Access, "The meaning of public") and IAM's evaluation
//! logic, and add what AWS leaves out: how wide an `aws:SourceIp` range is, and grants to
//! other accounts. `docs/POSTURE.md` lists each rule with its sources.
//!
//! [`Finding`]: super::Finding

use super::context::Ctx;
use super::facts::BucketFacts;
use super::report::Report;
use super::report::{CheckId, Severity::*};
use super::{PostureOptions, account_checks, data_checks, public_checks};

pub use super::analysis::account_of_principal;

/// Judges a bucket. Pure and synchronous: the same facts always give the same report. The
/// checks on the bucket policy run through `Ctx::on_policy`, with the severity their
/// finding has when the policy cannot be read.
pub fn evaluate(facts: &BucketFacts, opts: &PostureOptions) -> Report {
    let ctx = Ctx::new(facts, opts);
    let findings = vec![
        account_checks::owner(&ctx),
        public_checks::public_access_block(&ctx),
        ctx.on_policy(CheckId::PolicyPublic, Block, public_checks::policy_public),
        ctx.on_policy(
            CheckId::PolicyWideCidr,
            Block,
            public_checks::policy_wide_cidr,
        ),
        public_checks::policy_status(&ctx),
        public_checks::acl_public(&ctx),
        public_checks::acl_disabled(&ctx),
        ctx.on_policy(CheckId::HttpsOnly, Warn, account_checks::https_only),
        ctx.on_policy(CheckId::CrossAccount, Block, account_checks::cross_account),
        data_checks::default_encryption(&ctx),
        ctx.on_policy(CheckId::SseKmsRequired, Info, data_checks::sse_kms_required),
        data_checks::versioning(&ctx),
        data_checks::object_lock(&ctx),
        data_checks::access_logging(&ctx),
    ];
    Report {
        bucket: facts.bucket.clone(),
        findings,
    }
}

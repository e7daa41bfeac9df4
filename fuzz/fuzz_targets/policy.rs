//! The posture check's bucket-policy parser on hostile text (a bucket policy is written by
//! whoever controls the bucket), and the pure matching functions the rules call on what it
//! returns. Nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3seal::posture::policy::{
    Case, Policy, action_matches, glob_covers, glob_intersects, glob_match, reach,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = Policy::parse(text) {
        for s in &policy.statements {
            let _ = s.label();
            let _ = s.principal.includes_public();
            let _ = action_matches(&s.action, "s3:GetObject");
            let _ = reach(&s.resource, "s3seal-test");
            for c in &s.conditions {
                let _ = c.op().is_negated();
                let _ = c.key_lower();
            }
        }
    }
    // Glob matching on arbitrary patterns: split the text in two at the first newline.
    if let Some((pattern, subject)) = text.split_once('\n') {
        let _ = glob_match(pattern, subject, Case::Sensitive);
        let _ = glob_match(pattern, subject, Case::Insensitive);
        let _ = glob_covers(pattern, subject, Case::Sensitive);
        let _ = glob_intersects(pattern, subject, Case::Insensitive);
    }
});

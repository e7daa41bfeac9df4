//! Which part of one bucket a `Resource` element reaches: the bucket itself
//! (`arn:aws:s3:::B`) and which of its objects (`arn:aws:s3:::B/...`), in any partition.
//!
//! `https-only` needs a Deny that covers both, a Deny cancels an Allow only on what it
//! covers, and `sse-kms-required` needs every object: one answer serves all three.

use super::glob::{Case, glob_covers, glob_intersects, glob_match};
use super::policy::ResourceElement;

/// The partitions whose S3 ARNs name the same bucket.
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// The part of a bucket's resource space that a resource pattern reaches: the bucket itself
/// (`arn:aws:s3:::B`) and its objects (`arn:aws:s3:::B/...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketReach {
    /// The bucket ARN itself is matched.
    pub bucket: bool,
    /// Object patterns within the bucket, each of the form `arn:aws:s3:::B/<glob>`.
    pub objects: Vec<String>,
}

/// The ARN of a bucket (partition `aws`; other partitions are matched too by [`reach`]).
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// Which part of bucket `bucket` a resource element reaches.
pub fn reach(element: &ResourceElement, bucket: &str) -> BucketReach {
    let bucket_arns: Vec<String> = PARTITIONS
        .iter()
        .map(|p| format!("arn:{p}:s3:::{bucket}"))
        .collect();
    let all_objects = format!("{}/*", bucket_arn(bucket));
    let mut out = BucketReach::default();
    match element {
        ResourceElement::Missing => {}
        ResourceElement::Resource(patterns) => {
            for pattern in patterns {
                if bucket_arns
                    .iter()
                    .any(|arn| glob_match(pattern, arn, Case::Sensitive))
                {
                    out.bucket = true;
                }
                let normalised = normalise(pattern, bucket);
                if glob_covers(&normalised, &all_objects, Case::Sensitive) {
                    out.objects.push(all_objects.clone());
                } else if normalised.starts_with(&format!("{}/", bucket_arn(bucket))) {
                    out.objects.push(normalised);
                } else if glob_intersects(&normalised, &all_objects, Case::Sensitive) {
                    // A pattern like `arn:aws:s3:::b*` that reaches objects of this bucket
                    // without naming them: treat it as reaching all of them.
                    out.objects.push(all_objects.clone());
                }
            }
        }
        ResourceElement::NotResource(excluded) => {
            if !excluded.iter().any(|x| {
                bucket_arns
                    .iter()
                    .any(|arn| glob_match(x, arn, Case::Sensitive))
            }) {
                out.bucket = true;
            }
            // Every object except the excluded ones: unless an exclusion covers all the
            // objects, the statement reaches objects; report it as all of them.
            if !excluded
                .iter()
                .any(|x| glob_covers(x, &all_objects, Case::Sensitive))
            {
                out.objects.push(all_objects.clone());
            }
        }
    }
    out
}

/// True when the resource element `outer` covers everything `inner` reaches in `bucket`.
pub fn resources_cover(outer: &ResourceElement, inner: &ResourceElement, bucket: &str) -> bool {
    let inner_reach = reach(inner, bucket);
    let outer_reach_bucket = reach(outer, bucket).bucket;
    if inner_reach.bucket && !outer_reach_bucket {
        return false;
    }
    inner_reach
        .objects
        .iter()
        .all(|object_pattern| covers_object_pattern(outer, object_pattern, bucket))
}

fn covers_object_pattern(outer: &ResourceElement, object_pattern: &str, bucket: &str) -> bool {
    match outer {
        ResourceElement::Missing => false,
        ResourceElement::Resource(patterns) => patterns
            .iter()
            .any(|p| glob_covers(&normalise(p, bucket), object_pattern, Case::Sensitive)),
        ResourceElement::NotResource(excluded) => !excluded
            .iter()
            .any(|x| glob_intersects(x, object_pattern, Case::Sensitive)),
    }
}

/// An object pattern of `bucket` in any partition, rewritten to the `aws` partition so that
/// object patterns compare with one prefix; any other pattern as it is.
fn normalise(pattern: &str, bucket: &str) -> String {
    PARTITIONS
        .iter()
        .find_map(|p| {
            pattern
                .strip_prefix(&format!("arn:{p}:s3:::{bucket}/"))
                .map(|rest| format!("{}/{rest}", bucket_arn(bucket)))
        })
        .unwrap_or_else(|| pattern.to_string())
}

//! Trees: `put --recursive`, `get --recursive` and `sync` move whole directories and prefixes
//! in one process (one client set, one posture check, one memory budget). One idea per file:
//! - [`walk`]: the local tree, streamed in S3 key order (sorted per directory);
//! - [`listing`]: the objects under a prefix, streamed page by page;
//! - [`filter`]: `--include` / `--exclude` with the AWS CLI's order (the last match wins);
//! - [`compare`]: the merge of two sorted streams into upload/download/skip/delete work, so
//!   `--delete` never needs a set of names in memory;
//! - [`stamp`]: the source's size, mtime and mode stored with each object, restored on download;
//! - [`settings`]: the digest of the upload settings, so a re-run skips only what it stored;
//! - [`fingerprint`]: the keyed content fingerprint of `--checksum` (a key only KMS holders get);
//! - `jobs`: one object from decision to report, through the existing pipelines;
//! - [`run`]: the bounded-concurrency runner, its global memory budget and per-object outcomes.
//!
//! Keys are relative paths with `/` separators under the destination prefix; a name that S3
//! or the local file system cannot hold is reported as a failed object, never changed.

pub mod compare;
pub mod filter;
pub mod fingerprint;
mod jobs;
pub mod listing;
pub mod run;
pub mod settings;
pub mod stamp;
pub mod walk;

pub use filter::Filters;
pub use run::{Action, Direction, ObjectReport, Summary, TreeMode, TreeRequest, run_tree};

/// The prefix under which a tree's objects live: `""` (the bucket) or a prefix ending in `/`.
/// `s3://b/photos` and `s3://b/photos/` both mean the keys `photos/...`, as with
/// `aws s3 cp --recursive` and `aws s3 sync`.
pub fn tree_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_string()
    } else {
        format!("{key}/")
    }
}

/// Why a relative path cannot be a local file name under the destination directory (S3 keys
/// may hold `..`, empty segments or a leading `/`; those are refused, not rewritten).
pub fn local_name_problem(rel: &str) -> Option<&'static str> {
    if rel.is_empty() {
        return Some("the key names the prefix itself");
    }
    if rel.contains('\0') {
        return Some("the key holds a NUL byte");
    }
    for segment in rel.split('/') {
        match segment {
            "" => return Some("the key has an empty path segment (`//` or a leading `/`)"),
            "." | ".." => return Some("the key has a `.` or `..` segment"),
            _ => {}
        }
    }
    None
}

/// Most bytes an S3 key may have.
pub const MAX_KEY_BYTES: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_end_in_a_slash() {
        assert_eq!(tree_prefix(""), "");
        assert_eq!(tree_prefix("a"), "a/");
        assert_eq!(tree_prefix("a/"), "a/");
    }

    #[test]
    fn unsafe_local_names_are_refused() {
        assert!(local_name_problem("a/b c/ü.txt").is_none());
        assert!(local_name_problem("../etc/passwd").is_some());
        assert!(local_name_problem("a/./b").is_some());
        assert!(local_name_problem("a//b").is_some());
        assert!(local_name_problem("/abs").is_some());
        assert!(local_name_problem("dir/").is_some());
        assert!(local_name_problem("").is_some());
    }
}

#[cfg(test)]
mod tests_run;

//! Which keys and which readers a reader trusts: pinned KMS keys, the S3 Encryption Client
//! fallback, KMS answers that are integrity failures, conditional writes.

#[allow(unused_imports)]
use super::common::*;

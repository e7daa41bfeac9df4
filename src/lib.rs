//! s3seal: client-side envelope encryption for Amazon S3, so that S3 never sees plaintext.
//!
//! The library is organised around the ideas of the tool:
//! - [`format`]: the encrypted object format (pure, synchronous; specified in `docs/FORMAT.md`),
//! - [`kms`]: data keys from AWS KMS, bound to an encryption context,
//! - [`pins`]: the KMS keys a reader trusts (key pinning),
//! - [`store`]: the object store seam, the one place that sends S3 object requests,
//! - [`transfer`]: the parallel, streaming upload and download pipelines over the store,
//! - [`ops`]: the operations (open, inspect, verify, rewrap, migrate, seal), one file each,
//! - [`batch`]: many objects, one operation: manifests, listings, shards, reports,
//! - [`posture`]: the bucket posture check (facts, rules, verdict),
//! - [`s3ec`]: reading objects of the AWS S3 Encryption Client,
//! - [`aws`]: building SDK clients the way AWS tools do (credential chain, endpoints, CA bundle),
//! - [`presign`]: presigned URLs, and reading objects through them,
//! - [`batch_task`]: S3 Batch Operations tasks (the Lambda function's handler, `batch-task`),
//! - [`tree`]: directories and prefixes (`put/get --recursive`, `sync`) over the pipelines,
//!
//! The command-line interface (clap, progress bars, exit codes) lives in the binary, not here.

#![forbid(unsafe_code)]

pub mod aws;
pub mod batch;
pub mod batch_task;
pub mod error;
pub mod format;
pub mod kms;
pub mod location;
pub mod ops;
pub mod pins;
pub mod posture;
pub mod presign;
pub mod s3ec;
pub mod store;
pub mod terminal;
pub mod transfer;
pub mod tree;

#[cfg(test)]
mod testing;

pub use error::{Error, ErrorClass, Result};

//! s3seal: client-side envelope encryption for Amazon S3, so that S3 never sees plaintext.
//!
//! The library is organised around the ideas of the tool:
//! - [`format`]: the encrypted object format (pure, synchronous; specified in `docs/FORMAT.md`),
//! - [`kms`]: data keys from AWS KMS, bound to an encryption context,
//! - [`transfer`]: the parallel, streaming upload and download pipelines over S3,
//! - [`aws`]: building SDK clients the way AWS tools do (credential chain, endpoints, CA bundle),
//! - [`presign`]: presigned URLs, and reading or writing objects through them,
//! - [`tools`]: inspect, verify and rewrap an object,
//!
//! The command-line interface (clap, progress bars, exit codes) lives in the binary, not here.

pub mod aws;
pub mod error;
pub mod format;
pub mod kms;
pub mod location;
pub mod posture;
pub mod presign;
pub mod s3ec;
pub mod tools;
pub mod transfer;

pub use error::{Error, ErrorClass, Result};

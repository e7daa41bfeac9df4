//! Reading objects written by the official AWS S3 Encryption Client (S3EC), so buckets full of
//! them can be read and migrated to s3seal's format: the v2 format (`kms+context`,
//! `AES/GCM/NoPadding`) and the v3 key-committing format (suite 115, `x-amz-w` = `12`), with
//! their metadata on the object or in `KEY.instruction`. Legacy unauthenticated modes are
//! refused. Details and sources: `docs/S3EC.md`.
//!
//! For other commands:
//! - [`detect`] tells from an object's user metadata whether it claims to be an S3EC object;
//! - `load`: [`load_envelope`] finds and validates the metadata (no KMS), [`describe`] is what
//!   `inspect` shows; which reader serves an object is decided by `crate::ops::open`;
//! - `read`: [`open_envelope`] and [`open_to_temp`] decrypt and verify the object.

pub mod envelope;
pub mod gcm;
pub mod keys;
mod load;
pub mod metadata;
mod read;

pub use envelope::{Content, Envelope, MetadataError, MetadataLocation, S3ecFormat};
pub use load::{Description, describe, describe_envelope, load_envelope};
pub use metadata::{detect, needs_instruction_file};
pub use read::{S3ecOutcome, S3ecRequest, open_envelope, open_to_temp};

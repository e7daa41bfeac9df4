//! Reading objects written by the official AWS S3 Encryption Client (S3EC), so buckets full of
//! them can be read and migrated to s3seal's format: the v2 format (`kms+context`,
//! `AES/GCM/NoPadding`) and the v3 key-committing format (suite 115, `x-amz-w` = `12`), with
//! their metadata on the object or in `KEY.instruction`. Legacy unauthenticated modes are
//! refused. Details and sources: `docs/S3EC.md`.
//!
//! For other commands:
//! - [`detect`] tells from an object's user metadata whether it claims to be an S3EC object;
//! - [`describe`] loads and validates the metadata (no KMS) for `inspect`;
//! - [`Sniffer`] + [`open_if_s3ec`] hand an s3seal download over to this reader when the first
//!   response shows an S3EC object (`get`, and `verify` with [`Sink::Discard`]).
//!
//! [`Sink::Discard`]: crate::transfer::download::Sink::Discard

pub mod envelope;
pub mod gcm;
pub mod keys;
pub mod metadata;
mod read;

pub use envelope::{Content, Envelope, MetadataError, MetadataLocation, S3ecFormat};
pub use metadata::{detect, needs_instruction_file};
pub use read::{
    Description, S3ecOutcome, S3ecRequest, Sniffer, describe, describe_envelope, load_envelope,
    open_envelope, open_if_s3ec, open_to_temp,
};

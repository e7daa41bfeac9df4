//! The operations s3seal offers, one file each, as library functions: the CLI parses
//! arguments, calls one operation, prints its outcome and maps the result to an exit code.
//! - [`open`]: which reader serves an object (s3seal or S3 Encryption Client), decided from
//!   its first response and returned as a type, then read to a file, stdout or nowhere;
//! - [`inspect`]: what a header claims, without KMS;
//! - [`verify`]: authenticate every byte, write nothing;
//! - [`rewrap`]: move the data key under another KMS key without touching the chunks;
//! - [`migrate`]: re-encrypt an S3 Encryption Client object into the s3seal format in place;
//! - [`seal`]: encrypt an existing plaintext object in place.
//!
//! A new operation goes here, in its own file; the S3 calls it needs go through
//! [`crate::store`], its KMS calls through [`crate::kms::Keyring`].

pub mod inspect;
pub mod migrate;
pub mod open;
pub mod rewrap;
pub mod seal;
pub mod verify;

#[cfg(test)]
mod tests;

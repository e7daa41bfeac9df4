//! `verify`: authenticate a whole object (header through KMS, then every chunk, in parallel
//! over ranged reads; for an S3 Encryption Client object its one GCM tag) and write no
//! plaintext anywhere: [`super::open`] with a discarding sink. Intact means every check of
//! `docs/FORMAT.md` passed; otherwise the error names the first bad chunk (the pipeline
//! reports failures in chunk order).

use std::sync::Arc;

use super::open::{OpenRequest, Opened, open};
use crate::error::Result;
use crate::kms::Keyring;
use crate::pins::KeyPins;
use crate::store::ObjectStore;
use crate::transfer::download::{DownloadRequest, RangeReader, STREAMED_READ_BYTES, Sink};
use crate::transfer::{Cancel, Progress};

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// User encryption-context pairs that must be present with these values.
    pub expected_context: Vec<(String, String)>,
    /// Accept an object whose header binds it to another bucket/key (always so for local files).
    pub allow_relocated: bool,
    pub concurrency: usize,
    /// Bytes per ranged read.
    pub unit_bytes: u64,
    /// The KMS keys trusted to have wrapped the data key.
    pub pins: KeyPins,
    /// Verify S3 Encryption Client objects too (their location is not authenticated).
    pub allow_s3ec: bool,
}

/// Checks every byte of the object behind `reader`; `Ok` only if it is intact.
pub async fn verify(
    reader: &impl RangeReader, s3ec_store: Option<&dyn ObjectStore>, keyring: &impl Keyring,
    request: &VerifyRequest, progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<Opened> {
    let request = OpenRequest {
        download: DownloadRequest {
            expected_context: request.expected_context.clone(),
            allow_relocated: request.allow_relocated,
            range: None,
            concurrency: request.concurrency,
            unit_bytes: request.unit_bytes,
            read_bytes: STREAMED_READ_BYTES,
            pins: request.pins.clone(),
            shared: None,
        },
        allow_s3ec: request.allow_s3ec,
    };
    let opened = open(
        reader,
        s3ec_store,
        keyring,
        &request,
        &Sink::Discard,
        progress,
        cancel,
    )
    .await?;
    if let Opened::S3seal(outcome) = &opened {
        debug_assert_eq!(outcome.bytes_written, outcome.plaintext_len);
    }
    Ok(opened)
}

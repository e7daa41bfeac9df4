//! `verify`: authenticate a whole object (header through KMS, then every chunk, in parallel
//! over ranged reads) and write no plaintext anywhere: the download pipeline with a discarding
//! sink. Intact means every check of `docs/FORMAT.md` passed; otherwise the error names the
//! first bad chunk (the pipeline reports failures in chunk order).

use std::sync::Arc;

use crate::error::Result;
use crate::kms::Keyring;
use crate::transfer::download::{DownloadRequest, RangeReader, Sink, download};
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
}

/// An intact object.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    pub plaintext_len: u64,
    pub chunks_verified: u64,
    pub kms_key_arn: String,
}

/// Checks every byte of the object behind `reader`; `Ok` only if it is intact.
pub async fn verify(
    reader: &impl RangeReader,
    keyring: &impl Keyring,
    request: &VerifyRequest,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<VerifyOutcome> {
    let download_request = DownloadRequest {
        expected_context: request.expected_context.clone(),
        allow_relocated: request.allow_relocated,
        range: None,
        concurrency: request.concurrency,
        unit_bytes: request.unit_bytes,
    };
    let outcome = download(
        reader,
        keyring,
        &download_request,
        &Sink::Discard,
        progress,
        cancel,
    )
    .await?;
    debug_assert_eq!(outcome.bytes_written, outcome.plaintext_len);
    Ok(VerifyOutcome {
        plaintext_len: outcome.plaintext_len,
        chunks_verified: outcome.chunks_verified,
        kms_key_arn: outcome.kms_key_arn,
    })
}

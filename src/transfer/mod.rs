//! The parallel, streaming pipelines between local bytes and S3: [`upload`] reads, seals and
//! uploads parts concurrently; [`download`] fetches ranges concurrently, opens and verifies
//! them, and writes plaintext in order. Memory is bounded by the number of parts in flight.
//!
//! Progress reporting and cancellation are traits and channels here; the CLI supplies the
//! progress bar and the Ctrl-C handler.

pub mod download;
pub mod plan;
pub mod upload;

use tokio::sync::watch;

use crate::aws::{service_error_parts, transport_error};
use crate::error::Error;
use crate::location::ObjectLocation;

/// Number of parts or ranges in flight on an 4-core machine (kept for callers that want a
/// constant; the CLI uses [`default_concurrency`]).
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Fewest parts or ranges in flight by default: enough to hide a request's latency.
pub const MIN_DEFAULT_CONCURRENCY: usize = 4;
/// Most parts or ranges in flight by default, so peak memory at the default 8 MiB parts stays
/// under 128 MiB: about 24 MiB + (10 + 1) x 8 MiB (docs/PERFORMANCE.md).
pub const MAX_DEFAULT_CONCURRENCY: usize = 10;

/// Parts or ranges in flight by default: two per core (one being sealed or opened while one
/// waits on the network), within [`MIN_DEFAULT_CONCURRENCY`]..=[`MAX_DEFAULT_CONCURRENCY`].
pub fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).clamp(MIN_DEFAULT_CONCURRENCY, MAX_DEFAULT_CONCURRENCY)
}

/// Most ranges in flight by default for downloads: each costs about three times its size
/// (docs/PERFORMANCE.md), so 30 MiB + 3 x 8 x 4 MiB stays under 128 MiB.
pub const MAX_DEFAULT_DOWNLOAD_CONCURRENCY: usize = 8;

/// Ranged GETs in flight by default: [`default_concurrency`], capped by memory.
pub fn default_download_concurrency() -> usize {
    default_concurrency().min(MAX_DEFAULT_DOWNLOAD_CONCURRENCY)
}

/// Receives transfer progress; the library never draws anything itself.
pub trait Progress: Send + Sync {
    /// Total plaintext bytes, when known.
    fn start(&self, total: Option<u64>);
    /// Plaintext bytes done since the last call.
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Cooperative cancellation: the CLI flips it on Ctrl-C and the pipelines clean up (abort the
/// multipart upload, remove the temporary file) before returning [`Error::Interrupted`].
#[derive(Clone, Debug)]
pub struct Cancel(watch::Receiver<bool>);

impl Cancel {
    /// A pair: the trigger and the token.
    pub fn new() -> (watch::Sender<bool>, Cancel) {
        let (tx, rx) = watch::channel(false);
        (tx, Cancel(rx))
    }

    /// A token that never fires.
    pub fn never() -> Cancel {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `changed()` never errors out.
        std::mem::forget(tx);
        Cancel(rx)
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once cancellation is requested.
    pub async fn cancelled(&mut self) {
        if self.0.wait_for(|c| *c).await.is_err() {
            // Sender gone without cancelling: never resolve.
            std::future::pending::<()>().await;
        }
    }
}

/// Maps an S3 failure to an error with the cause and a hint.
pub(crate) fn s3_error<E, R>(
    operation: &str,
    location: &ObjectLocation,
    err: aws_sdk_s3::error::SdkError<E, R>,
) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(e) = transport_error(&format!("S3 {operation} {location}"), &err) {
        return e;
    }
    let (code, detail) = service_error_parts(&err);
    let permission = match operation {
        "GetObject" | "HeadObject" => "s3:GetObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        _ => "s3:PutObject",
    };
    match code.as_str() {
        "NoSuchBucket" => Error::runtime_hint(
            format!("bucket {} does not exist ({detail})", location.bucket),
            "check the bucket name and --region / --endpoint-url",
        ),
        "NoSuchKey" | "NotFound" => Error::runtime_hint(
            format!("object {location} does not exist"),
            "check the key; `aws s3 ls` lists what is there",
        ),
        "AccessDenied" | "Forbidden" => Error::runtime_hint(
            format!("access denied by S3 for {operation} on {location} ({detail})"),
            format!(
                "the caller needs {permission} on this bucket (and kms permissions for SSE-KMS)"
            ),
        ),
        "PreconditionFailed" => Error::runtime_hint(
            format!("{location} changed while it was being read ({detail})"),
            "the object was overwritten during the download; run the command again",
        ),
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" => Error::runtime_hint(
            format!("S3 rejected the credentials ({detail})"),
            "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --profile, or refresh the session",
        ),
        "InternalError" | "SlowDown" | "ServiceUnavailable" | "RequestTimeout" => {
            Error::runtime_hint(
                format!("S3 {operation} {location} kept failing after retries ({detail})"),
                "S3 is overloaded or unavailable; try again later (AWS_MAX_ATTEMPTS raises the retries)",
            )
        }
        _ => Error::runtime(format!("S3 {operation} {location} failed: {detail}")),
    }
}

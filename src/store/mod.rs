//! The object store seam: the one place that sends S3 object requests (ranged GET, HEAD,
//! PutObject (from memory or streamed, [`ChannelBody`]), the multipart calls, server-side copy,
//! listing, deletion, tagging).
//!
//! Everything that reads or writes objects goes through [`ObjectStore`], so the rules of the
//! wire are applied once, in [`SdkStore`]: ExpectedBucketOwner on every request when given,
//! CRC32C on every body (a header for bodies in memory, an aws-chunked trailer for streamed
//! ones), `UNSIGNED-PAYLOAD` over HTTPS, and SDK errors mapped to errors with
//! a cause, a hint and whether a retry can help ([`StoreError`]). The pipelines above it add
//! the explicit abort-on-failure ([`abort_quietly`]) and the retry of broken ranged reads
//! ([`get_range_retrying`]), so both can be tested with [`failure::FailureStore`] over
//! [`memory::MemoryStore`] without any server.
//!
//! Posture's bucket-configuration reads stay in `posture::gather`: they are not object calls.

mod body;
mod errors;
pub mod failure;
pub mod memory;
mod range_body;
mod sdk;

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Error;
use crate::location::ObjectLocation;

pub use body::{BodyItem, ChannelBody};
pub use errors::StoreError;
pub use range_body::RangeBody;
pub use sdk::SdkStore;

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// What one ranged GET told about the object besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct RangeMeta {
    /// Size of the whole object (from Content-Range, or Content-Length when the server
    /// ignored the Range header).
    pub total: u64,
    pub etag: Option<String>,
    /// User metadata (`x-amz-meta-*`, without the prefix), as the server returned it.
    pub metadata: HashMap<String, String>,
}

/// What HEAD told about an object.
#[derive(Debug, Clone, Default)]
pub struct ObjectHead {
    pub len: u64,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub metadata: HashMap<String, String>,
    pub content_type: Option<String>,
    pub storage_class: Option<String>,
}

/// How a new object is stored.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// SSE-KMS key for S3's own encryption layer; every s3seal write asks for SSE-KMS.
    pub sse_kms_key_id: Option<String>,
    /// Only replace the object if its ETag is still this one (a lost race is a
    /// `PreconditionFailed` error that changed nothing). For multipart uploads, given to
    /// [`ObjectStore::complete_multipart_upload`].
    pub if_match: Option<String>,
    /// What the user asked to be stored with the object besides its bytes.
    pub settings: ObjectSettings,
}

/// Object settings a user chooses per upload (storage class, tags, user metadata, Object
/// Lock). They travel with PutObject or CreateMultipartUpload; none of them is secret, all of
/// them are visible to anyone who can HEAD the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectSettings {
    /// S3 storage class, e.g. `STANDARD_IA`, `GLACIER_IR` (S3's default when `None`).
    pub storage_class: Option<String>,
    /// Object tags, in order.
    pub tags: Vec<(String, String)>,
    /// Extra user metadata (`x-amz-meta-NAME`, NAME without the prefix).
    pub metadata: Vec<(String, String)>,
    /// Object Lock retention for the new object.
    pub retention: Option<Retention>,
    /// Object Lock legal hold on the new object.
    pub legal_hold: bool,
}

/// Object Lock retention: the object version cannot be deleted or overwritten before
/// `retain_until` (GOVERNANCE: unless the caller has `s3:BypassGovernanceRetention`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    /// RFC 3339 timestamp, e.g. `2027-01-01T00:00:00Z`.
    pub retain_until: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Governance,
    Compliance,
}

impl ObjectSettings {
    /// The tags as S3's `x-amz-tagging` header wants them (URL-encoded query form).
    pub fn tagging(&self) -> Option<String> {
        if self.tags.is_empty() {
            return None;
        }
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        // RFC 3986 unreserved characters stay; everything else (space included) is %XX.
        const QUERY: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let pairs: Vec<String> = self
            .tags
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, QUERY),
                    utf8_percent_encode(v, QUERY)
                )
            })
            .collect();
        Some(pairs.join("&"))
    }
}

/// One uploaded part, as CompleteMultipartUpload needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReceipt {
    pub number: u32,
    pub etag: Option<String>,
    pub crc32c: Option<String>,
}

/// A stored object's identity after a write.
#[derive(Debug, Clone, Default)]
pub struct PutReceipt {
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// An open multipart upload.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    /// When S3 began it, seconds since the epoch (S3's clock).
    pub initiated: Option<f64>,
}

/// A part S3 already holds for an open multipart upload.
#[derive(Debug, Clone)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    pub etag: Option<String>,
    pub crc32c: Option<String>,
}

/// One object of a listing.
#[derive(Debug, Clone)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// One page of a listing and where the next one starts.
#[derive(Debug, Clone, Default)]
pub struct ObjectPage {
    pub objects: Vec<ObjectEntry>,
    pub next: Option<String>,
}

/// A byte range of an existing object, copied server-side into a part.
#[derive(Debug, Clone)]
pub struct CopySource {
    pub location: ObjectLocation,
    /// End exclusive.
    pub range: Range<u64>,
    /// The copy fails unless the source still has this ETag.
    pub if_match: Option<String>,
}

/// The S3 object calls s3seal makes. [`SdkStore`] sends them; tests wrap it or
/// [`memory::MemoryStore`] in [`failure::FailureStore`].
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Reads bytes `range` (end exclusive; clamped by the server at the object's end) into
    /// `buf`, replacing its contents but keeping its allocation. Never keeps more than the
    /// range's length, whatever the server sends (a server that ignores `Range` is read up to
    /// the end of the range, then dropped). Pinned to `if_match` when given.
    async fn get_range(
        &self, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> StoreResult<RangeMeta>;

    /// The same GET as [`ObjectStore::get_range`], answered with its body as it arrives, so
    /// a long range can be taken a window at a time. A break in the body is a transient
    /// error of [`RangeBody::next`]. By default the body is read whole first.
    async fn get_range_body(
        &self, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
    ) -> StoreResult<(RangeMeta, RangeBody)> {
        let mut buf = Vec::new();
        let meta = self.get_range(location, range, if_match, &mut buf).await?;
        Ok((meta, RangeBody::whole(buf)))
    }

    async fn head(&self, location: &ObjectLocation) -> StoreResult<ObjectHead>;

    async fn put_object(
        &self, location: &ObjectLocation, body: Bytes, options: &WriteOptions,
    ) -> StoreResult<PutReceipt>;

    /// PutObject with a body produced while it is sent (exactly `body.len()` bytes). An error
    /// from the body fails the request and stores nothing. Never retried by the store: the
    /// body cannot be replayed (see [`ChannelBody`]).
    async fn put_object_stream(
        &self, location: &ObjectLocation, body: ChannelBody, options: &WriteOptions,
    ) -> StoreResult<PutReceipt>;

    /// Starts a multipart upload; returns its upload id.
    async fn create_multipart_upload(
        &self, location: &ObjectLocation, options: &WriteOptions,
    ) -> StoreResult<String>;

    async fn upload_part(
        &self, location: &ObjectLocation, upload_id: &str, number: u32, body: Bytes,
    ) -> StoreResult<PartReceipt>;

    async fn upload_part_copy(
        &self, location: &ObjectLocation, upload_id: &str, number: u32, source: &CopySource,
    ) -> StoreResult<PartReceipt>;

    /// Completes an upload from `parts` (in part-number order); with `if_match`, only if the
    /// object there still has that ETag.
    async fn complete_multipart_upload(
        &self, location: &ObjectLocation, upload_id: &str, parts: &[PartReceipt],
        if_match: Option<&str>,
    ) -> StoreResult<PutReceipt>;

    async fn abort_multipart_upload(
        &self, location: &ObjectLocation, upload_id: &str,
    ) -> StoreResult<()>;

    /// Open multipart uploads of keys starting with `prefix`.
    async fn list_multipart_uploads(
        &self, bucket: &str, prefix: &str,
    ) -> StoreResult<Vec<UploadInfo>>;

    /// Parts of an open upload (at most `max_parts` when given).
    async fn list_parts(
        &self, location: &ObjectLocation, upload_id: &str, max_parts: Option<u32>,
    ) -> StoreResult<Vec<PartInfo>>;

    /// One page of the objects under `prefix`, in key order.
    async fn list_objects(
        &self, bucket: &str, prefix: &str, continuation: Option<String>,
    ) -> StoreResult<ObjectPage>;

    async fn delete_object(&self, location: &ObjectLocation) -> StoreResult<()>;

    /// Deletes exactly one version of an object (`seal --delete-plaintext-version`); under
    /// Object Lock S3 refuses (AccessDenied) and the version stays.
    async fn delete_object_version(
        &self, location: &ObjectLocation, version_id: &str,
    ) -> StoreResult<()>;

    async fn get_object_tagging(
        &self, location: &ObjectLocation,
    ) -> StoreResult<Vec<(String, String)>>;
}

/// Attempts per ranged GET: a body that breaks mid-way, or a request that never reached S3,
/// is tried again (the SDK retries what S3 answered with a retryable status by itself).
pub const RANGE_ATTEMPTS: u32 = 4;

/// Waits before attempt `attempt + 1`: 200 ms, 400 ms, 800 ms.
pub(crate) async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
}

/// [`ObjectStore::get_range`], tried again up to [`RANGE_ATTEMPTS`] times while the failure
/// is transient (a broken body, a request that never got an answer).
pub async fn get_range_retrying(
    store: &dyn ObjectStore, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
    buf: &mut Vec<u8>,
) -> StoreResult<RangeMeta> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store
            .get_range(location, range.clone(), if_match, buf)
            .await
        {
            Err(e) if retry(&e, attempt).await => {}
            other => return other,
        }
    }
}

/// [`ObjectStore::get_range_body`], its request tried again as [`get_range_retrying`] does
/// (a body that breaks later is the caller's to open again).
pub async fn get_range_body_retrying(
    store: &dyn ObjectStore, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
) -> StoreResult<RangeBody> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store
            .get_range_body(location, range.clone(), if_match)
            .await
        {
            Ok((_, body)) => return Ok(body),
            Err(e) if retry(&e, attempt).await => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether failed attempt `attempt` of a ranged GET is tried again; waits first if so.
async fn retry(error: &StoreError, attempt: u32) -> bool {
    if !error.transient || attempt >= RANGE_ATTEMPTS {
        return false;
    }
    tracing::debug!(attempt, error = %error.error, "retrying ranged GET");
    backoff(attempt).await;
    true
}

/// Aborts a multipart upload after a failure; a failed abort is logged (with the upload id,
/// so it can be cleaned up by hand or by a lifecycle rule) and the caller returns its
/// original error.
pub async fn abort_quietly(store: &dyn ObjectStore, location: &ObjectLocation, upload_id: &str) {
    match store.abort_multipart_upload(location, upload_id).await {
        Ok(()) => tracing::debug!(%location, "aborted multipart upload"),
        Err(e) => tracing::error!(
            %location, upload_id, error = %e.error,
            "could not abort the multipart upload; remove it with `aws s3api abort-multipart-upload` or a lifecycle rule"
        ),
    }
}

/// Runs `fut` (the parts of an upload and its completion); on failure or cancellation aborts
/// the upload `upload_id` before returning the original error.
pub async fn or_abort<T>(
    store: &dyn ObjectStore, location: &ObjectLocation, upload_id: &str,
    cancel: &mut crate::transfer::Cancel, fut: impl std::future::Future<Output = crate::Result<T>>,
) -> crate::Result<T> {
    let result = tokio::select! {
        r = fut => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    if result.is_err() {
        abort_quietly(store, location, upload_id).await;
    }
    result
}

#[cfg(test)]
mod tests;

//! `seal`: encrypt an existing plaintext object in place, so buckets that hold SSE-S3-only
//! objects can be brought under s3seal without moving them through a laptop's disk.
//!
//! Steps, each a promise the tests hold:
//! 1. HEAD the object: its length, ETag, version, user metadata, content type, storage class
//!    (and its tags with GetObjectTagging). With a version id asked for, it must be the current
//!    version (sealing writes a new current version; an older one cannot be sealed in place).
//! 2. Classify its first bytes (pinned to the ETag): an s3seal object is skipped
//!    ([`SealAction::AlreadySealed`]: `seal` is idempotent); an S3 Encryption Client object is
//!    refused with a pointer to `migrate`; anything else is plaintext.
//! 3. Stream it with ranged GETs pinned to that ETag ([`stream`]) into the upload pipeline: a
//!    fresh data key bound to the object's bucket and key, SSE-KMS on top, and a conditional
//!    write on the ETag read (`If-Match`): a writer that replaced the object meanwhile wins,
//!    the upload fails cleanly (multipart aborted) and the newer object is untouched.
//! 4. Verify the stored object (every chunk, the data key pinned to the key just used).
//! 5. On a versioned bucket, report the plaintext version that still exists; with
//!    `delete_plaintext_version`, delete exactly that version (after 4). S3 refuses under
//!    Object Lock; that is reported ([`SealOutcome::delete_failure`]), the sealed object stays.
//!
//! What survives (docs/SECURITY.md, "Sealing objects already in S3"): user metadata, tags, storage class; the original content type
//! is kept in the metadata entry [`CONTENT_TYPE_METADATA`] (the sealed object itself is
//! `application/octet-stream`, as every s3seal object).

pub(crate) mod stream;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{ChunkSize, MAGIC, ParsedHeader};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::pins::KeyPins;
use crate::store::{ObjectHead, ObjectSettings, ObjectStore};
use crate::transfer::download::{FirstRange, RangeReader, SHARED_RANGE_BYTES, StoreObject};
use crate::transfer::upload::{UploadRequest, upload};
use crate::transfer::{Cancel, NoProgress, Progress, Source};

use super::inspect::INSPECT_BYTES;
use super::open::{ObjectKind, classify};
use super::verify::{VerifyRequest, verify};

/// User-metadata entry (`x-amz-meta-s3seal-content-type`) that keeps the plaintext's
/// original Content-Type on the sealed object.
pub const CONTENT_TYPE_METADATA: &str = "s3seal-content-type";

/// What to seal, and how.
#[derive(Debug, Clone)]
pub struct SealRequest {
    pub location: ObjectLocation,
    /// Seal only if this is the object's current version (a manifest may name versions).
    pub version_id: Option<String>,
    /// KMS key for the envelope (id, ARN or alias).
    pub kms_key_id: String,
    /// KMS key for S3's own SSE-KMS layer (default: the envelope key's ARN).
    pub sse_kms_key_id: Option<String>,
    /// User encryption-context pairs bound to the sealed object.
    pub context: Vec<(String, String)>,
    pub chunk_size: ChunkSize,
    /// Plaintext per multipart part of the new object.
    pub part_size: u64,
    /// Parts (and ranged reads) in flight.
    pub concurrency: usize,
    /// After the sealed object verified, delete the plaintext version that was read (only on
    /// a versioned bucket, where it survives the overwrite).
    pub delete_plaintext_version: bool,
}

/// What `seal` did with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealAction {
    /// Plaintext was encrypted in place and verified.
    Sealed,
    /// The object already was an s3seal object; nothing was written.
    AlreadySealed,
}

impl SealAction {
    /// The word used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SealAction::Sealed => "sealed",
            SealAction::AlreadySealed => "already-sealed",
        }
    }
}

/// What was done.
#[derive(Debug, Clone)]
pub struct SealOutcome {
    pub action: SealAction,
    /// The KMS key that wraps the object's data key (for an already-sealed object: as its
    /// header names it, not checked with KMS).
    pub kms_key_arn: String,
    /// ETag of the sealed object (of the object found, when already sealed).
    pub etag: Option<String>,
    /// The plaintext version that still exists in a versioned bucket (deleted when
    /// [`Self::deleted_previous`]).
    pub previous_version: Option<String>,
    pub deleted_previous: bool,
    /// Why deleting the plaintext version failed (Object Lock, permissions): the object was
    /// sealed, but the plaintext version is still there.
    pub delete_failure: Option<String>,
    pub plaintext_len: u64,
    /// Stored bytes of the sealed object (0 when nothing was written).
    pub ciphertext_len: u64,
}

/// Encrypts the plaintext object at `request.location` in place (see the module comment).
pub async fn seal(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, request: &SealRequest, cancel: Cancel,
) -> Result<SealOutcome> {
    seal_with_progress(store, keyring, request, Arc::new(NoProgress), cancel).await
}

/// The plaintext length of the object, for a progress display the upload pipeline starts
/// without one (it reads the object as a stream).
struct KnownLength(Arc<dyn Progress>, u64);

impl Progress for KnownLength {
    fn start(&self, _: Option<u64>) {
        self.0.start(Some(self.1));
    }
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }
    fn finish(&self) {
        self.0.finish();
    }
}

/// [`seal`], reporting the sealing of the plaintext to `progress`.
pub async fn seal_with_progress(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, request: &SealRequest,
    progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<SealOutcome> {
    let location = &request.location;
    if request.concurrency == 0 {
        return Err(Error::usage("concurrency must be at least 1"));
    }
    let head = store.head(location).await?;
    // An unversioned object's version is `null` in manifests; HEAD reports none.
    if let Some(wanted) = &request.version_id
        && head.version_id.as_deref().unwrap_or("null") != wanted
    {
        return Err(Error::usage_hint(
            format!(
                "version {wanted} of {location} is not its current version (current: {})",
                head.version_id.as_deref().unwrap_or("none")
            ),
            "seal writes a new current version; only the current version can be sealed in place",
        ));
    }
    let etag = head.etag.clone().ok_or_else(|| {
        Error::runtime(format!(
            "S3 returned no ETag for {location}: its reads cannot be pinned"
        ))
    })?;
    let first = match classify_object(&store, location, &head, &etag).await? {
        Found::Sealed(outcome) => return Ok(*outcome),
        Found::Plaintext(first) => first,
    };

    let tags = store.get_object_tagging(location).await?;
    let settings = carried_settings(&head, tags);
    // A small object was read whole by the classification (pinned to the same ETag); a larger
    // one is streamed.
    let (plaintext, guard): (Box<dyn std::io::Read + Send>, _) = if first.len() as u64 == head.len {
        (Box::new(std::io::Cursor::new(first)), None)
    } else {
        let (reader, guard) = stream::open(
            Arc::clone(&store),
            location.clone(),
            Some(etag.clone()),
            head.len,
            SHARED_RANGE_BYTES,
            request.concurrency,
        );
        (Box::new(reader), Some(guard))
    };
    let upload_request = UploadRequest {
        dest: location.clone(),
        kms_key_id: request.kms_key_id.clone(),
        sse_kms_key_id: request.sse_kms_key_id.clone(),
        context: request.context.clone(),
        chunk_size: request.chunk_size,
        part_size: request.part_size,
        concurrency: request.concurrency,
        if_match: Some(etag.clone()),
        stream_put_max: 0,
        settings,
    };
    let source = Source::StreamWithHint {
        reader: plaintext,
        expected_size: head.len,
    };
    let uploaded = match upload(
        Arc::clone(&store),
        keyring,
        source,
        &upload_request,
        Arc::new(KnownLength(progress, head.len)),
        cancel.clone(),
    )
    .await
    {
        Ok(uploaded) => uploaded,
        // The read's own error says more than the pipeline's "reading the source failed".
        Err(e) => return Err(guard.and_then(|g| g.take_failure()).unwrap_or(e)),
    };
    drop(guard);
    if uploaded.plaintext_len != head.len {
        return Err(Error::runtime(format!(
            "internal: sealed {} bytes of {location}, which has {}",
            uploaded.plaintext_len, head.len
        )));
    }

    // 4. The stored object must authenticate under the key just used.
    let reader = StoreObject::new(Arc::clone(&store), location.clone());
    verify(
        &reader,
        None,
        keyring,
        &VerifyRequest {
            expected_context: request.context.clone(),
            allow_relocated: false,
            concurrency: request.concurrency,
            unit_bytes: SHARED_RANGE_BYTES,
            pins: KeyPins::from_arns(vec![uploaded.kms_key_arn.clone()]),
            allow_s3ec: false,
        },
        Arc::new(NoProgress),
        cancel,
    )
    .await?;

    // 5. The plaintext version a versioned bucket keeps (an object without a version id is
    // in a bucket that never had versioning: nothing survives, no HEAD needed).
    let after = match head.version_id {
        Some(_) => store.head(location).await?,
        None => ObjectHead::default(),
    };
    let previous_version = surviving_version(&head, &after);
    let mut deleted_previous = false;
    let mut delete_failure = None;
    if request.delete_plaintext_version
        && let Some(version) = &previous_version
    {
        match store.delete_object_version(location, version).await {
            Ok(()) => deleted_previous = true,
            Err(e) => delete_failure = Some(e.error.to_string()),
        }
    }
    Ok(SealOutcome {
        action: SealAction::Sealed,
        kms_key_arn: uploaded.kms_key_arn,
        etag: uploaded.etag.or(after.etag),
        previous_version,
        deleted_previous,
        delete_failure,
        plaintext_len: uploaded.plaintext_len,
        ciphertext_len: uploaded.ciphertext_len,
    })
}

/// What step 2 found.
enum Found {
    /// An s3seal object already: nothing to do.
    Sealed(Box<SealOutcome>),
    /// Plaintext, and its first bytes (the whole object when it is small).
    Plaintext(Vec<u8>),
}

/// Step 2: an s3seal object, plaintext, or an error for an S3 Encryption Client object or a
/// damaged s3seal header.
async fn classify_object(
    store: &Arc<dyn ObjectStore>, location: &ObjectLocation, head: &ObjectHead, etag: &str,
) -> Result<Found> {
    if head.len == 0 {
        return Ok(Found::Plaintext(Vec::new())); // no s3seal object is empty
    }
    let reader = StoreObject::new(Arc::clone(store), location.clone());
    let mut bytes = Vec::new();
    let meta = reader
        .read_range(0..INSPECT_BYTES.min(head.len), Some(etag), &mut bytes)
        .await?;
    let first = FirstRange { bytes, meta };
    if first.bytes.starts_with(&MAGIC) {
        let parsed = ParsedHeader::parse(&first.bytes).map_err(|e| {
            Error::integrity(
                format!(
                    "{location} starts like an s3seal object but its header does not parse ({e}); not sealing it"
                ),
                Some("look at it with `s3seal inspect`: it may be a damaged s3seal object".into()),
            )
        })?;
        return Ok(Found::Sealed(Box::new(SealOutcome {
            action: SealAction::AlreadySealed,
            kms_key_arn: parsed.fields.key_id.clone(),
            etag: Some(etag.to_string()),
            previous_version: None,
            deleted_previous: false,
            delete_failure: None,
            plaintext_len: parsed.fields.plaintext_len,
            ciphertext_len: 0,
        })));
    }
    if let ObjectKind::S3ec(envelope) = classify(&reader, &first, Some(&**store)).await? {
        return Err(Error::usage_hint(
            format!(
                "{location} is an S3 Encryption Client ({}) object, not plaintext",
                envelope.format
            ),
            "re-encrypt it with `s3seal migrate` instead",
        ));
    }
    Ok(Found::Plaintext(first.bytes))
}

/// Metadata, tags and storage class of the plaintext object, for the sealed one; the
/// content type goes into [`CONTENT_TYPE_METADATA`].
fn carried_settings(head: &ObjectHead, tags: Vec<(String, String)>) -> ObjectSettings {
    let mut metadata: Vec<(String, String)> = head
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != CONTENT_TYPE_METADATA)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    metadata.sort();
    if let Some(content_type) = &head.content_type {
        metadata.push((CONTENT_TYPE_METADATA.to_string(), content_type.clone()));
    }
    ObjectSettings {
        storage_class: head.storage_class.clone(),
        tags,
        metadata,
        retention: None,
        legal_hold: false,
    }
}

/// The version read (`before`) that still exists after the sealed object (`after`) was
/// written: any real version id survives an overwrite; the `null` version survives only
/// when versioning is enabled (the new version then has a real id).
fn surviving_version(before: &ObjectHead, after: &ObjectHead) -> Option<String> {
    let old = before.version_id.as_deref()?;
    let new = after.version_id.as_deref();
    let enabled = new.is_some_and(|v| v != "null");
    (old != "null" || enabled).then(|| old.to_string())
}

//! `rewrap`: move an object's data key under another KMS key (key rotation, revoking an old
//! key) with KMS `ReEncrypt`, and rewrite only the header. The data key, hence the commitment,
//! the header-MAC key and every content key, is unchanged, so the chunks stay valid as they are
//! (`docs/FORMAT.md`, "Rewrap in practice"): the body is never downloaded or decrypted beyond
//! the first part.
//!
//! Steps: read the header (one ranged GET, which also pins the ETag); `ReEncrypt` the wrapped
//! key to the new key and context; `Decrypt` the new wrapped key (proves the new key unwraps
//! the same data key) and authenticate the old header with it (commitment, MAC); seal the new
//! header under the same data key and zeroize it. Then, for an object larger than one minimum
//! part, a new multipart upload: part 1 = new header + the first bytes of the old body
//! (fetched), every other part a server-side `UploadPartCopy` of a byte range of the old object
//! (pinned with `x-amz-copy-source-if-match`); the copies need not align with chunks, since the
//! body bytes are the same, only shifted by the change in header length. A smaller object is
//! rewritten with one PUT. Any failure aborts the multipart upload; the old object stays.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::format::{EncryptionContext, FormatError, HeaderFields, ParsedHeader};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::pins::KeyPins;
use crate::store::{CopySource, ObjectStore, WriteOptions, or_abort};
use crate::transfer::download::{
    DEFAULT_RANGE_BYTES, DownloadRequest, FirstRange, RangeReader, StoreObject, check_binding,
    read_exact,
};
use crate::transfer::plan::{MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES};
use crate::transfer::{Cancel, NoProgress, default_download_concurrency};

use super::inspect::INSPECT_BYTES;
use super::verify::{VerifyRequest, verify};

/// Server-side copies in flight by default: they move no bytes through this client, so the
/// number is bounded by S3's request rate, not by memory.
pub const DEFAULT_COPY_CONCURRENCY: usize = 8;
/// Default bytes per server-side copy part.
pub const DEFAULT_COPY_PART_BYTES: u64 = 256 * 1024 * 1024;

/// What to rewrap, and how.
#[derive(Debug, Clone)]
pub struct RewrapRequest {
    pub location: ObjectLocation,
    /// The KMS key that will wrap the data key (id, ARN or alias).
    pub new_kms_key_id: String,
    /// New user encryption-context pairs; `None` keeps the object's current user pairs.
    pub new_context: Option<Vec<(String, String)>>,
    /// KMS key for S3's own SSE-KMS encryption of the new object (default: the new key's ARN).
    pub sse_kms_key_id: Option<String>,
    /// Bytes per UploadPartCopy (5 MiB to 5 GiB; grown to stay within 10,000 parts).
    pub copy_part_bytes: u64,
    pub concurrency: usize,
    /// The KMS keys trusted to have wrapped the object's data key. Required: without pins,
    /// rewrap refuses and names the key it found (it would otherwise launder a planted
    /// object under the operator's own key).
    pub pins: KeyPins,
}

/// What was done.
#[derive(Debug, Clone)]
pub struct RewrapOutcome {
    pub old_kms_key_id: String,
    pub new_kms_key_id: String,
    pub old_header_len: u64,
    pub new_header_len: u64,
    pub ciphertext_len: u64,
    /// 0 when the object was rewritten with one PUT.
    pub parts: u32,
    /// Object bytes sent through this client (new header and the fetched start of the body).
    pub bytes_uploaded: u64,
    /// Object bytes copied inside S3.
    pub bytes_copied: u64,
}

/// Byte ranges of the old object (end exclusive) copied as parts 2, 3, ...: from `start` to
/// `end` in pieces of about `piece` bytes, at most 9,999 of them.
fn copy_ranges(start: u64, end: u64, piece: u64) -> Vec<std::ops::Range<u64>> {
    let len = end.saturating_sub(start);
    if len == 0 {
        return Vec::new();
    }
    let piece = piece
        .max(len.div_ceil(u64::from(MAX_PARTS - 1)))
        .clamp(MIN_PART_BYTES, MAX_PART_BYTES);
    (0..len.div_ceil(piece))
        .map(|i| start + i * piece..(start + (i + 1) * piece).min(end))
        .collect()
}

/// Re-wraps the object's data key under `request.new_kms_key_id` and rewrites its header.
pub async fn rewrap(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, request: &RewrapRequest, cancel: Cancel,
) -> Result<RewrapOutcome> {
    let location = &request.location;
    if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&request.copy_part_bytes) {
        return Err(Error::usage(format!(
            "copy part size {} is outside S3's limits (5 MiB to 5 GiB)",
            request.copy_part_bytes
        )));
    }
    let reader = StoreObject::new(Arc::clone(&store), location.clone());
    let first = FirstRange::read(&reader, INSPECT_BYTES).await?;
    let parsed = ParsedHeader::parse(&first.bytes).map_err(|e| match e {
        FormatError::Incomplete { .. } => FormatError::NotS3seal,
        other => other,
    })?;
    check_binding(
        &parsed,
        location,
        &DownloadRequest {
            expected_context: Vec::new(),
            allow_relocated: false,
            range: None,
            concurrency: 1,
            unit_bytes: 1,
            read_bytes: 0,
            pins: request.pins.clone().required(),
            shared: None,
        },
    )?;
    let old_layout = parsed.layout();
    old_layout.check_object_len(first.total())?;
    let etag = first.meta.etag.clone();
    let old = parsed.fields.clone();

    let user_pairs: Vec<(String, String)> = match &request.new_context {
        Some(pairs) => pairs.clone(),
        None => old
            .context
            .user_pairs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let new_context = EncryptionContext::for_object(&location.bucket, &location.key, &user_pairs)
        .map_err(|e| Error::usage(e.to_string()))?;
    let rewrapped = keyring
        .reencrypt(
            &old.wrapped_key,
            &old.key_id,
            &old.context,
            &request.new_kms_key_id,
            &new_context,
        )
        .await?;
    request
        .pins
        .check_reported(rewrapped.source_key_arn.as_deref())?;
    let new_key_arn = rewrapped.key_arn;

    // The data key, unwrapped by the new key: it must authenticate the old header, which
    // proves both that the header is intact and that the new wrapped key holds the same key.
    let new_fields = HeaderFields {
        key_id: new_key_arn.clone(),
        wrapped_key: rewrapped.wrapped,
        context: new_context,
        ..old.clone()
    };
    let new_header = {
        let data_key = keyring
            .decrypt(&new_key_arn, &new_fields.wrapped_key, &new_fields.context)
            .await?
            .key;
        let verified = parsed.verify(&data_key)?;
        let header = new_fields.seal(verified.keys())?;
        // Self-check before anything is written.
        ParsedHeader::parse(&header)?.verify(&data_key)?;
        header
        // data_key and the derived keys are zeroized here.
    };
    let old_h = old_layout.header_len();
    let new_h = new_header.len() as u64;
    let total_old = old_layout.ciphertext_len()?;
    let body_len = total_old - old_h;
    let new_total = new_h + body_len;
    let options = WriteOptions {
        settings: Default::default(),
        sse_kms_key_id: Some(
            request
                .sse_kms_key_id
                .clone()
                .unwrap_or_else(|| new_key_arn.clone()),
        ),
        // Only over the object read at the start: a concurrent writer's newer object wins.
        if_match: etag.clone(),
    };

    // Part 1 (or the whole object): new header + the first bytes of the old body.
    let first_body = if body_len + new_h <= MIN_PART_BYTES {
        body_len
    } else {
        MIN_PART_BYTES - new_h
    }
    .min(body_len);
    let body = old_h..old_h + first_body;
    let mut part1 = Vec::with_capacity((new_h + first_body) as usize);
    part1.extend_from_slice(&new_header);
    if body.end <= first.bytes.len() as u64 {
        part1.extend_from_slice(&first.bytes[body.start as usize..body.end as usize]);
    } else if !body.is_empty() {
        let Some(bytes) = read_exact(&reader, body, etag.as_deref(), total_old).await? else {
            return Err(Error::runtime_hint(
                format!("{location} changed while it was being rewrapped"),
                "run the command again",
            ));
        };
        part1.extend_from_slice(&bytes);
    }
    let part1 = Bytes::from(part1);
    let ranges = copy_ranges(old_h + first_body, total_old, request.copy_part_bytes);

    let outcome = |parts: u32, copied: u64| RewrapOutcome {
        old_kms_key_id: old.key_id.clone(),
        new_kms_key_id: new_key_arn.clone(),
        old_header_len: old_h,
        new_header_len: new_h,
        ciphertext_len: new_total,
        parts,
        bytes_uploaded: part1.len() as u64,
        bytes_copied: copied,
    };

    if ranges.is_empty() {
        store.put_object(location, part1.clone(), &options).await?;
        check_written(&reader, &new_header, new_total).await?;
        return Ok(outcome(0, 0));
    }

    let upload_id = store.create_multipart_upload(location, &options).await?;
    let copied: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let part_count = ranges.len() as u32 + 1;
    let mut cancel = cancel;
    or_abort(&*store, location, &upload_id, &mut cancel, async {
        let upload_first = store.upload_part(location, &upload_id, 1, part1.clone());
        let copies = futures::stream::iter(ranges.into_iter().enumerate())
            .map(|(i, range)| {
                let source = CopySource {
                    location: location.clone(),
                    range,
                    if_match: etag.clone(),
                };
                let store = &store;
                let upload_id = &upload_id;
                async move {
                    store
                        .upload_part_copy(location, upload_id, i as u32 + 2, &source)
                        .await
                }
            })
            .buffer_unordered(request.concurrency.max(1))
            .try_collect::<Vec<_>>();
        let (first_part, mut parts) = futures::try_join!(upload_first, copies)?;
        parts.push(first_part);
        parts.sort_by_key(|p| p.number);
        store
            .complete_multipart_upload(location, &upload_id, &parts, etag.as_deref())
            .await?;
        Ok(())
    })
    .await?;
    check_written(&reader, &new_header, new_total).await?;
    Ok(outcome(part_count, copied))
}

/// What a rewrap did: now, or an earlier run did (the object is already under the new key,
/// with its ARN).
#[derive(Debug)]
pub enum Rewrapped {
    Now(RewrapOutcome),
    Before(String),
}

/// Rewraps, and when the object is refused because its key is not pinned, checks whether an
/// earlier run already rewrapped it ([`already_rewrapped`]): a command, or a Batch task, run
/// again succeeds instead of reporting an integrity failure.
pub async fn rewrap_or_done(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, request: &RewrapRequest, cancel: Cancel,
) -> Result<Rewrapped> {
    match rewrap(Arc::clone(&store), keyring, request, cancel.clone()).await {
        Ok(outcome) => Ok(Rewrapped::Now(outcome)),
        Err(e) if e.class() == crate::ErrorClass::Integrity => {
            match already_rewrapped(store, keyring, request, cancel).await {
                Some(arn) => Ok(Rewrapped::Before(arn)),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The new key's ARN when the object is already what rewrapping it would leave: an s3seal
/// object under `request.new_kms_key_id`, with the requested user context (when one was
/// given), that verifies whole, pinned to that key. So a rewrap run again (a retried batch
/// worker, a re-run command) reports the object as done instead of refusing it as planted.
/// The header's claim alone is not trusted (anyone who can write to the bucket can name a
/// key). `None` otherwise, whatever the reason.
async fn already_rewrapped(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, request: &RewrapRequest, cancel: Cancel,
) -> Option<String> {
    let reader = StoreObject::new(store, request.location.clone());
    let first = FirstRange::read(&reader, INSPECT_BYTES).await.ok()?;
    let parsed = ParsedHeader::parse(&first.bytes).ok()?;
    let target = if crate::pins::is_key_arn(&request.new_kms_key_id) {
        request.new_kms_key_id.clone()
    } else {
        keyring.describe_key(&request.new_kms_key_id).await.ok()?
    };
    if parsed.fields.key_id != target {
        return None;
    }
    let expected_context = match &request.new_context {
        Some(wanted) => {
            let mut wanted = wanted.clone();
            wanted.sort();
            let mut found: Vec<(String, String)> = parsed
                .fields
                .context
                .user_pairs()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            found.sort();
            if found != wanted {
                return None;
            }
            wanted
        }
        None => Vec::new(),
    };
    let verify_request = VerifyRequest {
        expected_context,
        allow_relocated: false,
        concurrency: default_download_concurrency(),
        unit_bytes: DEFAULT_RANGE_BYTES,
        pins: KeyPins::from_arns(vec![target.clone()]),
        allow_s3ec: false,
    };
    verify(
        &reader,
        None,
        keyring,
        &verify_request,
        Arc::new(NoProgress),
        cancel,
    )
    .await
    .ok()?;
    Some(target)
}

/// Reads the new object's header back: it must be exactly the header sealed, at the length
/// the header implies.
async fn check_written(reader: &StoreObject, header: &[u8], total: u64) -> Result<()> {
    let mut back = Vec::new();
    let meta = reader
        .read_range(0..header.len() as u64, None, &mut back)
        .await?;
    if back != header || meta.total != total {
        return Err(Error::runtime_hint(
            format!(
                "{} does not hold the rewrapped object after the upload (another writer?)",
                reader.location
            ),
            "inspect it with `s3seal inspect` and `s3seal verify`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn copy_ranges_cover_the_rest_within_limits() {
        assert!(copy_ranges(10, 10, 5 * MIB).is_empty());
        let r = copy_ranges(100, 100 + 12 * MIB + 7, 5 * MIB);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], 100..100 + 5 * MIB);
        assert_eq!(r[2].end, 100 + 12 * MIB + 7);
        for w in r.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        // 5 TiB never needs more than 9,999 copy parts.
        let big = copy_ranges(0, 5 * 1024 * 1024 * MIB, 5 * MIB);
        assert!(big.len() < MAX_PARTS as usize);
        assert!(big.iter().all(|r| r.end - r.start <= MAX_PART_BYTES));
    }
}

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

use aws_sdk_kms::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::aws::{Aws, service_error_parts, transport_error};
use crate::error::{Error, Result};
use crate::format::{EncryptionContext, FormatError, HeaderFields, ParsedHeader};
use crate::kms::{Keyring, KmsKeyring};
use crate::location::ObjectLocation;
use crate::transfer::download::{DownloadRequest, RangeReader, S3Object, check_binding};
use crate::transfer::plan::{MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES};
use crate::transfer::{Cancel, s3_error};

use super::inspect::INSPECT_BYTES;

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

fn reencrypt_error<E, R>(key_id: &str, err: aws_sdk_kms::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(e) = transport_error("KMS ReEncrypt", &err) {
        return e;
    }
    let (code, detail) = service_error_parts(&err);
    match code.as_str() {
        "NotFoundException" => Error::runtime_hint(
            format!("KMS key {key_id} not found ({detail})"),
            "check --kms-key-id (key id, ARN or alias/NAME) and --region",
        ),
        "AccessDeniedException" => Error::runtime_hint(
            format!("access denied by KMS for ReEncrypt ({detail})"),
            format!(
                "the caller needs kms:ReEncryptFrom on the object's key and kms:ReEncryptTo and kms:Decrypt on {key_id}"
            ),
        ),
        "InvalidCiphertextException" | "IncorrectKeyException" => Error::integrity(
            format!("KMS could not unwrap the object's data key ({detail})"),
            Some(
                "the header's key id, wrapped key or encryption context was altered, or the object was moved".into(),
            ),
        ),
        "DisabledException" | "KMSInvalidStateException" => Error::runtime_hint(
            format!("a KMS key cannot be used now ({detail})"),
            "the old or new key is disabled or pending deletion",
        ),
        _ => Error::runtime(format!("KMS ReEncrypt to {key_id} failed: {detail}")),
    }
}

/// `bucket/key` for `x-amz-copy-source`, the key %-encoded (S3 decodes it).
fn copy_source(location: &ObjectLocation) -> String {
    let mut out = String::with_capacity(location.key.len() + location.bucket.len() + 1);
    out.push_str(&location.bucket);
    out.push('/');
    for b in location.key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
pub async fn rewrap(aws: &Aws, request: &RewrapRequest, cancel: Cancel) -> Result<RewrapOutcome> {
    let location = &request.location;
    if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&request.copy_part_bytes) {
        return Err(Error::usage(format!(
            "copy part size {} is outside S3's limits (5 MiB to 5 GiB)",
            request.copy_part_bytes
        )));
    }
    let reader = S3Object {
        aws,
        location: location.clone(),
    };
    let first = reader.read_range(0..INSPECT_BYTES, None).await?;
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
        },
    )?;
    let old_layout = parsed.layout();
    old_layout.check_object_len(first.total)?;
    let etag = first.etag.clone();
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

    let mut out = aws
        .kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(old.wrapped_key.clone()))
        .source_key_id(&old.key_id)
        .set_source_encryption_context(Some(old.context.to_map()))
        .destination_key_id(&request.new_kms_key_id)
        .set_destination_encryption_context(Some(new_context.to_map()))
        .send()
        .await
        .map_err(|e| reencrypt_error(&request.new_kms_key_id, e))?;
    let new_wrapped = out
        .ciphertext_blob
        .take()
        .ok_or_else(|| Error::runtime("KMS ReEncrypt returned no wrapped key"))?
        .into_inner();
    let new_key_arn = out
        .key_id
        .take()
        .unwrap_or_else(|| request.new_kms_key_id.clone());

    // The data key, unwrapped by the new key: it must authenticate the old header, which
    // proves both that the header is intact and that the new wrapped key holds the same key.
    let new_fields = HeaderFields {
        key_id: new_key_arn.clone(),
        wrapped_key: new_wrapped,
        context: new_context,
        ..old.clone()
    };
    let new_header = {
        let data_key = KmsKeyring::new(aws.kms.clone())
            .decrypt(&new_key_arn, &new_fields.wrapped_key, &new_fields.context)
            .await?;
        let verified = parsed.verify(&data_key)?;
        let header = new_fields.seal(verified.keys())?;
        // Self-check before anything is written.
        ParsedHeader::parse(&header)?.verify(&data_key)?;
        header
        // data_key and the derived keys are zeroized here.
    };
    let old_h = old_layout.header_len();
    let new_h = new_header.len() as u64;
    let total_old = old_layout.ciphertext_len();
    let body_len = total_old - old_h;
    let new_total = new_h + body_len;
    let sse_key = request
        .sse_kms_key_id
        .clone()
        .unwrap_or_else(|| new_key_arn.clone());

    // Part 1 (or the whole object): new header + the first bytes of the old body.
    let first_body = if body_len + new_h <= MIN_PART_BYTES {
        body_len
    } else {
        MIN_PART_BYTES - new_h
    }
    .min(body_len);
    let fetch_body = |range: std::ops::Range<u64>| {
        let reader = &reader;
        let etag = etag.clone();
        async move {
            if range.is_empty() {
                return Ok(Bytes::new());
            }
            if range.end <= first.bytes.len() as u64 {
                return Ok(first.bytes.slice(range.start as usize..range.end as usize));
            }
            let data = reader.read_range(range.clone(), etag.as_deref()).await?;
            if data.bytes.len() as u64 != range.end - range.start || data.total != total_old {
                return Err(Error::runtime_hint(
                    format!("{location} changed while it was being rewrapped"),
                    "run the command again",
                ));
            }
            Ok(data.bytes)
        }
    };
    let mut part1 = Vec::with_capacity((new_h + first_body) as usize);
    part1.extend_from_slice(&new_header);
    part1.extend_from_slice(&fetch_body(old_h..old_h + first_body).await?);
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
        aws.s3
            .put_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .content_length(part1.len() as i64)
            .content_type("application/octet-stream")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&sse_key)
            .body(ByteStream::from(part1.clone()))
            .send()
            .await
            .map_err(|e| s3_error("PutObject", location, e))?;
        check_written(&reader, &new_header, new_total).await?;
        return Ok(outcome(0, 0));
    }

    let created = aws
        .s3
        .create_multipart_upload()
        .bucket(&location.bucket)
        .key(&location.key)
        .content_type("application/octet-stream")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&sse_key)
        .send()
        .await
        .map_err(|e| s3_error("CreateMultipartUpload", location, e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| Error::runtime("S3 returned no upload id"))?
        .to_string();
    let source = copy_source(location);
    let copied: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let part_count = ranges.len() as u32 + 1;

    let drive = async {
        let upload_first = async {
            let out = aws
                .s3
                .upload_part()
                .bucket(&location.bucket)
                .key(&location.key)
                .upload_id(&upload_id)
                .part_number(1)
                .content_length(part1.len() as i64)
                .body(ByteStream::from(part1.clone()))
                .send()
                .await
                .map_err(|e| s3_error("UploadPart", location, e))?;
            Ok::<_, Error>(
                CompletedPart::builder()
                    .part_number(1)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            )
        };
        let copies = futures::stream::iter(ranges.into_iter().enumerate())
            .map(|(i, range)| {
                let number = i as i32 + 2;
                let source = source.clone();
                let upload_id = upload_id.clone();
                let etag = etag.clone();
                async move {
                    let out = aws
                        .s3
                        .upload_part_copy()
                        .bucket(&location.bucket)
                        .key(&location.key)
                        .upload_id(&upload_id)
                        .part_number(number)
                        .copy_source(source)
                        .copy_source_range(format!("bytes={}-{}", range.start, range.end - 1))
                        .set_copy_source_if_match(etag)
                        .send()
                        .await
                        .map_err(|e| s3_error("UploadPartCopy", location, e))?;
                    let e_tag = out
                        .copy_part_result()
                        .and_then(|r| r.e_tag())
                        .map(str::to_string);
                    Ok::<_, Error>(
                        CompletedPart::builder()
                            .part_number(number)
                            .set_e_tag(e_tag)
                            .build(),
                    )
                }
            })
            .buffer_unordered(request.concurrency.max(1))
            .try_collect::<Vec<_>>();
        let (first_part, mut parts) = futures::try_join!(upload_first, copies)?;
        parts.push(first_part);
        parts.sort_by_key(|p| p.part_number());
        aws.s3
            .complete_multipart_upload()
            .bucket(&location.bucket)
            .key(&location.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_error("CompleteMultipartUpload", location, e))?;
        Ok::<_, Error>(())
    };
    let mut cancel = cancel;
    let result = tokio::select! {
        r = drive => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    if let Err(err) = result {
        abort(aws, location, &upload_id).await;
        return Err(err);
    }
    check_written(&reader, &new_header, new_total).await?;
    Ok(outcome(part_count, copied))
}

/// Reads the new object's header back: it must be exactly the header sealed, at the length
/// the header implies.
async fn check_written(reader: &S3Object<'_>, header: &[u8], total: u64) -> Result<()> {
    let back = reader.read_range(0..header.len() as u64, None).await?;
    if back.bytes.as_ref() != header || back.total != total {
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

async fn abort(aws: &Aws, location: &ObjectLocation, upload_id: &str) {
    let result = aws
        .s3
        .abort_multipart_upload()
        .bucket(&location.bucket)
        .key(&location.key)
        .upload_id(upload_id)
        .send()
        .await;
    if let Err(e) = result {
        tracing::error!(
            %location, upload_id, error = %crate::aws::error_chain(&e),
            "could not abort the multipart upload; remove it with `aws s3api abort-multipart-upload` or a lifecycle rule"
        );
    }
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

    #[test]
    fn copy_source_is_encoded() {
        let loc = ObjectLocation {
            bucket: "b".into(),
            key: "dir/a b+c?ü".into(),
        };
        assert_eq!(copy_source(&loc), "b/dir/a%20b%2Bc%3F%C3%BC");
    }
}

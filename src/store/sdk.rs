//! [`SdkStore`]: the object calls sent with the AWS SDK. Every request here carries
//! ExpectedBucketOwner when one is configured; every body is sent with a CRC32C checksum
//! (S3 verifies each byte; a header for bodies in memory, an aws-chunked trailer for streamed
//! ones) and without payload signing (`UNSIGNED-PAYLOAD`: HTTPS already
//! protects the body, and hashing it twice costs a pass over every part); every write asks
//! for SSE-KMS; every error is mapped by [`s3_error`].

use std::collections::HashMap;
use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus,
    ObjectLockMode, ServerSideEncryption, StorageClass,
};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use futures::StreamExt;

use super::errors::s3_error;
use super::{
    ChannelBody, CopySource, LockMode, ObjectEntry, ObjectHead, ObjectPage, ObjectSettings,
    ObjectStore, PartInfo, PartReceipt, PutReceipt, RangeBody, RangeMeta, StoreError, StoreResult,
    UploadInfo, WriteOptions,
};
use crate::aws::error_chain;
use crate::error::Error;
use crate::location::ObjectLocation;

/// A new object's settings (storage class, tags, user metadata, Object Lock) on a PutObject or
/// CreateMultipartUpload builder: the two requests that create objects take the same headers.
macro_rules! with_settings {
    ($request:expr, $settings:expr) => {{
        let settings: &ObjectSettings = $settings;
        $request
            .set_storage_class(storage_class(settings))
            .set_tagging(settings.tagging())
            .set_metadata(metadata(settings))
            .set_object_lock_mode(lock_mode(settings))
            .set_object_lock_retain_until_date(retain_until(settings)?)
            .set_object_lock_legal_hold_status(legal_hold(settings))
    }};
}

/// Starts the SDK request `$op` for the object at `$location`, with ExpectedBucketOwner.
macro_rules! on_object {
    ($self:ident, $op:ident, $location:expr) => {
        $self
            .s3
            .$op()
            .bucket(&$location.bucket)
            .key(&$location.key)
            .set_expected_bucket_owner($self.owner())
    };
}

/// Content type of every s3seal object: ciphertext.
const CONTENT_TYPE: &str = "application/octet-stream";

/// S3 through the AWS SDK.
#[derive(Clone, Debug)]
pub struct SdkStore {
    s3: aws_sdk_s3::Client,
    /// Sent as ExpectedBucketOwner on every request, so a bucket of another account is refused.
    expected_owner: Option<String>,
}

impl SdkStore {
    pub fn new(s3: aws_sdk_s3::Client, expected_owner: Option<String>) -> Self {
        SdkStore { s3, expected_owner }
    }

    fn owner(&self) -> Option<String> {
        self.expected_owner.clone()
    }

    /// PutObject of `len` bytes. The SDK adds the CRC32C: as a header when the body is in
    /// memory (and retries it from those bytes), as an aws-chunked trailer when it is streamed
    /// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`; S3 checks it before storing anything).
    async fn put(
        &self, location: &ObjectLocation, body: ByteStream, len: u64, options: &WriteOptions,
    ) -> StoreResult<PutReceipt> {
        let request = on_object!(self, put_object, location);
        let out = with_settings!(request, &options.settings)
            .content_length(len as i64)
            .content_type(CONTENT_TYPE)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .set_ssekms_key_id(options.sse_kms_key_id.clone())
            .set_if_match(options.if_match.clone())
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(body)
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| s3_error("PutObject", location, e))?;
        Ok(receipt(out.e_tag(), out.version_id()))
    }

    /// A presigned GET of `location` (no request is sent).
    pub async fn presign_get(
        &self, location: &ObjectLocation, config: PresigningConfig,
    ) -> StoreResult<PresignedRequest> {
        self.s3
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .presigned(config)
            .await
            .map_err(|e| s3_error("GetObject (presign)", location, e))
    }

    /// A presigned PUT of `location` with SSE-KMS under `sse_kms_key_id` signed in.
    pub async fn presign_put(
        &self, location: &ObjectLocation, sse_kms_key_id: &str, config: PresigningConfig,
    ) -> StoreResult<PresignedRequest> {
        self.s3
            .put_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(sse_kms_key_id)
            .presigned(config)
            .await
            .map_err(|e| s3_error("PutObject (presign)", location, e))
    }
}

fn parse_total(content_range: &str) -> Option<u64> {
    content_range.rsplit_once('/')?.1.trim().parse().ok()
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

fn receipt(etag: Option<&str>, version_id: Option<&str>) -> PutReceipt {
    PutReceipt {
        etag: etag.map(str::to_string),
        version_id: version_id.map(str::to_string),
    }
}

fn completed(parts: &[PartReceipt]) -> CompletedMultipartUpload {
    let parts = parts
        .iter()
        .map(|p| {
            CompletedPart::builder()
                .part_number(p.number as i32)
                .set_e_tag(p.etag.clone())
                .set_checksum_crc32_c(p.crc32c.clone())
                .build()
        })
        .collect();
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build()
}

#[async_trait]
impl ObjectStore for SdkStore {
    async fn get_range(
        &self, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> StoreResult<RangeMeta> {
        buf.clear();
        let want = range.end.saturating_sub(range.start) as usize;
        let (meta, mut body) = self.get_range_body(location, range, if_match).await?;
        buf.reserve(want);
        while let Some(piece) = body.next().await? {
            buf.extend_from_slice(&piece);
        }
        Ok(meta)
    }

    async fn get_range_body(
        &self, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
    ) -> StoreResult<(RangeMeta, RangeBody)> {
        let out = on_object!(self, get_object, location)
            .range(format!(
                "bytes={}-{}",
                range.start,
                range.end.saturating_sub(1)
            ))
            .set_if_match(if_match.map(str::to_string))
            .send()
            .await
            .map_err(|e| s3_error("GetObject", location, e))?;
        // A server that ignored the Range header sends the whole object: skip to ours.
        let ignored_range = out.content_range().is_none();
        let total = match out.content_range().and_then(parse_total) {
            Some(total) => total,
            None => out.content_length().unwrap_or(0).max(0) as u64,
        };
        let meta = RangeMeta {
            total,
            etag: out.e_tag().map(str::to_string),
            metadata: out.metadata().cloned().unwrap_or_else(HashMap::new),
        };
        let skip = if ignored_range { range.start } else { 0 };
        let location = location.clone();
        let frames = futures::stream::unfold(Some(out.body), move |body| {
            let location = location.clone();
            async move {
                let mut body = body?;
                match body.try_next().await {
                    Ok(Some(frame)) => Some((Ok(frame), Some(body))),
                    Ok(None) => None,
                    Err(e) => Some((
                        Err(StoreError::transient(Error::runtime_hint(
                            format!("reading {location} failed: {}", error_chain(&e)),
                            "the connection broke repeatedly; check the network and try again",
                        ))),
                        None,
                    )),
                }
            }
        });
        let len = range.end.saturating_sub(range.start);
        Ok((meta, RangeBody::new(frames.boxed(), skip, len)))
    }

    async fn head(&self, location: &ObjectLocation) -> StoreResult<ObjectHead> {
        let out = on_object!(self, head_object, location)
            .send()
            .await
            .map_err(|e| s3_error("HeadObject", location, e))?;
        Ok(ObjectHead {
            len: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
            metadata: out.metadata().cloned().unwrap_or_default(),
            content_type: out.content_type().map(str::to_string),
            storage_class: out.storage_class().map(|c| c.as_str().to_string()),
        })
    }

    async fn put_object(
        &self, location: &ObjectLocation, body: Bytes, options: &WriteOptions,
    ) -> StoreResult<PutReceipt> {
        let len = body.len() as u64;
        self.put(location, ByteStream::from(body), len, options)
            .await
    }

    async fn put_object_stream(
        &self, location: &ObjectLocation, body: ChannelBody, options: &WriteOptions,
    ) -> StoreResult<PutReceipt> {
        let len = body.len();
        // Not rebuildable: the SDK sends it once and never retries it (ChannelBody's docs).
        let body = ByteStream::new(SdkBody::from_body_1_x(body));
        self.put(location, body, len, options).await
    }

    async fn create_multipart_upload(
        &self, location: &ObjectLocation, options: &WriteOptions,
    ) -> StoreResult<String> {
        let request = on_object!(self, create_multipart_upload, location);
        let out = with_settings!(request, &options.settings)
            .content_type(CONTENT_TYPE)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .set_ssekms_key_id(options.sse_kms_key_id.clone())
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", location, e))?;
        out.upload_id()
            .map(str::to_string)
            .ok_or_else(|| StoreError {
                error: Error::runtime("S3 returned no upload id"),
                transient: false,
                status: None,
                code: None,
            })
    }

    async fn upload_part(
        &self, location: &ObjectLocation, upload_id: &str, number: u32, body: Bytes,
    ) -> StoreResult<PartReceipt> {
        let out = on_object!(self, upload_part, location)
            .upload_id(upload_id)
            .part_number(number as i32)
            .content_length(body.len() as i64)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(body))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| s3_error("UploadPart", location, e))?;
        Ok(PartReceipt {
            number,
            etag: out.e_tag().map(str::to_string),
            crc32c: out.checksum_crc32_c().map(str::to_string),
        })
    }

    async fn upload_part_copy(
        &self, location: &ObjectLocation, upload_id: &str, number: u32, source: &CopySource,
    ) -> StoreResult<PartReceipt> {
        let out = on_object!(self, upload_part_copy, location)
            .set_expected_source_bucket_owner(self.owner())
            .upload_id(upload_id)
            .part_number(number as i32)
            .copy_source(copy_source(&source.location))
            .copy_source_range(format!(
                "bytes={}-{}",
                source.range.start,
                source.range.end.saturating_sub(1)
            ))
            .set_copy_source_if_match(source.if_match.clone())
            .send()
            .await
            .map_err(|e| s3_error("UploadPartCopy", location, e))?;
        let result = out.copy_part_result();
        Ok(PartReceipt {
            number,
            etag: result.and_then(|r| r.e_tag()).map(str::to_string),
            crc32c: result
                .and_then(|r| r.checksum_crc32_c())
                .map(str::to_string),
        })
    }

    async fn complete_multipart_upload(
        &self, location: &ObjectLocation, upload_id: &str, parts: &[PartReceipt],
        if_match: Option<&str>,
    ) -> StoreResult<PutReceipt> {
        let out = on_object!(self, complete_multipart_upload, location)
            .upload_id(upload_id)
            .multipart_upload(completed(parts))
            .set_if_match(if_match.map(str::to_string))
            .send()
            .await
            .map_err(|e| s3_error("CompleteMultipartUpload", location, e))?;
        Ok(receipt(out.e_tag(), out.version_id()))
    }

    async fn abort_multipart_upload(
        &self, location: &ObjectLocation, upload_id: &str,
    ) -> StoreResult<()> {
        self.s3
            .abort_multipart_upload()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_expected_bucket_owner(self.owner())
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| s3_error("AbortMultipartUpload", location, e))?;
        Ok(())
    }

    async fn list_multipart_uploads(
        &self, bucket: &str, prefix: &str,
    ) -> StoreResult<Vec<UploadInfo>> {
        let location = ObjectLocation {
            bucket: bucket.to_string(),
            key: prefix.to_string(),
        };
        let out = self
            .s3
            .list_multipart_uploads()
            .bucket(bucket)
            .set_expected_bucket_owner(self.owner())
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| s3_error("ListMultipartUploads", &location, e))?;
        Ok(out
            .uploads()
            .iter()
            .filter_map(|u| {
                Some(UploadInfo {
                    key: u.key()?.to_string(),
                    upload_id: u.upload_id()?.to_string(),
                    initiated: u.initiated().map(|t| t.as_secs_f64()),
                })
            })
            .collect())
    }

    async fn list_parts(
        &self, location: &ObjectLocation, upload_id: &str, max_parts: Option<u32>,
    ) -> StoreResult<Vec<PartInfo>> {
        let out = on_object!(self, list_parts, location)
            .upload_id(upload_id)
            .set_max_parts(max_parts.map(|n| n as i32))
            .send()
            .await
            .map_err(|e| s3_error("ListParts", location, e))?;
        Ok(out
            .parts()
            .iter()
            .map(|p| PartInfo {
                number: p.part_number().unwrap_or(0).max(0) as u32,
                size: p.size().unwrap_or(0).max(0) as u64,
                etag: p.e_tag().map(str::to_string),
                crc32c: p.checksum_crc32_c().map(str::to_string),
            })
            .collect())
    }

    async fn list_objects(
        &self, bucket: &str, prefix: &str, continuation: Option<String>,
    ) -> StoreResult<ObjectPage> {
        let location = ObjectLocation {
            bucket: bucket.to_string(),
            key: prefix.to_string(),
        };
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .set_expected_bucket_owner(self.owner())
            .prefix(prefix)
            .set_continuation_token(continuation)
            // Keys URL-encoded: XML 1.0 cannot carry some characters a key may hold (control
            // characters), and one such key would make the whole listing unreadable.
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .send()
            .await
            .map_err(|e| s3_error("ListObjectsV2", &location, e))?;
        // Decoded only when the server says it encoded them (one that ignores the request
        // sends keys as they are).
        let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
        let mut objects = Vec::with_capacity(out.contents().len());
        for o in out.contents() {
            let Some(key) = o.key() else { continue };
            let key = if encoded {
                listed_key(key).ok_or_else(|| StoreError {
                    error: Error::runtime(format!(
                        "ListObjectsV2 {location}: the server sent a key that is not a URL-encoded UTF-8 string"
                    )),
                    transient: false,
                    status: None,
                    code: None,
                })?
            } else {
                key.to_string()
            };
            objects.push(ObjectEntry {
                key,
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().map(str::to_string),
            });
        }
        Ok(ObjectPage {
            objects,
            next: out
                .next_continuation_token()
                .filter(|_| out.is_truncated() == Some(true))
                .map(str::to_string),
        })
    }

    async fn delete_object(&self, location: &ObjectLocation) -> StoreResult<()> {
        self.s3
            .delete_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_expected_bucket_owner(self.owner())
            .send()
            .await
            .map_err(|e| s3_error("DeleteObject", location, e))?;
        Ok(())
    }

    async fn delete_object_version(
        &self, location: &ObjectLocation, version_id: &str,
    ) -> StoreResult<()> {
        on_object!(self, delete_object, location)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| s3_error("DeleteObjectVersion", location, e))?;
        Ok(())
    }

    async fn get_object_tagging(
        &self, location: &ObjectLocation,
    ) -> StoreResult<Vec<(String, String)>> {
        let out = on_object!(self, get_object_tagging, location)
            .send()
            .await
            .map_err(|e| s3_error("GetObjectTagging", location, e))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }
}

fn storage_class(settings: &ObjectSettings) -> Option<StorageClass> {
    settings.storage_class.as_deref().map(StorageClass::from)
}

fn metadata(settings: &ObjectSettings) -> Option<HashMap<String, String>> {
    (!settings.metadata.is_empty()).then(|| settings.metadata.iter().cloned().collect())
}

fn lock_mode(settings: &ObjectSettings) -> Option<ObjectLockMode> {
    settings.retention.as_ref().map(|r| match r.mode {
        LockMode::Governance => ObjectLockMode::Governance,
        LockMode::Compliance => ObjectLockMode::Compliance,
    })
}

fn retain_until(settings: &ObjectSettings) -> StoreResult<Option<aws_smithy_types::DateTime>> {
    let Some(retention) = &settings.retention else {
        return Ok(None);
    };
    aws_smithy_types::DateTime::from_str(
        &retention.retain_until,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .map(Some)
    .map_err(|_| StoreError {
        error: Error::usage(format!(
            "Object Lock retain-until date {:?} is not an RFC 3339 timestamp \
             (e.g. 2027-01-01T00:00:00Z)",
            retention.retain_until
        )),
        transient: false,
        status: None,
        code: None,
    })
}

fn legal_hold(settings: &ObjectSettings) -> Option<ObjectLockLegalHoldStatus> {
    settings.legal_hold.then_some(ObjectLockLegalHoldStatus::On)
}

/// A key of a listing sent with `EncodingType=url`: form-encoded as S3 does it (`+` for a
/// space, `%XX` for the rest), as the AWS CLI decodes it.
fn listed_key(encoded: &str) -> Option<String> {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_keys_are_form_decoded() {
        assert_eq!(
            listed_key("dir/a+b%2Bc%01%C3%BC").as_deref(),
            Some("dir/a b+c\u{1}ü")
        );
        assert_eq!(
            listed_key("plain/key.txt").as_deref(),
            Some("plain/key.txt")
        );
        assert_eq!(listed_key("bad%FF"), None, "not UTF-8");
    }

    #[test]
    fn content_range_total() {
        assert_eq!(parse_total("bytes 0-99/1234"), Some(1234));
        assert_eq!(parse_total("bytes 0-99/*"), None);
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

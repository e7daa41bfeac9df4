//! Reading S3 Encryption Client objects from S3: find the metadata (on the object or in
//! `KEY.instruction`), unwrap the data key with KMS under exactly the stored context, derive
//! the content key (v3: after the commitment check), then fetch the body as concurrent ranged
//! GETs pinned to the first response's ETag and decrypt it in order as one GCM stream.
//!
//! The body's only authentication is the final tag, so plaintext goes to a temporary file that
//! becomes the destination (or is streamed to stdout) only after the tag verified; on any
//! failure the temporary file is removed.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::primitives::Blob;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use zeroize::{Zeroize, Zeroizing};

use super::gcm::{GcmDecryptor, MAX_PLAINTEXT_LEN, TAG_LEN};
use super::keys::{self, ContentKey, SUITE_V3_ID_BYTES, V3_IV};
use super::metadata::{
    self, Content, Envelope, INSTRUCTION_SUFFIX, MetadataError, MetadataLocation, S3ecFormat,
};
use crate::aws::{Aws, service_error_parts, transport_error};
use crate::error::{Error, Result};
use crate::format::{FormatError, MAGIC};
use crate::location::ObjectLocation;
use crate::transfer::download::{RangeData, RangeReader, Sink, resolve_destination};
use crate::transfer::{Cancel, Progress, s3_error};

/// Largest instruction file read (they hold a few hundred bytes).
const MAX_INSTRUCTION_BYTES: usize = 64 * 1024;
/// The message the [`Sniffer`] stops the s3seal pipeline with.
const HANDOVER: &str = "S3 Encryption Client object: handing over to the S3EC reader";

/// How to read an S3EC object.
#[derive(Debug, Clone)]
pub struct S3ecRequest {
    /// Pairs the stored encryption context must contain with these values.
    pub expected_context: Vec<(String, String)>,
    /// A plaintext range was asked for: refused (a GCM stream cannot authenticate a range).
    pub range_requested: bool,
    /// To stdout: decrypt into a private temporary file first and stream it once verified.
    pub buffer_to_temp: bool,
    pub concurrency: usize,
    /// Bytes per ranged GET.
    pub unit_bytes: u64,
}

/// What was read.
#[derive(Debug, Clone)]
pub struct S3ecOutcome {
    pub format: S3ecFormat,
    pub metadata_location: MetadataLocation,
    pub plaintext_len: u64,
    pub bytes_written: u64,
    /// The KMS key that unwrapped the data key, as KMS reported it.
    pub kms_key_arn: Option<String>,
    pub destination: Option<PathBuf>,
}

/// What `inspect` can show about an S3EC object without KMS.
#[derive(Debug, Clone)]
pub struct Description {
    pub format: S3ecFormat,
    pub metadata_location: MetadataLocation,
    pub content_cipher: &'static str,
    pub key_wrapping: &'static str,
    /// The stored KMS encryption context (including `aws:x-amz-cek-alg`).
    pub context: std::collections::BTreeMap<String, String>,
    pub object_len: u64,
    /// Object size minus the 16-byte tag (`None` if the object is shorter than a tag).
    pub plaintext_len: Option<u64>,
}

/// Wraps the reader of an s3seal download and keeps its first response (bytes from 0 and the
/// object's user metadata). When that response carries S3EC metadata, the s3seal pipeline is
/// stopped at once and [`open_if_s3ec`] takes over, so recognising an S3EC object costs no extra
/// request.
pub struct Sniffer<'a, R> {
    inner: &'a R,
    first: Mutex<Option<RangeData>>,
}

impl<'a, R: RangeReader> Sniffer<'a, R> {
    pub fn new(inner: &'a R) -> Self {
        Sniffer {
            inner,
            first: Mutex::new(None),
        }
    }

    /// The first response seen, if any.
    pub fn take_first(&self) -> Option<RangeData> {
        self.first.lock().expect("sniffer lock").take()
    }
}

impl<R: RangeReader> RangeReader for Sniffer<'_, R> {
    async fn read_range(&self, range: Range<u64>, if_match: Option<&str>) -> Result<RangeData> {
        let data = self.inner.read_range(range.clone(), if_match).await?;
        if range.start == 0 {
            let mut first = self.first.lock().expect("sniffer lock");
            if first.is_none() {
                *first = Some(data.clone());
                if metadata::detect(&data.metadata).is_some() && !data.bytes.starts_with(&MAGIC) {
                    return Err(Error::usage(HANDOVER));
                }
            }
        }
        Ok(data)
    }

    fn location(&self) -> &ObjectLocation {
        self.inner.location()
    }
}

fn metadata_error(e: MetadataError) -> Error {
    match e {
        MetadataError::Unsupported(_) => Error::usage_hint(
            e.to_string(),
            "decrypt it with the S3 Encryption Client and its raw keyring",
        ),
        MetadataError::Legacy(_) => Error::integrity(
            e.to_string(),
            Some("legacy modes cannot detect tampering, so s3seal does not read them; if you trust this object, re-encrypt it with an S3 Encryption Client configured for legacy modes".into()),
        ),
        _ => Error::integrity(
            e.to_string(),
            Some("the object's S3 Encryption Client metadata was altered or is incomplete; do not use this data".into()),
        ),
    }
}

/// Reads `KEY.instruction`; `None` if it does not exist.
async fn fetch_instruction(aws: &Aws, location: &ObjectLocation) -> Result<Option<Vec<u8>>> {
    let instruction = ObjectLocation {
        bucket: location.bucket.clone(),
        key: format!("{}{INSTRUCTION_SUFFIX}", location.key),
    };
    let out = match aws
        .s3
        .get_object()
        .bucket(&instruction.bucket)
        .key(&instruction.key)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            if let aws_sdk_s3::error::SdkError::ServiceError(se) = &e
                && (se.err().is_no_such_key() || se.raw().status().as_u16() == 404)
            {
                return Ok(None);
            }
            return Err(s3_error("GetObject", &instruction, e));
        }
    };
    if out.content_length().unwrap_or(0) as usize > MAX_INSTRUCTION_BYTES {
        return Err(Error::integrity(
            format!("{instruction} is too large to be an S3EC instruction file"),
            None,
        ));
    }
    let body = out.body.collect().await.map_err(|e| {
        Error::runtime(format!(
            "reading {instruction} failed: {}",
            crate::aws::error_chain(&e)
        ))
    })?;
    Ok(Some(body.to_vec()))
}

/// The validated S3EC envelope of the object at `location` whose user metadata is `meta`, with
/// its instruction file read when the metadata points there. `Ok(None)`: not an S3EC object.
pub async fn load_envelope(
    aws: &Aws,
    location: &ObjectLocation,
    meta: &std::collections::HashMap<String, String>,
) -> Result<Option<Envelope>> {
    let claimed = metadata::detect(meta);
    let instruction = if metadata::needs_instruction_file(meta) {
        match fetch_instruction(aws, location).await? {
            Some(body) => Some(body),
            None if claimed.is_none() => return Ok(None),
            None => {
                return Err(Error::integrity(
                    format!(
                        "{location} has S3EC v3 content metadata but no wrapped key, and {}{INSTRUCTION_SUFFIX} does not exist",
                        location.key
                    ),
                    Some("the instruction file was deleted, or the metadata was altered".into()),
                ));
            }
        }
    } else {
        None
    };
    match metadata::parse(meta, instruction.as_deref()) {
        Ok(envelope) => Ok(Some(envelope)),
        Err(MetadataError::NotS3ec) if claimed.is_none() => Ok(None),
        Err(e) => Err(metadata_error(e)),
    }
}

/// What `inspect` shows for an S3EC object (no KMS call). `Ok(None)`: not an S3EC object.
pub async fn describe(
    aws: &Aws,
    location: &ObjectLocation,
    meta: &std::collections::HashMap<String, String>,
    object_len: u64,
) -> Result<Option<Description>> {
    Ok(load_envelope(aws, location, meta)
        .await?
        .map(|e| describe_envelope(&e, object_len)))
}

/// [`describe`] for an envelope already loaded.
pub fn describe_envelope(envelope: &Envelope, object_len: u64) -> Description {
    Description {
        format: envelope.format,
        metadata_location: envelope.location,
        content_cipher: envelope.content_cipher(),
        key_wrapping: "kms+context",
        context: envelope.context.clone(),
        object_len,
        plaintext_len: object_len.checked_sub(TAG_LEN as u64),
    }
}

/// The caller's pairs must all be in the stored context.
fn check_expected_context(envelope: &Envelope, expected: &[(String, String)]) -> Result<()> {
    if let Some((k, _)) = expected
        .iter()
        .find(|(k, v)| envelope.context.get(k) != Some(v))
    {
        return Err(Error::integrity(
            format!("the object's encryption context does not have the --context pair for {k:?}"),
            Some("the object was written with a different context; check --context".into()),
        ));
    }
    Ok(())
}

/// KMS Decrypt of the wrapped data key under exactly the stored context. Returns the key and
/// the ARN of the KMS key KMS used.
async fn unwrap_data_key(
    aws: &Aws,
    envelope: &Envelope,
) -> Result<(Zeroizing<[u8; 32]>, Option<String>)> {
    let context: std::collections::HashMap<String, String> = envelope
        .context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let sent = aws
        .kms
        .decrypt()
        .ciphertext_blob(Blob::new(envelope.wrapped_key.clone()))
        .set_encryption_context(Some(context))
        .send()
        .await;
    let mut out = match sent {
        Ok(out) => out,
        Err(err) => {
            if let Some(e) = transport_error("KMS Decrypt", &err) {
                return Err(e);
            }
            let (code, detail) = service_error_parts(&err);
            return Err(match code.as_str() {
                "InvalidCiphertextException"
                | "IncorrectKeyException"
                | "AccessDeniedException" => Error::integrity(
                    format!("KMS could not decrypt the data key of this S3EC object ({detail})"),
                    Some("the stored encryption context or wrapped key was altered, or you may not use its KMS key (kms:Decrypt)".into()),
                ),
                "DisabledException" | "KMSInvalidStateException" | "NotFoundException" => {
                    Error::runtime_hint(
                        format!("the object's KMS key cannot be used now ({detail})"),
                        "the key is disabled, pending deletion or gone",
                    )
                }
                _ => Error::runtime(format!("KMS Decrypt failed: {detail}")),
            });
        }
    };
    let key_arn = out.key_id.take();
    let mut plain = out
        .plaintext
        .take()
        .ok_or_else(|| Error::runtime("KMS returned no plaintext data key"))?
        .into_inner();
    let key: Option<[u8; 32]> = plain.as_slice().try_into().ok();
    let len = plain.len();
    plain.zeroize();
    let key = key.ok_or_else(|| {
        Error::integrity(
            format!("KMS returned a {len}-byte data key; S3EC uses 32-byte AES-256 keys"),
            None,
        )
    })?;
    Ok((Zeroizing::new(key), key_arn))
}

/// The content key, IV and AAD of `envelope`'s GCM stream.
fn content_cipher(envelope: &Envelope, data_key: &[u8; 32]) -> Result<GcmDecryptor> {
    Ok(match &envelope.content {
        Content::V2Gcm { iv } => {
            let key = ContentKey::v2(data_key);
            GcmDecryptor::new(key.bytes(), iv, &[])
        }
        Content::V3Committing {
            message_id,
            commitment,
        } => {
            let key = keys::derive_v3(data_key, message_id, commitment).map_err(|_| {
                Error::integrity(
                    "the S3EC key commitment does not match the data key",
                    Some("the object's metadata (x-amz-d, x-amz-i or the wrapped key) was altered; do not use this data".into()),
                )
            })?;
            GcmDecryptor::new(key.bytes(), &V3_IV, &SUITE_V3_ID_BYTES)
        }
    })
}

/// Runs `f` on the CPU pool.
async fn on_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.expect("CPU pool task panicked")
}

/// Decrypts the object into `out`. Everything written to `out` is unauthenticated until this
/// returns `Ok`; on `Err` the caller must discard it.
#[allow(clippy::too_many_arguments)]
async fn decrypt_into<W: AsyncWrite + Unpin>(
    aws: &Aws,
    reader: &impl RangeReader,
    first: RangeData,
    envelope: &Envelope,
    request: &S3ecRequest,
    out: &mut W,
    progress: &Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<(u64, Option<String>)> {
    let total = first.total;
    let Some(ct_len) = total.checked_sub(TAG_LEN as u64) else {
        return Err(Error::integrity(
            format!(
                "the object is {total} bytes, too short for an S3EC object (16-byte GCM tag): it was truncated"
            ),
            None,
        ));
    };
    if ct_len > MAX_PLAINTEXT_LEN {
        return Err(Error::integrity(
            "the object is larger than one AES-GCM message can be",
            None,
        ));
    }
    if let Some(n) = envelope.unencrypted_len
        && n != ct_len
    {
        return Err(Error::integrity(
            format!(
                "x-amz-unencrypted-content-length says {n} bytes but the object holds {ct_len}: truncated or extended"
            ),
            None,
        ));
    }
    check_expected_context(envelope, &request.expected_context)?;
    let (data_key, key_arn) = unwrap_data_key(aws, envelope).await?;
    let mut decryptor = content_cipher(envelope, &data_key)?;
    drop(data_key);

    let unit = request.unit_bytes.max(64 * 1024);
    let first_len = (first.bytes.len() as u64).min(total);
    let ranges: Vec<Range<u64>> = (first_len..total)
        .step_by(unit as usize)
        .map(|s| s..(s + unit).min(total))
        .collect();
    let etag = first.etag.clone();
    progress.start(Some(ct_len));

    let mut cancel = cancel;
    let run = async move {
        let mut tag = [0u8; TAG_LEN];
        let mut tag_seen = 0usize;
        let mut written = 0u64;
        let fetch = |range: Range<u64>| {
            let etag = etag.clone();
            async move {
                let data = reader.read_range(range.clone(), etag.as_deref()).await?;
                if data.bytes.len() as u64 != range.end - range.start || data.total != total {
                    return Err(Error::integrity(
                        format!(
                            "the object changed size while it was read ({} bytes, then {})",
                            total, data.total
                        ),
                        None,
                    ));
                }
                Ok::<_, Error>((range.start, data.bytes))
            }
        };
        let head = futures::stream::iter([Ok::<_, Error>((
            0u64,
            first.bytes.slice(..first_len as usize),
        ))]);
        let rest = futures::stream::iter(ranges)
            .map(fetch)
            .buffered(request.concurrency.max(1));
        let mut stream = head.chain(rest);
        while let Some((offset, bytes)) = stream.try_next().await? {
            let end = offset + bytes.len() as u64;
            // Ciphertext part of this piece, then any tag bytes.
            let ct_end = end.min(ct_len);
            if offset < ct_end {
                let mut buf = bytes.slice(..(ct_end - offset) as usize).to_vec();
                let (d, buf) = on_pool(move || {
                    decryptor.update(&mut buf);
                    (decryptor, buf)
                })
                .await;
                decryptor = d;
                out.write_all(&buf)
                    .await
                    .map_err(|e| Error::io("temporary file", e))?;
                written += buf.len() as u64;
                progress.advance(buf.len() as u64);
            }
            if end > ct_len {
                let from = ct_len.max(offset);
                let slice: Bytes = bytes.slice((from - offset) as usize..);
                let at = (from - ct_len) as usize;
                tag[at..at + slice.len()].copy_from_slice(&slice);
                tag_seen += slice.len();
            }
        }
        if tag_seen != TAG_LEN || decryptor.ciphertext_len() != ct_len {
            return Err(Error::integrity("the object ended early: truncated", None));
        }
        decryptor.finish(&tag).map_err(|_| {
            Error::integrity(
                "the S3EC object's GCM authentication tag does not verify",
                Some("the object was altered or truncated, or its metadata does not belong to it; no plaintext was released".into()),
            )
        })?;
        out.flush()
            .await
            .map_err(|e| Error::io("temporary file", e))?;
        Ok::<_, Error>(written)
    };
    let written = tokio::select! {
        r = run => r?,
        _ = cancel.cancelled() => return Err(Error::Interrupted),
    };
    progress.finish();
    Ok((written, key_arn))
}

fn temp_in(dir: &Path, name: &str) -> Result<(tempfile::NamedTempFile, tokio::fs::File)> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".s3seal-tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir.display().to_string(), e))?;
    let file = tokio::fs::File::from_std(
        tmp.reopen()
            .map_err(|e| Error::io(tmp.path().display().to_string(), e))?,
    );
    Ok((tmp, file))
}

/// Decrypts and verifies the object into a new temporary file in `dir` (for `migrate`).
#[allow(clippy::too_many_arguments)]
pub async fn open_to_temp(
    aws: &Aws,
    reader: &impl RangeReader,
    first: RangeData,
    envelope: &Envelope,
    request: &S3ecRequest,
    dir: &Path,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<(tempfile::NamedTempFile, S3ecOutcome)> {
    let (tmp, mut file) = temp_in(dir, "s3ec-migrate")?;
    let (written, kms_key_arn) = decrypt_into(
        aws, reader, first, envelope, request, &mut file, &progress, cancel,
    )
    .await?;
    file.sync_all()
        .await
        .map_err(|e| Error::io(tmp.path().display().to_string(), e))?;
    Ok((
        tmp,
        S3ecOutcome {
            format: envelope.format,
            metadata_location: envelope.location,
            plaintext_len: written,
            bytes_written: written,
            kms_key_arn,
            destination: None,
        },
    ))
}

/// Reads an S3EC object into `sink` after an s3seal download of it failed with `err`: `first`
/// is the first response of that attempt (from [`Sniffer::take_first`]). Returns `err` itself
/// when the object is not an S3EC object either.
#[allow(clippy::too_many_arguments)]
pub async fn open_if_s3ec(
    aws: &Aws,
    reader: &impl RangeReader,
    first: Option<RangeData>,
    err: Error,
    request: &S3ecRequest,
    sink: &Sink,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<S3ecOutcome> {
    let Some(first) = first else {
        return Err(err);
    };
    let handed_over = matches!(&err, Error::Usage { message, .. } if message == HANDOVER);
    let not_s3seal = matches!(err, Error::Format(FormatError::NotS3seal));
    if !handed_over && !not_s3seal {
        return Err(err);
    }
    let location = reader.location().clone();
    let Some(envelope) = load_envelope(aws, &location, &first.metadata).await? else {
        return Err(err);
    };
    open_envelope(
        aws, reader, first, &envelope, request, sink, progress, cancel,
    )
    .await
}

/// Reads the S3EC object behind `reader`, whose envelope is already loaded, into `sink`.
#[allow(clippy::too_many_arguments)]
pub async fn open_envelope(
    aws: &Aws,
    reader: &impl RangeReader,
    first: RangeData,
    envelope: &Envelope,
    request: &S3ecRequest,
    sink: &Sink,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<S3ecOutcome> {
    if request.range_requested {
        return Err(Error::usage_hint(
            format!(
                "--range is refused for {} objects: an unauthenticated ranged read",
                envelope.format
            ),
            "the object is one AES-GCM message authenticated only as a whole; read all of it, or migrate it to s3seal's chunked format (`s3seal migrate`)",
        ));
    }
    let key = reader.location().key.clone();
    let (tmp, mut file, dest) = match sink {
        Sink::File(path) => {
            let dest = resolve_destination(path, &key)?;
            let dir = match dest.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let name = dest
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let (tmp, file) = temp_in(&dir, &name)?;
            (Some(tmp), Some(file), Some(dest))
        }
        Sink::Stdout if !request.buffer_to_temp => {
            return Err(Error::usage_hint(
                format!(
                    "refusing to stream an {} object to stdout: it is one AES-GCM message whose tag comes last, so no byte can be verified before all of it is read",
                    envelope.format
                ),
                "pass --buffer-to-temp to decrypt into a private temporary file and stream it once the tag verified, or give a file destination",
            ));
        }
        Sink::Stdout => {
            let (tmp, file) = temp_in(&std::env::temp_dir(), "s3ec-stdout")?;
            (Some(tmp), Some(file), None)
        }
        Sink::Discard => (None, None, None),
    };
    let (written, kms_key_arn) = match file.as_mut() {
        Some(f) => {
            decrypt_into(aws, reader, first, envelope, request, f, &progress, cancel).await?
        }
        None => {
            let mut discard = tokio::io::sink();
            decrypt_into(
                aws,
                reader,
                first,
                envelope,
                request,
                &mut discard,
                &progress,
                cancel,
            )
            .await?
        }
    };
    let mut destination = None;
    if let (Some(tmp), Some(mut file)) = (tmp, file) {
        let path = tmp.path().display().to_string();
        match (sink, dest) {
            (Sink::File(_), Some(dest)) => {
                file.sync_all()
                    .await
                    .map_err(|e| Error::io(path.clone(), e))?;
                drop(file);
                tmp.persist(&dest)
                    .map_err(|e| Error::io(dest.display().to_string(), e.error))?;
                destination = Some(dest);
            }
            _ => {
                // Verified: stream the temporary file to stdout; it is removed on drop.
                file.seek(std::io::SeekFrom::Start(0))
                    .await
                    .map_err(|e| Error::io(path.clone(), e))?;
                let mut stdout = tokio::io::stdout();
                tokio::io::copy(&mut file, &mut stdout)
                    .await
                    .map_err(|e| Error::io("stdout", e))?;
                stdout.flush().await.map_err(|e| Error::io("stdout", e))?;
                drop(tmp);
            }
        }
    }
    Ok(S3ecOutcome {
        format: envelope.format,
        metadata_location: envelope.location,
        plaintext_len: written,
        bytes_written: written,
        kms_key_arn,
        destination,
    })
}

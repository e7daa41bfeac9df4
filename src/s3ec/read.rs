//! Reading an S3 Encryption Client object whose envelope is loaded: unwrap the data key through
//! the [`Keyring`] under exactly the stored context, derive the content key (v3: after the
//! commitment check), then fetch the body as concurrent ranged reads pinned to the first
//! response's ETag and decrypt it in order as one GCM stream.
//!
//! The body's only authentication is the final tag, so plaintext goes to a [`TempFile`] that
//! becomes the destination (or is streamed to stdout) only after the tag verified; on any
//! failure the temporary file is removed.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::gcm::{GcmDecryptor, MAX_PLAINTEXT_LEN, TAG_LEN};
use super::keys::{self, ContentKey, SUITE_V3_ID_BYTES, V3_IV};
use super::metadata::{Content, Envelope, MetadataLocation, S3ecFormat};
use crate::error::{Error, Result};
use crate::kms::Keyring;
use crate::pins::KeyPins;
use crate::transfer::download::{FirstRange, RangeReader, Sink, TempFile, read_exact};
use crate::transfer::{Cancel, Progress, on_cpu_pool};

/// How to read an S3EC object.
#[derive(Debug, Clone)]
pub struct S3ecRequest {
    /// Pairs the stored encryption context must contain with these values.
    pub expected_context: Vec<(String, String)>,
    /// A plaintext range was asked for: refused (a GCM stream cannot authenticate a range).
    pub range_requested: bool,
    pub concurrency: usize,
    /// Bytes per ranged GET.
    pub unit_bytes: u64,
    /// The KMS keys trusted to have wrapped the data key: given to Decrypt as its `KeyId`.
    pub pins: KeyPins,
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

/// Length of the ciphertext before the tag, after the checks that need no key.
fn ciphertext_len(envelope: &Envelope, total: u64) -> Result<u64> {
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
    Ok(ct_len)
}

/// Decrypts the object into `out`. Everything written to `out` is unauthenticated until this
/// returns `Ok`; on `Err` the caller must discard it.
#[allow(clippy::too_many_arguments)]
async fn decrypt_into<W: AsyncWrite + Unpin>(
    keyring: &impl Keyring, reader: &impl RangeReader, first: FirstRange, envelope: &Envelope,
    request: &S3ecRequest, out: &mut W, progress: &Arc<dyn Progress>, mut cancel: Cancel,
) -> Result<(u64, Option<String>)> {
    let total = first.total();
    let ct_len = ciphertext_len(envelope, total)?;
    check_expected_context(envelope, &request.expected_context)?;
    let unwrapped = request
        .pins
        .unwrap_foreign(keyring, &envelope.wrapped_key, &envelope.context)
        .await?;
    let mut decryptor = content_cipher(envelope, unwrapped.key.expose())?;
    drop(unwrapped.key);

    let unit = request.unit_bytes.max(64 * 1024);
    let first_len = (first.bytes.len() as u64).min(total);
    let ranges: Vec<Range<u64>> = (first_len..total)
        .step_by(unit as usize)
        .map(|s| s..(s + unit).min(total))
        .collect();
    let etag = first.meta.etag.clone();
    progress.start(Some(ct_len));

    let run = async move {
        let mut tag = [0u8; TAG_LEN];
        let mut tag_seen = 0usize;
        let mut written = 0u64;
        let fetch = |range: Range<u64>| {
            let etag = etag.clone();
            async move {
                let start = range.start;
                let Some(bytes) = read_exact(reader, range, etag.as_deref(), total).await? else {
                    return Err(Error::integrity(
                        format!("the object changed size while it was read ({total} bytes before)"),
                        None,
                    ));
                };
                Ok::<_, Error>((start, bytes))
            }
        };
        let mut head_bytes = first.bytes;
        head_bytes.truncate(first_len as usize);
        let head = futures::stream::iter([Ok::<_, Error>((0u64, head_bytes))]);
        let rest = futures::stream::iter(ranges)
            .map(fetch)
            .buffered(request.concurrency.max(1));
        let mut stream = head.chain(rest);
        while let Some((offset, mut bytes)) = stream.try_next().await? {
            let end = offset + bytes.len() as u64;
            // Tag bytes at the end of this piece, then its ciphertext.
            if end > ct_len {
                let from = ct_len.max(offset);
                let at = (from - ct_len) as usize;
                let slice = &bytes[(from - offset) as usize..];
                tag[at..at + slice.len()].copy_from_slice(slice);
                tag_seen += slice.len();
                bytes.truncate((from - offset) as usize);
            }
            if !bytes.is_empty() {
                let (d, buf) = on_cpu_pool(move || {
                    decryptor.update(&mut bytes);
                    (decryptor, bytes)
                })
                .await;
                decryptor = d;
                out.write_all(&buf)
                    .await
                    .map_err(|e| Error::io("temporary file", e))?;
                written += buf.len() as u64;
                progress.advance(buf.len() as u64);
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
    Ok((written, unwrapped.key_arn))
}

/// Decrypts the object into `file` (a temporary file) and flushes it to disk.
#[allow(clippy::too_many_arguments)]
async fn decrypt_to_file(
    keyring: &impl Keyring, reader: &impl RangeReader, first: FirstRange, envelope: &Envelope,
    request: &S3ecRequest, file: &TempFile, progress: &Arc<dyn Progress>, cancel: Cancel,
) -> Result<(u64, Option<String>)> {
    let mut out = tokio::fs::File::from_std(file.handle()?);
    let done = decrypt_into(
        keyring, reader, first, envelope, request, &mut out, progress, cancel,
    )
    .await?;
    out.sync_all()
        .await
        .map_err(|e| Error::io(file.path().display().to_string(), e))?;
    Ok(done)
}

fn outcome(
    envelope: &Envelope, written: u64, kms_key_arn: Option<String>, destination: Option<PathBuf>,
) -> S3ecOutcome {
    S3ecOutcome {
        format: envelope.format,
        metadata_location: envelope.location,
        plaintext_len: written,
        bytes_written: written,
        kms_key_arn,
        destination,
    }
}

/// Decrypts and verifies the object into a new temporary file in `dir` (for `migrate`).
#[allow(clippy::too_many_arguments)]
pub async fn open_to_temp(
    keyring: &impl Keyring, reader: &impl RangeReader, first: FirstRange, envelope: &Envelope,
    request: &S3ecRequest, dir: &Path, progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<(TempFile, S3ecOutcome)> {
    let tmp = TempFile::in_dir(dir, "s3ec-migrate")?;
    let (written, arn) = decrypt_to_file(
        keyring, reader, first, envelope, request, &tmp, &progress, cancel,
    )
    .await?;
    Ok((tmp, outcome(envelope, written, arn, None)))
}

/// Reads the S3EC object behind `reader`, whose envelope is already loaded, into `sink`.
#[allow(clippy::too_many_arguments)]
pub async fn open_envelope(
    keyring: &impl Keyring, reader: &impl RangeReader, first: FirstRange, envelope: &Envelope,
    request: &S3ecRequest, sink: &Sink, progress: Arc<dyn Progress>, cancel: Cancel,
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
    match sink {
        Sink::File(path) | Sink::ResumableFile(path) => {
            let tmp = TempFile::beside(path)?;
            let (written, arn) = decrypt_to_file(
                keyring, reader, first, envelope, request, &tmp, &progress, cancel,
            )
            .await?;
            let dest = tmp.commit().await?;
            Ok(outcome(envelope, written, arn, Some(dest)))
        }
        Sink::Stdout => Err(Error::usage_hint(
            format!(
                "refusing to stream an {} object to stdout: it is one AES-GCM message whose tag comes last, so no byte can be verified before all of it is read",
                envelope.format
            ),
            "pass --buffer-to-temp to decrypt into a private temporary file and stream it once the tag verified, or give a file destination",
        )),
        Sink::BufferedStdout => {
            let tmp = TempFile::in_dir(&std::env::temp_dir(), "s3ec-stdout")?;
            let (written, arn) = decrypt_to_file(
                keyring, reader, first, envelope, request, &tmp, &progress, cancel,
            )
            .await?;
            // Verified: stream the temporary file to stdout; it is removed on drop.
            tmp.copy_to_stdout().await?;
            Ok(outcome(envelope, written, arn, None))
        }
        Sink::Discard => {
            let mut discard = tokio::io::sink();
            let (written, arn) = decrypt_into(
                keyring,
                reader,
                first,
                envelope,
                request,
                &mut discard,
                &progress,
                cancel,
            )
            .await?;
            Ok(outcome(envelope, written, arn, None))
        }
    }
}

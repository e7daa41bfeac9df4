//! Fetch, verify and decrypt: the first ranged GET brings the header, the object's size and
//! its ETag; the header is authenticated (KMS, commitment, MAC) before anything else; the rest
//! is fetched as concurrent ranged GETs pinned to that ETag (`If-Match`), opened on the CPU
//! pool, and written in order.
//!
//! Nothing unauthenticated is released: a file destination is written to a temporary file
//! beside it and renamed only after every chunk verified (on failure the temporary file is
//! removed and the destination is untouched); stdout receives a chunk's bytes only after that
//! chunk verified, and any failure ends with an error.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use super::{Cancel, Progress, s3_error};
use crate::aws::{Aws, error_chain};
use crate::error::{Error, Result};
use crate::format::{Backend, ChunkCipher, FormatError, Layout, ParsedHeader, TAG_LEN, header};
use crate::kms::Keyring;
use crate::location::ObjectLocation;

/// Bytes fetched by the first GET when only a range is wanted: enough for any header.
const HEADER_PROBE_BYTES: u64 = header::MAX_HEADER_LEN as u64;
/// Attempts per ranged GET (the SDK retries requests; this also retries broken bodies).
const RANGE_ATTEMPTS: u32 = 4;

/// One ranged read.
#[derive(Debug, Clone)]
pub struct RangeData {
    pub bytes: Bytes,
    /// Size of the whole object.
    pub total: u64,
    pub etag: Option<String>,
    /// User metadata (`x-amz-meta-*`, without the prefix), as the server returned it.
    pub metadata: std::collections::HashMap<String, String>,
}

/// Something that serves byte ranges of one stored object: S3 now, presigned URLs later.
#[allow(async_fn_in_trait)]
pub trait RangeReader {
    /// Bytes `range` (end exclusive; a range past the end is clamped by the server), pinned to
    /// `if_match` when given.
    async fn read_range(&self, range: Range<u64>, if_match: Option<&str>) -> Result<RangeData>;
    /// The bucket and key the object is read from (checked against the header's binding).
    fn location(&self) -> &ObjectLocation;
}

/// An object in S3, read with GetObject.
pub struct S3Object<'a> {
    pub aws: &'a Aws,
    pub location: ObjectLocation,
}

fn parse_total(content_range: &str) -> Option<u64> {
    content_range.rsplit_once('/')?.1.trim().parse().ok()
}

impl RangeReader for S3Object<'_> {
    async fn read_range(&self, range: Range<u64>, if_match: Option<&str>) -> Result<RangeData> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .aws
                .s3
                .get_object()
                .bucket(&self.location.bucket)
                .key(&self.location.key)
                .range(format!("bytes={}-{}", range.start, range.end - 1))
                .set_if_match(if_match.map(str::to_string))
                .send()
                .await;
            let out = match sent {
                Ok(out) => out,
                Err(e) => {
                    let is_service = matches!(e, aws_sdk_s3::error::SdkError::ServiceError(_));
                    if let aws_sdk_s3::error::SdkError::ServiceError(se) = &e
                        && se.raw().status().as_u16() == 416
                    {
                        // Only an empty object has no byte 0: it cannot be an s3seal object.
                        return Err(FormatError::NotS3seal.into());
                    }
                    if is_service || attempt >= RANGE_ATTEMPTS {
                        return Err(s3_error("GetObject", &self.location, e));
                    }
                    tracing::debug!(attempt, error = %error_chain(&e), "retrying ranged GET");
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                    continue;
                }
            };
            let total = match out.content_range().and_then(parse_total) {
                Some(total) => total,
                // A server that ignored the Range header sent the whole object.
                None => out.content_length().unwrap_or(0).max(0) as u64,
            };
            let etag = out.e_tag().map(str::to_string);
            let metadata = out.metadata().cloned().unwrap_or_default();
            let whole_object = out.content_range().is_none();
            match out.body.collect().await {
                Ok(body) => {
                    let mut bytes = body.into_bytes();
                    if whole_object {
                        // Whole object: keep only the range we asked for.
                        let end = (range.end as usize).min(bytes.len());
                        let start = (range.start as usize).min(end);
                        bytes = bytes.slice(start..end);
                    }
                    return Ok(RangeData {
                        bytes,
                        total,
                        etag,
                        metadata,
                    });
                }
                Err(e) if attempt < RANGE_ATTEMPTS => {
                    tracing::debug!(attempt, error = %error_chain(&e), "retrying broken GET body");
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
                Err(e) => {
                    return Err(Error::runtime_hint(
                        format!("reading {} failed: {}", self.location, error_chain(&e)),
                        "the connection broke repeatedly; check the network and try again",
                    ));
                }
            }
        }
    }

    fn location(&self) -> &ObjectLocation {
        &self.location
    }
}

/// Where plaintext goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A file, written through a temporary file and renamed when complete. An existing
    /// directory receives a file named after the key's last segment.
    File(PathBuf),
    Stdout,
    /// Verify only: plaintext is decrypted and dropped.
    Discard,
}

/// How to download.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    /// User encryption-context pairs that must be present with these values.
    pub expected_context: Vec<(String, String)>,
    /// Accept an object whose header binds it to another bucket/key (a deliberate move).
    pub allow_relocated: bool,
    /// Plaintext bytes wanted: start and inclusive end (None: to the end).
    pub range: Option<(u64, Option<u64>)>,
    pub concurrency: usize,
    /// Bytes per ranged GET.
    pub unit_bytes: u64,
}

/// What was read.
#[derive(Debug, Clone)]
pub struct DownloadOutcome {
    pub plaintext_len: u64,
    pub bytes_written: u64,
    pub chunks_verified: u64,
    pub kms_key_arn: String,
    pub destination: Option<PathBuf>,
}

/// Checks the header's claims that need no key: reserved context, location binding, the
/// caller's expected pairs.
pub fn check_binding(
    parsed: &ParsedHeader,
    read_from: &ObjectLocation,
    request: &DownloadRequest,
) -> Result<()> {
    let context = &parsed.fields.context;
    context.check_reserved()?;
    let (bucket, key) = context.bound_location().expect("checked above");
    if !request.allow_relocated && (bucket != read_from.bucket || key != read_from.key) {
        return Err(Error::integrity(
            format!(
                "the object at {read_from} was written for s3://{bucket}/{key}: it was copied or moved"
            ),
            Some("if the move was deliberate, pass --allow-relocated".into()),
        ));
    }
    if let Some(key) = context.missing_from(&request.expected_context) {
        return Err(Error::integrity(
            format!("the object's encryption context does not have the --context pair for {key:?}"),
            Some("the object was written with a different context; check --context".into()),
        ));
    }
    Ok(())
}

/// Opens the chunks of one fetched range; returns their plaintext, contiguous.
fn open_unit(
    cipher: &ChunkCipher,
    layout: &Layout,
    chunks: Range<u64>,
    sealed: &[u8],
) -> Result<Vec<u8>, FormatError> {
    let mut buf = sealed.to_vec();
    let mut read = 0usize;
    let mut write = 0usize;
    for index in chunks {
        let len = layout.chunk_plain_range(index).end - layout.chunk_plain_range(index).start;
        let sealed_len = len as usize + TAG_LEN;
        if read + sealed_len > buf.len() {
            return Err(FormatError::LengthMismatch {
                expected: layout.ciphertext_len(),
                actual: layout.ciphertext_len() - (read + sealed_len - buf.len()) as u64,
            });
        }
        let n = cipher.open_in_place(
            index,
            layout.is_final(index),
            &mut buf[read..read + sealed_len],
        )?;
        buf.copy_within(read..read + n, write);
        read += sealed_len;
        write += n;
    }
    buf.truncate(write);
    Ok(buf)
}

/// Picks the file a download writes and the directory its temporary file goes in.
fn resolve_destination(path: &Path, key: &str) -> Result<PathBuf> {
    if path.is_dir() {
        let name = key
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                Error::usage(format!(
                    "{} is a directory and the key has no file name",
                    path.display()
                ))
            })?;
        return Ok(path.join(name));
    }
    Ok(path.to_path_buf())
}

enum Writer {
    File {
        tmp: tempfile::NamedTempFile,
        file: tokio::fs::File,
        dest: PathBuf,
    },
    Stdout(tokio::io::Stdout),
    Discard,
}

impl Writer {
    fn open(sink: &Sink, key: &str) -> Result<Writer> {
        Ok(match sink {
            Sink::File(path) => {
                let dest = resolve_destination(path, key)?;
                let dir = match dest.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let name = dest
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}."))
                    .suffix(".s3seal-tmp")
                    .tempfile_in(&dir)
                    .map_err(|e| Error::io(dir.display().to_string(), e))?;
                let file = tokio::fs::File::from_std(
                    tmp.reopen()
                        .map_err(|e| Error::io(tmp.path().display().to_string(), e))?,
                );
                Writer::File { tmp, file, dest }
            }
            Sink::Stdout => Writer::Stdout(tokio::io::stdout()),
            Sink::Discard => Writer::Discard,
        })
    }

    async fn write(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Writer::File { file, tmp, .. } => file
                .write_all(data)
                .await
                .map_err(|e| Error::io(tmp.path().display().to_string(), e)),
            Writer::Stdout(out) => out
                .write_all(data)
                .await
                .map_err(|e| Error::io("stdout", e)),
            Writer::Discard => Ok(()),
        }
    }

    /// Makes the output final: flush, fsync and rename for a file.
    async fn commit(self) -> Result<Option<PathBuf>> {
        match self {
            Writer::File {
                tmp,
                mut file,
                dest,
            } => {
                let path = tmp.path().display().to_string();
                file.flush().await.map_err(|e| Error::io(path.clone(), e))?;
                file.sync_all()
                    .await
                    .map_err(|e| Error::io(path.clone(), e))?;
                drop(file);
                tmp.persist(&dest)
                    .map_err(|e| Error::io(dest.display().to_string(), e.error))?;
                Ok(Some(dest))
            }
            Writer::Stdout(mut out) => {
                out.flush().await.map_err(|e| Error::io("stdout", e))?;
                Ok(None)
            }
            Writer::Discard => Ok(None),
        }
    }
}

/// Reads, verifies and decrypts the object behind `reader` into `sink`.
pub async fn download(
    reader: &impl RangeReader,
    keyring: &impl Keyring,
    request: &DownloadRequest,
    sink: &Sink,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<DownloadOutcome> {
    let unit_bytes = request.unit_bytes.max(1);
    let probe = if request.range.is_some() {
        HEADER_PROBE_BYTES
    } else {
        unit_bytes.max(HEADER_PROBE_BYTES)
    };
    let first = reader.read_range(0..probe, None).await?;
    let header_len = ParsedHeader::header_len(&first.bytes).map_err(|e| match e {
        FormatError::Incomplete { .. } => FormatError::NotS3seal,
        other => other,
    })?;
    if first.bytes.len() < header_len {
        return Err(FormatError::LengthMismatch {
            expected: header_len as u64,
            actual: first.total,
        }
        .into());
    }
    let parsed = ParsedHeader::parse(&first.bytes)?;
    check_binding(&parsed, reader.location(), request)?;
    let fields = parsed.fields.clone();
    let data_key = keyring
        .decrypt(&fields.key_id, &fields.wrapped_key, &fields.context)
        .await?;
    let verified = parsed.verify(&data_key)?;
    drop(data_key);
    let layout = verified.layout();
    layout.check_object_len(first.total)?;
    let cipher = Arc::new(verified.chunk_cipher(Backend::default()));

    let plain_len = layout.plaintext_len();
    let (want, chunks) = match request.range {
        None => (0..plain_len, 0..layout.chunk_count()),
        Some((start, end)) => {
            let end = end
                .map(|e| e.saturating_add(1))
                .unwrap_or(u64::MAX)
                .min(plain_len);
            if start >= plain_len || start >= end {
                return Err(Error::usage(format!(
                    "--range {start}-{} is outside the object's {plain_len} plaintext bytes",
                    request
                        .range
                        .and_then(|r| r.1)
                        .map(|e| e.to_string())
                        .unwrap_or_default()
                )));
            }
            (start..end, layout.chunks_covering(start..end))
        }
    };
    progress.start(Some(want.end - want.start));

    let per_unit = (unit_bytes / layout.chunk_size().bytes()).max(1);
    let units: Vec<Range<u64>> = (chunks.start..chunks.end)
        .step_by(per_unit as usize)
        .map(|s| s..(s + per_unit).min(chunks.end))
        .collect();
    let etag = first.etag.clone();
    let first_bytes = first.bytes.clone();
    let mut writer = Writer::open(sink, &reader.location().key)?;

    let fetch_and_open = |unit: Range<u64>| {
        let cipher = Arc::clone(&cipher);
        let first_bytes = first_bytes.clone();
        let etag = etag.clone();
        let want = want.clone();
        async move {
            let range = layout.cipher_range_of_chunks(unit.clone());
            let sealed = if range.end <= first_bytes.len() as u64 {
                first_bytes.slice(range.start as usize..range.end as usize)
            } else {
                let data = reader.read_range(range.clone(), etag.as_deref()).await?;
                if data.bytes.len() as u64 != range.end - range.start {
                    return Err(Error::from(FormatError::LengthMismatch {
                        expected: layout.ciphertext_len(),
                        actual: data.total,
                    }));
                }
                data.bytes
            };
            let unit_plain = layout.chunk_plain_range(unit.start).start
                ..layout.chunk_plain_range(unit.end - 1).end;
            let chunk_count = unit.end - unit.start;
            let (tx, rx) = tokio::sync::oneshot::channel();
            rayon::spawn(move || {
                let _ = tx.send(open_unit(&cipher, &layout, unit, &sealed));
            });
            let mut plain = rx.await.expect("CPU pool task panicked")?;
            // Trim to the wanted plaintext bytes.
            let from = want
                .start
                .saturating_sub(unit_plain.start)
                .min(plain.len() as u64) as usize;
            let to = (want.end.min(unit_plain.end) - unit_plain.start) as usize;
            plain.truncate(to.max(from));
            plain.drain(..from);
            Ok::<_, Error>((plain, chunk_count))
        }
    };

    let mut cancel = cancel;
    let run = async {
        let mut stream = futures::stream::iter(units)
            .map(fetch_and_open)
            .buffered(request.concurrency.max(1));
        let mut written = 0u64;
        let mut verified_chunks = 0u64;
        while let Some((plain, n)) = stream.try_next().await? {
            writer.write(&plain).await?;
            written += plain.len() as u64;
            verified_chunks += n;
            progress.advance(plain.len() as u64);
        }
        Ok::<_, Error>((written, verified_chunks))
    };
    let (written, verified_chunks) = tokio::select! {
        result = run => result?,
        _ = cancel.cancelled() => return Err(Error::Interrupted),
    };
    let destination = writer.commit().await?;
    progress.finish();
    Ok(DownloadOutcome {
        plaintext_len: plain_len,
        bytes_written: written,
        chunks_verified: verified_chunks,
        kms_key_arn: fields.key_id,
        destination,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_total() {
        assert_eq!(parse_total("bytes 0-99/1234"), Some(1234));
        assert_eq!(parse_total("bytes 0-99/*"), None);
    }
}

//! Fetch, verify and decrypt: the first ranged GET brings the header, the object's size and
//! its ETag; the header is authenticated (KMS, commitment, MAC) before anything else; the rest
//! is fetched as concurrent ranged GETs pinned to that ETag (`If-Match`), opened on the CPU
//! pool, and written in order.
//!
//! Nothing unauthenticated is released: a file destination is written to a temporary file
//! beside it and renamed only after every chunk verified (on failure the temporary file is
//! removed and the destination is untouched); stdout receives a chunk's bytes only after that
//! chunk verified, and any failure ends with an error.
//!
//! Memory and copies: each range's body is streamed straight into one reused buffer (the only
//! copy of the ciphertext), opened in place chunk by chunk on the CPU pool, and written from
//! that buffer: a file with positioned writes as soon as the range is verified (ranges finish in
//! any order), stdout in order (at most `concurrency` ranges are fetched or waiting, so a slow
//! reader slows the download instead of growing memory). Peak memory is about a constant plus
//! `concurrency x range size`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use rayon::prelude::*;

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

    /// Reads `range` (as [`RangeReader::read_range`]) into `buf`, replacing its contents but
    /// reusing its allocation; returns the size of the whole object. The download pipeline
    /// uses this for every range after the first. The default goes through `read_range` and
    /// copies; readers that can stream the body into `buf` directly should override it.
    async fn read_range_into(
        &self,
        range: Range<u64>,
        if_match: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> Result<u64> {
        let data = self.read_range(range, if_match).await?;
        buf.clear();
        buf.extend_from_slice(&data.bytes);
        Ok(data.total)
    }
}

/// An object in S3, read with GetObject.
pub struct S3Object<'a> {
    pub aws: &'a Aws,
    pub location: ObjectLocation,
}

fn parse_total(content_range: &str) -> Option<u64> {
    content_range.rsplit_once('/')?.1.trim().parse().ok()
}

type GetObjectResult = std::result::Result<
    aws_sdk_s3::operation::get_object::GetObjectOutput,
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
>;

/// Waits before attempt `attempt + 1`: 200 ms, 400 ms, 800 ms.
async fn backoff(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
}

/// Size of the whole object: from Content-Range, or (a server that ignored the Range header
/// and sent everything) from Content-Length.
fn object_total(out: &aws_sdk_s3::operation::get_object::GetObjectOutput) -> u64 {
    match out.content_range().and_then(parse_total) {
        Some(total) => total,
        None => out.content_length().unwrap_or(0).max(0) as u64,
    }
}

impl S3Object<'_> {
    /// Sends one ranged GetObject, counting attempts in `attempt` and retrying failures that
    /// never reached S3; what S3 answered (and the last transport failure) is returned as is.
    async fn send_range(
        &self,
        range: &Range<u64>,
        if_match: Option<&str>,
        attempt: &mut u32,
    ) -> GetObjectResult {
        loop {
            *attempt += 1;
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
            match sent {
                Err(e)
                    if !matches!(e, aws_sdk_s3::error::SdkError::ServiceError(_))
                        && *attempt < RANGE_ATTEMPTS =>
                {
                    tracing::debug!(attempt = *attempt, error = %error_chain(&e), "retrying ranged GET");
                    backoff(*attempt).await;
                }
                other => return other,
            }
        }
    }

    /// The error for a body that broke on every attempt.
    fn broken_body(&self, err: &dyn std::error::Error) -> Error {
        Error::runtime_hint(
            format!("reading {} failed: {}", self.location, error_chain(err)),
            "the connection broke repeatedly; check the network and try again",
        )
    }
}

impl RangeReader for S3Object<'_> {
    async fn read_range(&self, range: Range<u64>, if_match: Option<&str>) -> Result<RangeData> {
        let mut attempt = 0;
        loop {
            let out = match self.send_range(&range, if_match, &mut attempt).await {
                Ok(out) => out,
                Err(aws_sdk_s3::error::SdkError::ServiceError(se))
                    if se.raw().status().as_u16() == 416 =>
                {
                    // Only an empty object has no byte 0: it cannot be an s3seal object.
                    return Err(FormatError::NotS3seal.into());
                }
                Err(e) => return Err(s3_error("GetObject", &self.location, e)),
            };
            let total = object_total(&out);
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
                    backoff(attempt).await;
                }
                Err(e) => return Err(self.broken_body(&e)),
            }
        }
    }

    async fn read_range_into(
        &self,
        range: Range<u64>,
        if_match: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> Result<u64> {
        let want = range.end - range.start;
        let mut attempt = 0;
        loop {
            buf.clear();
            buf.reserve(want as usize);
            let mut out = self
                .send_range(&range, if_match, &mut attempt)
                .await
                .map_err(|e| s3_error("GetObject", &self.location, e))?;
            let total = object_total(&out);
            // A server that ignored the Range header sends the whole object: skip to ours.
            let mut skip = if out.content_range().is_none() {
                range.start
            } else {
                0
            };
            let streamed = async {
                while let Some(frame) = out.body.try_next().await? {
                    let mut frame = &frame[..];
                    let s = (skip as usize).min(frame.len());
                    frame = &frame[s..];
                    skip -= s as u64;
                    let room = (want as usize).saturating_sub(buf.len());
                    buf.extend_from_slice(&frame[..frame.len().min(room)]);
                }
                Ok::<_, aws_smithy_types::byte_stream::error::Error>(())
            };
            match streamed.await {
                Ok(()) => return Ok(total),
                Err(e) if attempt < RANGE_ATTEMPTS => {
                    tracing::debug!(attempt, error = %error_chain(&e), "retrying broken GET body");
                    backoff(attempt).await;
                }
                Err(e) => return Err(self.broken_body(&e)),
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

/// Opens the chunks `chunks` of one fetched range in place (in parallel on the CPU pool: call
/// it from there) and returns where the wanted plaintext now sits in `buf`: one slice per
/// chunk, in order, with the plaintext offset of its first byte. A failure names the first
/// chunk that did not verify.
fn open_unit(
    cipher: &ChunkCipher,
    layout: &Layout,
    chunks: Range<u64>,
    buf: &mut [u8],
    want: &Range<u64>,
) -> Result<Vec<(u64, Range<usize>)>, FormatError> {
    let total = buf.len();
    let mut pieces = Vec::with_capacity((chunks.end - chunks.start) as usize);
    let mut rest = buf;
    let mut offset = 0usize;
    for index in chunks {
        let plain = layout.chunk_plain_range(index);
        let sealed_len = (plain.end - plain.start) as usize + TAG_LEN;
        if sealed_len > rest.len() {
            return Err(FormatError::LengthMismatch {
                expected: layout.ciphertext_len(),
                actual: layout.ciphertext_len() - (sealed_len - rest.len()) as u64,
            });
        }
        let (this, tail) = std::mem::take(&mut rest).split_at_mut(sealed_len);
        pieces.push((index, plain.start, offset, this));
        offset += sealed_len;
        rest = tail;
    }
    debug_assert_eq!(offset, total);
    let opened: Vec<Result<(u64, Range<usize>), FormatError>> = pieces
        .into_par_iter()
        .map(|(index, plain_start, offset, sealed)| {
            let n = cipher.open_in_place(index, layout.is_final(index), sealed)?;
            // Keep only the wanted plaintext bytes of this chunk.
            let from = want.start.saturating_sub(plain_start).min(n as u64) as usize;
            let to = (want.end.saturating_sub(plain_start).min(n as u64) as usize).max(from);
            Ok((plain_start + from as u64, offset + from..offset + to))
        })
        .collect();
    opened.into_iter().collect()
}

/// Picks the file a download writes (an existing directory gets the key's last segment).
pub(crate) fn resolve_destination(path: &Path, key: &str) -> Result<PathBuf> {
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

/// Writes `data` at `offset` of `file` (positioned: ranges may finish in any order).
fn write_at(file: &std::fs::File, data: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, data, offset)
    }
    #[cfg(windows)]
    {
        let mut data = data;
        let mut offset = offset;
        while !data.is_empty() {
            let n = std::os::windows::fs::FileExt::seek_write(file, data, offset)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
            offset += n as u64;
        }
        Ok(())
    }
}

/// stdout without std's line buffering in the way (large writes go straight to the fd).
#[cfg(unix)]
fn raw_stdout() -> std::io::Result<Box<dyn std::io::Write + Send>> {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok(Box::new(std::fs::File::from(fd)))
}

#[cfg(not(unix))]
fn raw_stdout() -> std::io::Result<Box<dyn std::io::Write + Send>> {
    Ok(Box::new(std::io::stdout()))
}

enum Writer {
    /// Written with positioned writes by the range tasks themselves.
    File {
        tmp: tempfile::NamedTempFile,
        file: Arc<std::fs::File>,
        dest: PathBuf,
    },
    /// Written in order by the consumer, on a blocking thread.
    Stdout(Option<Box<dyn std::io::Write + Send>>),
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
                let file = Arc::new(
                    tmp.reopen()
                        .map_err(|e| Error::io(tmp.path().display().to_string(), e))?,
                );
                Writer::File { tmp, file, dest }
            }
            Sink::Stdout => Writer::Stdout(Some(raw_stdout().map_err(|e| Error::io("stdout", e))?)),
            Sink::Discard => Writer::Discard,
        })
    }

    /// Makes the output final: fsync and rename for a file.
    async fn commit(self) -> Result<Option<PathBuf>> {
        match self {
            Writer::File { tmp, file, dest } => {
                let path = tmp.path().display().to_string();
                let synced = tokio::task::spawn_blocking(move || file.sync_all())
                    .await
                    .expect("fsync task panicked");
                synced.map_err(|e| Error::io(path, e))?;
                tmp.persist(&dest)
                    .map_err(|e| Error::io(dest.display().to_string(), e.error))?;
                Ok(Some(dest))
            }
            Writer::Stdout(Some(mut out)) => {
                tokio::task::spawn_blocking(move || out.flush())
                    .await
                    .expect("stdout task panicked")
                    .map_err(|e| Error::io("stdout", e))?;
                Ok(None)
            }
            Writer::Stdout(None) | Writer::Discard => Ok(None),
        }
    }
}

/// Range buffers kept for reuse (see the upload pool: reuse keeps RSS at what is in flight).
#[derive(Default)]
struct BufferPool(std::sync::Mutex<Vec<Vec<u8>>>);

impl BufferPool {
    fn take(&self) -> Vec<u8> {
        self.0.lock().expect("pool lock").pop().unwrap_or_default()
    }

    fn give(&self, buf: Vec<u8>) {
        self.0.lock().expect("pool lock").push(buf);
    }
}

/// One opened range: its buffer and where the wanted plaintext sits in it.
struct Opened {
    buf: Vec<u8>,
    /// (plaintext offset in the object, bytes of `buf`), in order.
    pieces: Vec<(u64, Range<usize>)>,
    chunks: u64,
    plain_bytes: u64,
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
    let first_bytes: Bytes = first.bytes.clone();
    let mut writer = Writer::open(sink, &reader.location().key)?;
    // Ranges finish in any order for a file (positioned writes) or nothing (verify only);
    // stdout needs them in order.
    let positioned = match &writer {
        Writer::File { file, .. } => Some(Arc::clone(file)),
        _ => None,
    };
    let ordered = matches!(writer, Writer::Stdout(_));
    let pool = Arc::new(BufferPool::default());

    let fetch_and_open = |unit: Range<u64>| {
        let cipher = Arc::clone(&cipher);
        let first_bytes = first_bytes.clone();
        let etag = etag.clone();
        let want = want.clone();
        let pool = Arc::clone(&pool);
        let positioned = positioned.clone();
        async move {
            let range = layout.cipher_range_of_chunks(unit.clone());
            let mut buf = pool.take();
            if range.end <= first_bytes.len() as u64 {
                buf.clear();
                buf.extend_from_slice(&first_bytes[range.start as usize..range.end as usize]);
            } else {
                let total = reader
                    .read_range_into(range.clone(), etag.as_deref(), &mut buf)
                    .await?;
                if buf.len() as u64 != range.end - range.start {
                    return Err(Error::from(FormatError::LengthMismatch {
                        expected: layout.ciphertext_len(),
                        actual: total,
                    }));
                }
            }
            let chunks = unit.end - unit.start;
            let base = want.start;
            let (tx, rx) = tokio::sync::oneshot::channel();
            rayon::spawn(move || {
                let result = open_unit(&cipher, &layout, unit, &mut buf, &want);
                let _ = tx.send(result.map(|pieces| (buf, pieces)));
            });
            let (buf, pieces) = rx.await.expect("CPU pool task panicked")?;
            let plain_bytes = pieces.iter().map(|(_, r)| (r.end - r.start) as u64).sum();
            let opened = Opened {
                buf,
                pieces,
                chunks,
                plain_bytes,
            };
            let Some(file) = positioned else {
                return Ok::<_, Error>(opened);
            };
            // Verified: write it where it belongs in the temporary file.
            tokio::task::spawn_blocking(move || {
                for (at, piece) in &opened.pieces {
                    write_at(&file, &opened.buf[piece.clone()], at - base)?;
                }
                Ok(opened)
            })
            .await
            .expect("writer task panicked")
            .map_err(|e: std::io::Error| Error::io("the temporary download file", e))
        }
    };

    let mut cancel = cancel;
    let concurrency = request.concurrency.max(1);
    let run = async {
        let opened = futures::stream::iter(units).map(fetch_and_open);
        let mut stream: std::pin::Pin<Box<dyn Stream<Item = Result<Opened>> + '_>> = if ordered {
            Box::pin(opened.buffered(concurrency))
        } else {
            Box::pin(opened.buffer_unordered(concurrency))
        };
        let mut written = 0u64;
        let mut verified_chunks = 0u64;
        while let Some(opened) = stream.try_next().await? {
            let n = opened.plain_bytes;
            let buf = if let Writer::Stdout(slot) = &mut writer {
                let mut out = slot.take().expect("stdout writer present");
                let (out, opened) = tokio::task::spawn_blocking(move || {
                    let result = opened
                        .pieces
                        .iter()
                        .try_for_each(|(_, piece)| out.write_all(&opened.buf[piece.clone()]));
                    (result.map(|()| out), opened)
                })
                .await
                .expect("stdout task panicked");
                *slot = Some(out.map_err(|e| Error::io("stdout", e))?);
                verified_chunks += opened.chunks;
                opened.buf
            } else {
                verified_chunks += opened.chunks;
                opened.buf
            };
            pool.give(buf);
            written += n;
            progress.advance(n);
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

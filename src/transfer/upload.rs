//! Encrypt and upload: read the source part by part (one reader, sequential, so stdin works),
//! seal each part's chunks on the CPU pool, and upload parts concurrently over HTTPS.
//!
//! Part 1 carries the header, which holds the plaintext length. For a file that length is known
//! up front, so part 1 is finished and uploaded like any other part. For a stream it is only
//! known at the end: part 1 is sealed early, kept, and uploaded last with its header (multipart
//! parts may arrive in any order). A source that fits in one part is sent with a single
//! PutObject. Any failure or cancellation aborts the multipart upload explicitly.
//!
//! Memory: every part is read into one buffer laid out as it is sent (header space, then each
//! chunk followed by room for its tag), sealed in place, and handed to the SDK without a copy
//! ([`Bytes::from_owner`]); when the SDK drops it, the buffer goes back to a pool and is reused
//! for a later part, so the allocator never sees part-sized churn. A byte budget of
//! `concurrency x part size` (a semaphore counting chunks) bounds the parts between read and
//! acknowledged upload, even when a stream's parts grow: bigger parts mean fewer in flight. A
//! stream's part 1 is held outside the budget. So peak memory is about a constant plus
//! `(concurrency + 1) x part size` (docs/PERFORMANCE.md).
//!
//! A part is sealed once, and the SDK retries it from the same sealed bytes, so a retry never
//! encrypts different data under the same nonce. The SDK computes the part's CRC32C (one pass
//! over the in-memory body, sent as `x-amz-checksum-crc32c` so S3 verifies every byte) and does
//! not hash the payload: payload signing is disabled (`UNSIGNED-PAYLOAD` over HTTPS).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use bytes::Bytes;
use rayon::prelude::*;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::plan::PartPlan;
use super::{Cancel, Progress, s3_error};
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::format::{
    Backend, ChunkCipher, ChunkSize, EncryptionContext, HeaderFields, MessageId, ObjectKeys,
    TAG_LEN,
};
use crate::kms::Keyring;
use crate::location::ObjectLocation;

/// What to upload.
pub enum Source {
    /// A regular file; its size and modification time are checked again at the end, so a file
    /// that changes during the upload is refused rather than stored half old, half new.
    File(PathBuf),
    /// A stream of unknown length (stdin).
    Stream(Box<dyn Read + Send>),
    /// A stream of unknown length with a hint of about how long it is (`--expected-size`):
    /// parts are sized up front so that length fits in 10,000 parts. A longer stream still
    /// works while parts grow; one past what the plan can hold fails with a clear error.
    StreamWithHint {
        reader: Box<dyn Read + Send>,
        expected_size: u64,
    },
}

/// How to upload.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub dest: ObjectLocation,
    /// KMS key for the envelope (id, ARN or alias).
    pub kms_key_id: String,
    /// KMS key for SSE-KMS (default: the ARN of the envelope key).
    pub sse_kms_key_id: Option<String>,
    /// User encryption-context pairs.
    pub context: Vec<(String, String)>,
    pub chunk_size: ChunkSize,
    pub part_size: u64,
    /// Parts between read and acknowledged upload (the memory budget is this many base parts).
    pub concurrency: usize,
    /// Sent as ExpectedBucketOwner on every request, so a bucket of another account is refused.
    pub expected_bucket_owner: Option<String>,
}

/// What was stored.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    pub plaintext_len: u64,
    pub ciphertext_len: u64,
    /// 0 for a single PutObject.
    pub parts: u32,
    pub kms_key_arn: String,
    pub sse_kms_key_id: String,
}

/// Reads whole chunks from a source, looking one byte ahead so it knows which chunk is final.
struct ChunkReader {
    inner: Box<dyn Read + Send>,
    carry: Option<u8>,
    eof: bool,
}

impl ChunkReader {
    fn new(inner: Box<dyn Read + Send>) -> Self {
        ChunkReader {
            inner,
            carry: None,
            eof: false,
        }
    }

    /// Fills `buf` completely unless the source ends first; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        if !buf.is_empty()
            && let Some(b) = self.carry.take()
        {
            buf[0] = b;
            n = 1;
        }
        while n < buf.len() && !self.eof {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => self.eof = true,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// True when no byte follows.
    fn at_end(&mut self) -> std::io::Result<bool> {
        if self.carry.is_some() {
            return Ok(false);
        }
        let mut one = [0u8; 1];
        while !self.eof {
            match self.inner.read(&mut one) {
                Ok(0) => self.eof = true,
                Ok(_) => {
                    self.carry = Some(one[0]);
                    return Ok(false);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Part buffers kept for reuse. Reusing them keeps peak memory at what is in flight: freeing
/// and reallocating multi-MiB buffers from several threads makes glibc keep freed memory
/// around (its mmap threshold grows), which showed as 30-40 MiB of extra RSS.
#[derive(Default)]
struct BufferPool {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// A buffer of exactly `len` initialized bytes (contents unspecified).
    fn take(&self, len: usize) -> Vec<u8> {
        let found = {
            let mut free = self.free.lock().expect("pool lock");
            match free.iter().position(|b| b.capacity() >= len) {
                Some(i) => Some(free.swap_remove(i)),
                // None big enough (a stream's parts grew): drop one so the pool does not keep
                // buffers of the old size besides the new ones.
                None => {
                    free.pop();
                    None
                }
            }
        };
        match found {
            Some(mut buf) => {
                // Already initialized up to its old length: growing within it writes nothing.
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                buf.truncate(len);
                buf
            }
            None => vec![0u8; len],
        }
    }

    fn give(&self, buf: Vec<u8>) {
        self.free.lock().expect("pool lock").push(buf);
    }
}

/// A sealed part's bytes as the SDK sends them; returns its buffer to the pool when the SDK
/// (and every retry's clone) is done with it.
struct PooledBody {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for PooledBody {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// One part read from the source: plaintext chunks laid out with room for their tags.
struct PartBuf {
    number: u32,
    /// Header space (part 1) followed by, per chunk, plaintext then 16 tag bytes; only the
    /// first `len` bytes are the part (the buffer may be longer when reused).
    bytes: Vec<u8>,
    len: usize,
    header_space: usize,
    /// (chunk index, plaintext length, final?)
    chunks: Vec<(u64, usize, bool)>,
    plaintext_len: u64,
    is_last: bool,
}

impl PartBuf {
    fn into_body(self, pool: &Arc<BufferPool>) -> Bytes {
        Bytes::from_owner(PooledBody {
            buf: self.bytes,
            len: self.len,
            pool: Arc::clone(pool),
        })
    }
}

/// Reads the chunks `chunks` of part `number` into `bytes` (a buffer at least as long as the
/// part can be), straight into their final places: no byte is copied after it is read.
fn read_part(
    reader: &mut ChunkReader,
    number: u32,
    chunks: std::ops::Range<u64>,
    chunk_size: ChunkSize,
    header_space: usize,
    mut bytes: Vec<u8>,
) -> std::io::Result<PartBuf> {
    let c = chunk_size.bytes() as usize;
    let count = (chunks.end - chunks.start) as usize;
    let need = header_space + count * (c + TAG_LEN);
    if bytes.len() < need {
        bytes.resize(need, 0);
    }
    let mut off = header_space;
    let mut list = Vec::with_capacity(count);
    let mut plaintext_len = 0u64;
    let mut is_last = false;
    for index in chunks {
        let n = reader.fill(&mut bytes[off..off + c])?;
        let is_final = n < c || reader.at_end()?;
        list.push((index, n, is_final));
        plaintext_len += n as u64;
        off += n + TAG_LEN;
        if is_final {
            is_last = true;
            break;
        }
    }
    Ok(PartBuf {
        number,
        bytes,
        len: off,
        header_space,
        chunks: list,
        plaintext_len,
        is_last,
    })
}

/// Seals every chunk of a part in place, in parallel on the CPU pool.
fn seal_part(cipher: &ChunkCipher, part: &mut PartBuf) {
    let mut slices = Vec::with_capacity(part.chunks.len());
    let mut rest = &mut part.bytes[part.header_space..part.len];
    for &(index, len, is_final) in &part.chunks {
        let (this, tail) = rest.split_at_mut(len + TAG_LEN);
        slices.push((index, len, is_final, this));
        rest = tail;
    }
    slices
        .into_par_iter()
        .for_each(|(index, len, is_final, buf)| {
            let (data, tag) = buf.split_at_mut(len);
            tag.copy_from_slice(&cipher.seal_in_place(index, is_final, data));
        });
}

/// Runs `f` on the rayon pool (sized to the cores) and awaits it.
async fn on_cpu_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.expect("a CPU pool task panicked")
}

fn file_identity(path: &PathBuf) -> Result<(u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    Ok((meta.len(), meta.modified().ok()))
}

fn changed_error(path: &std::path::Path) -> Error {
    Error::runtime_hint(
        format!("{} changed while it was being uploaded", path.display()),
        "nothing was stored; upload a stable copy (a snapshot) of the file",
    )
}

/// Encrypts `source` and stores it at `request.dest`.
pub async fn upload(
    aws: &Aws,
    keyring: &impl Keyring,
    source: Source,
    request: &UploadRequest,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<UploadOutcome> {
    let dest = &request.dest;
    let owner = request.expected_bucket_owner.clone();
    let (reader, known_len, file_check, expected_size): (Box<dyn Read + Send>, Option<u64>, _, _) =
        match source {
            Source::File(path) => {
                let identity = file_identity(&path)?;
                let meta = std::fs::metadata(&path)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                if !meta.is_file() {
                    return Err(Error::usage(format!(
                        "{} is not a regular file",
                        path.display()
                    )));
                }
                let file = std::fs::File::open(&path)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                (
                    Box::new(file),
                    Some(identity.0),
                    Some((path, identity)),
                    None,
                )
            }
            Source::Stream(reader) => (reader, None, None, None),
            Source::StreamWithHint {
                reader,
                expected_size,
            } => (reader, None, None, Some(expected_size)),
        };
    let context = EncryptionContext::for_object(&dest.bucket, &dest.key, &request.context)
        .map_err(|e| Error::usage(e.to_string()))?;
    // Check what needs no KMS call first: a bad part size or an impossible hint.
    PartPlan::with_hint(
        request.chunk_size,
        0,
        request.part_size,
        known_len,
        expected_size,
    )?;
    let new_key = keyring.generate(&request.kms_key_id, &context).await?;
    let message_id = MessageId::random();
    let keys = ObjectKeys::derive(&new_key.key, message_id);
    drop(new_key.key);
    let mut fields = HeaderFields {
        chunk_size: request.chunk_size,
        plaintext_len: known_len.unwrap_or(0),
        message_id,
        key_id: new_key.key_arn.clone(),
        wrapped_key: new_key.wrapped,
        context,
    };
    // The header's length does not depend on the plaintext length, so part 1 can reserve it.
    let header_len = fields.seal(&keys)?.len();
    let plan = PartPlan::with_hint(
        request.chunk_size,
        header_len as u64,
        request.part_size,
        known_len,
        expected_size,
    )?;
    let capacity = plan.stream_capacity();
    let cipher = Arc::new(crate::format::ChunkCipher::new(
        &keys,
        request.chunk_size,
        Backend::default(),
    ));
    let sse_key = request
        .sse_kms_key_id
        .clone()
        .unwrap_or_else(|| new_key.key_arn.clone());
    progress.start(known_len);

    let pool = Arc::new(BufferPool::default());
    // The memory budget, in chunks: `concurrency` parts of the base size. A part takes as many
    // permits as it has chunks (at most the whole budget), from read until S3 acknowledged it.
    let budget = (plan.base_chunks() as usize)
        .saturating_mul(request.concurrency.max(1))
        .min(Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(budget));
    let reader = Arc::new(std::sync::Mutex::new(ChunkReader::new(reader)));
    let read = |number: u32, chunks: std::ops::Range<u64>| {
        let reader = Arc::clone(&reader);
        let pool = Arc::clone(&pool);
        let chunk_size = request.chunk_size;
        let header_space = if number == 1 { header_len } else { 0 };
        let len = plan.part_cipher_bytes(chunks.end - chunks.start) as usize;
        async move {
            tokio::task::spawn_blocking(move || {
                let buf = pool.take(len);
                let mut reader = reader.lock().expect("reader lock");
                read_part(&mut reader, number, chunks, chunk_size, header_space, buf)
            })
            .await
            .expect("reader task panicked")
            .map_err(|e| Error::runtime(format!("reading the source failed: {e}")))
        }
    };
    // Chunks of part `number`, or the reason there is no such part.
    let part_chunks = |number: u32| -> Result<std::ops::Range<u64>> {
        match plan.chunks_of_part(number)? {
            Some(chunks) => Ok(chunks),
            None => Err(match &file_check {
                // The plan came from the file's size: more data means the file grew.
                Some((path, _)) => changed_error(path),
                None => Error::runtime("internal: part past the end of the plan"),
            }),
        }
    };
    let acquire = |chunks: &std::ops::Range<u64>| {
        let n = ((chunks.end - chunks.start) as usize).clamp(1, budget) as u32;
        let permits = Arc::clone(&permits);
        async move { permits.acquire_many_owned(n).await.expect("semaphore open") }
    };

    let first_chunks = part_chunks(1)?;
    let first_permit = acquire(&first_chunks).await;
    let mut first = read(1, first_chunks).await?;
    {
        let cipher = Arc::clone(&cipher);
        first = on_cpu_pool(move || {
            seal_part(&cipher, &mut first);
            first
        })
        .await;
    }

    let finish_header =
        |part1: &mut PartBuf, total_plain: u64, fields: &mut HeaderFields| -> Result<()> {
            fields.plaintext_len = total_plain;
            let header = fields.seal(&keys)?;
            debug_assert_eq!(header.len(), part1.header_space);
            part1.bytes[..header.len()].copy_from_slice(&header);
            Ok(())
        };

    let check_source = |total_plain: u64| -> Result<()> {
        if let Some((path, before)) = &file_check {
            let after = file_identity(path)?;
            if after != *before || total_plain != before.0 {
                return Err(changed_error(path));
            }
        }
        Ok(())
    };

    if first.is_last {
        // Everything fits in one request.
        let total = first.plaintext_len;
        check_source(total)?;
        finish_header(&mut first, total, &mut fields)?;
        let body = first.into_body(&pool);
        let ciphertext_len = body.len() as u64;
        aws.s3
            .put_object()
            .bucket(&dest.bucket)
            .set_expected_bucket_owner(owner.clone())
            .key(&dest.key)
            .content_length(ciphertext_len as i64)
            .content_type("application/octet-stream")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&sse_key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(body))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| s3_error("PutObject", dest, e))?;
        drop(first_permit);
        progress.advance(total);
        progress.finish();
        return Ok(UploadOutcome {
            plaintext_len: total,
            ciphertext_len,
            parts: 0,
            kms_key_arn: new_key.key_arn,
            sse_kms_key_id: sse_key,
        });
    }

    let create_started = std::time::Instant::now();
    let created = aws
        .s3
        .create_multipart_upload()
        .bucket(&dest.bucket)
        .set_expected_bucket_owner(owner.clone())
        .key(&dest.key)
        .content_type("application/octet-stream")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&sse_key)
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .map_err(|e| s3_error("CreateMultipartUpload", dest, e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| Error::runtime("S3 returned no upload id"))?
        .to_string();
    sweep_lost_creates(
        aws,
        dest,
        &upload_id,
        owner.clone(),
        create_started.elapsed(),
    )
    .await;

    let upload_part = {
        let s3 = aws.s3.clone();
        let dest = dest.clone();
        let upload_id = upload_id.clone();
        let owner = request.expected_bucket_owner.clone();
        let pool = Arc::clone(&pool);
        move |part: PartBuf| {
            let owner = owner.clone();
            let s3 = s3.clone();
            let dest = dest.clone();
            let upload_id = upload_id.clone();
            let pool = Arc::clone(&pool);
            async move {
                let number = part.number;
                let plain = part.plaintext_len;
                let body = part.into_body(&pool);
                let out = s3
                    .upload_part()
                    .bucket(&dest.bucket)
                    .set_expected_bucket_owner(owner.clone())
                    .key(&dest.key)
                    .upload_id(&upload_id)
                    .part_number(number as i32)
                    .content_length(body.len() as i64)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                    .body(ByteStream::from(body))
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await
                    .map_err(|e| s3_error("UploadPart", &dest, e))?;
                Ok::<_, Error>((
                    CompletedPart::builder()
                        .part_number(number as i32)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_string))
                        .build(),
                    plain,
                ))
            }
        }
    };

    let drive = async {
        let mut tasks: JoinSet<Result<(CompletedPart, u64)>> = JoinSet::new();
        let mut completed = Vec::new();
        let mut total_plain = first.plaintext_len;
        // A file's header is final now: part 1 goes first, like any other part. A stream's
        // part 1 waits for the length; its memory is outside the budget.
        let mut held_first = if let Some(len) = known_len {
            finish_header(&mut first, len, &mut fields)?;
            let upload_part = upload_part.clone();
            let permit = first_permit;
            tasks.spawn(async move {
                let result = upload_part(first).await;
                drop(permit);
                result
            });
            None
        } else {
            drop(first_permit);
            Some(first)
        };
        let mut number = 2u32;
        loop {
            // Reap finished parts without waiting, so errors surface early.
            while let Some(done) = tasks.try_join_next() {
                let (part, plain) = done.expect("upload task panicked")?;
                progress.advance(plain);
                completed.push(part);
            }
            let chunks = part_chunks(number)?;
            let permit = acquire(&chunks).await;
            let mut part = read(number, chunks).await?;
            total_plain += part.plaintext_len;
            if let Some(cap) = capacity
                && total_plain > cap
            {
                return Err(Error::runtime_hint(
                    format!(
                        "the stream is longer than this upload can hold ({cap} bytes: 10,000 \
                         parts at this part size, or S3's 5 TiB object limit)"
                    ),
                    "pass --expected-size (or a larger --part-size) for streams this long; \
                     nothing was stored",
                ));
            }
            let is_last = part.is_last;
            let cipher = Arc::clone(&cipher);
            let upload_part = upload_part.clone();
            tasks.spawn(async move {
                part = on_cpu_pool(move || {
                    seal_part(&cipher, &mut part);
                    part
                })
                .await;
                let result = upload_part(part).await;
                drop(permit);
                result
            });
            if is_last {
                break;
            }
            number += 1;
        }
        check_source(total_plain)?;
        if let Some(mut first) = held_first.take() {
            finish_header(&mut first, total_plain, &mut fields)?;
            tasks.spawn(upload_part(first));
        }
        while let Some(done) = tasks.join_next().await {
            let (part, plain) = done.expect("upload task panicked")?;
            progress.advance(plain);
            completed.push(part);
        }
        completed.sort_by_key(|p| p.part_number());
        Ok::<_, Error>((completed, total_plain))
    };

    let mut cancel = cancel;
    let outcome = tokio::select! {
        result = drive => result,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    let (parts, total_plain) = match outcome {
        Ok(v) => v,
        Err(err) => {
            abort(aws, dest, &upload_id, owner.clone()).await;
            return Err(err);
        }
    };
    let part_count = parts.len() as u32;
    let complete = aws
        .s3
        .complete_multipart_upload()
        .bucket(&dest.bucket)
        .set_expected_bucket_owner(owner.clone())
        .key(&dest.key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await;
    if let Err(e) = complete {
        abort(aws, dest, &upload_id, owner.clone()).await;
        return Err(s3_error("CompleteMultipartUpload", dest, e));
    }
    progress.finish();
    let layout = crate::format::Layout::new(header_len as u64, request.chunk_size, total_plain);
    Ok(UploadOutcome {
        plaintext_len: total_plain,
        ciphertext_len: layout.ciphertext_len(),
        parts: part_count,
        kms_key_arn: new_key.key_arn,
        sse_kms_key_id: sse_key,
    })
}

/// A CreateMultipartUpload whose answer was lost (reset, timeout) is sent again by the SDK,
/// leaving an empty upload s3seal never heard of. Uploads of this key that S3 began at most
/// `took` + 1 s before ours (by S3's own clock) and that hold no part can only be that: abort
/// them. Best effort: without s3:ListBucketMultipartUploads / s3:ListMultipartUploadParts, or on
/// any error, nothing is swept (a lifecycle rule for incomplete uploads still cleans up).
async fn sweep_lost_creates(
    aws: &Aws,
    dest: &ObjectLocation,
    ours: &str,
    owner: Option<String>,
    took: std::time::Duration,
) {
    let listed = match aws
        .s3
        .list_multipart_uploads()
        .bucket(&dest.bucket)
        .set_expected_bucket_owner(owner.clone())
        .prefix(&dest.key)
        .send()
        .await
    {
        Ok(listed) => listed,
        Err(e) => {
            tracing::debug!(%dest, error = %crate::aws::error_chain(&e), "not sweeping lost creates");
            return;
        }
    };
    let uploads = listed.uploads();
    let Some(our_start) = uploads
        .iter()
        .find(|u| u.upload_id() == Some(ours))
        .and_then(|u| u.initiated())
        .map(|t| t.as_secs_f64())
    else {
        return;
    };
    let window = took.as_secs_f64() + 1.0;
    for upload in uploads {
        let (Some(id), Some(key), Some(started)) =
            (upload.upload_id(), upload.key(), upload.initiated())
        else {
            continue;
        };
        let before = our_start - started.as_secs_f64();
        if id == ours || key != dest.key || !(0.0..=window).contains(&before) {
            continue;
        }
        let empty = aws
            .s3
            .list_parts()
            .bucket(&dest.bucket)
            .set_expected_bucket_owner(owner.clone())
            .key(&dest.key)
            .upload_id(id)
            .max_parts(1)
            .send()
            .await
            .is_ok_and(|parts| parts.parts().is_empty());
        if empty {
            tracing::debug!(%dest, upload_id = id, "aborting an upload left by a lost CreateMultipartUpload answer");
            abort(aws, dest, id, owner.clone()).await;
        }
    }
}

/// Aborts a multipart upload; a failed abort is logged, the original error is what the user
/// sees (the upload id is printed so it can be cleaned up by hand or by a lifecycle rule).
async fn abort(aws: &Aws, dest: &ObjectLocation, upload_id: &str, owner: Option<String>) {
    let result = aws
        .s3
        .abort_multipart_upload()
        .bucket(&dest.bucket)
        .set_expected_bucket_owner(owner.clone())
        .key(&dest.key)
        .upload_id(upload_id)
        .send()
        .await;
    match result {
        Ok(_) => tracing::debug!(%dest, "aborted multipart upload"),
        Err(e) => tracing::error!(
            %dest, upload_id, error = %crate::aws::error_chain(&e),
            "could not abort the multipart upload; remove it with `aws s3api abort-multipart-upload` or a lifecycle rule"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(data: Vec<u8>) -> ChunkReader {
        ChunkReader::new(Box::new(std::io::Cursor::new(data)))
    }

    #[test]
    fn final_chunk_detected_at_exact_boundaries() {
        let c = ChunkSize::from_log2(16).unwrap();
        let cs = c.bytes() as usize;
        for len in [0, 1, cs - 1, cs, cs + 1, 3 * cs] {
            let mut r = reader(vec![7u8; len]);
            let part = read_part(&mut r, 1, 0..100, c, 10, Vec::new()).unwrap();
            let expect_chunks = len.div_ceil(cs).max(1);
            assert_eq!(part.chunks.len(), expect_chunks, "len {len}");
            assert!(part.is_last);
            assert!(part.chunks.last().unwrap().2);
            assert_eq!(part.chunks.iter().filter(|c| c.2).count(), 1);
            assert_eq!(part.plaintext_len, len as u64);
            assert_eq!(part.len, 10 + len + TAG_LEN * expect_chunks);
        }
    }

    #[test]
    fn parts_continue_where_the_last_stopped() {
        let c = ChunkSize::from_log2(16).unwrap();
        let cs = c.bytes() as usize;
        let data: Vec<u8> = (0..(2 * cs + 5)).map(|i| (i % 253) as u8).collect();
        let mut r = reader(data.clone());
        let p1 = read_part(&mut r, 1, 0..2, c, 0, Vec::new()).unwrap();
        assert!(!p1.is_last);
        let p2 = read_part(&mut r, 2, 2..4, c, 0, vec![9u8; 5 * cs]).unwrap();
        assert!(p2.is_last);
        assert_eq!(p2.chunks, vec![(2, 5, true)]);
        assert_eq!(&p2.bytes[..5], &data[2 * cs..]);
        assert_eq!(&p1.bytes[cs + TAG_LEN..cs + TAG_LEN + 3], &data[cs..cs + 3]);
    }
}

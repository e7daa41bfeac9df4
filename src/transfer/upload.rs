//! Encrypt and upload: read the source part by part (one reader, sequential, so stdin works),
//! seal each part's chunks on the CPU pool, and upload parts concurrently over HTTPS.
//!
//! Part 1 carries the header, whose plaintext length is only known once the source is read to
//! its end; the header is therefore written into part 1 last, and part 1 is uploaded last
//! (multipart parts may arrive in any order). A source that fits in one part is sent with a
//! single PutObject. Any failure or cancellation aborts the multipart upload explicitly.
//!
//! A part is sealed once, and the SDK retries it from the same sealed bytes, so a retry never
//! encrypts different data under the same nonce.

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

/// One part read from the source: plaintext chunks laid out with room for their tags.
struct PartBuf {
    number: u32,
    /// Header space (part 1) followed by, per chunk, plaintext then 16 tag bytes.
    bytes: Vec<u8>,
    header_space: usize,
    /// (chunk index, plaintext length, final?)
    chunks: Vec<(u64, usize, bool)>,
    plaintext_len: u64,
    is_last: bool,
}

fn read_part(
    reader: &mut ChunkReader,
    number: u32,
    chunks: std::ops::Range<u64>,
    chunk_size: ChunkSize,
    header_space: usize,
) -> std::io::Result<PartBuf> {
    let c = chunk_size.bytes() as usize;
    let count = (chunks.end - chunks.start) as usize;
    let mut bytes = Vec::with_capacity(header_space + count * (c + TAG_LEN));
    bytes.resize(header_space, 0);
    let mut list = Vec::with_capacity(count);
    let mut plaintext_len = 0u64;
    let mut is_last = false;
    for index in chunks {
        let off = bytes.len();
        bytes.resize(off + c, 0);
        let n = reader.fill(&mut bytes[off..off + c])?;
        bytes.truncate(off + n);
        if n == 0 && index > 0 {
            // The previous chunk ended exactly at a chunk boundary but was not known to be
            // final; at_end() below prevents this, so this is unreachable in practice.
            return Err(std::io::Error::other(
                "source ended at an unexpected chunk boundary",
            ));
        }
        let is_final = n < c || reader.at_end()?;
        bytes.resize(off + n + TAG_LEN, 0);
        list.push((index, n, is_final));
        plaintext_len += n as u64;
        if is_final {
            is_last = true;
            break;
        }
    }
    Ok(PartBuf {
        number,
        bytes,
        header_space,
        chunks: list,
        plaintext_len,
        is_last,
    })
}

/// Seals every chunk of a part in place, in parallel on the CPU pool.
fn seal_part(cipher: &ChunkCipher, part: &mut PartBuf) {
    let mut slices = Vec::with_capacity(part.chunks.len());
    let mut rest = &mut part.bytes[part.header_space..];
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
    let (reader, known_len, file_check): (Box<dyn Read + Send>, Option<u64>, _) = match source {
        Source::File(path) => {
            let identity = file_identity(&path)?;
            let meta =
                std::fs::metadata(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
            if !meta.is_file() {
                return Err(Error::usage(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            let file =
                std::fs::File::open(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
            (Box::new(file), Some(identity.0), Some((path, identity)))
        }
        Source::Stream(reader) => (reader, None, None),
    };
    let context = EncryptionContext::for_object(&dest.bucket, &dest.key, &request.context)
        .map_err(|e| Error::usage(e.to_string()))?;
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
    let header_len = keys.seal_header(&fields)?.len();
    let plan = PartPlan::new(
        request.chunk_size,
        header_len as u64,
        request.part_size,
        known_len,
    )?;
    let cipher = Arc::new(keys.chunk_cipher(request.chunk_size, Backend::default()));
    let sse_key = request
        .sse_kms_key_id
        .clone()
        .unwrap_or_else(|| new_key.key_arn.clone());
    progress.start(known_len);

    let reader = Arc::new(std::sync::Mutex::new(ChunkReader::new(reader)));
    let read = |number: u32| {
        let reader = Arc::clone(&reader);
        let chunks = plan.chunks_of_part(number);
        let chunk_size = request.chunk_size;
        let header_space = if number == 1 { header_len } else { 0 };
        async move {
            let chunks =
                chunks?.ok_or_else(|| Error::runtime("internal: part past the end of the plan"))?;
            tokio::task::spawn_blocking(move || {
                let mut reader = reader.lock().expect("reader lock");
                read_part(&mut reader, number, chunks, chunk_size, header_space)
            })
            .await
            .expect("reader task panicked")
            .map_err(|e| Error::runtime(format!("reading the source failed: {e}")))
        }
    };

    let mut first = read(1).await?;
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
            let header = keys.seal_header(fields)?;
            debug_assert_eq!(header.len(), part1.header_space);
            part1.bytes[..header.len()].copy_from_slice(&header);
            Ok(())
        };

    let check_source = |total_plain: u64| -> Result<()> {
        if let Some((path, before)) = &file_check {
            let after = file_identity(path)?;
            if after != *before || total_plain != before.0 {
                return Err(Error::runtime_hint(
                    format!("{} changed while it was being uploaded", path.display()),
                    "nothing was stored; upload a stable copy (a snapshot) of the file",
                ));
            }
        }
        Ok(())
    };

    if first.is_last {
        // Everything fits in one request.
        let total = first.plaintext_len;
        check_source(total)?;
        finish_header(&mut first, total, &mut fields)?;
        let body = Bytes::from(std::mem::take(&mut first.bytes));
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

    let upload_part = {
        let s3 = aws.s3.clone();
        let dest = dest.clone();
        let upload_id = upload_id.clone();
        let owner = request.expected_bucket_owner.clone();
        move |part: PartBuf| {
            let owner = owner.clone();
            let s3 = s3.clone();
            let dest = dest.clone();
            let upload_id = upload_id.clone();
            async move {
                let number = part.number;
                let plain = part.plaintext_len;
                let body = Bytes::from(part.bytes);
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
        let permits = Arc::new(Semaphore::new(request.concurrency.max(1)));
        let mut tasks: JoinSet<Result<(CompletedPart, u64)>> = JoinSet::new();
        let mut completed = Vec::new();
        let mut total_plain = first.plaintext_len;
        let mut number = 2u32;
        loop {
            // Reap finished parts without waiting, so errors surface early.
            while let Some(done) = tasks.try_join_next() {
                let (part, plain) = done.expect("upload task panicked")?;
                progress.advance(plain);
                completed.push(part);
            }
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("semaphore open");
            let mut part = read(number).await?;
            total_plain += part.plaintext_len;
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
        finish_header(&mut first, total_plain, &mut fields)?;
        let first_plain = first.plaintext_len;
        tasks.spawn(upload_part(first));
        while let Some(done) = tasks.join_next().await {
            let (part, plain) = done.expect("upload task panicked")?;
            progress.advance(if part.part_number() == Some(1) {
                first_plain
            } else {
                plain
            });
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
            let part = read_part(&mut r, 1, 0..100, c, 10).unwrap();
            let expect_chunks = len.div_ceil(cs).max(1);
            assert_eq!(part.chunks.len(), expect_chunks, "len {len}");
            assert!(part.is_last);
            assert!(part.chunks.last().unwrap().2);
            assert_eq!(part.chunks.iter().filter(|c| c.2).count(), 1);
            assert_eq!(part.plaintext_len, len as u64);
            assert_eq!(part.bytes.len(), 10 + len + TAG_LEN * expect_chunks);
        }
    }

    #[test]
    fn parts_continue_where_the_last_stopped() {
        let c = ChunkSize::from_log2(16).unwrap();
        let cs = c.bytes() as usize;
        let data: Vec<u8> = (0..(2 * cs + 5)).map(|i| (i % 253) as u8).collect();
        let mut r = reader(data.clone());
        let p1 = read_part(&mut r, 1, 0..2, c, 0).unwrap();
        assert!(!p1.is_last);
        let p2 = read_part(&mut r, 2, 2..4, c, 0).unwrap();
        assert!(p2.is_last);
        assert_eq!(p2.chunks, vec![(2, 5, true)]);
        assert_eq!(&p2.bytes[..5], &data[2 * cs..]);
        assert_eq!(&p1.bytes[cs + TAG_LEN..cs + TAG_LEN + 3], &data[cs..cs + 3]);
    }
}

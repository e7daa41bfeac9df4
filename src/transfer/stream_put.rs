//! The streamed single PutObject of a file: sealed on the fly, sent as one request, so a
//! mid-size file costs neither a multipart upload (parts, then S3 copying them together on
//! Complete) nor a buffer the size of the object. A blocking thread reads the file chunk by
//! chunk, seals each chunk (the header first: a file's length is known, so the header is final
//! before the first byte is read) and feeds a bounded channel that is the request body; memory
//! is [`STREAM_PUT_CHUNKS_HELD`] chunks per object whatever its size.
//!
//! The body cannot be replayed, so the SDK never retries it. A retry would have to re-read the
//! file, and a file changed in between would be sealed as different plaintext under the same
//! data key and nonces (AES-GCM nonce reuse). Instead, a retryable failure starts the whole
//! object again with a fresh envelope (new KMS data key, new message id), at most
//! [`STREAM_PUT_ATTEMPTS`] times. A file that changes size or modification time while it is
//! read ends the body with an error: the request fails, nothing is stored, and the change is
//! reported (never retried).

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::envelope::{NewEnvelope, context_for};
use super::plan::PartPlan;
use super::pool::{BufferPool, pooled_body};
use super::source::{ChunkReader, FileCheck, OpenedSource, changed_error};
use super::upload::{UploadOutcome, UploadRequest};
use super::url_put::MAX_SINGLE_PUT_BYTES;
use super::{Cancel, Progress};
use crate::error::{Error, Result};
use crate::format::{ChunkCipher, Layout, TAG_LEN};
use crate::kms::Keyring;
use crate::store::{BodyItem, ChannelBody, ObjectStore, StoreError, backoff};

/// Attempts of one streamed object, each with its own envelope.
pub const STREAM_PUT_ATTEMPTS: u32 = 3;

/// Sealed chunks waiting in the body's channel for the HTTP client: one is enough to keep the
/// connection busy (sealing a chunk takes far less time than sending it), and each more costs
/// a chunk of memory per object in flight.
const BODY_CHANNEL_CHUNKS: usize = 1;

/// Chunks one streamed upload holds at most (the tree runner's budget counts these): the one
/// in the channel, the one being read and sealed, the one the aws-chunked encoder is cutting
/// into frames, and about one more in the HTTP client's and TLS's buffers. Measured (debug
/// build, 1 MiB chunks): peak RSS grows by 4 MiB per object in flight.
pub const STREAM_PUT_CHUNKS_HELD: u64 = BODY_CHANNEL_CHUNKS as u64 + 3;

/// Largest plaintext sent in one streamed PUT: S3's 5 GiB single-PUT limit, less room for the
/// header and the tags (16 bytes per chunk: at most 1.25 MiB per 5 GiB at 64 KiB chunks).
const MAX_STREAM_PUT_PLAIN_BYTES: u64 = MAX_SINGLE_PUT_BYTES - (64 << 20);

/// Whether `source` goes up as one streamed PUT: a file (length known, change detection on)
/// of at most `request.stream_put_max` bytes that would otherwise take more than one part.
/// A file that fits in one part keeps the in-memory PUT, which the SDK may retry itself.
pub(super) fn streams(source: &OpenedSource, request: &UploadRequest, plan: &PartPlan) -> bool {
    let max = request.stream_put_max.min(MAX_STREAM_PUT_PLAIN_BYTES);
    source.file_check.is_some()
        && source.known_len.is_some_and(|len| len <= max)
        && plan.part_count().is_some_and(|parts| parts > 1)
}

/// The chunk buffers of every streamed PUT of the process. Shared, so the buffers of a finished
/// object serve the next one: with a pool per object, each object freed and reallocated its
/// 1 MiB buffers on other threads, and glibc's per-thread arenas kept the freed memory (debug
/// build, 20 x 50 MiB, 16 objects in flight, two chunks in the channel: peak RSS 137 MiB with
/// a pool per object, 121 MiB with this one). It holds at most the buffers that were in
/// flight at once.
fn chunk_pool() -> Arc<BufferPool> {
    static POOL: OnceLock<Arc<BufferPool>> = OnceLock::new();
    Arc::clone(POOL.get_or_init(|| Arc::new(BufferPool::default())))
}

/// Why one attempt failed.
enum Failed {
    /// The store refused or the connection broke: maybe worth another attempt.
    Store(StoreError),
    /// Anything else (the source changed or could not be read, KMS, cancellation): final.
    Final(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Failed::Final(e)
    }
}

/// Uploads the file `source` (of `len` bytes) to `request.dest` with one streamed PutObject,
/// starting again with a fresh envelope after a retryable failure.
pub(super) async fn stream_put(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, source: OpenedSource, len: u64,
    request: &UploadRequest, progress: Arc<dyn Progress>, mut cancel: Cancel,
) -> Result<UploadOutcome> {
    let check = source
        .file_check
        .clone()
        .ok_or_else(|| Error::runtime("internal: a streamed PUT of a source that is no file"))?;
    progress.start(Some(len));
    let upload = StreamPut {
        store: &*store,
        request,
        check,
        len,
        shown: Arc::new(Shown {
            progress,
            reported: AtomicU64::new(0),
        }),
    };
    let mut reader = Some(source.reader);
    let mut attempt = 1;
    loop {
        let file = match reader.take() {
            Some(file) => file,
            None => upload.reopen()?,
        };
        match upload.put_once(keyring, file, &mut cancel).await {
            Ok(outcome) => {
                upload.shown.up_to(len);
                upload.shown.progress.finish();
                return Ok(outcome);
            }
            Err(Failed::Store(e)) if e.is_retryable() && attempt < STREAM_PUT_ATTEMPTS => {
                tracing::debug!(
                    dest = %request.dest, attempt, error = %e.error,
                    "streamed PUT failed; starting the object again with a new data key"
                );
                tokio::select! {
                    _ = backoff(attempt) => {}
                    _ = cancel.cancelled() => return Err(Error::Interrupted),
                }
                attempt += 1;
            }
            Err(Failed::Store(e)) => return Err(e.error),
            Err(Failed::Final(e)) => return Err(e),
        }
    }
}

/// Progress of one object across its attempts: plaintext bytes are reported once, when the
/// first attempt sends them (a retry reports only what goes past the earlier attempts).
struct Shown {
    progress: Arc<dyn Progress>,
    reported: AtomicU64,
}

impl Shown {
    /// The plaintext up to byte `end` was sent.
    fn up_to(&self, end: u64) {
        let before = self.reported.fetch_max(end, Ordering::Relaxed);
        if end > before {
            self.progress.advance(end - before);
        }
    }
}

/// One object's upload, the same for each attempt.
struct StreamPut<'a> {
    store: &'a dyn ObjectStore,
    request: &'a UploadRequest,
    /// The file's identity at the start.
    check: FileCheck,
    len: u64,
    shown: Arc<Shown>,
}

impl StreamPut<'_> {
    /// The file again, for another attempt: only if it is still what it was at the start.
    fn reopen(&self) -> Result<Box<dyn Read + Send>> {
        let path = &self.check.path;
        self.check.check(self.len)?;
        let file =
            std::fs::File::open(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(Box::new(file))
    }

    /// One attempt: a new envelope, the body sealed while it is sent, one PutObject.
    async fn put_once(
        &self, keyring: &impl Keyring, file: Box<dyn Read + Send>, cancel: &mut Cancel,
    ) -> std::result::Result<UploadOutcome, Failed> {
        let (request, len) = (self.request, self.len);
        let context = context_for(&request.dest, &request.context)?;
        let mut envelope =
            NewEnvelope::generate(keyring, &request.kms_key_id, context, request.chunk_size)
                .await?;
        let header = envelope.seal_header(len)?;
        let layout = Layout::new(header.len() as u64, request.chunk_size, len);
        let total = layout.ciphertext_len().map_err(Error::from)?;
        let options = request.write_options(&envelope.key_arn);
        let (stop, stopped) = watch::channel(false);
        let sealer = Sealer {
            cipher: envelope.cipher(),
            layout,
            check: self.check.clone(),
            pool: chunk_pool(),
            stopped,
            shown: Arc::clone(&self.shown),
        };
        let (tx, rx) = mpsc::channel(BODY_CHANNEL_CHUNKS);
        let producer = tokio::task::spawn_blocking(move || sealer.produce(file, header, tx));
        let body = ChannelBody::new(rx, total);
        let sent = tokio::select! {
            sent = self.store.put_object_stream(&request.dest, body, &options) => Some(sent),
            _ = cancel.cancelled() => None,
        };
        // A failed or abandoned request may leave its body with the HTTP client's connection
        // task (stuck writing to a stalled socket): stop the producer rather than wait for that
        // body to be read or dropped. Its channel closes, so the body ends short and can never
        // complete.
        if !matches!(sent, Some(Ok(_))) {
            let _ = stop.send(true);
        }
        let produced = producer
            .await
            .map_err(|e| Error::runtime(format!("the sealing thread stopped: {e}")))?;
        let Some(sent) = sent else {
            return Err(Failed::Final(Error::Interrupted));
        };
        // A source that changed or failed explains the failed request better than the
        // request's own error, and is not worth a retry.
        produced?;
        let receipt = sent.map_err(Failed::Store)?;
        Ok(UploadOutcome {
            plaintext_len: len,
            ciphertext_len: total,
            parts: 0,
            kms_key_arn: envelope.key_arn.clone(),
            sse_kms_key_id: options.sse_kms_key_id.unwrap_or_default(),
            etag: receipt.etag,
        })
    }
}

/// What the sealing thread needs.
struct Sealer {
    cipher: ChunkCipher,
    layout: Layout,
    check: FileCheck,
    pool: Arc<BufferPool>,
    /// Turns true when the attempt is over (failed or cancelled).
    stopped: watch::Receiver<bool>,
    shown: Arc<Shown>,
}

impl Sealer {
    /// Sends the header, then every chunk read and sealed in order. The file must end exactly
    /// where its length said and must not have changed (checked before the final chunk is
    /// sent, so a change still fails the request). A failure is sent down the body too, so
    /// the request fails and nothing is stored. A closed channel (the request ended) or the
    /// end of the attempt stops it quietly.
    fn produce(
        self, file: Box<dyn Read + Send>, header: Vec<u8>, tx: mpsc::Sender<BodyItem>,
    ) -> Result<()> {
        let fail = |e: Error| {
            self.send(&tx, Err(std::io::Error::other(e.to_string())));
            Err(e)
        };
        if !self.send(&tx, Ok(Bytes::from(header))) {
            return Ok(());
        }
        let mut reader = ChunkReader::new(file);
        let path = &self.check.path;
        for index in 0..self.layout.chunk_count() {
            let plain = self.layout.chunk_plain_range(index);
            let len = (plain.end - plain.start) as usize;
            let mut buf = self.pool.take(len + TAG_LEN);
            match reader.fill(&mut buf[..len]) {
                Ok(n) if n == len => {}
                Ok(_) => return fail(changed_error(path)),
                Err(e) => return fail(Error::io(path.display().to_string(), e)),
            }
            let is_final = self.layout.is_final(index);
            if is_final {
                match reader.at_end() {
                    Ok(true) if !self.check.changed() => {}
                    Ok(_) => return fail(changed_error(path)),
                    Err(e) => return fail(Error::io(path.display().to_string(), e)),
                }
            }
            let (data, tag) = buf.split_at_mut(len);
            tag.copy_from_slice(&self.cipher.seal_in_place(index, is_final, data));
            let piece = pooled_body(buf, len + TAG_LEN, &self.pool);
            if !self.send(&tx, Ok(piece)) {
                return Ok(());
            }
            self.shown.up_to(plain.end);
        }
        Ok(())
    }

    /// Sends `item` once the channel has room (from the blocking thread); false when the body
    /// is gone or the attempt ended first.
    fn send(&self, tx: &mpsc::Sender<BodyItem>, item: BodyItem) -> bool {
        let mut stopped = self.stopped.clone();
        tokio::runtime::Handle::current().block_on(async move {
            tokio::select! {
                sent = tx.send(item) => sent.is_ok(),
                // Also when the attempt's sender is gone (wait_for fails at once).
                _ = stopped.wait_for(|stop| *stop) => false,
            }
        })
    }
}

#[cfg(test)]
#[path = "stream_put_tests.rs"]
mod tests;

//! Encrypt and upload: the orchestration. Parts come from [`PartReader`] (read, sealed, within
//! the memory budget) and go to the [`ObjectStore`] concurrently.
//!
//! Part 1 carries the header, which holds the plaintext length. For a file that length is known
//! up front, so part 1 is finished and uploaded like any other part. For a stream it is only
//! known at the end: part 1 is sealed early, kept, and uploaded last with its header (multipart
//! parts may arrive in any order). A source that fits in one part is sent with a single
//! PutObject; a file up to `stream_put_max` bytes with one streamed PutObject
//! ([`super::stream_put`]). Any failure or cancellation aborts the multipart upload explicitly, and the
//! original error is returned.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use super::envelope::{NewEnvelope, context_for};
use super::parts::{PartReader, seal_with};
use super::plan::PartPlan;
use super::pool::BufferPool;
use super::seal::PartBuf;
use super::source::ChunkReader;
pub use super::source::Source;
use super::stream_put::{stream_put, streams};
use super::{Cancel, Progress};
use crate::error::{Error, Result};
use crate::format::{ChunkSize, Layout};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::store::{
    ObjectSettings, ObjectStore, PartReceipt, WriteOptions, abort_quietly, or_abort,
};

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
    /// Replace the object only if it still has this ETag (read-modify-write callers).
    pub if_match: Option<String>,
    /// Storage class, tags, user metadata and Object Lock of the new object.
    pub settings: ObjectSettings,
    /// A file of at most this many bytes that needs more than one part is sent as one
    /// streamed PutObject, sealed on the fly (`transfer::stream_put`); 0: never (multipart).
    pub stream_put_max: u64,
}

impl UploadRequest {
    /// How the object is written: SSE-KMS under the requested key, or else the envelope's
    /// (`key_arn`), with the request's condition and settings.
    pub(super) fn write_options(&self, key_arn: &str) -> WriteOptions {
        WriteOptions {
            sse_kms_key_id: Some(
                self.sse_kms_key_id
                    .clone()
                    .unwrap_or_else(|| key_arn.to_string()),
            ),
            if_match: self.if_match.clone(),
            settings: self.settings.clone(),
        }
    }
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
    pub etag: Option<String>,
}

/// Encrypts `source` and stores it at `request.dest` through `store`.
pub async fn upload(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, source: Source, request: &UploadRequest,
    progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<UploadOutcome> {
    let source = source.open()?;
    let context = context_for(&request.dest, &request.context)?;
    let plan_for = |header_len: u64| {
        PartPlan::with_hint(
            request.chunk_size,
            header_len,
            request.part_size,
            source.known_len,
            source.expected_size,
        )
    };
    // Check what needs no KMS call first: a bad part size or an impossible hint.
    let rough_plan = plan_for(0)?;
    if streams(&source, request, &rough_plan)
        && let Some(len) = source.known_len
    {
        return stream_put(store, keyring, source, len, request, progress, cancel).await;
    }
    let envelope =
        NewEnvelope::generate(keyring, &request.kms_key_id, context, request.chunk_size).await?;
    let plan = plan_for(envelope.header_len as u64)?;
    let parts = PartReader::new(
        ChunkReader::new(source.reader),
        plan,
        envelope.header_len,
        request.concurrency,
        envelope.cipher(),
        source.file_check,
    );
    let options = request.write_options(&envelope.key_arn);
    progress.start(source.known_len);
    let job = Job {
        store,
        dest: request.dest.clone(),
        options,
        parts,
        envelope,
        known_len: source.known_len,
        capacity: plan.stream_capacity(),
        progress,
    };
    let (first, first_permit) = job.parts.read(1).await?;
    let first = job.parts.seal(first).await;
    if first.is_last {
        job.single_put(first, first_permit).await
    } else {
        job.multipart(first, first_permit, cancel).await
    }
}

/// One upload in progress.
struct Job {
    store: Arc<dyn ObjectStore>,
    dest: ObjectLocation,
    options: WriteOptions,
    parts: PartReader,
    envelope: NewEnvelope,
    known_len: Option<u64>,
    /// Most plaintext a stream's plan can hold.
    capacity: Option<u64>,
    progress: Arc<dyn Progress>,
}

impl Job {
    fn outcome(&self, plaintext_len: u64, ciphertext_len: u64, parts: u32) -> UploadOutcome {
        UploadOutcome {
            plaintext_len,
            ciphertext_len,
            parts,
            kms_key_arn: self.envelope.key_arn.clone(),
            sse_kms_key_id: self.options.sse_kms_key_id.clone().unwrap_or_default(),
            etag: None,
        }
    }

    /// Everything fits in one request.
    async fn single_put(
        mut self, mut first: PartBuf, permit: OwnedSemaphorePermit,
    ) -> Result<UploadOutcome> {
        let total = first.plaintext_len;
        self.parts.check_source(total)?;
        first.set_header(&self.envelope.seal_header(total)?);
        let body = first.into_body(&self.parts.pool);
        let ciphertext_len = body.len() as u64;
        let receipt = self
            .store
            .put_object(&self.dest, body, &self.options)
            .await?;
        drop(permit);
        self.progress.advance(total);
        self.progress.finish();
        Ok(UploadOutcome {
            etag: receipt.etag,
            ..self.outcome(total, ciphertext_len, 0)
        })
    }

    async fn multipart(
        mut self, first: PartBuf, permit: OwnedSemaphorePermit, mut cancel: Cancel,
    ) -> Result<UploadOutcome> {
        let create_started = std::time::Instant::now();
        let store = Arc::clone(&self.store);
        let upload_id = store
            .create_multipart_upload(&self.dest, &self.options)
            .await?;
        sweep_lost_creates(&*store, &self.dest, &upload_id, create_started.elapsed()).await;
        let dest = self.dest.clone();
        let if_match = self.options.if_match.clone();
        let (receipt, parts, total_plain) =
            or_abort(&*store, &dest, &upload_id, &mut cancel, async {
                let (parts, total_plain) = self.send_parts(&upload_id, first, permit).await?;
                let receipt = store
                    .complete_multipart_upload(&dest, &upload_id, &parts, if_match.as_deref())
                    .await?;
                Ok((receipt, parts.len() as u32, total_plain))
            })
            .await?;
        self.progress.finish();
        let layout = Layout::new(
            self.envelope.header_len as u64,
            self.envelope.chunk_size(),
            total_plain,
        );
        Ok(UploadOutcome {
            etag: receipt.etag,
            ..self.outcome(total_plain, layout.ciphertext_len()?, parts)
        })
    }

    /// Reads, seals and uploads every part; returns them in order and the plaintext length.
    async fn send_parts(
        &mut self, upload_id: &str, mut first: PartBuf, first_permit: OwnedSemaphorePermit,
    ) -> Result<(Vec<PartReceipt>, u64)> {
        let mut tasks: JoinSet<Result<(PartReceipt, u64)>> = JoinSet::new();
        let mut done = Vec::new();
        let mut total_plain = first.plaintext_len;
        // A file's header is final now: part 1 goes first, like any other part. A stream's
        // part 1 waits for the length; its memory is outside the budget.
        let mut held_first = match self.known_len {
            Some(len) => {
                first.set_header(&self.envelope.seal_header(len)?);
                self.spawn_upload(&mut tasks, upload_id, first, Some(first_permit), false);
                None
            }
            None => {
                drop(first_permit);
                Some(first)
            }
        };
        let mut number = 2u32;
        loop {
            // Reap finished parts without waiting, so errors surface early.
            while let Some(finished) = tasks.try_join_next() {
                self.reap(finished, &mut done)?;
            }
            let (part, permit) = self.parts.read(number).await?;
            total_plain += part.plaintext_len;
            if let Some(cap) = self.capacity
                && total_plain > cap
            {
                return Err(too_long(cap));
            }
            let is_last = part.is_last;
            self.spawn_upload(&mut tasks, upload_id, part, Some(permit), true);
            if is_last {
                break;
            }
            number += 1;
        }
        self.parts.check_source(total_plain)?;
        if let Some(mut first) = held_first.take() {
            first.set_header(&self.envelope.seal_header(total_plain)?);
            self.spawn_upload(&mut tasks, upload_id, first, None, false);
        }
        while let Some(finished) = tasks.join_next().await {
            self.reap(finished, &mut done)?;
        }
        done.sort_by_key(|p: &PartReceipt| p.number);
        Ok((done, total_plain))
    }

    fn reap(
        &self, finished: std::result::Result<Result<(PartReceipt, u64)>, tokio::task::JoinError>,
        done: &mut Vec<PartReceipt>,
    ) -> Result<()> {
        let (receipt, plain) = finished.expect("upload task panicked")?;
        self.progress.advance(plain);
        done.push(receipt);
        Ok(())
    }

    /// Uploads `part` in a task (sealing it first when `seal`), releasing `permit` when S3
    /// acknowledged it.
    fn spawn_upload(
        &self, tasks: &mut JoinSet<Result<(PartReceipt, u64)>>, upload_id: &str, part: PartBuf,
        permit: Option<OwnedSemaphorePermit>, seal: bool,
    ) {
        let store = Arc::clone(&self.store);
        let dest = self.dest.clone();
        let upload_id = upload_id.to_string();
        let pool = Arc::clone(&self.parts.pool);
        let cipher = seal.then(|| self.parts.cipher());
        tasks.spawn(async move {
            let part = match cipher {
                Some(cipher) => seal_with(cipher, part).await,
                None => part,
            };
            let result = send_part(&*store, &dest, &upload_id, &pool, part).await;
            drop(permit);
            result
        });
    }
}

/// Sends one sealed part; returns its receipt and its plaintext length.
async fn send_part(
    store: &dyn ObjectStore, dest: &ObjectLocation, upload_id: &str, pool: &Arc<BufferPool>,
    part: PartBuf,
) -> Result<(PartReceipt, u64)> {
    let number = part.number;
    let plain = part.plaintext_len;
    let body = part.into_body(pool);
    let receipt = store.upload_part(dest, upload_id, number, body).await?;
    Ok((receipt, plain))
}

fn too_long(cap: u64) -> Error {
    Error::runtime_hint(
        format!(
            "the stream is longer than this upload can hold ({cap} bytes: 10,000 \
             parts at this part size, or S3's 5 TiB object limit)"
        ),
        "pass --expected-size (or a larger --part-size) for streams this long; \
         nothing was stored",
    )
}

/// A CreateMultipartUpload whose answer was lost (reset, timeout) is sent again by the SDK,
/// leaving an empty upload s3seal never heard of. Uploads of this key that S3 began at most
/// `took` + 1 s before ours (by S3's own clock) and that hold no part can only be that: abort
/// them. Best effort: without s3:ListBucketMultipartUploads / s3:ListMultipartUploadParts, or on
/// any error, nothing is swept (a lifecycle rule for incomplete uploads still cleans up).
async fn sweep_lost_creates(
    store: &dyn ObjectStore, dest: &ObjectLocation, ours: &str, took: std::time::Duration,
) {
    let uploads = match store.list_multipart_uploads(&dest.bucket, &dest.key).await {
        Ok(uploads) => uploads,
        Err(e) => {
            tracing::debug!(%dest, error = %e.error, "not sweeping lost creates");
            return;
        }
    };
    let Some(our_start) = uploads
        .iter()
        .find(|u| u.upload_id == ours)
        .and_then(|u| u.initiated)
    else {
        return;
    };
    let window = took.as_secs_f64() + 1.0;
    for upload in &uploads {
        let Some(started) = upload.initiated else {
            continue;
        };
        let before = our_start - started;
        if upload.upload_id == ours || upload.key != dest.key || !(0.0..=window).contains(&before) {
            continue;
        }
        let empty = store
            .list_parts(dest, &upload.upload_id, Some(1))
            .await
            .is_ok_and(|parts| parts.is_empty());
        if empty {
            tracing::debug!(%dest, upload_id = upload.upload_id, "aborting an upload left by a lost CreateMultipartUpload answer");
            abort_quietly(store, dest, &upload.upload_id).await;
        }
    }
}

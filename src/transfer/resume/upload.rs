//! A resumable upload of a file: the multipart upload and its journal survive an interruption,
//! and the next run continues it, but only after proving that every part already sealed under
//! this data key is byte-identical to what the file holds now (docs/SECURITY.md, "Resumable
//! uploads"):
//!
//! 1. the source's identity (path, device, inode, size, mtime) and the options must be the
//!    journal's, else the old upload is aborted and a fresh one starts (new data key, new
//!    message id);
//! 2. KMS unwraps the data key from the journal's header (the header's commitment and MAC are
//!    checked);
//! 3. ListParts tells what S3 holds; every part S3 holds and every part the ledger says was
//!    sent is re-read and re-sealed, and its SHA-256 must equal the ledger's and its CRC32C the
//!    one S3 reports (when it reports one) and its size S3's. Any difference aborts the old
//!    upload and starts afresh;
//! 4. only the parts S3 does not hold are sent (each first recorded in the ledger), then the
//!    upload is completed and the journal removed.
//!
//! Interrupted (signal, network, crash), the upload and journal stay for the next run; a source
//! that changed under the run is aborted instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::journal::{JOURNAL_VERSION, Journal, JournalDir, Ledger, LedgerWriter, SourceIdentity};
use super::part::PartSource;
use crate::error::{Error, Result};
use crate::format::Layout;
use crate::kms::Keyring;
use crate::store::{ObjectStore, PartReceipt, StoreError, abort_quietly};
use crate::transfer::envelope::{NewEnvelope, context_for};
use crate::transfer::plan::PartPlan;
use crate::transfer::source::changed_error;
use crate::transfer::upload::{Source, UploadOutcome, UploadRequest, upload};
use crate::transfer::{Cancel, Progress};

/// What a resumable upload did.
#[derive(Debug, Clone)]
pub struct ResumableOutcome {
    pub upload: UploadOutcome,
    /// Parts S3 already held, verified and not sent again.
    pub skipped_parts: u32,
    /// Their plaintext bytes.
    pub skipped_bytes: u64,
    /// Why an earlier, interrupted upload of this destination was aborted and started afresh.
    pub restarted: Option<String>,
}

/// An upload ready to send its missing parts.
struct Ready {
    journal: Journal,
    envelope: NewEnvelope,
    header: Vec<u8>,
    /// Parts S3 holds that were verified.
    have: BTreeMap<u32, PartReceipt>,
    skipped_bytes: u64,
}

enum Decision {
    Resume(Box<Ready>),
    /// Start afresh, for this reason.
    Restart(String),
}

/// Encrypts the file at `path` to `request.dest` as a resumable multipart upload, continuing
/// the interrupted upload recorded in `journals` when it is provably safe. A file that fits in
/// one part is a single PutObject (nothing to resume).
pub async fn upload_resumable(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, path: &Path, request: &UploadRequest,
    journals: &JournalDir, progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<ResumableOutcome> {
    let identity = SourceIdentity::of(path)?;
    let context = context_for(&request.dest, &request.context)?;
    let probe = PartPlan::new(
        request.chunk_size,
        0,
        request.part_size,
        Some(identity.size),
    )?;
    let mut restarted = None;
    let found = journals.load(&request.dest)?;
    if probe.part_count().unwrap_or(1) <= 1 {
        if let Some((journal, _)) = found {
            abandon(&*store, journals, &journal).await;
        }
        let upload = upload(
            store,
            keyring,
            Source::File(path.into()),
            request,
            progress,
            cancel,
        )
        .await?;
        return Ok(ResumableOutcome {
            upload,
            skipped_parts: 0,
            skipped_bytes: 0,
            restarted: None,
        });
    }
    let digest = options_digest(request);
    if let Some((journal, ledger)) = found {
        let decision = decide(
            &*store,
            keyring,
            path,
            &identity,
            &digest,
            request,
            journal.clone(),
            &ledger,
        )
        .await?;
        match decision {
            Decision::Resume(ready) => {
                let ready = *ready;
                return send(
                    store, path, identity, request, journals, ready, None, progress, cancel,
                )
                .await;
            }
            Decision::Restart(reason) => {
                tracing::info!(dest = %request.dest, %reason, "starting the upload afresh");
                abandon(&*store, journals, &journal).await;
                restarted = Some(reason);
            }
        }
    }
    let mut envelope =
        NewEnvelope::generate(keyring, &request.kms_key_id, context, request.chunk_size).await?;
    let header = envelope.seal_header(identity.size)?;
    let options = request.write_options(&envelope.key_arn);
    let sse_kms_key_id = options.sse_kms_key_id.clone().unwrap_or_default();
    let upload_id = store
        .create_multipart_upload(&request.dest, &options)
        .await?;
    let journal = Journal {
        version: JOURNAL_VERSION,
        bucket: request.dest.bucket.clone(),
        key: request.dest.key.clone(),
        upload_id,
        created: now(),
        source: identity.clone(),
        header: base64::engine::general_purpose::STANDARD.encode(&header),
        kms_key_arn: envelope.key_arn.clone(),
        sse_kms_key_id,
        part_size: request.part_size,
        options_digest: digest,
    };
    // The journal exists before any part is sent, or the upload does not go on.
    if let Err(e) = journals.save(&journal) {
        abort_quietly(&*store, &request.dest, &journal.upload_id).await;
        return Err(e);
    }
    let ready = Ready {
        journal,
        envelope,
        header,
        have: BTreeMap::new(),
        skipped_bytes: 0,
    };
    send(
        store, path, identity, request, journals, ready, restarted, progress, cancel,
    )
    .await
}

/// Aborts the upload of `journal` (if S3 still has it) and removes the journal.
async fn abandon(store: &dyn ObjectStore, journals: &JournalDir, journal: &Journal) {
    abort_quietly(store, &journal.location(), &journal.upload_id).await;
    journals.remove(&journal.location());
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A digest of what the request chose besides the destination and the source: a journal
/// written under other options is not resumed.
fn options_digest(request: &UploadRequest) -> String {
    let chosen = format!(
        "{:?}",
        (
            &request.kms_key_id,
            &request.sse_kms_key_id,
            &request.context,
            request.chunk_size.bytes(),
            request.part_size,
            &request.if_match,
            &request.settings,
        )
    );
    hex::encode(Sha256::digest(chosen.as_bytes()))
}

/// Whether the journal's upload can be continued, proven part by part.
#[allow(clippy::too_many_arguments)]
async fn decide(
    store: &dyn ObjectStore, keyring: &impl Keyring, path: &Path, identity: &SourceIdentity,
    digest: &str, request: &UploadRequest, journal: Journal, ledger: &Ledger,
) -> Result<Decision> {
    if journal.source != *identity {
        return Ok(Decision::Restart(
            "the source changed since the interrupted upload (its path, device, inode, size or \
             modification time differ)"
                .into(),
        ));
    }
    if journal.options_digest != digest {
        return Ok(Decision::Restart(
            "the options differ from the interrupted upload's".into(),
        ));
    }
    let listed = match store
        .list_parts(&request.dest, &journal.upload_id, None)
        .await
    {
        Ok(parts) => parts,
        Err(e) if e.is_not_found() => {
            return Ok(Decision::Restart(
                "the interrupted upload no longer exists in S3".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let Ok(header) = base64::engine::general_purpose::STANDARD.decode(&journal.header) else {
        return Ok(Decision::Restart(
            "the journal's header is unreadable".into(),
        ));
    };
    let envelope = NewEnvelope::from_header(keyring, &header).await?;
    let source = PartSource::new(path, &envelope, &header, journal.part_size, identity.size)?;
    let plan = source.plan;
    let listed: BTreeMap<u32, _> = listed.into_iter().map(|p| (p.number, p)).collect();
    let candidates: BTreeSet<u32> = listed.keys().chain(ledger.sealed.keys()).copied().collect();
    let mut have = BTreeMap::new();
    let mut skipped_bytes = 0;
    let started = std::time::Instant::now();
    let checked = candidates.len();
    for n in candidates {
        if plan.chunks_of_part(n)?.is_none() {
            return Ok(Decision::Restart(format!(
                "S3 holds part {n}, beyond this file's parts"
            )));
        }
        let Some((sha, crc)) = ledger.sealed.get(&n) else {
            return Ok(Decision::Restart(format!(
                "S3 holds part {n}, of which the journal has no record"
            )));
        };
        let sealed = source.seal(n).await?;
        if sealed.sha256 != *sha || sealed.crc32c != *crc {
            return Ok(Decision::Restart(format!(
                "part {n} of the file differs from the part sent before"
            )));
        }
        if let Some(info) = listed.get(&n) {
            if info.size != sealed.part.len as u64 {
                return Ok(Decision::Restart(format!(
                    "S3's part {n} has {} bytes, the re-sealed part {}",
                    info.size, sealed.part.len
                )));
            }
            if let Some(stored) = &info.crc32c
                && *stored != sealed.crc32c
            {
                return Ok(Decision::Restart(format!(
                    "S3's CRC32C of part {n} differs from the re-sealed part's"
                )));
            }
            let etag = info
                .etag
                .clone()
                .or_else(|| ledger.stored.get(&n).filter(|e| !e.is_empty()).cloned());
            have.insert(
                n,
                PartReceipt {
                    number: n,
                    etag,
                    crc32c: Some(sealed.crc32c.clone()),
                },
            );
            skipped_bytes += sealed.part.plaintext_len;
        }
        source.pool.give(sealed.part.bytes);
    }
    tracing::info!(
        parts = checked,
        seconds = started.elapsed().as_secs_f64(),
        "re-sealed and matched the parts sent before"
    );
    Ok(Decision::Resume(Box::new(Ready {
        journal,
        envelope,
        header,
        have,
        skipped_bytes,
    })))
}

/// Sends the parts S3 does not hold, completes the upload and removes the journal.
#[allow(clippy::too_many_arguments)]
async fn send(
    store: Arc<dyn ObjectStore>, path: &Path, identity: SourceIdentity, request: &UploadRequest,
    journals: &JournalDir, ready: Ready, restarted: Option<String>, progress: Arc<dyn Progress>,
    mut cancel: Cancel,
) -> Result<ResumableOutcome> {
    let Ready {
        journal,
        envelope,
        header,
        mut have,
        skipped_bytes,
    } = ready;
    let dest = journal.location();
    let source = PartSource::new(path, &envelope, &header, journal.part_size, identity.size)?;
    let count = source.plan.part_count().unwrap_or(1);
    let skipped_parts = have.len() as u32;
    let ledger = Arc::new(journals.ledger_writer(&dest)?);
    progress.start(Some(identity.size));
    progress.advance(skipped_bytes);
    let missing: Vec<u32> = (1..=count).filter(|n| !have.contains_key(n)).collect();
    // Set when S3 says the upload does not exist (completed, aborted or expired meanwhile).
    let gone = Arc::new(AtomicBool::new(false));
    let run = async {
        let permits = Arc::new(Semaphore::new(request.concurrency.max(1)));
        let mut tasks: JoinSet<Result<(PartReceipt, u64)>> = JoinSet::new();
        for n in missing {
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("semaphore open");
            while let Some(done) = tasks.try_join_next() {
                let (receipt, plain) = done.expect("part task panicked")?;
                progress.advance(plain);
                have.insert(receipt.number, receipt);
            }
            let job = PartJob {
                store: Arc::clone(&store),
                source: source.clone(),
                ledger: Arc::clone(&ledger),
                dest: dest.clone(),
                upload_id: journal.upload_id.clone(),
                gone: Arc::clone(&gone),
            };
            tasks.spawn(async move {
                let result = job.run(n).await;
                drop(permit);
                result
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (receipt, plain) = done.expect("part task panicked")?;
            progress.advance(plain);
            have.insert(receipt.number, receipt);
        }
        if SourceIdentity::of(path)? != identity {
            return Err(changed_error(path));
        }
        let parts: Vec<PartReceipt> = have.into_values().collect();
        let receipt = store
            .complete_multipart_upload(
                &dest,
                &journal.upload_id,
                &parts,
                request.if_match.as_deref(),
            )
            .await
            .map_err(|e| noting_gone(&gone, e))?;
        Ok(receipt)
    };
    let result = tokio::select! {
        r = run => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    let receipt = match result {
        Ok(receipt) => receipt,
        Err(e) => {
            // A source that changed cannot be resumed; anything else can, next time.
            if SourceIdentity::of(path).map_or(true, |now| now != identity) {
                abandon(&*store, journals, &journal).await;
            } else if gone.load(Ordering::SeqCst) {
                // Nothing left to resume: the next run starts afresh.
                journals.remove(&dest);
            } else {
                tracing::info!(%dest, upload_id = journal.upload_id, "upload left open: run the same command again to resume it");
            }
            return Err(e);
        }
    };
    journals.remove(&dest);
    progress.finish();
    let layout = Layout::new(header.len() as u64, envelope.chunk_size(), identity.size);
    Ok(ResumableOutcome {
        upload: UploadOutcome {
            plaintext_len: identity.size,
            ciphertext_len: layout.ciphertext_len()?,
            parts: count,
            kms_key_arn: envelope.key_arn.clone(),
            sse_kms_key_id: journal.sse_kms_key_id.clone(),
            etag: receipt.etag,
        },
        skipped_parts,
        skipped_bytes,
        restarted,
    })
}

/// Seals, records and sends one part.
struct PartJob {
    store: Arc<dyn ObjectStore>,
    source: PartSource,
    ledger: Arc<LedgerWriter>,
    dest: crate::location::ObjectLocation,
    upload_id: String,
    gone: Arc<AtomicBool>,
}

/// Notes in `gone` whether `e` says the upload does not exist.
fn noting_gone(gone: &AtomicBool, e: StoreError) -> StoreError {
    if e.is_not_found() {
        gone.store(true, Ordering::SeqCst);
    }
    e
}

impl PartJob {
    async fn run(self, n: u32) -> Result<(PartReceipt, u64)> {
        let sealed = self.source.seal(n).await?;
        let ledger = Arc::clone(&self.ledger);
        let (sha, crc) = (sealed.sha256.clone(), sealed.crc32c.clone());
        // Recorded (and on disk) before the bytes leave the process.
        tokio::task::spawn_blocking(move || ledger.sealed(n, &sha, &crc))
            .await
            .expect("ledger task panicked")?;
        let plain = sealed.part.plaintext_len;
        let body = sealed.part.into_body(&self.source.pool);
        let mut receipt = self
            .store
            .upload_part(&self.dest, &self.upload_id, n, body)
            .await
            .map_err(|e| noting_gone(&self.gone, e))?;
        let ledger = Arc::clone(&self.ledger);
        let etag = receipt.etag.clone();
        tokio::task::spawn_blocking(move || ledger.stored(n, etag.as_deref()))
            .await
            .expect("ledger task panicked")?;
        receipt.crc32c.get_or_insert(sealed.crc32c);
        Ok((receipt, plain))
    }
}

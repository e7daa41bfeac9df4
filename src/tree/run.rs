//! The runner of a tree: it takes work from the merge ([`super::compare::Merge`]) one item at
//! a time and keeps up to `objects_in_flight` objects going at once, each inside one global
//! memory budget ([`MemoryBudget`]), so many small files go in parallel and a large one takes the
//! parallelism of its parts without the sum ever passing the budget. Every object ends in one
//! [`ObjectReport`]; a failed object never stops the others unless `fail_fast`.
//!
//! Interruption: the caller's [`Cancel`] stops new work and reaches every transfer in flight,
//! which aborts its multipart upload or removes its temporary file (the pipelines' own paths);
//! the run then ends with [`Error::Interrupted`]. Completed objects stay, and running the same
//! command again skips them: `sync` by its change detection, `put`/`get --recursive`
//! ([`TreeMode::Copy`]) by the same merge, skipping what a previous run completed.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;

use super::compare::{Merge, Way};
use super::filter::Filters;
use super::fingerprint::FingerprintKey;
use super::jobs::{DOWNLOAD_OBJECT_RESERVE, Jobs};
use super::listing::Listing;
use super::walk::walk;
use crate::error::{Error, ErrorClass, Result};
use crate::kms::Keyring;
use crate::pins::KeyPins;
use crate::store::ObjectStore;
use crate::transfer::budget::MemoryBudget;
use crate::transfer::download::{DownloadRequest, SharedRanges};
use crate::transfer::upload::UploadRequest;
use crate::transfer::{Cancel, Progress};

/// Memory for the objects in flight at the defaults (plus the process's constant ~20-30 MiB,
/// the 128 MiB peak of docs/PERFORMANCE.md holds whatever the mix of files). A download's
/// ranges count twice their size (docs/SYNC.md), so this keeps five 8 MiB ranges in flight
/// after what the objects in flight set aside: at 80 MiB (four) large trees came down 10%
/// slower (docs/PERFORMANCE.md).
pub const DEFAULT_BUDGET_BYTES: u64 = 80 * 1024 * 1024;
/// Objects in flight at the defaults: enough to hide a small file's requests (KMS, PUT).
pub const DEFAULT_OBJECTS_IN_FLIGHT: usize = 16;
/// Failures kept for the summary (all of them are reported one by one as they happen).
const FAILURES_KEPT: usize = 100;

/// Which way a run goes, and between what.
#[derive(Debug, Clone)]
pub enum Direction {
    Up {
        root: PathBuf,
        bucket: String,
        /// `""` or ending in `/` ([`super::tree_prefix`]).
        prefix: String,
    },
    Down {
        bucket: String,
        prefix: String,
        root: PathBuf,
    },
}

/// Copy (`put/get --recursive`) or sync. Both merge the two sides; `Copy` skips only what a
/// previous run of the same command completed (same stamp and, on upload, the same settings
/// digest, [`super::settings`]) and never deletes; `skip_done: false` copies everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeMode {
    Copy { skip_done: bool },
    Sync { delete: bool, checksum: bool },
}

/// One run.
#[derive(Debug, Clone)]
pub struct TreeRequest {
    pub direction: Direction,
    pub mode: TreeMode,
    pub dry_run: bool,
    pub fail_fast: bool,
    pub follow_symlinks: bool,
    pub filters: Filters,
    /// Template of each upload (its `dest` is replaced, `settings.metadata` extended with the
    /// source's stamp, `concurrency` set by the budget).
    pub upload: Option<UploadRequest>,
    /// Resumable uploads ([`crate::transfer::resume`]): a file larger than one part keeps its
    /// multipart upload and a journal here when the run is interrupted, and the next run
    /// resumes it. `None`: interrupted uploads are aborted (no multipart upload left behind).
    pub journals: Option<crate::transfer::resume::JournalDir>,
    /// Template of each download (`concurrency` set by the budget).
    pub download: DownloadRequest,
    /// Most parts or ranges in flight for one large object.
    pub concurrency: usize,
    pub budget_bytes: u64,
    pub objects_in_flight: usize,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Uploaded,
    Downloaded,
    Skipped,
    Deleted,
    Failed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Uploaded => "uploaded",
            Action::Downloaded => "downloaded",
            Action::Skipped => "skipped",
            Action::Deleted => "deleted",
            Action::Failed => "failed",
        }
    }
}

/// The outcome of one object (in a dry run: what would have happened).
#[derive(Debug)]
pub struct ObjectReport {
    pub source: String,
    pub destination: String,
    pub plaintext_bytes: Option<u64>,
    pub action: Action,
    pub dry_run: bool,
    /// Why it was skipped or transferred (sync), when there is a reason to give.
    pub reason: Option<String>,
    pub kms_key_arn: Option<String>,
    pub etag: Option<String>,
    /// A resumed upload: parts an interrupted earlier run had stored, not sent again.
    pub parts_skipped: Option<u32>,
    pub error: Option<Error>,
}

/// Counts of a whole run.
#[derive(Debug, Default)]
pub struct Summary {
    pub uploaded: u64,
    pub downloaded: u64,
    pub skipped: u64,
    pub deleted: u64,
    pub failed: u64,
    /// Plaintext bytes uploaded or downloaded.
    pub bytes: u64,
    /// Failures whose error is an integrity failure (the run then exits 3).
    pub integrity_failures: u64,
    /// The first failures: (source, message).
    pub failures: Vec<(String, String)>,
}

impl Summary {
    fn count(&mut self, report: &ObjectReport) {
        match report.action {
            Action::Uploaded => self.uploaded += 1,
            Action::Downloaded => self.downloaded += 1,
            Action::Skipped => self.skipped += 1,
            Action::Deleted => self.deleted += 1,
            Action::Failed => self.failed += 1,
        }
        if matches!(report.action, Action::Uploaded | Action::Downloaded) && !report.dry_run {
            self.bytes += report.plaintext_bytes.unwrap_or(0);
        }
        if let Some(error) = &report.error {
            if error.class() == ErrorClass::Integrity {
                self.integrity_failures += 1;
            }
            if self.failures.len() < FAILURES_KEPT {
                self.failures
                    .push((report.source.clone(), error.to_string()));
            }
        }
    }
}

/// Runs the tree: `report` receives every object's outcome as it ends.
pub async fn run_tree<K: Keyring>(
    store: Arc<dyn ObjectStore>, keyring: &K, request: &TreeRequest, progress: Arc<dyn Progress>,
    cancel: Cancel, mut report: impl FnMut(&ObjectReport),
) -> Result<Summary> {
    if request.objects_in_flight == 0 || request.concurrency == 0 {
        return Err(Error::usage("concurrency must be at least 1"));
    }
    let (way, bucket, prefix, root) = match &request.direction {
        Direction::Up {
            root,
            bucket,
            prefix,
        } => (Way::Up, bucket, prefix, root),
        Direction::Down {
            bucket,
            prefix,
            root,
        } => (Way::Down, bucket, prefix, root),
    };
    if root.is_file() {
        return Err(Error::usage_hint(
            format!("{} is a file, not a directory", root.display()),
            "a tree needs a directory on the local side; `s3seal put FILE s3://BUCKET/KEY` and `s3seal get s3://BUCKET/KEY FILE` move one file",
        ));
    }
    if way == Way::Up && !root.is_dir() {
        return Err(Error::usage(format!(
            "{}: no such directory",
            root.display()
        )));
    }
    let (sync, skip_done, delete, checksum) = match request.mode {
        TreeMode::Copy { skip_done } => (false, skip_done, false, false),
        TreeMode::Sync { delete, checksum } => (true, false, delete, checksum),
    };
    let both_sides = sync || skip_done;
    let fingerprint = if checksum {
        let create_with = match (way, &request.upload) {
            (Way::Up, Some(u)) if !request.dry_run => Some(u.kms_key_id.as_str()),
            _ => None,
        };
        let sse = request
            .upload
            .as_ref()
            .and_then(|u| u.sse_kms_key_id.as_deref());
        // An upload trusts only a key wrapped under its own KMS key (or a pinned one): a key
        // planted under a KMS key someone else chose would have this run publish fingerprints
        // they can test guesses against.
        let pins = match create_with {
            Some(id) => {
                let mut arns = request.download.pins.arns().to_vec();
                for arn in KeyPins::resolve(keyring, &[id.to_string()]).await?.arns() {
                    if !arns.contains(arn) {
                        arns.push(arn.clone());
                    }
                }
                KeyPins::from_arns(arns)
            }
            None => request.download.pins.clone(),
        };
        FingerprintKey::load(&*store, keyring, bucket, create_with, sse, &pins).await?
    } else {
        None
    };
    let local = (way == Way::Up || both_sides).then(|| walk(root.clone(), request.follow_symlinks));
    let remote = (way == Way::Down || both_sides).then(|| Listing::new(&*store, bucket, prefix));
    let mut merge = Merge::new(
        way,
        local,
        remote,
        prefix.is_empty(),
        request.filters.clone(),
        delete,
    );

    // Our own cancel token: the caller's, and fail-fast.
    let (trigger, inner_cancel) = Cancel::new();
    let trigger = Arc::new(trigger);
    let forward = {
        let trigger: Arc<watch::Sender<bool>> = Arc::clone(&trigger);
        let mut outer = cancel.clone();
        tokio::spawn(async move {
            outer.cancelled().await;
            let _ = trigger.send(true);
        })
    };
    // Set aside what each object in flight holds while its ranges wait (jobs.rs); the rest is
    // shared, never less than a quarter of the budget.
    let reserved = match request.direction {
        Direction::Down { .. } => request.objects_in_flight as u64 * DOWNLOAD_OBJECT_RESERVE,
        Direction::Up { .. } => 0,
    };
    let shared = request
        .budget_bytes
        .saturating_sub(reserved)
        .max(request.budget_bytes / 4);
    let budget = MemoryBudget::new(shared);
    let jobs = Jobs {
        store: Arc::clone(&store),
        keyring,
        request,
        bucket,
        prefix,
        root,
        sync,
        skip_done,
        checksum,
        fingerprint: fingerprint.as_ref(),
        budget: budget.clone(),
        ranges: SharedRanges::new(budget, request.download.unit_bytes),
        progress: Arc::clone(&progress),
        cancel: inner_cancel,
    };
    progress.start(None);
    let mut summary = Summary::default();
    let mut in_flight = FuturesUnordered::new();
    let mut stopped = false;
    let mut merge_error = None;
    loop {
        while !stopped && in_flight.len() < request.objects_in_flight {
            if cancel.is_cancelled() {
                stopped = true;
                break;
            }
            match merge.next().await {
                Ok(Some(work)) => in_flight.push(jobs.execute(work)),
                Ok(None) => {
                    stopped = true;
                }
                Err(e) => {
                    // A listing that fails, or a side out of order: finish what is in
                    // flight, start nothing more, and end with that error.
                    merge_error = Some(e);
                    stopped = true;
                }
            }
        }
        let Some(done) = in_flight.next().await else {
            break;
        };
        summary.count(&done);
        report(&done);
        if done.action == Action::Failed && request.fail_fast && !stopped {
            stopped = true;
            let _ = trigger.send(true);
        }
    }
    forward.abort();
    progress.finish();
    if cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    if let Some(e) = merge_error {
        return Err(e);
    }
    Ok(summary)
}

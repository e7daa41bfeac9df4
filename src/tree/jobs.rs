//! One object of a tree, from decision to report: the upload, download or deletion of a
//! [`Work`] item through the existing pipelines (`transfer::upload`, `transfer::download`),
//! inside its share of the run's memory budget (a mid-size file goes up as one streamed
//! PutObject, see [`STREAM_PUT_MAX_BYTES`]). Nothing here fails the run: every outcome,
//! error included, becomes an [`ObjectReport`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::compare::{Change, Work, decide};
use super::fingerprint::{FingerprintKey, KEY_OBJECT};
use super::listing::RemoteEntry;
use super::run::{Action, ObjectReport, TreeRequest};
use super::settings;
use super::stamp::Stamp;
use super::walk::LocalFile;
use super::{MAX_KEY_BYTES, local_name_problem};
use crate::error::{Error, Result};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::store::ObjectStore;
use crate::transfer::budget::MemoryBudget;
use crate::transfer::download::{
    FirstRange, HEADER_PROBE_BYTES, SharedRanges, Sink, StoreObject, download,
};
use crate::transfer::resume::{JournalDir, upload_resumable};
use crate::transfer::stream_put::STREAM_PUT_CHUNKS_HELD;
use crate::transfer::upload::upload;
use crate::transfer::{Cancel, Progress, Source};

/// Fixed cost of one object in flight besides its data buffers (requests, headers, a chunk).
const OBJECT_OVERHEAD_BYTES: u64 = 256 * 1024;

/// What a larger object being downloaded holds besides its ranges (its header read and its
/// overhead). The run sets this much aside for each object in flight before it shares the rest
/// of its budget out, so no object waits for memory while holding some: downloads of any mix
/// of objects cannot wait on each other.
pub(super) const DOWNLOAD_OBJECT_RESERVE: u64 = OBJECT_OVERHEAD_BYTES + 2 * HEADER_PROBE_BYTES;

/// Files up to this size that need more than one part are uploaded with one streamed
/// PutObject (`transfer::stream_put`), unless the run is resumable: S3 then stores them
/// without multipart parts to copy together, and each costs the budget a few chunks
/// (`STREAM_PUT_CHUNKS_HELD`), so many go in parallel. Larger files keep multipart uploads,
/// whose parts go up in parallel (docs/SYNC.md, docs/PERFORMANCE.md).
pub const STREAM_PUT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Forwards the bytes of one transfer to the run's progress, not its start or end.
struct Forward(Arc<dyn Progress>);

impl Progress for Forward {
    fn start(&self, _: Option<u64>) {}
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }
    fn finish(&self) {}
}

/// What every object of a run shares.
pub(super) struct Jobs<'a, K> {
    pub store: Arc<dyn ObjectStore>,
    pub keyring: &'a K,
    pub request: &'a TreeRequest,
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub root: &'a Path,
    pub sync: bool,
    /// `put`/`get --recursive`: skip what a previous run completed.
    pub skip_done: bool,
    pub checksum: bool,
    pub fingerprint: Option<&'a FingerprintKey>,
    pub budget: MemoryBudget,
    /// The budget and buffers every download's ranges share.
    pub ranges: SharedRanges,
    pub progress: Arc<dyn Progress>,
    pub cancel: Cancel,
}

/// A report with nothing filled in but the two ends and the action.
fn report(source: String, destination: String, action: Action, dry_run: bool) -> ObjectReport {
    ObjectReport {
        source,
        destination,
        plaintext_bytes: None,
        action,
        dry_run,
        reason: None,
        kms_key_arn: None,
        etag: None,
        parts_skipped: None,
        error: None,
    }
}

/// Records that a previous run of the same copy completed this object.
fn done_before(r: &mut ObjectReport, etag: Option<String>) {
    r.action = Action::Skipped;
    r.reason = Some("completed by an earlier run".into());
    r.etag = etag;
}

/// Records sync's decision in the report; true when the destination is current (skipped).
fn current(r: &mut ObjectReport, change: Change, etag: Option<String>) -> bool {
    match change {
        Change::Unchanged => {
            r.action = Action::Skipped;
            r.reason = Some("unchanged".into());
            r.etag = etag;
            true
        }
        Change::Changed(why) => {
            r.reason = Some(why.into());
            false
        }
    }
}

fn failed(mut r: ObjectReport, error: Error) -> ObjectReport {
    r.action = Action::Failed;
    r.error = Some(error);
    r
}

/// The user metadata of the object at `location`.
async fn object_head<K>(
    jobs: &Jobs<'_, K>, location: &ObjectLocation,
) -> Result<std::collections::HashMap<String, String>> {
    let head = jobs.store.head(location).await.map_err(|e| e.error)?;
    Ok(head.metadata)
}

impl<K: Keyring> Jobs<'_, K> {
    fn uri(&self, rel: &str) -> String {
        format!("s3://{}/{}{}", self.bucket, self.prefix, rel)
    }

    fn local_path(&self, rel: &str) -> PathBuf {
        let mut path = self.root.to_path_buf();
        path.extend(rel.split('/'));
        path
    }

    fn location(&self, rel: &str) -> ObjectLocation {
        ObjectLocation {
            bucket: self.bucket.to_string(),
            key: format!("{}{}", self.prefix, rel),
        }
    }

    pub async fn execute(&self, work: Work) -> ObjectReport {
        let dry = self.request.dry_run;
        match work {
            Work::Upload { file, existing } => {
                let mut r = report(
                    file.path.display().to_string(),
                    self.uri(&file.rel),
                    Action::Uploaded,
                    dry,
                );
                if self.cancel.is_cancelled() {
                    return failed(r, Error::Interrupted);
                }
                match self.upload(&file, existing.as_ref(), &mut r).await {
                    Ok(()) => r,
                    Err(e) => failed(r, e),
                }
            }
            Work::Download { object, existing } => {
                let path = self.local_path(&object.rel);
                let mut r = report(
                    self.uri(&object.rel),
                    path.display().to_string(),
                    Action::Downloaded,
                    dry,
                );
                if self.cancel.is_cancelled() {
                    return failed(r, Error::Interrupted);
                }
                match self
                    .download(&object, existing.as_ref(), path, &mut r)
                    .await
                {
                    Ok(()) => r,
                    Err(e) => failed(r, e),
                }
            }
            Work::DeleteRemote(object) => {
                let r = report(String::new(), self.uri(&object.rel), Action::Deleted, dry);
                if dry {
                    return r;
                }
                if self.cancel.is_cancelled() {
                    return failed(r, Error::Interrupted);
                }
                match self.store.delete_object(&self.location(&object.rel)).await {
                    Ok(()) => r,
                    Err(e) => failed(r, e.error),
                }
            }
            Work::DeleteLocal(file) => {
                let r = report(
                    String::new(),
                    file.path.display().to_string(),
                    Action::Deleted,
                    dry,
                );
                if dry {
                    return r;
                }
                if self.cancel.is_cancelled() {
                    return failed(r, Error::Interrupted);
                }
                match std::fs::remove_file(&file.path) {
                    Ok(()) => r,
                    Err(e) => failed(r, Error::io(file.path.display().to_string(), e)),
                }
            }
            Work::Note {
                rel,
                skipped,
                message,
            } => {
                let (source, destination) = match &self.request.direction {
                    super::Direction::Up { .. } => {
                        (self.local_path(&rel).display().to_string(), self.uri(&rel))
                    }
                    super::Direction::Down { .. } => {
                        (self.uri(&rel), self.local_path(&rel).display().to_string())
                    }
                };
                let mut r = report(source, destination, Action::Skipped, false);
                if skipped {
                    r.reason = Some(message);
                    r
                } else {
                    failed(r, Error::runtime(message))
                }
            }
        }
    }

    /// The keyed fingerprint of a local file (read on a blocking thread).
    async fn fingerprint_of(&self, path: &Path) -> Result<Option<String>> {
        let Some(key) = self.fingerprint else {
            return Ok(None);
        };
        let (key, path) = (key.clone(), path.to_path_buf());
        tokio::task::spawn_blocking(move || key.of_file(&path))
            .await
            .map_err(|e| Error::runtime(format!("fingerprinting stopped: {e}")))?
            .map(Some)
    }

    async fn upload(
        &self, file: &LocalFile, existing: Option<&RemoteEntry>, r: &mut ObjectReport,
    ) -> Result<()> {
        let location = self.location(&file.rel);
        if location.key == KEY_OBJECT {
            return Err(Error::usage(format!(
                "{KEY_OBJECT} at the bucket root holds sync's fingerprint key; s3seal does not overwrite it"
            )));
        }
        if location.key.len() > MAX_KEY_BYTES {
            return Err(Error::usage(format!(
                "the key would be {} bytes; S3 keys hold at most {MAX_KEY_BYTES}",
                location.key.len()
            )));
        }
        let mut stamp = Stamp::read(&file.path)?;
        r.plaintext_bytes = stamp.size;
        if self.checksum {
            stamp.fingerprint = self.fingerprint_of(&file.path).await?;
        }
        if self.sync && existing.is_some() {
            let head = self.store.head(&location).await.map_err(|e| e.error)?;
            let stored = Stamp::from_metadata(&head.metadata);
            if current(r, decide(&stamp, &stored, self.checksum), head.etag) {
                return Ok(());
            }
        } else if self.sync {
            r.reason = Some("new".into());
        }
        let template = self
            .request
            .upload
            .as_ref()
            .ok_or_else(|| Error::runtime("internal: an upload without upload settings"))?;
        let settings = settings::digest(template);
        if self.skip_done && existing.is_some() {
            let head = self.store.head(&location).await.map_err(|e| e.error)?;
            let stored = Stamp::from_metadata(&head.metadata);
            if stamp.same_size_and_time(&stored)
                && settings::stored(&head.metadata) == Some(settings.as_str())
            {
                done_before(r, head.etag);
                return Ok(());
            }
        }
        if self.request.dry_run {
            return Ok(());
        }
        let mut request = template.clone();
        let part = request.part_size.max(1);
        let per_object = (self.request.budget_bytes / part)
            .saturating_sub(1)
            .clamp(1, self.request.concurrency as u64);
        let size = stamp.size.unwrap_or(0);
        // As `put`: an interrupted resumable upload of this key waiting in the user's journal
        // is resumed (or, if it cannot be, aborted) even without --resumable, never orphaned.
        let journals = self.request.journals.clone().or_else(|| {
            JournalDir::user()
                .ok()
                .filter(|j| j.journal_path(&location).exists())
        });
        // A resumable upload needs parts; any other file up to STREAM_PUT_MAX_BYTES that needs
        // more than one part is one streamed PutObject holding a few chunks, not its parts.
        let streamed = journals.is_none() && size > part && size <= STREAM_PUT_MAX_BYTES;
        let cost = if size <= part {
            size
        } else if streamed {
            STREAM_PUT_CHUNKS_HELD * request.chunk_size.sealed_bytes()
        } else {
            (per_object + 1) * part
        };
        request.dest = location;
        request.concurrency = per_object as usize;
        request.stream_put_max = if streamed { STREAM_PUT_MAX_BYTES } else { 0 };
        request.settings.metadata.extend(stamp.to_metadata());
        request
            .settings
            .metadata
            .push((settings::SETTINGS_META.to_string(), settings));
        let _held = self.budget.take(cost + OBJECT_OVERHEAD_BYTES).await;
        let progress: Arc<dyn Progress> = Arc::new(Forward(Arc::clone(&self.progress)));
        let store = Arc::clone(&self.store);
        let outcome = match &journals {
            Some(journals) => {
                let done = upload_resumable(
                    store,
                    self.keyring,
                    &file.path,
                    &request,
                    journals,
                    progress,
                    self.cancel.clone(),
                )
                .await?;
                r.parts_skipped = (done.skipped_parts > 0).then_some(done.skipped_parts);
                done.upload
            }
            None => {
                let source = Source::File(file.path.clone());
                upload(
                    store,
                    self.keyring,
                    source,
                    &request,
                    progress,
                    self.cancel.clone(),
                )
                .await?
            }
        };
        r.plaintext_bytes = Some(outcome.plaintext_len);
        r.kms_key_arn = Some(outcome.kms_key_arn);
        r.etag = outcome.etag;
        Ok(())
    }

    async fn download(
        &self, object: &RemoteEntry, existing: Option<&LocalFile>, path: PathBuf,
        r: &mut ObjectReport,
    ) -> Result<()> {
        if let Some(problem) = local_name_problem(&object.rel) {
            return Err(Error::usage(format!(
                "{problem}: it cannot be a file name under {}",
                self.root.display()
            )));
        }
        let location = self.location(&object.rel);
        if self.sync
            && let Some(local) = existing
        {
            let head = self.store.head(&location).await.map_err(|e| e.error)?;
            let stored = Stamp::from_metadata(&head.metadata);
            r.plaintext_bytes = stored.size;
            let mut mine = Stamp::read(&local.path)?;
            if self.checksum && stored.size == mine.size {
                mine.fingerprint = self.fingerprint_of(&local.path).await?;
            }
            if current(r, decide(&stored, &mine, self.checksum), head.etag) {
                return Ok(());
            }
        } else if self.sync {
            r.reason = Some("new".into());
        } else if self.skip_done
            && let Some(local) = existing
            && Stamp::from_metadata(&object_head(self, &location).await?)
                .same_size_and_time(&Stamp::read(&local.path)?)
        {
            done_before(r, None);
            return Ok(());
        }
        if self.request.dry_run {
            return Ok(());
        }
        if path.is_dir() {
            return Err(Error::usage(format!(
                "{} is a directory; the object cannot be written there",
                path.display()
            )));
        }
        if let Some(parent) = path.parent() {
            make_dirs_below(self.root, parent)?;
        }
        let mut request = self.request.download.clone();
        // A small object's first read asks for no more than it holds: the read buffer is
        // reserved at the size asked for, and many small objects are in flight at once.
        request.unit_bytes = request.unit_bytes.min(object.stored_size.max(1));
        // Every range holds its cost in the run's budget while in flight, whichever object it
        // belongs to (`SharedRanges`). The first read is held by the object until it ends: a
        // small object's is the whole object, a larger one's only its header (its ranges are
        // then fetched like any other, as the budget allows).
        request.shared = Some(self.ranges.clone());
        request.concurrency = self.request.concurrency.max(1);
        let first_len = if object.stored_size <= request.first_read_len() {
            request.first_read_len()
        } else {
            HEADER_PROBE_BYTES
        };
        // An object whose first read is a header probe has its share in what the run set aside
        // per object when it started ([`DOWNLOAD_OBJECT_RESERVE`]): objects waiting for memory
        // for their ranges hold none of the budget those ranges wait for. A larger first read
        // costs its buffer and the one it is opened into.
        let _held = if first_len <= HEADER_PROBE_BYTES {
            None
        } else {
            let cost = 2 * first_len.min(object.stored_size);
            Some(self.budget.take(cost + OBJECT_OVERHEAD_BYTES).await)
        };
        let reader = StoreObject::new(Arc::clone(&self.store), location);
        let first = FirstRange::read(&reader, first_len).await?;
        let stamp = Stamp::from_metadata(first.metadata());
        r.etag = first.etag().map(str::to_string);
        let progress: Arc<dyn Progress> = Arc::new(Forward(Arc::clone(&self.progress)));
        let outcome = download(
            &reader,
            Some(first),
            self.keyring,
            &request,
            &Sink::File(path.clone()),
            progress,
            self.cancel.clone(),
        )
        .await?;
        // Trust the stamp only as far as it matches what was verified.
        if stamp.size.is_none_or(|s| s == outcome.plaintext_len) {
            stamp.apply(&path)?;
        }
        r.plaintext_bytes = Some(outcome.plaintext_len);
        r.kms_key_arn = Some(outcome.kms_key_arn);
        Ok(())
    }
}

/// Makes the directories from the destination `root` down to `dir`, refusing any that is a
/// symbolic link (one already in the destination, say): a tree's files are written under the
/// destination, never through a link to somewhere else, and no directory is made there either.
/// `root` itself may be a link the user chose.
fn make_dirs_below(root: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(root.display().to_string(), e))?;
    let below = dir.strip_prefix(root).map_err(|_| {
        Error::runtime(format!("{} is not under {}", dir.display(), root.display()))
    })?;
    let mut at = root.to_path_buf();
    for part in below.components() {
        at.push(part);
        let io = |e| Error::io(at.display().to_string(), e);
        match std::fs::create_dir(&at) {
            Ok(()) => continue,
            // Made by another object of the run meanwhile, or there before: look at it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        let kind = std::fs::symlink_metadata(&at).map_err(io)?.file_type();
        if kind.is_symlink() {
            return Err(Error::usage_hint(
                format!(
                    "{} is a symbolic link; the object is not written through it",
                    at.display()
                ),
                "remove the link, or download into another directory",
            ));
        }
        if !kind.is_dir() {
            return Err(Error::usage(format!(
                "{} is a file, where the object's key needs a directory",
                at.display()
            )));
        }
    }
    Ok(())
}

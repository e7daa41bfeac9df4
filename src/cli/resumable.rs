//! The CLI side of resumable transfers, kept out of put.rs and get.rs: whether a `put` resumes
//! (asked for, or a journal for the destination exists), the refusal of a stream, and how the
//! outcome is told (stderr line, JSON fields).

use std::path::Path;
use std::sync::Arc;

use s3seal::kms::Keyring;
use s3seal::location::ObjectLocation;
use s3seal::store::ObjectStore;
use s3seal::terminal::escape_for_terminal;
use s3seal::transfer::resume::{JournalDir, ResumableOutcome, upload_resumable};
use s3seal::transfer::upload::UploadRequest;
use s3seal::transfer::{Cancel, Progress};
use s3seal::{Error, Result};

/// `--resumable` with stdin is refused (exit 2): a stream cannot be read again.
pub fn refuse_stream(resumable: bool, src: &str) -> Result<()> {
    if resumable && src == "-" {
        return Err(Error::usage_hint(
            "--resumable needs a file: stdin cannot be read again, so a stream is not resumable",
            "save the stream to a file and upload that, or drop --resumable",
        ));
    }
    Ok(())
}

/// `get --resumable` needs a file destination.
pub fn refuse_stdout(resumable: bool, to_stdout: bool) -> Result<()> {
    if resumable && to_stdout {
        return Err(Error::usage_hint(
            "--resumable needs a file destination: what went to stdout cannot be taken back",
            "give a file destination, or drop --resumable",
        ));
    }
    Ok(())
}

/// `get --resumable` fetches whole objects.
pub fn refuse_range(range: bool) -> Result<()> {
    if range {
        return Err(Error::usage(
            "--resumable downloads the whole object; it cannot be combined with --range",
        ));
    }
    Ok(())
}

/// Whether a `put` to `dest` goes the resumable way: asked for, or an interrupted resumable
/// upload of `dest` waits in the journal.
pub fn wanted(asked: bool, dest: &ObjectLocation) -> bool {
    asked
        || JournalDir::user()
            .map(|j| j.journal_path(dest).exists())
            .unwrap_or(false)
}

/// Uploads `path` resumably with the user's journal directory.
pub async fn put(
    store: Arc<dyn ObjectStore>, keyring: &impl Keyring, path: &Path, request: &UploadRequest,
    progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<ResumableOutcome> {
    let journals = JournalDir::user()?;
    let result = upload_resumable(store, keyring, path, request, &journals, progress, cancel).await;
    if result.is_err() && journals.journal_path(&request.dest).exists() {
        eprintln!(
            "{}",
            escape_for_terminal(&format!(
                "the upload stays open to be resumed: run the same command again (or `s3seal uploads abort {}`)",
                request.dest
            ))
        );
    }
    result
}

/// The stderr line about what was resumed or restarted.
pub fn say(r: &ResumableOutcome) {
    if let Some(reason) = &r.restarted {
        eprintln!(
            "{}",
            escape_for_terminal(&format!(
                "not resumed: {reason}; the interrupted upload was aborted and the file uploaded afresh under a new data key"
            ))
        );
    }
    if r.skipped_parts > 0 {
        eprintln!(
            "resumed: {} parts ({} bytes) already in S3 were re-sealed, matched and not sent again",
            r.skipped_parts, r.skipped_bytes
        );
    }
}

/// The `resume` object of `put --json` (docs/JSON.md).
pub fn json(r: &ResumableOutcome) -> serde_json::Value {
    serde_json::json!({
        "skipped_parts": r.skipped_parts,
        "skipped_bytes": r.skipped_bytes,
        "restarted": r.restarted,
    })
}

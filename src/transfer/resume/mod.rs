//! Resumable transfers: an interrupted upload of a file continues where it stopped instead of
//! starting over, without ever sealing one chunk index over two different plaintexts under one
//! data key (the proof is in [`upload`] and docs/SECURITY.md). [`journal`] is what survives the
//! interruption on disk.
//!
//! Callable from the library with the same [`crate::transfer::upload::UploadRequest`] as a
//! plain upload ([`upload_resumable`]), so tree uploads can resume the file that was in flight.

pub(crate) mod download;
pub mod journal;
mod part;
pub mod upload;

pub use journal::{Journal, JournalDir, state_dir};
pub use upload::{ResumableOutcome, upload_resumable};

#[cfg(test)]
mod download_tests;
#[cfg(test)]
mod tests;

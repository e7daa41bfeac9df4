//! Where plaintext comes from on the way up, and how a change of the source is detected.
//! A regular file's length is known up front, and its size and modification time are checked
//! again at the end, so a file that changes during an upload is refused rather than stored
//! half old, half new. A stream (stdin) has no length until it ends.
//!
//! [`ChunkReader`] reads whole chunks, looking one byte ahead so the reader knows which chunk
//! is the final one (the format marks it). Shared by `put` and the presigned-URL upload.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};

/// What to upload.
pub enum Source {
    /// A regular file.
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

/// Size and modification time of a file: what must not change while it is uploaded.
type Identity = (u64, Option<SystemTime>);

fn identity(path: &Path) -> Result<Identity> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    Ok((meta.len(), meta.modified().ok()))
}

/// The error for a file that changed under the upload.
pub(crate) fn changed_error(path: &Path) -> Error {
    Error::runtime_hint(
        format!("{} changed while it was being uploaded", path.display()),
        "nothing was stored; upload a stable copy (a snapshot) of the file",
    )
}

/// A file's identity when the upload began, checked again at the end.
#[derive(Debug, Clone)]
pub(crate) struct FileCheck {
    pub path: PathBuf,
    before: Identity,
}

impl FileCheck {
    /// The file must still be what it was, and `total_plain` bytes long.
    pub fn check(&self, total_plain: u64) -> Result<()> {
        let after = identity(&self.path)?;
        if after != self.before || total_plain != self.before.0 {
            return Err(changed_error(&self.path));
        }
        Ok(())
    }

    /// Whether the file's size or modification time differ from the start (errors count as a
    /// change).
    pub fn changed(&self) -> bool {
        identity(&self.path).map_or(true, |now| now != self.before)
    }
}

/// A source opened for reading.
pub(crate) struct OpenedSource {
    pub reader: Box<dyn Read + Send>,
    /// The plaintext length, when known up front (a file).
    pub known_len: Option<u64>,
    /// A stream's announced size (`--expected-size`).
    pub expected_size: Option<u64>,
    pub file_check: Option<FileCheck>,
}

impl Source {
    /// Opens the source; a file must be a regular file.
    pub(crate) fn open(self) -> Result<OpenedSource> {
        Ok(match self {
            Source::File(path) => {
                let meta = std::fs::metadata(&path)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                if !meta.is_file() {
                    return Err(Error::usage(format!(
                        "{} is not a regular file",
                        path.display()
                    )));
                }
                let before = (meta.len(), meta.modified().ok());
                let file = std::fs::File::open(&path)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                OpenedSource {
                    reader: Box::new(file),
                    known_len: Some(before.0),
                    expected_size: None,
                    file_check: Some(FileCheck { path, before }),
                }
            }
            Source::Stream(reader) => OpenedSource {
                reader,
                known_len: None,
                expected_size: None,
                file_check: None,
            },
            Source::StreamWithHint {
                reader,
                expected_size,
            } => OpenedSource {
                reader,
                known_len: None,
                expected_size: Some(expected_size),
                file_check: None,
            },
        })
    }
}

/// Reads whole chunks from a source, looking one byte ahead so it knows which chunk is final.
pub(crate) struct ChunkReader {
    inner: Box<dyn Read + Send>,
    carry: Option<u8>,
    eof: bool,
}

impl ChunkReader {
    pub fn new(inner: Box<dyn Read + Send>) -> Self {
        ChunkReader {
            inner,
            carry: None,
            eof: false,
        }
    }

    /// Fills `buf` completely unless the source ends first; returns the bytes read.
    pub fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
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
    pub fn at_end(&mut self) -> std::io::Result<bool> {
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

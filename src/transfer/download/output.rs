//! The download's writer for one [`Sink`]: a file through a [`TempFile`] written with
//! positioned writes as soon as each range verified (ranges finish in any order), stdout
//! written in order by the consumer on a blocking thread, stdout through a private temporary
//! file copied out only once everything verified, a resumable partial file, or nothing (verify
//! only).

use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use super::TempFile;
use super::direct::DirectFile;
use super::sink::{Sink, raw_stdout, start_writeback, write_at};
use crate::error::{Error, Result};
use crate::transfer::resume::download::PartialDownload;

pub(crate) enum Writer {
    /// Written with positioned writes by the range tasks themselves.
    File {
        tmp: TempFile,
        file: Arc<std::fs::File>,
    },
    /// Written like a file into a private temporary file, copied to stdout at the end.
    Buffered {
        tmp: TempFile,
        file: Arc<std::fs::File>,
    },
    /// Written with positioned writes into a partial file kept across interruptions, each
    /// range recorded in its sidecar once on disk.
    Resumable(Arc<PartialDownload>),
    /// Written in order by the consumer, on a blocking thread.
    Stdout(Option<Box<dyn Write + Send>>),
    Discard,
}

impl Writer {
    pub fn open(sink: &Sink) -> Result<Writer> {
        Ok(match sink {
            Sink::File(path) | Sink::ResumableFile(path) => {
                let tmp = TempFile::beside(path)?;
                let file = Arc::new(tmp.handle()?);
                Writer::File { tmp, file }
            }
            Sink::BufferedStdout => {
                let tmp = TempFile::in_dir(&std::env::temp_dir(), "stdout")?;
                let file = Arc::new(tmp.handle()?);
                Writer::Buffered { tmp, file }
            }
            Sink::Stdout => Writer::Stdout(Some(raw_stdout().map_err(|e| Error::io("stdout", e))?)),
            Sink::Discard => Writer::Discard,
        })
    }

    /// The file the range tasks write into directly, if any.
    pub fn positioned(&self) -> Option<Arc<std::fs::File>> {
        match self {
            Writer::File { file, .. } | Writer::Buffered { file, .. } => Some(Arc::clone(file)),
            Writer::Resumable(partial) => Some(Arc::clone(&partial.data)),
            _ => None,
        }
    }

    /// Direct writes into the file written with positioned writes, sized to `len` bytes;
    /// `None` for other outputs or where the file system has no direct I/O. Only a file that
    /// becomes the destination qualifies: the private copy for stdout is read back at the end,
    /// and the page cache serves that read.
    pub fn direct(&self, len: u64) -> Option<Arc<DirectFile>> {
        match self {
            Writer::File { tmp, file } => {
                DirectFile::open(tmp.path(), Arc::clone(file), len).map(Arc::new)
            }
            _ => None,
        }
    }

    /// Whether ranges must be consumed in order.
    pub fn ordered(&self) -> bool {
        matches!(self, Writer::Stdout(_))
    }

    /// Writes verified `pieces` of `buf` in order (stdout only; the others wrote already).
    /// Returns the buffer for reuse.
    pub async fn write_in_order(
        &mut self, buf: Vec<u8>, pieces: Vec<(u64, Range<usize>)>,
    ) -> Result<Vec<u8>> {
        let Writer::Stdout(slot) = self else {
            return Ok(buf);
        };
        let mut out = slot.take().expect("stdout writer present");
        let (result, buf) = tokio::task::spawn_blocking(move || {
            let result = pieces
                .iter()
                .try_for_each(|(_, piece)| out.write_all(&buf[piece.clone()]));
            (result.map(|()| out), buf)
        })
        .await
        .expect("stdout task panicked");
        *slot = Some(result.map_err(|e| Error::io("stdout", e))?);
        Ok(buf)
    }

    /// Makes the output final: fsync and rename for a file, flush for stdout.
    pub async fn commit(self) -> Result<Option<PathBuf>> {
        match self {
            Writer::File { tmp, file } => {
                drop(file);
                Ok(Some(tmp.commit().await?))
            }
            Writer::Buffered { tmp, file } => {
                drop(file);
                tmp.copy_to_stdout().await?;
                Ok(None)
            }
            Writer::Resumable(partial) => {
                let partial = Arc::try_unwrap(partial)
                    .unwrap_or_else(|_| panic!("every range task finished"));
                Ok(Some(partial.commit().await?))
            }
            Writer::Stdout(Some(mut out)) => {
                tokio::task::spawn_blocking(move || out.flush())
                    .await
                    .expect("stdout task panicked")
                    .map_err(|e| Error::io("stdout", e))?;
                Ok(None)
            }
            Writer::Stdout(None) | Writer::Discard => Ok(None),
        }
    }
}

/// Writes verified `pieces` of `buf` where they belong in `file` (offsets relative to `base`),
/// and starts their writeback to disk.
pub(crate) async fn write_pieces(
    file: Arc<std::fs::File>, buf: Vec<u8>, pieces: Vec<(u64, Range<usize>)>, base: u64,
) -> Result<(Vec<u8>, Vec<(u64, Range<usize>)>)> {
    tokio::task::spawn_blocking(move || {
        for (at, piece) in &pieces {
            write_at(&file, &buf[piece.clone()], at - base)?;
        }
        if let (Some((first, _)), Some((last, piece))) = (pieces.first(), pieces.last()) {
            let end = last + (piece.end - piece.start) as u64;
            start_writeback(&file, first - base, end - first);
        }
        Ok((buf, pieces))
    })
    .await
    .expect("writer task panicked")
    .map_err(|e: std::io::Error| Error::io("the temporary download file", e))
}

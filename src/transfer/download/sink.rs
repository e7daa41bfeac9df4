//! Where plaintext goes, and the rule that nothing unauthenticated is released: a file
//! destination is written to a private temporary file beside it ([`super::TempFile`], shared by
//! the s3seal and S3 Encryption Client readers) that takes the destination's name only after
//! everything verified; on any failure it disappears and the destination is untouched. Stdout
//! receives verified bytes in order ([`raw_stdout`]).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where plaintext goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A file, written through a temporary file and renamed when complete. Exactly this
    /// path: a directory there (made by another download meanwhile, say) fails the rename
    /// rather than receiving the file. `get` into a directory resolves the file name first
    /// ([`resolve_destination`]).
    File(PathBuf),
    /// A file, resumable (`get --resumable`): verified chunks are kept beside it with a
    /// sidecar when interrupted, and the next download there fetches only what is missing
    /// (`crate::transfer::resume`). Objects of other formats are written as to [`Sink::File`].
    ResumableFile(PathBuf),
    Stdout,
    /// Stdout, but nothing before the whole object verified: decrypted into a private
    /// temporary file first (`get ... - --buffer-to-temp`), then copied out.
    BufferedStdout,
    /// Verify only: plaintext is decrypted and dropped.
    Discard,
}

impl Sink {
    /// Whether the plaintext goes to stdout (at once or buffered).
    pub fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout | Sink::BufferedStdout)
    }
}

/// Picks the file a download writes (an existing directory gets the key's last segment).
pub fn resolve_destination(path: &Path, key: &str) -> Result<PathBuf> {
    if path.is_dir() {
        let name = key
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                Error::usage(format!(
                    "{} is a directory and the key has no file name",
                    path.display()
                ))
            })?;
        return Ok(path.join(name));
    }
    Ok(path.to_path_buf())
}

/// Writes `data` at `offset` of `file` (positioned: ranges may finish in any order).
pub(crate) fn write_at(file: &std::fs::File, data: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, data, offset)
    }
    #[cfg(windows)]
    {
        let mut data = data;
        let mut offset = offset;
        while !data.is_empty() {
            let n = std::os::windows::fs::FileExt::seek_write(file, data, offset)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
            offset += n as u64;
        }
        Ok(())
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, without
/// waiting. The fsync before the rename still makes the file durable; this only spreads the
/// writeback over the download, so that the fsync finds little left to do (and a restore does
/// not fill the page cache with dirty pages first). Errors are ignored for the same reason:
/// the fsync reports them.
///
/// On Linux, `posix_fadvise(POSIX_FADV_DONTNEED)` starts asynchronous writeback of the
/// range's dirty pages (`WB_SYNC_NONE`) and drops only pages that are already clean, so the
/// bytes just written stay cached until written back. (`sync_file_range` would say it more
/// directly, but needs `unsafe`, which this crate forbids.) Elsewhere: nothing.
pub(crate) fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        if let Some(len) = std::num::NonZeroU64::new(len) {
            let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// stdout without std's line buffering in the way (large writes go straight to the fd).
#[cfg(unix)]
pub(crate) fn raw_stdout() -> std::io::Result<Box<dyn std::io::Write + Send>> {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok(Box::new(std::fs::File::from(fd)))
}

#[cfg(not(unix))]
pub(crate) fn raw_stdout() -> std::io::Result<Box<dyn std::io::Write + Send>> {
    Ok(Box::new(std::io::stdout()))
}

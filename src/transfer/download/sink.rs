//! Where plaintext goes, and the rule that nothing unauthenticated is released: a file
//! destination is written to a private temporary file beside it ([`TempFile`], shared by the
//! s3seal and S3 Encryption Client readers) and renamed into place only after everything
//! verified (fsync first, so a restored backup is on disk before it appears); on any failure
//! the temporary file is removed and the destination is untouched. Stdout receives verified
//! bytes in order ([`raw_stdout`]).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where plaintext goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A file, written through a temporary file and renamed when complete. An existing
    /// directory receives a file named after the key's last segment.
    File(PathBuf),
    Stdout,
    /// Stdout, but nothing before the whole object verified: decrypted into a private
    /// temporary file first (`get ... - --buffer-to-temp`), then copied out.
    BufferedStdout,
    /// Verify only: plaintext is decrypted and dropped.
    Discard,
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

/// A private temporary file (mode 0600) that becomes `dest` only when committed; dropped
/// uncommitted, it is removed.
pub struct TempFile {
    tmp: tempfile::NamedTempFile,
    dest: Option<PathBuf>,
}

impl TempFile {
    /// A temporary file beside `dest` (same directory, so the rename is atomic).
    pub fn beside(dest: &Path) -> Result<TempFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut file = Self::in_dir(&dir, &name)?;
        file.dest = Some(dest.to_path_buf());
        Ok(file)
    }

    /// A temporary file in `dir` that is never renamed (for plaintext that is only staged).
    pub fn in_dir(dir: &Path, name: &str) -> Result<TempFile> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".s3seal-tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir.display().to_string(), e))?;
        Ok(TempFile { tmp, dest: None })
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A second handle on the file, for positioned or async writes.
    pub fn handle(&self) -> Result<std::fs::File> {
        self.tmp
            .reopen()
            .map_err(|e| Error::io(self.path().display().to_string(), e))
    }

    /// Flushes the file to disk and renames it to its destination.
    pub async fn commit(self) -> Result<PathBuf> {
        let dest = self
            .dest
            .clone()
            .expect("only a temporary file beside a destination is committed");
        let file = self.handle()?;
        let path = self.path().display().to_string();
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .expect("fsync task panicked")
            .map_err(|e| Error::io(path, e))?;
        self.tmp
            .persist(&dest)
            .map_err(|e| Error::io(dest.display().to_string(), e.error))?;
        Ok(dest)
    }

    /// Streams the (verified) contents to stdout, then removes the file.
    pub async fn copy_to_stdout(self) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::from_std(self.handle()?);
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut file, &mut stdout)
            .await
            .map_err(|e| Error::io("stdout", e))?;
        stdout.flush().await.map_err(|e| Error::io("stdout", e))?;
        Ok(())
    }
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

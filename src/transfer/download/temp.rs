//! Private temporary files for plaintext that is not released yet, and the promise that none
//! is left behind, whatever ends the process.
//!
//! - On Linux a [`TempFile`] is an `O_TMPFILE` file: it has no name until it is linked into
//!   place after everything verified (`linkat` through `/proc/self/fd`), so even SIGKILL or a
//!   power cut leaves nothing visible. Where `O_TMPFILE` is unsupported (other systems, some
//!   file systems, no `/proc`) it falls back to a named file `.NAME.XXXXXX.s3seal-tmp`.
//! - Every named temporary file is in a registry of live paths while it exists, so the exit
//!   path of a second signal (which does not unwind) can unlink them first
//!   ([`remove_live_temp_files`]).
//!
//! Committing flushes the file to disk (fsync) before it gets its final name, so a restored
//! backup is on disk before it appears.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Paths of the named temporary files that exist right now.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Unlinks every named temporary file that still exists: for an exit that skips destructors
/// (a second SIGINT / SIGTERM / SIGHUP). Anonymous (`O_TMPFILE`) files need nothing.
pub fn remove_live_temp_files() {
    for path in live().iter() {
        let _ = std::fs::remove_file(path);
    }
}

/// A named temporary file, registered while it exists.
struct Named(Option<tempfile::NamedTempFile>);

impl Named {
    fn new(file: tempfile::NamedTempFile) -> Named {
        live().insert(file.path().to_path_buf());
        Named(Some(file))
    }

    fn file(&self) -> &tempfile::NamedTempFile {
        self.0.as_ref().expect("present until persisted")
    }

    /// Renames it to `dest` (removing it on failure), and leaves the registry.
    fn persist(mut self, dest: &Path) -> std::io::Result<()> {
        let file = self.0.take().expect("present until persisted");
        let path = file.path().to_path_buf();
        let result = file.persist(dest).map(|_| ()).map_err(|e| e.error);
        live().remove(&path);
        result
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        if let Some(file) = &self.0 {
            live().remove(file.path());
        }
    }
}

enum Inner {
    Named(Named),
    /// An `O_TMPFILE` file in `dir`, nameless until committed.
    #[cfg(target_os = "linux")]
    Anonymous {
        file: std::fs::File,
        dir: PathBuf,
        /// `/proc/self/fd/N`.
        proc_path: PathBuf,
    },
}

/// A private temporary file (mode 0600) that becomes `dest` only when committed; dropped
/// uncommitted, it disappears.
pub struct TempFile {
    inner: Inner,
    /// The NAME of names made for it (`.NAME.XXXXXX.s3seal-tmp`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    name: String,
    dest: Option<PathBuf>,
}

impl TempFile {
    /// A temporary file beside `dest` (same directory, so it can take `dest`'s name atomically).
    pub fn beside(dest: &Path) -> Result<TempFile> {
        let (dir, name) = dir_and_name(dest);
        let mut file = Self::in_dir(&dir, &name)?;
        file.dest = Some(dest.to_path_buf());
        Ok(file)
    }

    /// A temporary file in `dir` that is never renamed (for plaintext that is only staged).
    pub fn in_dir(dir: &Path, name: &str) -> Result<TempFile> {
        #[cfg(target_os = "linux")]
        if let Some(file) = anonymous(dir) {
            return Ok(TempFile {
                inner: Inner::Anonymous {
                    proc_path: proc_path(&file),
                    file,
                    dir: dir.to_path_buf(),
                },
                name: name.to_string(),
                dest: None,
            });
        }
        let tmp = named_builder(&format!(".{name}."))
            .tempfile_in(dir)
            .map_err(|e| no_file_in(dir, e))?;
        Ok(TempFile {
            inner: Inner::Named(Named::new(tmp)),
            name: name.to_string(),
            dest: None,
        })
    }

    /// A path that opens the file while it lives (`/proc/self/fd/N` for an anonymous one).
    pub fn path(&self) -> &Path {
        match &self.inner {
            Inner::Named(named) => named.file().path(),
            #[cfg(target_os = "linux")]
            Inner::Anonymous { proc_path, .. } => proc_path,
        }
    }

    /// Whether the file has no name in the file system (`O_TMPFILE`).
    pub fn is_anonymous(&self) -> bool {
        !matches!(self.inner, Inner::Named(_))
    }

    /// A second handle on the file with its own offset, for positioned or async writes.
    pub fn handle(&self) -> Result<std::fs::File> {
        let reopened = match &self.inner {
            Inner::Named(named) => named.file().reopen(),
            #[cfg(target_os = "linux")]
            Inner::Anonymous { proc_path, .. } => std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(proc_path),
        };
        reopened.map_err(|e| Error::io(self.describe(), e))
    }

    fn describe(&self) -> String {
        match &self.inner {
            Inner::Named(named) => named.file().path().display().to_string(),
            #[cfg(target_os = "linux")]
            Inner::Anonymous { dir, .. } => {
                format!("temporary file in {}", dir.display())
            }
        }
    }

    /// Flushes the file to disk and gives it its destination's name.
    pub async fn commit(self) -> Result<PathBuf> {
        let dest = self
            .dest
            .clone()
            .expect("only a temporary file beside a destination is committed");
        let file = self.handle()?;
        let what = self.describe();
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .expect("fsync task panicked")
            .map_err(|e| Error::io(what, e))?;
        let TempFile { inner, name, .. } = self;
        let result = match inner {
            Inner::Named(named) => named.persist(&dest),
            #[cfg(target_os = "linux")]
            Inner::Anonymous { file, dir, .. } => link_into_place(&file, &dir, &name, &dest),
        };
        result.map_err(|e| Error::io(dest.display().to_string(), e))?;
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

/// Why no file can be made in `dir`, naming the directory (not the temporary file's name,
/// which means nothing to the caller): a missing or unwritable directory is the caller's to
/// fix.
fn no_file_in(dir: &Path, e: std::io::Error) -> Error {
    let shown = dir.display();
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::usage_hint(
            format!("{shown}: no such directory"),
            "create it first, or give a destination in an existing directory",
        ),
        std::io::ErrorKind::PermissionDenied => Error::usage_hint(
            format!("{shown}: no permission to create a file there"),
            "give a destination in a directory you may write to",
        ),
        std::io::ErrorKind::NotADirectory => Error::usage_hint(
            format!("{shown} is not a directory"),
            "give a destination in an existing directory",
        ),
        kind => Error::io(shown.to_string(), std::io::Error::from(kind)),
    }
}

/// The directory of `dest` (`.` for a bare name) and its file name.
pub(crate) fn dir_and_name(dest: &Path) -> (PathBuf, String) {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    (dir, name)
}

/// Names `.NAME.XXXXXX.s3seal-tmp`, from `prefix` = `.NAME.`.
fn named_builder(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".s3seal-tmp");
    builder
}

/// An `O_TMPFILE` file in `dir`, or `None` where that is unsupported.
#[cfg(target_os = "linux")]
fn anonymous(dir: &Path) -> Option<std::fs::File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    if !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    let fd = openat(CWD, dir, flags, Mode::from_raw_mode(0o600)).ok()?;
    Some(std::fs::File::from(fd))
}

#[cfg(target_os = "linux")]
fn proc_path(file: &std::fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Gives the anonymous `file` a name in `dir` (a fresh temporary one, registered), then
/// renames that over `dest`: `linkat` cannot replace an existing file, `rename` can.
#[cfg(target_os = "linux")]
fn link_into_place(
    file: &std::fs::File, dir: &Path, name: &str, dest: &Path,
) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD, linkat};
    let source = proc_path(file);
    let named = named_builder(&format!(".{name}.")).make_in(dir, |path| {
        linkat(CWD, &source, CWD, path, AtFlags::SYMLINK_FOLLOW).map_err(std::io::Error::from)
    })?;
    // Named for an instant: registered so that a second signal removes it too.
    let path = named.path().to_path_buf();
    live().insert(path.clone());
    let result = named.persist(dest).map(|_| ()).map_err(|e| e.error);
    live().remove(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    #[tokio::test]
    async fn nothing_is_visible_before_commit_and_commit_replaces_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        std::fs::write(&dest, b"old").unwrap();
        let tmp = TempFile::beside(&dest).unwrap();
        tmp.handle().unwrap().write_all(b"new contents").unwrap();
        if tmp.is_anonymous() {
            assert_eq!(names(dir.path()), ["out.bin"]);
        }
        assert_eq!(tmp.commit().await.unwrap(), dest);
        assert_eq!(std::fs::read(&dest).unwrap(), b"new contents");
        assert_eq!(names(dir.path()), ["out.bin"]);
        // Dropped uncommitted: gone.
        drop(TempFile::beside(&dest).unwrap());
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[test]
    fn named_temp_files_are_registered_until_dropped_and_can_be_swept() {
        let dir = tempfile::tempdir().unwrap();
        let named = Named::new(named_builder(".x.").tempfile_in(dir.path()).unwrap());
        let path = named.file().path().to_path_buf();
        assert!(live().contains(&path));
        remove_live_temp_files();
        assert!(!path.exists(), "the sweep of a second signal unlinks it");
        drop(named);
        assert!(!live().contains(&path));
    }
}

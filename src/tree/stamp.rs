//! The source file's stamp, stored as user metadata with each uploaded object and restored on
//! download: plaintext size, modification time (nanoseconds since the Unix epoch) and Unix
//! permission bits. Sync decides from it without downloading anything. Like all user metadata
//! it is visible to anyone who can HEAD the object (docs/SYNC.md says so).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// `x-amz-meta-s3seal-size`: plaintext bytes.
pub const SIZE_META: &str = "s3seal-size";
/// `x-amz-meta-s3seal-mtime`: modification time, nanoseconds since the epoch.
pub const MTIME_META: &str = "s3seal-mtime";
/// `x-amz-meta-s3seal-mode`: permission bits, octal.
pub const MODE_META: &str = "s3seal-mode";
/// `x-amz-meta-s3seal-fingerprint`: the keyed fingerprint of `--checksum` (hex).
pub const FINGERPRINT_META: &str = "s3seal-fingerprint";

/// What is known about a file's version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    pub size: Option<u64>,
    /// Nanoseconds since the epoch.
    pub mtime_ns: Option<u128>,
    pub mode: Option<u32>,
    pub fingerprint: Option<String>,
}

fn nanos(t: SystemTime) -> Option<u128> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_nanos())
}

impl Stamp {
    /// A local file's stamp.
    pub fn of_file(size: u64, modified: Option<SystemTime>, mode: u32) -> Stamp {
        Stamp {
            size: Some(size),
            mtime_ns: modified.and_then(nanos),
            mode: (mode != 0).then_some(mode),
            fingerprint: None,
        }
    }

    /// Reads the stamp of a local file.
    pub fn read(path: &Path) -> Result<Stamp> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o7777
        };
        #[cfg(not(unix))]
        let mode = 0;
        Ok(Stamp::of_file(meta.len(), meta.modified().ok(), mode))
    }

    /// The stamp an object's user metadata carries (missing or malformed fields are `None`).
    pub fn from_metadata(metadata: &HashMap<String, String>) -> Stamp {
        let get = |name: &str| {
            metadata
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Stamp {
            size: get(SIZE_META).and_then(|v| v.parse().ok()),
            mtime_ns: get(MTIME_META).and_then(|v| v.parse().ok()),
            mode: get(MODE_META).and_then(|v| u32::from_str_radix(v, 8).ok()),
            fingerprint: get(FINGERPRINT_META).map(str::to_string),
        }
    }

    /// The user metadata pairs for an upload.
    pub fn to_metadata(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(size) = self.size {
            out.push((SIZE_META.to_string(), size.to_string()));
        }
        if let Some(mtime) = self.mtime_ns {
            out.push((MTIME_META.to_string(), mtime.to_string()));
        }
        if let Some(mode) = self.mode {
            out.push((MODE_META.to_string(), format!("{mode:o}")));
        }
        if let Some(fp) = &self.fingerprint {
            out.push((FINGERPRINT_META.to_string(), fp.clone()));
        }
        out
    }

    /// Sets a downloaded file's modification time and permission bits to the stamp's (those
    /// it has). Setuid, setgid and sticky bits are never restored.
    pub fn apply(&self, path: &Path) -> Result<()> {
        let io = |e| Error::io(path.display().to_string(), e);
        if let Some(ns) = self.mtime_ns {
            let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
            let sub = (ns % 1_000_000_000) as u32;
            if let Some(t) = UNIX_EPOCH.checked_add(Duration::new(secs, sub)) {
                let file = std::fs::File::options()
                    .write(true)
                    .open(path)
                    .map_err(io)?;
                file.set_modified(t).map_err(io)?;
            }
        }
        #[cfg(unix)]
        if let Some(mode) = self.mode {
            use std::os::unix::fs::PermissionsExt;
            // Masked with the umask, as a new file's mode is: the stamp is metadata anyone
            // who may write the bucket can change, so it never grants more than a file made
            // here would get (no world-writable file from a rewritten stamp).
            let mode = mode & 0o777 & !umask();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
        Ok(())
    }

    /// Same size and same modification time: the default "unchanged" of sync.
    pub fn same_size_and_time(&self, other: &Stamp) -> bool {
        self.size.is_some()
            && self.size == other.size
            && self.mtime_ns.is_some()
            && self.mtime_ns == other.mtime_ns
    }
}

/// The process's umask, read without changing it (`umask(2)` can only be read by setting it,
/// which would race with other threads creating files): `Umask:` of `/proc/self/status`
/// (Linux), or the common 022 where that is not available.
#[cfg(unix)]
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status.lines().find_map(|line| {
                    let value = line.strip_prefix("Umask:")?.trim();
                    u32::from_str_radix(value, 8).ok()
                })
            })
            .unwrap_or(0o022)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trip() {
        let stamp = Stamp {
            size: Some(5),
            mtime_ns: Some(1_700_000_000_123_456_789),
            mode: Some(0o640),
            fingerprint: Some("ab".into()),
        };
        let map: HashMap<String, String> = stamp.to_metadata().into_iter().collect();
        assert_eq!(Stamp::from_metadata(&map), stamp);
        assert_eq!(map[MODE_META], "640");
    }

    #[test]
    fn unknown_stamps_never_count_as_unchanged() {
        let none = Stamp::default();
        assert!(!none.same_size_and_time(&Stamp::default()));
    }

    #[test]
    fn apply_restores_mtime_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let want = Stamp {
            size: Some(5),
            mtime_ns: Some(1_600_000_000_987_654_321),
            mode: Some(0o600),
            fingerprint: None,
        };
        want.apply(&path).unwrap();
        let got = Stamp::read(&path).unwrap();
        assert!(got.same_size_and_time(&want));
        #[cfg(unix)]
        assert_eq!(got.mode, Some(0o600));
    }

    #[cfg(unix)]
    #[test]
    fn a_stamp_never_grants_more_than_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let planted = Stamp {
            mode: Some(0o7777),
            ..Stamp::default()
        };
        planted.apply(&path).unwrap();
        let got = Stamp::read(&path).unwrap().mode.unwrap();
        assert_eq!(
            got,
            0o777 & !umask(),
            "setuid/setgid/sticky never, umask always"
        );
        assert_eq!(got & 0o7000, 0);
        // The test runs under some umask; whatever it is, the bits it masks stay clear.
        assert_eq!(got & umask(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_umask_is_read_from_the_process_status() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        assert_eq!(format!("Umask:\t{:04o}", umask()), line);
    }
}

//! The on-disk record of a resumable upload: what a later `put` needs to continue it, and
//! nothing that helps whoever reads it. It lives in the user's state directory
//! (`$XDG_STATE_HOME/s3seal/uploads/`, else `~/.local/state/s3seal/uploads/`; directories
//! 0700, files 0600), one journal per destination:
//!
//! - `NAME.json`, written once per upload, atomically (temporary file, fsync, rename): the
//!   upload id, bucket/key, the source's identity (path, device, inode, size, mtime), the
//!   sealed header (it holds the KMS-wrapped data key, never the plaintext one; the same bytes
//!   S3 stores as the object's first bytes), the part size and a digest of the options.
//! - `NAME.parts`, append-only, one fsync'd line per event: `sealed N SHA256 CRC32C` before part
//!   N's bytes leave the process, `stored N ETAG` once S3 acknowledged them. Both hashes are of
//!   ciphertext (which S3 holds anyway). A torn last line (a crash mid-write) is ignored: it was
//!   written before that part was sent.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::location::ObjectLocation;

/// Format version of the journal files.
pub const JOURNAL_VERSION: u32 = 1;

/// Where a source file is and what it was when the upload began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceIdentity {
    /// Canonical path.
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl SourceIdentity {
    /// The identity of the regular file at `path`.
    pub fn of(path: &Path) -> Result<SourceIdentity> {
        let what = || path.display().to_string();
        let canonical = std::fs::canonicalize(path).map_err(|e| Error::io(what(), e))?;
        let meta = std::fs::metadata(&canonical).map_err(|e| Error::io(what(), e))?;
        if !meta.is_file() {
            return Err(Error::usage(format!("{} is not a regular file", what())));
        }
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Ok(SourceIdentity {
            path: canonical,
            dev,
            ino,
            size: meta.len(),
            mtime_ns,
        })
    }
}

/// What resuming an upload needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// Seconds since the epoch when the upload began (this machine's clock).
    pub created: u64,
    pub source: SourceIdentity,
    /// The sealed header, base64: KMS-wrapped data key, message id, context, length, MAC.
    pub header: String,
    pub kms_key_arn: String,
    pub sse_kms_key_id: String,
    pub part_size: u64,
    /// SHA-256 of everything else the request chose (KMS key, context, chunk size, object
    /// settings): a resume under other options starts afresh.
    pub options_digest: String,
}

impl Journal {
    pub fn location(&self) -> ObjectLocation {
        ObjectLocation {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        }
    }
}

/// What the part ledger says: per part, the hashes of the sealed bytes sent, and the ETag S3
/// answered with when it acknowledged them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Part number -> (SHA-256 hex, CRC32C base64) of the sealed part.
    pub sealed: BTreeMap<u32, (String, String)>,
    /// Part number -> ETag ("" when S3 sent none).
    pub stored: BTreeMap<u32, String>,
}

impl Ledger {
    fn parse(text: &str) -> Ledger {
        let mut ledger = Ledger::default();
        // Only complete lines count: the last one may be torn.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for line in complete.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                ["sealed", n, sha, crc] => {
                    if let Ok(n) = n.parse() {
                        ledger.sealed.insert(n, (sha.to_string(), crc.to_string()));
                    }
                }
                ["stored", n, etag] => {
                    if let Ok(n) = n.parse() {
                        ledger.stored.insert(n, etag.trim_matches('"').to_string());
                    }
                }
                _ => {}
            }
        }
        ledger
    }
}

/// The directory of journals.
#[derive(Debug, Clone)]
pub struct JournalDir {
    dir: PathBuf,
}

/// `$XDG_STATE_HOME/s3seal` (an absolute path), else `$HOME/.local/state/s3seal`.
pub fn state_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from)
        && x.is_absolute()
    {
        return Ok(x.join("s3seal"));
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home.join(".local/state/s3seal")),
        _ => Err(Error::usage_hint(
            "no state directory for resumable uploads: neither XDG_STATE_HOME nor HOME is set",
            "set XDG_STATE_HOME to a private directory",
        )),
    }
}

/// Creates `dir` (and parents) and makes it 0700.
fn private_dir(dir: &Path) -> Result<()> {
    let io = |e| Error::io(dir.display().to_string(), e);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(io)?;
    Ok(())
}

impl JournalDir {
    /// The user's journal directory (created on first write).
    pub fn user() -> Result<JournalDir> {
        Ok(JournalDir {
            dir: state_dir()?.join("uploads"),
        })
    }

    /// Journals in `dir` (tests).
    pub fn at(dir: impl Into<PathBuf>) -> JournalDir {
        JournalDir { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `NAME` of the files for `dest`: a digest of bucket and key (keys may hold any byte).
    fn name(dest: &ObjectLocation) -> String {
        let mut h = Sha256::new();
        h.update(dest.bucket.as_bytes());
        h.update([0]);
        h.update(dest.key.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    pub fn journal_path(&self, dest: &ObjectLocation) -> PathBuf {
        self.dir.join(format!("{}.json", Self::name(dest)))
    }

    pub fn ledger_path(&self, dest: &ObjectLocation) -> PathBuf {
        self.dir.join(format!("{}.parts", Self::name(dest)))
    }

    /// The journal for `dest`, if there is one (an unreadable one is an error; a malformed
    /// one is treated as none and removed).
    pub fn load(&self, dest: &ObjectLocation) -> Result<Option<(Journal, Ledger)>> {
        let path = self.journal_path(dest);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path.display().to_string(), e)),
        };
        let journal: Journal = match serde_json::from_str(&text) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring a malformed upload journal");
                self.remove(dest);
                return Ok(None);
            }
        };
        if journal.version != JOURNAL_VERSION
            || journal.bucket != dest.bucket
            || journal.key != dest.key
        {
            return Ok(None);
        }
        let ledger_path = self.ledger_path(dest);
        let ledger = match std::fs::read_to_string(&ledger_path) {
            Ok(t) => Ledger::parse(&t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ledger::default(),
            Err(e) => return Err(Error::io(ledger_path.display().to_string(), e)),
        };
        Ok(Some((journal, ledger)))
    }

    /// Every journal in the directory (unreadable or malformed files skipped).
    pub fn all(&self) -> Vec<Journal> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<Journal> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str::<Journal>(&t).ok())
            .filter(|j| j.version == JOURNAL_VERSION)
            .collect();
        out.sort_by(|a, b| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
        out
    }

    /// Writes `journal` atomically (0600) and starts an empty ledger for it.
    pub fn save(&self, journal: &Journal) -> Result<()> {
        private_dir(&self.dir)?;
        let dest = journal.location();
        let path = self.journal_path(&dest);
        let io = |e| Error::io(path.display().to_string(), e);
        // tempfile creates 0600 files.
        let mut tmp = tempfile::Builder::new()
            .prefix(".journal.")
            .tempfile_in(&self.dir)
            .map_err(io)?;
        let text = serde_json::to_string_pretty(journal).expect("a journal serializes");
        tmp.write_all(text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        let _ = std::fs::remove_file(self.ledger_path(&dest));
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Opens the ledger of `dest` for appending (0600).
    pub fn ledger_writer(&self, dest: &ObjectLocation) -> Result<LedgerWriter> {
        private_dir(&self.dir)?;
        let path = self.ledger_path(dest);
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(LedgerWriter {
            file: std::sync::Mutex::new(file),
            path,
        })
    }

    /// Removes the journal and ledger of `dest` (missing files are fine).
    pub fn remove(&self, dest: &ObjectLocation) {
        let _ = std::fs::remove_file(self.journal_path(dest));
        let _ = std::fs::remove_file(self.ledger_path(dest));
    }
}

/// Appends fsync'd lines to a part ledger.
#[derive(Debug)]
pub struct LedgerWriter {
    file: std::sync::Mutex<std::fs::File>,
    path: PathBuf,
}

impl LedgerWriter {
    fn append(&self, line: &str) -> Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(self.path.display().to_string(), e))
    }

    /// Records that part `number` is about to be sent with these hashes.
    pub fn sealed(&self, number: u32, sha256: &str, crc32c: &str) -> Result<()> {
        self.append(&format!("sealed {number} {sha256} {crc32c}\n"))
    }

    /// Records that S3 acknowledged part `number`.
    pub fn stored(&self, number: u32, etag: Option<&str>) -> Result<()> {
        let etag: String = etag
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"')
            .collect();
        self.append(&format!("stored {number} {etag}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(upload_id: &str) -> Journal {
        Journal {
            version: JOURNAL_VERSION,
            bucket: "b".into(),
            key: "k/x".into(),
            upload_id: upload_id.into(),
            created: 1,
            source: SourceIdentity {
                path: "/tmp/x".into(),
                dev: 1,
                ino: 2,
                size: 3,
                mtime_ns: 4,
            },
            header: "aGVhZGVy".into(),
            kms_key_arn: "arn".into(),
            sse_kms_key_id: "arn".into(),
            part_size: 8 << 20,
            options_digest: "d".into(),
        }
    }

    #[test]
    fn journals_round_trip_privately_and_ledgers_ignore_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let journals = JournalDir::at(dir.path().join("s3seal/uploads"));
        let j = sample("u1");
        journals.save(&j).unwrap();
        let w = journals.ledger_writer(&j.location()).unwrap();
        w.sealed(1, "aa", "Zg==").unwrap();
        w.stored(1, Some("\"etag1\"")).unwrap();
        w.sealed(2, "bb", "Zh==").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(journals.ledger_path(&j.location()))
            .unwrap()
            .write_all(b"sealed 3 cc")
            .unwrap();
        let (back, ledger) = journals.load(&j.location()).unwrap().unwrap();
        assert_eq!(back, j);
        assert_eq!(ledger.sealed.len(), 2, "the torn line does not count");
        assert_eq!(ledger.stored.get(&1).map(String::as_str), Some("etag1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(journals.path()), 0o700);
            assert_eq!(mode(&journals.journal_path(&j.location())), 0o600);
            assert_eq!(mode(&journals.ledger_path(&j.location())), 0o600);
        }
        assert_eq!(journals.all(), vec![j.clone()]);
        // A new journal for the same destination starts a new ledger.
        journals.save(&sample("u2")).unwrap();
        let (_, ledger) = journals.load(&j.location()).unwrap().unwrap();
        assert!(ledger.sealed.is_empty());
        journals.remove(&j.location());
        assert!(journals.load(&j.location()).unwrap().is_none());
    }

    #[test]
    fn a_journal_for_another_destination_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let journals = JournalDir::at(dir.path());
        journals.save(&sample("u1")).unwrap();
        let other = ObjectLocation {
            bucket: "b".into(),
            key: "k/y".into(),
        };
        assert!(journals.load(&other).unwrap().is_none());
    }
}

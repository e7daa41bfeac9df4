//! A resumable download to a file (`get --resumable`): verified chunks go to a private file
//! beside the destination, `.NAME.s3seal-partial` (0600), and a sidecar
//! `.NAME.s3seal-partial.json` records the object they came from (bucket, key, ETag, lengths,
//! and the authenticated header's message id and key commitment) and, one fsync'd line per
//! range, which chunk ranges are verified and on disk. The next `get` of the same object to the
//! same place fetches only the ranges not recorded, pinned with `If-Match` to the recorded
//! ETag; any difference starts over: another ETag (overwritten), or another object behind the
//! same ETag (a server's ETag is not trusted to tell objects apart; the message id and the
//! commitment, verified under the data key, are). When everything verified, the file is
//! fsynced and renamed over the destination and the sidecar removed. Interrupted, both stay
//! (holding only verified plaintext); after an integrity failure both are removed.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::transfer::download::temp::dir_and_name;

/// What the verified ranges belong to: any difference starts the download over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartialMeta {
    pub version: u32,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub ciphertext_len: u64,
    pub plaintext_len: u64,
    pub chunk_size: u64,
    /// The verified header's message id and key commitment, hex: unique to one object's data
    /// key and message, whatever ETag a server reports.
    pub message_id: String,
    pub commitment: String,
}

/// The sidecar format written now (older sidecars never match: those downloads start over).
pub(crate) const PARTIAL_META_VERSION: u32 = 2;

/// The partial file and its sidecar.
pub(crate) struct PartialDownload {
    pub data: Arc<std::fs::File>,
    data_path: PathBuf,
    sidecar: Mutex<std::fs::File>,
    sidecar_path: PathBuf,
    dest: PathBuf,
}

fn private_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// The chunk ranges a sidecar records (complete lines only), if it is for `meta`.
fn recorded(sidecar: &Path, meta: &PartialMeta) -> Option<Vec<Range<u64>>> {
    let text = std::fs::read_to_string(sidecar).ok()?;
    let complete = &text[..text.rfind('\n')?];
    let mut lines = complete.lines();
    let stored: PartialMeta = serde_json::from_str(lines.next()?).ok()?;
    if stored != *meta {
        return None;
    }
    Some(
        lines
            .filter_map(|l| {
                let (a, b) = l.split_once(' ')?;
                Some(a.parse().ok()?..b.parse().ok()?)
            })
            .collect(),
    )
}

impl PartialDownload {
    /// Opens (or starts) the partial download of `meta` to `dest`; returns it and the chunk
    /// ranges already verified and on disk.
    pub fn open(dest: &Path, meta: &PartialMeta) -> Result<(PartialDownload, Vec<Range<u64>>)> {
        let (dir, name) = dir_and_name(dest);
        let data_path = dir.join(format!(".{name}.s3seal-partial"));
        let sidecar_path = dir.join(format!(".{name}.s3seal-partial.json"));
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |e| Error::io(p, e)
        };
        let done = recorded(&sidecar_path, meta).filter(|_| data_path.exists());
        let data = private_options().open(&data_path).map_err(io(&data_path))?;
        let done = match done {
            Some(done) => done,
            None => {
                // Another object, or nothing yet: start over.
                data.set_len(0).map_err(io(&data_path))?;
                let mut tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}."))
                    .suffix(".s3seal-tmp")
                    .tempfile_in(&dir)
                    .map_err(io(&dir))?;
                let line = serde_json::to_string(meta).expect("serializes");
                writeln!(tmp, "{line}")
                    .and_then(|()| tmp.as_file().sync_all())
                    .map_err(io(&sidecar_path))?;
                tmp.persist(&sidecar_path)
                    .map_err(|e| Error::io(sidecar_path.display().to_string(), e.error))?;
                Vec::new()
            }
        };
        let sidecar = std::fs::OpenOptions::new()
            .append(true)
            .open(&sidecar_path)
            .map_err(io(&sidecar_path))?;
        Ok((
            PartialDownload {
                data: Arc::new(data),
                data_path,
                sidecar: Mutex::new(sidecar),
                sidecar_path,
                dest: dest.to_path_buf(),
            },
            done,
        ))
    }

    /// Records that chunks `chunks` are verified and written: the data reaches the disk first.
    pub fn record(&self, chunks: Range<u64>) -> std::io::Result<()> {
        self.data.sync_data()?;
        let mut sidecar = self.sidecar.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(sidecar, "{} {}", chunks.start, chunks.end)?;
        sidecar.sync_data()
    }

    /// An integrity failure: the partial file and its sidecar go (what they hold is verified
    /// plaintext of an object that can no longer be trusted to finish, and a later run must
    /// not build on it).
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.data_path);
        let _ = std::fs::remove_file(&self.sidecar_path);
    }

    /// Everything verified: the file takes the destination's name, the sidecar goes.
    pub async fn commit(self) -> Result<PathBuf> {
        let PartialDownload {
            data,
            data_path,
            sidecar_path,
            dest,
            ..
        } = self;
        let what = data_path.display().to_string();
        tokio::task::spawn_blocking(move || data.sync_all())
            .await
            .expect("fsync task panicked")
            .map_err(|e| Error::io(what, e))?;
        std::fs::rename(&data_path, &dest).map_err(|e| Error::io(dest.display().to_string(), e))?;
        let _ = std::fs::remove_file(&sidecar_path);
        Ok(dest)
    }
}

/// Whether `unit` lies inside one of the recorded ranges.
pub(crate) fn covered(done: &[Range<u64>], unit: &Range<u64>) -> bool {
    done.iter()
        .any(|r| r.start <= unit.start && unit.end <= r.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(etag: &str) -> PartialMeta {
        PartialMeta {
            version: PARTIAL_META_VERSION,
            bucket: "b".into(),
            key: "k".into(),
            etag: etag.into(),
            ciphertext_len: 10,
            plaintext_len: 5,
            chunk_size: 65536,
            message_id: "11".repeat(32),
            commitment: "22".repeat(32),
        }
    }

    #[test]
    fn recorded_ranges_survive_and_another_etag_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let (p, done) = PartialDownload::open(&dest, &meta("e1")).unwrap();
        assert!(done.is_empty());
        p.record(0..4).unwrap();
        p.record(8..12).unwrap();
        drop(p);
        let (_, done) = PartialDownload::open(&dest, &meta("e1")).unwrap();
        assert_eq!(done, vec![0..4, 8..12]);
        assert!(covered(&done, &(8..12)) && !covered(&done, &(4..8)));
        let (_, done) = PartialDownload::open(&dest, &meta("e2")).unwrap();
        assert!(done.is_empty(), "a new ETag starts over");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let data = dir.path().join(".out.bin.s3seal-partial");
            let mode = std::fs::metadata(data).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}

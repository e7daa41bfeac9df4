//! The local tree, streamed in S3 key order. A thread walks the directory (walkdir) and sends
//! entries through a bounded channel, so memory holds one directory's sorted entries per level
//! of depth, never the whole tree.
//!
//! Order: siblings are sorted by their name's bytes, a directory's name compared as `name/`.
//! Every key below a directory starts with `name/`, so the depth-first walk yields relative
//! paths in exactly the byte order in which S3 lists keys (`a.txt` before `a/b`, since `.` <
//! `/`), which is what [`super::compare`] needs to merge the two sides.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::sync::mpsc;
use walkdir::{DirEntry, WalkDir};

/// Entries buffered between the walking thread and the consumer.
const CHANNEL_ENTRIES: usize = 1024;

/// A regular file of the tree.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Path relative to the root, `/`-separated (the key below the prefix).
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// Unix permission bits (0 elsewhere).
    pub mode: u32,
}

/// One entry of the walk, in key order.
#[derive(Debug, Clone)]
pub enum LocalItem {
    File(LocalFile),
    /// Something that is not transferred (a symlink not followed, a special file), with why.
    /// It still counts as present: `--delete` never removes its counterpart.
    Skipped {
        rel: String,
        reason: String,
    },
    /// A path that cannot be read or named (not UTF-8, a walk error): a failed object.
    Failed {
        rel: String,
        error: String,
    },
}

impl LocalItem {
    pub fn rel(&self) -> &str {
        match self {
            LocalItem::File(f) => &f.rel,
            LocalItem::Skipped { rel, .. } | LocalItem::Failed { rel, .. } => rel,
        }
    }
}

/// The sort key of a directory entry: its name's bytes, with `/` after a directory's.
fn sort_name(entry: &DirEntry) -> Vec<u8> {
    let mut name = entry.file_name().as_encoded_bytes().to_vec();
    if entry.file_type().is_dir() {
        name.push(b'/');
    }
    name
}

fn by_key(a: &DirEntry, b: &DirEntry) -> Ordering {
    sort_name(a).cmp(&sort_name(b))
}

/// `path` relative to `root`, `/`-separated; `None` when a component is not UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0
}

/// What one walk entry becomes (directories become nothing: their files carry their path).
fn item_for(root: &Path, entry: walkdir::Result<DirEntry>) -> Option<LocalItem> {
    let entry = match entry {
        Ok(entry) => entry,
        Err(e) => {
            let rel = e
                .path()
                .and_then(|p| relative(root, p))
                .unwrap_or_else(|| "?".into());
            return Some(LocalItem::Failed {
                rel,
                error: format!("cannot read: {e}"),
            });
        }
    };
    if entry.depth() == 0 {
        return None;
    }
    let Some(rel) = relative(root, entry.path()) else {
        // Shown relative to the root, as every other path (the merge does not place it in
        // key order: no key could name it).
        let shown = entry.path().strip_prefix(root).unwrap_or(entry.path());
        return Some(LocalItem::Failed {
            rel: shown.to_string_lossy().replace('\\', "/"),
            error: "the name is not valid UTF-8, so it cannot be an S3 key".into(),
        });
    };
    let kind = entry.file_type();
    if kind.is_dir() {
        return None;
    }
    if kind.is_symlink() {
        return Some(LocalItem::Skipped {
            rel,
            reason: "symbolic link (not followed without --follow-symlinks)".into(),
        });
    }
    if !kind.is_file() {
        return Some(LocalItem::Skipped {
            rel,
            reason: "not a regular file (device, FIFO or socket)".into(),
        });
    }
    match entry.metadata() {
        Ok(meta) => Some(LocalItem::File(LocalFile {
            rel,
            path: entry.path().to_path_buf(),
            size: meta.len(),
            modified: meta.modified().ok(),
            mode: mode_of(&meta),
        })),
        Err(e) => Some(LocalItem::Failed {
            rel,
            error: format!("cannot read its metadata: {e}"),
        }),
    }
}

/// Streams the files under `root` in key order. A missing root is an empty tree (a sync to a
/// new directory); a root that is a file is refused by the caller.
pub fn walk(root: PathBuf, follow_symlinks: bool) -> mpsc::Receiver<LocalItem> {
    let (tx, rx) = mpsc::channel(CHANNEL_ENTRIES);
    std::thread::spawn(move || {
        if !root.exists() {
            return;
        }
        let walker = WalkDir::new(&root)
            .follow_links(follow_symlinks)
            .sort_by(by_key);
        for entry in walker {
            if let Some(item) = item_for(&root, entry)
                && tx.blocking_send(item).is_err()
            {
                return; // the consumer stopped
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(root: &Path) -> Vec<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut rx = walk(root.to_path_buf(), false);
            let mut out = Vec::new();
            while let Some(item) = rx.recv().await {
                out.push(item.rel().to_string());
            }
            out
        })
    }

    #[test]
    fn walks_in_s3_key_order() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["a/b", "a.txt", "a/c/d", "b", "a-z", "ü", "a/c.e"] {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty")).unwrap();
        let got = collect(dir.path());
        let mut want = got.clone();
        want.sort(); // String order is byte order, as S3's
        assert_eq!(got, want);
        assert_eq!(got.len(), 7);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_fifos_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("f"), dir.path().join("l")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let items: Vec<LocalItem> = rt.block_on(async {
            let mut rx = walk(dir.path().to_path_buf(), false);
            let mut out = Vec::new();
            while let Some(item) = rx.recv().await {
                out.push(item);
            }
            out
        });
        assert!(matches!(items[0], LocalItem::File(_)));
        assert!(matches!(items[1], LocalItem::Skipped { .. }));
        // With --follow-symlinks the link is its target's file, and a linked directory's
        // files come in key order under the link's name.
        std::fs::create_dir(dir.path().join("t")).unwrap();
        std::fs::write(dir.path().join("t/x"), b"y").unwrap();
        std::os::unix::fs::symlink(dir.path().join("t"), dir.path().join("d")).unwrap();
        let followed: Vec<(String, bool)> = rt.block_on(async {
            let mut rx = walk(dir.path().to_path_buf(), true);
            let mut out = Vec::new();
            while let Some(item) = rx.recv().await {
                out.push((item.rel().to_string(), matches!(item, LocalItem::File(_))));
            }
            out
        });
        let want = [("d/x", true), ("f", true), ("l", true), ("t/x", true)];
        assert_eq!(followed, want.map(|(r, f)| (r.to_string(), f)));
    }

    #[test]
    fn a_missing_root_is_empty() {
        assert!(collect(Path::new("/nonexistent/s3seal-tree")).is_empty());
    }
}

//! The merge of the two sides of a run into work, one item at a time: the local walk and the
//! remote listing both come in key order, so walking them side by side pairs every path with
//! its counterpart (or its absence) in constant memory. That is how `--delete` finds what
//! vanished without a set of names, whatever the size of the tree or bucket. A side that comes
//! out of order stops the run (a wrong order could otherwise delete a file that exists).
//!
//! Also here: [`decide`], whether a pair that exists on both sides needs a transfer.

use std::cmp::Ordering;

use tokio::sync::mpsc;

use super::filter::Filters;
use super::fingerprint::KEY_OBJECT;
use super::listing::{Listing, RemoteEntry};
use super::stamp::Stamp;
use super::walk::{LocalFile, LocalItem};
use crate::error::{Error, Result};

/// One unit of work for the runner.
#[derive(Debug)]
pub enum Work {
    /// Upload a local file; `existing` is the object already at its key (sync decides).
    Upload {
        file: LocalFile,
        existing: Option<RemoteEntry>,
    },
    /// Download an object; `existing` is the local file already at its path (sync decides).
    Download {
        object: RemoteEntry,
        existing: Option<LocalFile>,
    },
    /// `--delete`: the object's source vanished.
    DeleteRemote(RemoteEntry),
    /// `--delete`: the local file's source object vanished.
    DeleteLocal(LocalFile),
    /// Nothing to transfer, only to report (skipped, or failed before any transfer).
    Note {
        rel: String,
        skipped: bool,
        message: String,
    },
}

/// Which way a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Up,
    Down,
}

/// The two sides, merged in key order.
pub struct Merge<'a> {
    way: Way,
    local: Option<mpsc::Receiver<LocalItem>>,
    remote: Option<Listing<'a>>,
    /// The listing is of the bucket root: its fingerprint key object is not part of any tree.
    remote_at_root: bool,
    filters: Filters,
    delete: bool,
    local_head: Option<LocalItem>,
    remote_head: Option<RemoteEntry>,
    last_local: String,
    last_remote: String,
}

/// Which side(s) the next path comes from.
pub fn step(local: Option<&str>, remote: Option<&str>) -> Option<Ordering> {
    match (local, remote) {
        (None, None) => None,
        (Some(_), None) => Some(Ordering::Less),
        (None, Some(_)) => Some(Ordering::Greater),
        (Some(l), Some(r)) => Some(l.as_bytes().cmp(r.as_bytes())),
    }
}

fn out_of_order(side: &str, before: &str, after: &str) -> Error {
    Error::runtime(format!(
        "the {side} came out of key order ({before:?} before {after:?}); stopped before deciding anything from it"
    ))
}

impl<'a> Merge<'a> {
    /// A merge of `local` and `remote` (either may be absent: `put`/`get --recursive` have
    /// one side). With `delete`, paths only on the destination side become deletions.
    pub fn new(
        way: Way, local: Option<mpsc::Receiver<LocalItem>>, remote: Option<Listing<'a>>,
        remote_at_root: bool, filters: Filters, delete: bool,
    ) -> Self {
        Merge {
            way,
            local,
            remote,
            remote_at_root,
            filters,
            delete,
            local_head: None,
            remote_head: None,
            last_local: String::new(),
            last_remote: String::new(),
        }
    }

    async fn fill(&mut self) -> Result<()> {
        if self.local_head.is_none()
            && let Some(rx) = &mut self.local
        {
            match rx.recv().await {
                // A path that cannot be read or named has no place in key order: it is
                // reported as it comes (`next`), never paired and never checked for order.
                Some(item @ LocalItem::Failed { .. }) => self.local_head = Some(item),
                Some(item) => {
                    if !self.last_local.is_empty() && item.rel() <= self.last_local.as_str() {
                        return Err(out_of_order("local walk", &self.last_local, item.rel()));
                    }
                    self.last_local = item.rel().to_string();
                    self.local_head = Some(item);
                }
                None => self.local = None,
            }
        }
        while self.remote_head.is_none()
            && let Some(listing) = &mut self.remote
        {
            match listing.next().await? {
                Some(entry) if self.remote_at_root && entry.rel == KEY_OBJECT => continue,
                Some(entry) => {
                    if !self.last_remote.is_empty() && entry.rel <= self.last_remote {
                        return Err(out_of_order("listing", &self.last_remote, &entry.rel));
                    }
                    self.last_remote = entry.rel.clone();
                    self.remote_head = Some(entry);
                }
                None => self.remote = None,
            }
        }
        Ok(())
    }

    /// The next unit of work, or `None` when both sides are done.
    pub async fn next(&mut self) -> Result<Option<Work>> {
        loop {
            self.fill().await?;
            if matches!(self.local_head, Some(LocalItem::Failed { .. })) {
                let Some(LocalItem::Failed { rel, error }) = self.local_head.take() else {
                    unreachable!("just matched");
                };
                // An upload reports it failed; a download has nothing to pair it with.
                if self.way == Way::Up && self.filters.includes(&rel) {
                    return Ok(Some(Work::Note {
                        rel,
                        skipped: false,
                        message: error,
                    }));
                }
                continue;
            }
            let order = step(
                self.local_head.as_ref().map(LocalItem::rel),
                self.remote_head.as_ref().map(|r| r.rel.as_str()),
            );
            let (local, remote) = match order {
                None => return Ok(None),
                Some(Ordering::Less) => (self.local_head.take(), None),
                Some(Ordering::Greater) => (None, self.remote_head.take()),
                Some(Ordering::Equal) => (self.local_head.take(), self.remote_head.take()),
            };
            let rel = local
                .as_ref()
                .map(|l| l.rel().to_string())
                .or_else(|| remote.as_ref().map(|r| r.rel.clone()))
                .expect("one side");
            if !self.filters.includes(&rel) {
                continue; // filtered out: never transferred, never deleted
            }
            if let Some(work) = self.work_for(local, remote) {
                return Ok(Some(work));
            }
        }
    }

    fn work_for(&self, local: Option<LocalItem>, remote: Option<RemoteEntry>) -> Option<Work> {
        let note = |rel: String, skipped: bool, message: String| Work::Note {
            rel,
            skipped,
            message,
        };
        match (self.way, local, remote) {
            (Way::Up, Some(LocalItem::File(file)), existing) => {
                Some(Work::Upload { file, existing })
            }
            (Way::Up, Some(LocalItem::Skipped { rel, reason }), _) => Some(note(rel, true, reason)),
            (Way::Up, Some(LocalItem::Failed { rel, error }), _) => Some(note(rel, false, error)),
            (Way::Up, None, Some(object)) => self.delete.then_some(Work::DeleteRemote(object)),
            (Way::Down, local, Some(object)) => match local {
                None => Some(Work::Download {
                    object,
                    existing: None,
                }),
                Some(LocalItem::File(file)) => Some(Work::Download {
                    object,
                    existing: Some(file),
                }),
                Some(LocalItem::Skipped { rel, .. } | LocalItem::Failed { rel, .. }) => Some(note(
                    rel,
                    false,
                    "something that is not a regular file is in the way locally".into(),
                )),
            },
            (Way::Down, Some(LocalItem::File(file)), None) => {
                self.delete.then_some(Work::DeleteLocal(file))
            }
            (Way::Down, Some(_), None) => None,
            (_, None, None) => None,
        }
    }
}

/// Whether a pair present on both sides needs a transfer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    Changed(&'static str),
}

/// Default: the destination is current when its stamp has the source's plaintext size and
/// modification time (to the nanosecond; an object without a stamp is always transferred).
/// With `checksum`: same size and the same keyed fingerprint, whatever the times say.
pub fn decide(source: &Stamp, dest: &Stamp, checksum: bool) -> Change {
    if source.size.is_none() || source.size != dest.size {
        return Change::Changed("size differs");
    }
    if checksum {
        match (&source.fingerprint, &dest.fingerprint) {
            (Some(a), Some(b)) if a == b => Change::Unchanged,
            (_, None) | (None, _) => Change::Changed("no fingerprint to compare"),
            _ => Change::Changed("content differs"),
        }
    } else if source.same_size_and_time(dest) {
        Change::Unchanged
    } else {
        Change::Changed("modification time differs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str) -> LocalItem {
        LocalItem::File(LocalFile {
            rel: rel.into(),
            path: rel.into(),
            size: 1,
            modified: None,
            mode: 0,
        })
    }

    fn describe(work: &Work) -> String {
        match work {
            Work::Upload { file, existing } => format!("up {} {}", file.rel, existing.is_some()),
            Work::Download { object, existing } => {
                format!("down {} {}", object.rel, existing.is_some())
            }
            Work::DeleteRemote(r) => format!("rm-remote {}", r.rel),
            Work::DeleteLocal(f) => format!("rm-local {}", f.rel),
            Work::Note { rel, .. } => format!("note {rel}"),
        }
    }

    async fn merged(
        way: Way, local: &[&str], remote: &[&str], filters: Filters, delete: bool,
    ) -> Result<Vec<String>> {
        let keys: Vec<String> = remote.iter().map(|k| format!("p/{k}")).collect();
        let store = super::super::listing::tests::store_with(&keys).await;
        let (tx, rx) = mpsc::channel(16);
        for rel in local {
            tx.send(file(rel)).await.unwrap();
        }
        drop(tx);
        let listing = Listing::new(&store, "b", "p/");
        let mut merge = Merge::new(way, Some(rx), Some(listing), false, filters, delete);
        let mut out = Vec::new();
        while let Some(work) = merge.next().await? {
            out.push(describe(&work));
        }
        Ok(out)
    }

    #[tokio::test]
    async fn pairs_every_path_with_its_counterpart() {
        let got = merged(
            Way::Up,
            &["a", "b", "d"],
            &["b", "c", "d"],
            Filters::default(),
            true,
        )
        .await
        .unwrap();
        assert_eq!(got, ["up a false", "up b true", "rm-remote c", "up d true"]);
        let got = merged(
            Way::Down,
            &["a", "b"],
            &["b", "c"],
            Filters::default(),
            true,
        )
        .await
        .unwrap();
        assert_eq!(got, ["rm-local a", "down b true", "down c false"]);
    }

    #[tokio::test]
    async fn without_delete_vanished_paths_are_left_alone() {
        let got = merged(Way::Up, &["a"], &["z"], Filters::default(), false)
            .await
            .unwrap();
        assert_eq!(got, ["up a false"]);
    }

    #[tokio::test]
    async fn excluded_paths_are_never_deleted() {
        use super::super::filter::Rule;
        let filters = Filters::new(&[(Rule::Exclude, "*.keep".into())]).unwrap();
        let got = merged(Way::Up, &[], &["x.keep", "y"], filters, true)
            .await
            .unwrap();
        assert_eq!(got, ["rm-remote y"]);
    }

    #[tokio::test]
    async fn a_side_out_of_order_stops_the_run() {
        let err = merged(Way::Up, &["b", "a"], &[], Filters::default(), true)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("out of key order"), "{err}");
    }

    #[test]
    fn decisions() {
        let stamp = |size, mtime, fp: Option<&str>| Stamp {
            size: Some(size),
            mtime_ns: Some(mtime),
            mode: None,
            fingerprint: fp.map(str::to_string),
        };
        assert_eq!(
            decide(&stamp(1, 5, None), &stamp(1, 5, None), false),
            Change::Unchanged
        );
        assert!(matches!(
            decide(&stamp(1, 5, None), &stamp(1, 6, None), false),
            Change::Changed(_)
        ));
        assert!(matches!(
            decide(&stamp(1, 5, None), &stamp(2, 5, None), false),
            Change::Changed(_)
        ));
        // --checksum: same size, same time, other content: transferred.
        assert!(matches!(
            decide(&stamp(1, 5, Some("a")), &stamp(1, 5, Some("b")), true),
            Change::Changed("content differs")
        ));
        assert_eq!(
            decide(&stamp(1, 5, Some("a")), &stamp(1, 9, Some("a")), true),
            Change::Unchanged
        );
        assert!(matches!(
            decide(&stamp(1, 5, Some("a")), &stamp(1, 5, None), true),
            Change::Changed(_)
        ));
        assert!(matches!(
            decide(&Stamp::default(), &Stamp::default(), false),
            Change::Changed(_)
        ));
    }
}

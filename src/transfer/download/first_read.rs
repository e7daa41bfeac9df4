//! The first read's bytes, served to the units it holds whole. An object of at most one range
//! is read whole by its first read but may be several units (full chunks and a short last
//! one); none of them may be fetched again, since a tree's object holds the first read's cost
//! in the shared budget while its units would wait for more (a download that waited so hung).
//! So every unit inside the first read is served from it, in any order: the first of what is
//! left keeps the buffer, only the rest is split off, and the last unit served takes it all.

use std::ops::Range;
use std::sync::Mutex;

use crate::format::Layout;
use crate::transfer::pool::BufferPool;

/// The first read of a download, until the last unit it holds has taken it.
pub(super) struct FirstRead {
    len: u64,
    left: Mutex<Left>,
}

/// What is left of the bytes (from object offset `base`), and how many units will still be
/// served from them.
struct Left {
    bytes: Option<Vec<u8>>,
    base: usize,
    users: usize,
}

impl FirstRead {
    /// The first read's `bytes`, for the `units` (chunk ranges) of a download of `layout`.
    pub(super) fn new(bytes: Vec<u8>, layout: &Layout, units: &[Range<u64>]) -> FirstRead {
        let len = bytes.len() as u64;
        let users = units
            .iter()
            .map(|u| layout.cipher_range_of_chunks(u.clone()))
            .filter(|range| !range.is_empty() && range.end <= len)
            .count();
        FirstRead {
            len,
            left: Mutex::new(Left {
                bytes: Some(bytes),
                base: 0,
                users,
            }),
        }
    }

    /// Whether the ciphertext `range` lies within the first read.
    pub(super) fn holds(&self, range: &Range<u64>) -> bool {
        range.end <= self.len
    }

    /// The ciphertext `range` (a unit's) from the first read, when it holds it; None when it
    /// does not (then the unit is fetched like any other). An out-of-order unit gets a copy in
    /// a buffer of `pool`.
    pub(super) fn take(&self, range: &Range<u64>, pool: &BufferPool) -> Option<Vec<u8>> {
        if !self.holds(range) || range.is_empty() {
            return None;
        }
        let mut left = self.left.lock().expect("first-read lock");
        let base = left.base;
        let (start, end) = (range.start as usize, range.end as usize);
        if start < base {
            return None; // already handed out (not asked twice; fetched if it ever is)
        }
        left.users = left.users.saturating_sub(1);
        let (start, end) = (start - base, end - base);
        let mut bytes = left.bytes.take()?;
        if left.users == 0 {
            // The last unit it serves takes it.
            bytes.truncate(end);
            bytes.drain(..start);
            return Some(bytes);
        }
        if start == 0 {
            // The first of what is left (units come in order, as a rule): it keeps the
            // buffer, and only the rest is copied out for the units still to come.
            left.bytes = Some(bytes.split_off(end));
            left.base = base + end;
            return Some(bytes);
        }
        // Out of order: a copy of this unit, the rest stays for the others.
        let mut buf = pool.take_empty();
        buf.extend_from_slice(bytes.get(start..end)?);
        left.bytes = Some(bytes);
        Some(buf)
    }
}

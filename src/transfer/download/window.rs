//! Long reads taken a window at a time. Every GET costs a round trip before its first byte, so
//! a download over a real network wants few, long GETs; but a range held whole before it is
//! opened costs its length in memory. Where the reader streams ([`RangeReader::streams`]), one
//! GET brings several consecutive units of whole chunks ("windows"): each window is received
//! into its own buffer, holding its cost in the download's budget, and is opened and written
//! while the next one arrives. Memory then depends on the windows in flight, not on the
//! length of a GET.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::LocalBoxStream;
use futures::{StreamExt, TryStreamExt};

use super::reader::RangeReader;
use super::{Fetcher, Opened};
use crate::error::Result;
use crate::store::{RANGE_ATTEMPTS, RangeBody, backoff};

/// Ciphertext bytes per GET where the reader streams (the windows are the download's units).
/// 32 MiB is a quarter of the GETs of 8 MiB ranges, each on the wire for about four times
/// its round trip at 20 ms (docs/PERFORMANCE.md).
pub const STREAMED_READ_BYTES: u64 = 32 * 1024 * 1024;

/// One GET of consecutive windows, read in order. A body that breaks is opened again from
/// the first byte not yet received, up to [`RANGE_ATTEMPTS`] times in all.
pub(super) struct WindowReader<'a, R> {
    reader: &'a R,
    if_match: Option<&'a str>,
    /// The next byte to receive, and the end of the GET's range.
    at: u64,
    end: u64,
    body: Option<RangeBody>,
    /// Received bytes not yet taken by a window.
    piece: Bytes,
    attempts: u32,
}

impl<'a, R: RangeReader> WindowReader<'a, R> {
    pub(super) fn new(reader: &'a R, range: Range<u64>, if_match: Option<&'a str>) -> Self {
        WindowReader {
            reader,
            if_match,
            at: range.start,
            end: range.end,
            body: None,
            piece: Bytes::new(),
            attempts: 0,
        }
    }

    /// Replaces `buf`'s contents with the next `len` bytes of the range; fewer only when the
    /// server's answer ended early (the caller reports the length).
    pub(super) async fn fill(&mut self, buf: &mut Vec<u8>, len: usize) -> Result<()> {
        buf.clear();
        buf.reserve(len);
        while buf.len() < len {
            if self.piece.is_empty() {
                match self.next_piece().await? {
                    Some(piece) => self.piece = piece,
                    None => return Ok(()),
                }
            }
            let take = self.piece.len().min(len - buf.len());
            buf.extend_from_slice(&self.piece.split_to(take));
            self.at += take as u64;
        }
        Ok(())
    }

    /// The next bytes from the server; `None` when its answer ended before the range did.
    async fn next_piece(&mut self) -> Result<Option<Bytes>> {
        loop {
            if self.at >= self.end {
                return Ok(None);
            }
            let body = match &mut self.body {
                Some(body) => body,
                None => {
                    self.attempts += 1;
                    let body = self.reader.open_range(self.at..self.end, self.if_match);
                    self.body.insert(body.await?)
                }
            };
            match body.next().await {
                Ok(piece) => return Ok(piece),
                Err(e) if e.transient && self.attempts < RANGE_ATTEMPTS => {
                    tracing::debug!(attempt = self.attempts, error = %e.error, "reopening a broken ranged GET");
                    self.body = None;
                    backoff(self.attempts).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Units of one GET being opened or written at once while the next one arrives.
const WINDOWS_OPENING: usize = 2;

impl<R: RangeReader> Fetcher<'_, R> {
    /// Whether unit `unit` is in memory already (the first read or a range fetched ahead):
    /// it is not part of a longer GET.
    pub(super) fn in_memory(&self, unit: &Range<u64>) -> bool {
        let range = self.layout.cipher_range_of_chunks(unit.clone());
        let prefetched = self.prefetched.lock().expect("prefetch lock");
        self.first_read.holds(&range) || prefetched.contains_key(&(range.start, range.end))
    }

    /// The units `read` (adjacent), received from one GET a unit at a time, each opened and
    /// written while the next arrives. A single unit is fetched as [`Self::fetch_and_open`]
    /// does.
    pub(super) fn read_and_open(
        &self, read: Vec<Range<u64>>,
    ) -> LocalBoxStream<'_, Result<Opened>> {
        if read.len() == 1 {
            let unit = read.into_iter().next().expect("one unit");
            return futures::stream::once(self.fetch_and_open(unit)).boxed_local();
        }
        let layout = self.layout;
        let first = read.first().expect("units").start;
        let last = read.last().expect("units").end;
        let body = WindowReader::new(
            self.reader,
            layout.cipher_range_of_chunks(first..last),
            self.first.etag(),
        );
        let windows = futures::stream::try_unfold(
            (body, read.into_iter()),
            move |(mut body, mut units)| async move {
                let Some(unit) = units.next() else {
                    return Ok(None);
                };
                let range = layout.cipher_range_of_chunks(unit.clone());
                let held = self.shared.hold(range.end - range.start).await;
                let mut buf = self.shared.pool.take_empty();
                body.fill(&mut buf, (range.end - range.start) as usize)
                    .await?;
                self.check_len(&buf, &range, self.first.total())?;
                Ok(Some(((unit, buf, held), (body, units))))
            },
        );
        windows
            .map_ok(move |(unit, buf, held)| self.open_and_write(unit, buf, Some(held)))
            .try_buffered(WINDOWS_OPENING)
            .boxed_local()
    }
}

/// `units` joined into GETs: runs of adjacent units, `per_read` at most per GET. A unit in
/// `alone` (already in memory) stays on its own.
pub(super) fn reads(
    units: Vec<Range<u64>>, per_read: usize, alone: impl Fn(&Range<u64>) -> bool,
) -> Vec<Vec<Range<u64>>> {
    let per_read = per_read.max(1);
    let mut reads: Vec<Vec<Range<u64>>> = Vec::new();
    let mut open = false;
    for unit in units {
        if alone(&unit) {
            reads.push(vec![unit]);
            open = false;
            continue;
        }
        match reads.last_mut() {
            Some(last)
                if open
                    && last.len() < per_read
                    && last.last().is_some_and(|l| l.end == unit.start) =>
            {
                last.push(unit)
            }
            _ => {
                reads.push(vec![unit]);
                open = true;
            }
        }
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_join_adjacent_units_and_leave_the_held_ones_alone() {
        let units = vec![0..2, 2..4, 4..6, 6..8, 8..10, 12..14, 14..16];
        let got = reads(units, 2, |u| u.start == 4);
        assert_eq!(
            got,
            vec![
                vec![0..2, 2..4],
                vec![4..6],
                vec![6..8, 8..10],
                // Not adjacent to 8..10 (a resumed download skips what is done).
                vec![12..14, 14..16],
            ]
        );
        assert_eq!(reads(vec![0..1, 1..2, 2..3], 1, |_| false).len(), 3);
        assert!(reads(Vec::new(), 4, |_| false).is_empty());
    }
}

//! A stored object as a blocking [`Read`], so `seal` can feed its plaintext to the upload
//! pipeline (which reads its source on a blocking thread); manifests in S3 are read the same
//! way (`crate::batch::source`). Ranged GETs pinned to the
//! ETag read at the start (`If-Match`), a few in flight, delivered in order through a bounded
//! channel: memory stays at about `concurrency + 1` ranges, whatever the object's size.
//!
//! A failed read (object replaced, size changed, network) ends the stream with an I/O error
//! for the pipeline and keeps the original error in [`StreamGuard`], so the caller reports
//! what really happened rather than "reading the source failed". A stream that ends before
//! the length announced by HEAD is an error too, never a shorter object.

use std::io::Read;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::location::ObjectLocation;
use crate::store::{ObjectStore, get_range_retrying};

type Failure = Arc<Mutex<Option<Error>>>;

/// The reading end: a blocking reader of the object's bytes, in order.
pub(crate) struct ObjectStream {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
    delivered: u64,
    len: u64,
    failure: Failure,
}

/// Owns the task that fetches the ranges: dropping it stops the task; it holds the first
/// failure the task met.
pub(crate) struct StreamGuard {
    task: JoinHandle<()>,
    failure: Failure,
}

impl StreamGuard {
    /// The error that ended the stream early, if one did.
    pub fn take_failure(&self) -> Option<Error> {
        self.failure.lock().expect("failure lock").take()
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Byte ranges of an object of `len` bytes, `unit` bytes each (the last one shorter).
fn ranges(len: u64, unit: u64) -> impl Iterator<Item = Range<u64>> {
    let unit = unit.max(1);
    (0..len.div_ceil(unit)).map(move |i| i * unit..((i + 1) * unit).min(len))
}

fn changed(location: &ObjectLocation) -> Error {
    Error::runtime_hint(
        format!("{location} changed while it was being read; nothing was written"),
        "run the command again: it then reads the newer object",
    )
}

/// Starts reading `location` (`len` bytes, pinned to `etag` when given) with `concurrency`
/// ranged GETs of `unit` bytes in flight. Must be called inside a tokio runtime.
pub(crate) fn open(
    store: Arc<dyn ObjectStore>, location: ObjectLocation, etag: Option<String>, len: u64,
    unit: u64, concurrency: usize,
) -> (ObjectStream, StreamGuard) {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let failure: Failure = Arc::default();
    let task_failure = Arc::clone(&failure);
    let task = tokio::spawn(async move {
        let mut fetched = futures::stream::iter(ranges(len, unit))
            .map(|range| {
                let store = Arc::clone(&store);
                let location = &location;
                let etag = &etag;
                async move {
                    let mut buf = Vec::new();
                    let meta = get_range_retrying(
                        &*store,
                        location,
                        range.clone(),
                        etag.as_deref(),
                        &mut buf,
                    )
                    .await?;
                    if buf.len() as u64 != range.end - range.start || meta.total != len {
                        return Err(changed(location));
                    }
                    Ok::<_, Error>(Bytes::from(buf))
                }
            })
            .buffered(concurrency.max(1));
        while let Some(item) = fetched.next().await {
            match item {
                Ok(bytes) => {
                    if tx.send(bytes).await.is_err() {
                        return; // the pipeline stopped reading
                    }
                }
                Err(e) => {
                    *task_failure.lock().expect("failure lock") = Some(e);
                    return;
                }
            }
        }
    });
    (
        ObjectStream {
            rx,
            current: Bytes::new(),
            delivered: 0,
            len,
            failure: Arc::clone(&failure),
        },
        StreamGuard { task, failure },
    )
}

impl Read for ObjectStream {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(bytes) => self.current = bytes,
                None => {
                    if self.failure.lock().expect("failure lock").is_some() {
                        return Err(std::io::Error::other("reading the stored object failed"));
                    }
                    if self.delivered != self.len {
                        return Err(std::io::Error::other(
                            "the stored object ended before its announced length",
                        ));
                    }
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        self.delivered += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_object() {
        assert_eq!(ranges(0, 4).count(), 0);
        let r: Vec<_> = ranges(10, 4).collect();
        assert_eq!(r, vec![0..4, 4..8, 8..10]);
        assert_eq!(ranges(8, 4).count(), 2);
    }
}

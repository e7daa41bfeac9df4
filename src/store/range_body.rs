//! [`RangeBody`]: the body of a ranged GET as it arrives, so a reader can take a long range a
//! window at a time instead of holding all of it ([`super::ObjectStore::get_range_body`]).
//! It keeps the promise of `get_range`: never more than the range's bytes, whatever the
//! server sends, and a server that ignored `Range` is skipped to the range's start.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::StoreResult;

/// The frames of one ranged GET's body, cut to the range.
pub struct RangeBody {
    frames: BoxStream<'static, StoreResult<Bytes>>,
    /// Bytes still to drop before the range starts (a server that ignored `Range`).
    skip: u64,
    /// Bytes of the range not yet returned.
    left: u64,
}

impl std::fmt::Debug for RangeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeBody")
            .field("skip", &self.skip)
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl RangeBody {
    /// A body of `frames`, of which the first `skip` bytes come before the range and at most
    /// `len` bytes after them are kept.
    pub fn new(frames: BoxStream<'static, StoreResult<Bytes>>, skip: u64, len: u64) -> Self {
        RangeBody {
            frames,
            skip,
            left: len,
        }
    }

    /// A body already received whole (stores that answer from memory).
    pub fn whole(bytes: Vec<u8>) -> Self {
        let len = bytes.len() as u64;
        let frames = futures::stream::iter((len > 0).then(|| Ok(Bytes::from(bytes))));
        RangeBody::new(frames.boxed(), 0, len)
    }

    /// The next bytes of the range; `None` once the range is complete or the body ended (the
    /// caller compares what it got with what it asked for).
    pub async fn next(&mut self) -> StoreResult<Option<Bytes>> {
        while self.left > 0 {
            let Some(frame) = self.frames.next().await.transpose()? else {
                return Ok(None);
            };
            let mut frame = frame;
            let skipped = (self.skip.min(frame.len() as u64)) as usize;
            let _ = frame.split_to(skipped);
            self.skip -= skipped as u64;
            frame.truncate(self.left.min(frame.len() as u64) as usize);
            if frame.is_empty() {
                continue;
            }
            self.left -= frame.len() as u64;
            return Ok(Some(frame));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(mut body: RangeBody) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(piece) = body.next().await.unwrap() {
            out.extend_from_slice(&piece);
        }
        out
    }

    fn frames(pieces: &[&'static [u8]]) -> BoxStream<'static, StoreResult<Bytes>> {
        let pieces: Vec<_> = pieces.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(pieces).boxed()
    }

    #[tokio::test]
    async fn keeps_only_the_range_whatever_the_server_sends() {
        // A server that ignored Range: skip 3 bytes, keep 4, drop the rest.
        let body = RangeBody::new(frames(&[b"ab", b"cdefg", b"hijk"]), 3, 4);
        assert_eq!(drain(body).await, b"defg");
        // More than asked in one frame.
        let body = RangeBody::new(frames(&[b"0123456789"]), 0, 5);
        assert_eq!(drain(body).await, b"01234");
        // A short body ends early; the caller sees fewer bytes.
        let body = RangeBody::new(frames(&[b"01"]), 0, 5);
        assert_eq!(drain(body).await, b"01");
        assert_eq!(drain(RangeBody::whole(b"xyz".to_vec())).await, b"xyz");
        assert!(drain(RangeBody::whole(Vec::new())).await.is_empty());
    }
}

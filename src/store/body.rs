//! [`ChannelBody`]: the body of a streamed PutObject ([`super::ObjectStore::put_object_stream`]),
//! fed by a producer (the sealing thread) through a bounded channel, with its exact length
//! announced up front. It exists so an object can be sent in one PutObject without holding
//! its ciphertext in memory: only the few chunks in the channel are.
//!
//! It is deliberately **not rebuildable**: the SDK cannot replay it, so it never retries the
//! request by itself. A retry of sealed data must come from identical plaintext, and a file
//! re-read later may not be identical; the caller retries the whole object with a fresh
//! envelope instead (docs/SECURITY.md, "Streamed single PUTs").

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;

/// One piece of a streamed body, or the reason the body cannot be finished.
pub type BodyItem = std::result::Result<Bytes, std::io::Error>;

/// A request body of exactly `len` bytes, received piece by piece from a channel. An `Err`
/// piece ends it: the request fails and nothing is stored.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<BodyItem>,
    len: u64,
}

impl ChannelBody {
    /// A body of `len` bytes whose pieces arrive on `rx`.
    pub fn new(rx: mpsc::Receiver<BodyItem>, len: u64) -> Self {
        ChannelBody { rx, len }
    }

    /// The announced length (the request's Content-Length).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next piece (`None` at the end).
    pub async fn next(&mut self) -> Option<BodyItem> {
        self.rx.recv().await
    }

    /// Every piece, joined; fails on an `Err` piece or when the pieces do not add up to the
    /// announced length (for stores that keep objects in memory).
    pub async fn collect(mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len as usize);
        while let Some(piece) = self.next().await {
            out.extend_from_slice(&piece?);
        }
        if out.len() as u64 != self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the body ended after {} of {} bytes", out.len(), self.len),
            ));
        }
        Ok(out)
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>, cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(http_body::Frame::data)))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

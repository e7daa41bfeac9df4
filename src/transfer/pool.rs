//! Buffers kept for reuse by the pipelines (part buffers for uploads, range buffers for
//! downloads). Reusing them keeps peak memory at what is in flight: freeing and reallocating
//! multi-MiB buffers from several threads makes glibc keep freed memory around (its mmap
//! threshold grows), which showed as 30-40 MiB of extra RSS.
//!
//! [`PooledBody`] hands a buffer to the SDK without a copy ([`Bytes::from_owner`]) and
//! returns it to the pool when the SDK (and every retry's clone) is done with it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

#[derive(Default, Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    /// When set, what the pool keeps: at most this many buffers, none smaller than this.
    keep: Option<(usize, usize)>,
}

impl BufferPool {
    /// A pool that keeps at most `buffers` buffers of at least `capacity` bytes each, so what
    /// it holds stays within what its users counted (smaller buffers would grow unaccounted
    /// when reused for larger reads).
    pub(crate) fn capped(buffers: usize, capacity: usize) -> BufferPool {
        BufferPool {
            free: Mutex::default(),
            keep: Some((buffers, capacity)),
        }
    }

    /// A buffer of exactly `len` initialized bytes (contents unspecified).
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        let found = {
            let mut free = self.free.lock().expect("pool lock");
            match free.iter().position(|b| b.capacity() >= len) {
                Some(i) => Some(free.swap_remove(i)),
                // None big enough (a stream's parts grew): drop one so the pool does not keep
                // buffers of the old size besides the new ones.
                None => {
                    free.pop();
                    None
                }
            }
        };
        match found {
            Some(mut buf) => {
                // Already initialized up to its old length: growing within it writes nothing.
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                buf.truncate(len);
                buf
            }
            None => vec![0u8; len],
        }
    }

    /// Any free buffer, empty (its allocation is what is reused), or a new empty one.
    pub(crate) fn take_empty(&self) -> Vec<u8> {
        let mut buf = self
            .free
            .lock()
            .expect("pool lock")
            .pop()
            .unwrap_or_default();
        buf.clear();
        buf
    }

    pub(crate) fn give(&self, buf: Vec<u8>) {
        let mut free = self.free.lock().expect("pool lock");
        if let Some((buffers, capacity)) = self.keep
            && (free.len() >= buffers || buf.capacity() < capacity)
        {
            return;
        }
        free.push(buf);
    }
}

/// The first `len` bytes of a pooled buffer, as a body the SDK can send and retry.
pub(crate) fn pooled_body(buf: Vec<u8>, len: usize, pool: &Arc<BufferPool>) -> Bytes {
    Bytes::from_owner(PooledBody {
        buf,
        len,
        pool: Arc::clone(pool),
    })
}

struct PooledBody {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for PooledBody {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_pool_keeps_only_full_size_buffers_up_to_its_count() {
        let pool = BufferPool::capped(2, 1024);
        pool.give(Vec::with_capacity(100));
        assert_eq!(
            pool.take_empty().capacity(),
            0,
            "a small buffer is not kept"
        );
        for _ in 0..3 {
            pool.give(Vec::with_capacity(1024));
        }
        assert!(pool.take_empty().capacity() >= 1024);
        assert!(pool.take_empty().capacity() >= 1024);
        assert_eq!(pool.take_empty().capacity(), 0, "only two were kept");
    }
}

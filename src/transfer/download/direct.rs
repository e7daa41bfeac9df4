//! Writing a download's verified plaintext straight to disk (`O_DIRECT`), past the page cache.
//!
//! A restore writes each byte once and reads none of it back, so the page cache only costs
//! the client: the kernel's copy of every byte into it, the allocation of its pages, their
//! writeback, and a final fsync that waits for all of that. On some virtual machines fresh
//! page-cache pages also cost the host a fault each (docs/PERFORMANCE.md, "Writing the
//! file"). Direct writes go from the download's own reused buffers to the disk as each range
//! verifies, so the fsync before the rename has only metadata left to flush.
//!
//! Direct I/O needs aligned memory, offsets and lengths: each range is opened into an
//! [`AlignedBuf`], whole [`ALIGN`]-byte blocks go through the direct handle, and the end of
//! the file (its last partial block) through the ordinary one. Where the file system refuses
//! `O_DIRECT` at open or refuses a direct write (`EINVAL`), and on systems other than Linux,
//! the ordinary handle writes everything, as it always did.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::sink::{start_writeback, write_at};

/// Alignment of direct writes: memory address, file offset and length. 4 KiB satisfies every
/// logical block size in use (512 or 4096 bytes).
pub(crate) const ALIGN: usize = 4096;

/// The temporary file's two handles: one opened with `O_DIRECT`, one ordinary.
pub(crate) struct DirectFile {
    direct: std::fs::File,
    buffered: Arc<std::fs::File>,
    /// Cleared when the file system refuses a direct write: the rest goes through `buffered`.
    usable: AtomicBool,
}

impl DirectFile {
    /// Opens `path` (the file behind `buffered`) for direct writes and sizes it to `len`, so
    /// that no direct write extends it (the file system can then write ranges in parallel).
    /// `None` where direct I/O is not available: the caller writes through `buffered`.
    pub(crate) fn open(path: &Path, buffered: Arc<std::fs::File>, len: u64) -> Option<DirectFile> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let direct = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
                .open(path)
                .ok()?;
            buffered.set_len(len).ok()?;
            Some(DirectFile {
                direct,
                buffered,
                usable: AtomicBool::new(true),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (path, buffered, len);
            None
        }
    }

    /// Writes `data` at `offset` of the file: its whole blocks directly, the rest buffered.
    /// Direct writes need `data` to start at an [`ALIGN`]-aligned address and `offset` to be a
    /// multiple of it (what [`AlignedBuf`] and chunk-aligned ranges give); anything else goes
    /// through the ordinary handle.
    pub(crate) fn write_at(&self, data: &[u8], offset: u64) -> std::io::Result<()> {
        let aligned = data.as_ptr().align_offset(ALIGN) == 0 && offset.is_multiple_of(ALIGN as u64);
        let whole = if aligned {
            data.len() / ALIGN * ALIGN
        } else {
            0
        };
        let mut done = 0;
        if whole > 0 && self.usable.load(Ordering::Relaxed) {
            match write_at(&self.direct, &data[..whole], offset) {
                Ok(()) => done = whole,
                // Alignment or direct I/O refused after all: write it all the ordinary way
                // (positioned writes may be repeated), and stop trying.
                Err(e) if refused(&e) => self.usable.store(false, Ordering::Relaxed),
                Err(e) => return Err(e),
            }
        }
        let rest = &data[done..];
        if !rest.is_empty() {
            let at = offset + done as u64;
            write_at(&self.buffered, rest, at)?;
            start_writeback(&self.buffered, at, rest.len() as u64);
        }
        Ok(())
    }

    /// Whether direct writes are still in use (false once the file system refused one).
    #[cfg(test)]
    pub(crate) fn is_direct(&self) -> bool {
        self.usable.load(Ordering::Relaxed)
    }
}

/// Whether a direct write failed because the file system does not take it (alignment it
/// does not accept, or no direct I/O after all), rather than for a reason the ordinary write
/// would meet too (no space, I/O error).
#[cfg(target_os = "linux")]
fn refused(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::INVAL, Errno::OPNOTSUPP, Errno::NOTSUP]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// No direct handle exists elsewhere (see [`DirectFile::open`]).
#[cfg(not(target_os = "linux"))]
fn refused(_: &std::io::Error) -> bool {
    false
}

/// A reusable buffer whose window starts at an [`ALIGN`]-aligned address.
#[derive(Default)]
pub(crate) struct AlignedBuf(Vec<u8>);

impl AlignedBuf {
    /// The first `len` bytes of the aligned window (contents unspecified), growing the buffer
    /// when it is too small. The window stays where it is until the buffer grows.
    pub(crate) fn window(&mut self, len: usize) -> &mut [u8] {
        if self.0.len() < len + ALIGN {
            self.0.resize(len + ALIGN, 0);
        }
        let at = self.0.as_ptr().align_offset(ALIGN);
        &mut self.0[at..at + len]
    }
}

/// Below this, a window may take any kept buffer up to twice this size.
const REUSE_ANY_BELOW: usize = 1 << 20;

/// Aligned buffers kept for reuse, at most `keep` of them (unbounded by default).
pub(crate) struct AlignedPool {
    free: Mutex<Vec<AlignedBuf>>,
    keep: usize,
}

impl Default for AlignedPool {
    fn default() -> AlignedPool {
        AlignedPool::capped(usize::MAX)
    }
}

impl AlignedPool {
    /// A pool that keeps at most `keep` buffers.
    pub(crate) fn capped(keep: usize) -> AlignedPool {
        AlignedPool {
            free: Mutex::default(),
            keep,
        }
    }

    /// A kept buffer for a window of `len` bytes, or a new empty one. A kept buffer's pages
    /// are in memory whatever window it serves, so a small window never takes a buffer much
    /// larger than it (its range's cost in the budget would not cover it): the smallest that
    /// fits and is at most twice what is needed (or [`REUSE_ANY_BELOW`]), else one smaller
    /// than needed, which grows.
    pub(crate) fn take(&self, len: usize) -> AlignedBuf {
        let need = len + ALIGN;
        let limit = 2 * need.max(REUSE_ANY_BELOW);
        let mut free = self.free.lock().expect("pool lock");
        let fitting = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.0.len() >= need && b.0.len() <= limit)
            .min_by_key(|(_, b)| b.0.len())
            .map(|(i, _)| i);
        let growing = || {
            free.iter()
                .enumerate()
                .filter(|(_, b)| b.0.len() < need)
                .max_by_key(|(_, b)| b.0.len())
                .map(|(i, _)| i)
        };
        match fitting.or_else(growing) {
            Some(i) => free.swap_remove(i),
            None => AlignedBuf::default(),
        }
    }

    pub(crate) fn give(&self, buf: AlignedBuf) {
        let mut free = self.free.lock().expect("pool lock");
        if free.len() < self.keep {
            free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aligned_pool_keeps_no_more_than_its_cap() {
        let pool = AlignedPool::capped(1);
        let (mut a, mut b) = (pool.take(10), pool.take(20));
        a.window(10);
        b.window(20);
        pool.give(a);
        pool.give(b);
        assert!(!pool.take(10).0.is_empty(), "one buffer was kept");
        assert!(pool.take(10).0.is_empty(), "the second was not");
    }

    #[test]
    fn a_small_window_never_takes_a_much_larger_kept_buffer() {
        let pool = AlignedPool::capped(4);
        let mut big = pool.take(8 << 20);
        big.window(8 << 20);
        let mut small = pool.take(100);
        small.window(100);
        pool.give(big);
        pool.give(small);
        // A 300 KiB window: the small kept buffer (it grows), not the 8 MiB one.
        let got = pool.take(300 << 10);
        assert!(got.0.len() < (1 << 20), "took the large buffer");
        // An 8 MiB window takes the 8 MiB buffer.
        assert!(pool.take(8 << 20).0.len() >= 8 << 20);
        // A 3 MiB window finds nothing small enough to reuse as it is, nor to grow: a new one.
        let mut big = AlignedBuf::default();
        big.window(8 << 20);
        pool.give(big);
        assert!(pool.take(3 << 20).0.is_empty());
    }

    /// Only a refusal of direct I/O falls back; errors an ordinary write would meet too fail.
    #[cfg(target_os = "linux")]
    #[test]
    fn only_refusals_fall_back() {
        use rustix::io::Errno;
        let io = |errno: Errno| std::io::Error::from_raw_os_error(errno.raw_os_error());
        assert!(refused(&io(Errno::INVAL)));
        assert!(refused(&io(Errno::OPNOTSUPP)));
        assert!(!refused(&io(Errno::NOSPC)));
        assert!(!refused(&io(Errno::IO)));
        assert!(!refused(&std::io::Error::other("no errno")));
    }

    #[test]
    fn windows_are_aligned_and_stable() {
        let mut buf = AlignedBuf::default();
        for len in [0, 1, 4095, 4096, 4097, 3 << 20] {
            let w = buf.window(len);
            assert_eq!(w.len(), len);
            assert_eq!(w.as_ptr().align_offset(ALIGN), 0);
            w.fill(7);
        }
        let before = buf.window(1000).as_ptr();
        assert_eq!(buf.window(5000).as_ptr(), before, "a smaller window moved");
        assert!(buf.window(3 << 20).iter().all(|&b| b == 7));
    }

    fn temp_file(dir: &Path) -> (std::path::PathBuf, Arc<std::fs::File>) {
        let path = dir.join("out");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        (path, Arc::new(file))
    }

    /// Pieces written out of order, whole blocks and a tail, land where they belong, and the
    /// file has exactly the length asked for.
    #[test]
    fn writes_blocks_and_tail_where_they_belong() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = temp_file(dir.path());
        let len = 3 * 65536 + 1234;
        let Some(direct) = DirectFile::open(&path, Arc::clone(&file), len as u64) else {
            eprintln!("no O_DIRECT on {}: skipped", dir.path().display());
            return;
        };
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut buf = AlignedBuf::default();
        for start in [2 * 65536, 0, 65536] {
            let end = (start + 65536).min(len);
            let piece = if start == 2 * 65536 {
                len - start
            } else {
                end - start
            };
            let w = buf.window(piece);
            w.copy_from_slice(&data[start..start + piece]);
            direct.write_at(w, start as u64).unwrap();
        }
        assert!(direct.is_direct(), "the file system refused a direct write");
        drop(direct);
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    /// Unaligned memory or offsets (never produced by the download, but possible for a
    /// caller) go through the ordinary handle instead of failing.
    #[test]
    fn unaligned_writes_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = temp_file(dir.path());
        let Some(direct) = DirectFile::open(&path, Arc::clone(&file), 10_000) else {
            return;
        };
        let mut buf = AlignedBuf::default();
        let w = buf.window(9000);
        w.fill(3);
        direct.write_at(&w[1..8193], 100).unwrap();
        direct.write_at(&w[..100], 0).unwrap();
        drop(direct);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 10_000);
        assert!(got[..8292].iter().all(|&b| b == 3));
        assert!(got[8292..].iter().all(|&b| b == 0));
    }
}

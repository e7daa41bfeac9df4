//! The parallel, streaming pipelines between local bytes and S3, one concern per file:
//! - up: [`source`] (files, streams, change detection) -> `seal` (parts read into their send
//!   buffers and sealed in place) -> `parts` (the memory budget) -> [`upload`] (single PUT or
//!   multipart orchestration, abort on failure); [`url_put`] is the same for a presigned URL;
//!   [`stream_put`] sends a mid-size file as one PutObject sealed on the fly (retried whole,
//!   with a new envelope); [`resume`] is the resumable upload of a file (journal, proof, missing parts only);
//! - down: [`download`] (first read, header checks, concurrent ranged reads, open, output);
//! - shared: `envelope` (a new object's keys and header), `pool` (the one buffer pool),
//!   [`budget`] (memory several transfers share),
//!   `cpu` (the one way to run CPU work from async code), [`plan`] (part planning).
//!
//! Memory is bounded by the number of parts in flight. Every S3 call goes through
//! [`crate::store`]. Progress reporting and cancellation are traits and channels here; the
//! CLI supplies the progress bar and the signal handler.

pub mod budget;
mod cpu;
pub mod download;
mod envelope;
mod parts;
pub mod plan;
mod pool;
pub mod resume;
mod seal;
pub mod source;
pub mod stream_put;
pub mod upload;
pub mod url_put;

use tokio::sync::watch;

pub(crate) use cpu::on_cpu_pool;

pub use source::Source;

/// Fewest parts or ranges in flight by default: enough to hide a request's latency.
pub const MIN_DEFAULT_CONCURRENCY: usize = 4;
/// Most parts or ranges in flight by default, so peak memory at the default 8 MiB parts stays
/// under 128 MiB: about 24 MiB + (10 + 1) x 8 MiB (docs/PERFORMANCE.md).
pub const MAX_DEFAULT_CONCURRENCY: usize = 10;

/// Parts or ranges in flight by default: two per core (one being sealed or opened while one
/// waits on the network), within [`MIN_DEFAULT_CONCURRENCY`]..=[`MAX_DEFAULT_CONCURRENCY`].
pub fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).clamp(MIN_DEFAULT_CONCURRENCY, MAX_DEFAULT_CONCURRENCY)
}

/// Ciphertext of the ranged GETs in flight by default. Requests in flight must cover the
/// network's bandwidth-delay product, not the cores (the CPU pool is sized to the cores on its
/// own): 48 MiB is 2.4 GB/s at 20 ms of round trip. Measured peak memory at 6 x 8 MiB:
/// 104-121 MiB, under the 128 MiB bound (docs/PERFORMANCE.md).
pub const DEFAULT_DOWNLOAD_IN_FLIGHT_BYTES: u64 = 48 * 1024 * 1024;

/// Parts or ranges in flight by default for commands that read one object and write another
/// (`seal`, `migrate`): both sides share it, and its writes are 8 MiB parts, so it stays at
/// [`default_concurrency`] capped at 8 (30 MiB + 3 x 8 x 2 MiB + 8 x 8 MiB: under 128 MiB;
/// its reads are [`download::SHARED_RANGE_BYTES`]).
pub fn default_rewrite_concurrency() -> usize {
    default_concurrency().min(8)
}

/// Ranged GETs in flight by default: the in-flight budget in ranges of the default size
/// (6 ranges of 8 MiB), the same on every machine.
pub fn default_download_concurrency() -> usize {
    (DEFAULT_DOWNLOAD_IN_FLIGHT_BYTES / download::DEFAULT_RANGE_BYTES).max(1) as usize
}

/// Receives transfer progress; the library never draws anything itself.
pub trait Progress: Send + Sync {
    /// Total plaintext bytes, when known.
    fn start(&self, total: Option<u64>);
    /// Plaintext bytes done since the last call.
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Cooperative cancellation: the CLI flips it on Ctrl-C and the pipelines clean up (abort the
/// multipart upload, remove the temporary file) before returning [`Error::Interrupted`].
#[derive(Clone, Debug)]
pub struct Cancel(watch::Receiver<bool>);

impl Cancel {
    /// A pair: the trigger and the token.
    pub fn new() -> (watch::Sender<bool>, Cancel) {
        let (tx, rx) = watch::channel(false);
        (tx, Cancel(rx))
    }

    /// A token that never fires.
    pub fn never() -> Cancel {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `changed()` never errors out.
        std::mem::forget(tx);
        Cancel(rx)
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once cancellation is requested.
    pub async fn cancelled(&mut self) {
        if self.0.wait_for(|c| *c).await.is_err() {
            // Sender gone without cancelling: never resolve.
            std::future::pending::<()>().await;
        }
    }
}

//! The reading side of an upload: parts come off the source one at a time (one reader,
//! sequential, so stdin works), each inside the memory budget, sealed on the CPU pool.
//!
//! The budget is `concurrency` parts of the base size, counted in chunks: a part takes as
//! many permits as it has chunks (at most the whole budget) from read until S3 acknowledged
//! it, so a stream whose parts grow has fewer of them in flight. Peak memory is about a
//! constant plus `(concurrency + 1) x part size` (a stream's part 1 waits outside the budget).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::cpu::on_cpu_pool;
use super::plan::PartPlan;
use super::pool::BufferPool;
use super::seal::{PartBuf, read_part, seal_part};
use super::source::{ChunkReader, FileCheck, changed_error};
use crate::error::{Error, Result};
use crate::format::ChunkCipher;

/// Reads and seals the parts of one upload.
pub(crate) struct PartReader {
    reader: Arc<Mutex<ChunkReader>>,
    pub pool: Arc<BufferPool>,
    plan: PartPlan,
    header_len: usize,
    permits: Arc<Semaphore>,
    budget: usize,
    cipher: Arc<ChunkCipher>,
    /// The file's identity, when the source is a file.
    pub file_check: Option<FileCheck>,
}

impl PartReader {
    pub fn new(
        reader: ChunkReader, plan: PartPlan, header_len: usize, concurrency: usize,
        cipher: ChunkCipher, file_check: Option<FileCheck>,
    ) -> Self {
        let budget = (plan.base_chunks() as usize)
            .saturating_mul(concurrency.max(1))
            .min(Semaphore::MAX_PERMITS);
        PartReader {
            reader: Arc::new(Mutex::new(reader)),
            pool: Arc::new(BufferPool::default()),
            plan,
            header_len,
            permits: Arc::new(Semaphore::new(budget)),
            budget,
            cipher: Arc::new(cipher),
            file_check,
        }
    }

    /// Chunks of part `number`, or the reason there is no such part.
    fn chunks_of(&self, number: u32) -> Result<Range<u64>> {
        match self.plan.chunks_of_part(number)? {
            Some(chunks) => Ok(chunks),
            None => Err(match &self.file_check {
                // The plan came from the file's size: more data means the file grew.
                Some(check) => changed_error(&check.path),
                None => Error::runtime("internal: part past the end of the plan"),
            }),
        }
    }

    /// Waits for room in the budget for `chunks`, then reads part `number` (unsealed).
    pub async fn read(&self, number: u32) -> Result<(PartBuf, OwnedSemaphorePermit)> {
        let chunks = self.chunks_of(number)?;
        let n = ((chunks.end - chunks.start) as usize).clamp(1, self.budget) as u32;
        let permit = Arc::clone(&self.permits)
            .acquire_many_owned(n)
            .await
            .expect("semaphore open");
        let reader = Arc::clone(&self.reader);
        let pool = Arc::clone(&self.pool);
        let chunk_size = self.plan.chunk_size();
        let header_space = if number == 1 { self.header_len } else { 0 };
        let len = self.plan.part_cipher_bytes(chunks.end - chunks.start) as usize;
        let part = tokio::task::spawn_blocking(move || {
            let buf = pool.take(len);
            let mut reader = reader.lock().expect("reader lock");
            read_part(&mut reader, number, chunks, chunk_size, header_space, buf)
        })
        .await
        .expect("reader task panicked")
        .map_err(|e| Error::runtime(format!("reading the source failed: {e}")))?;
        Ok((part, permit))
    }

    /// Seals `part` on the CPU pool.
    pub async fn seal(&self, part: PartBuf) -> PartBuf {
        seal_with(Arc::clone(&self.cipher), part).await
    }

    /// The cipher, for sealing a part in another task.
    pub fn cipher(&self) -> Arc<ChunkCipher> {
        Arc::clone(&self.cipher)
    }

    /// Checks, at the end, that a file source did not change and had `total_plain` bytes.
    pub fn check_source(&self, total_plain: u64) -> Result<()> {
        match &self.file_check {
            Some(check) => check.check(total_plain),
            None => Ok(()),
        }
    }
}

/// Seals `part` with `cipher` on the CPU pool.
pub(crate) async fn seal_with(cipher: Arc<ChunkCipher>, mut part: PartBuf) -> PartBuf {
    on_cpu_pool(move || {
        seal_part(&cipher, &mut part);
        part
    })
    .await
}

//! One part of a resumable upload, read from its place in the file (not from a shared
//! sequential reader: a resumed upload reads only the parts it verifies or sends), sealed on
//! the CPU pool, and hashed: SHA-256 for the journal's own proof, CRC32C to compare with what
//! S3 reports for a stored part.

use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use base64::Engine;

use crate::error::{Error, Result};
use crate::format::ChunkCipher;
use crate::transfer::cpu::on_cpu_pool;
use crate::transfer::envelope::NewEnvelope;
use crate::transfer::plan::PartPlan;
use crate::transfer::pool::BufferPool;
use crate::transfer::seal::{PartBuf, read_part, seal_part};
use crate::transfer::source::{ChunkReader, changed_error};

/// A sealed part and the hashes of its bytes.
pub(crate) struct SealedPart {
    pub part: PartBuf,
    /// SHA-256 of the sealed bytes, hex.
    pub sha256: String,
    /// CRC32C of the sealed bytes, base64 of the big-endian value (as S3 reports it).
    pub crc32c: String,
}

/// Where a resumable upload reads and seals its parts.
#[derive(Clone)]
pub(crate) struct PartSource {
    pub path: Arc<Path>,
    pub plan: PartPlan,
    /// The sealed header, which part 1 carries first.
    pub header: Arc<[u8]>,
    pub cipher: Arc<ChunkCipher>,
    pub pool: Arc<BufferPool>,
}

impl PartSource {
    /// The parts of the `size`-byte file at `path`, sealed with `envelope` under `header`.
    pub fn new(
        path: &Path, envelope: &NewEnvelope, header: &[u8], part_size: u64, size: u64,
    ) -> Result<PartSource> {
        let plan = PartPlan::new(
            envelope.chunk_size(),
            header.len() as u64,
            part_size,
            Some(size),
        )?;
        Ok(PartSource {
            path: path.into(),
            plan,
            header: header.into(),
            cipher: Arc::new(envelope.cipher()),
            pool: Arc::new(BufferPool::default()),
        })
    }

    /// Reads part `number` from its offset in the file, seals it and hashes it.
    pub async fn seal(&self, number: u32) -> Result<SealedPart> {
        let chunks = self
            .plan
            .chunks_of_part(number)?
            .ok_or_else(|| changed_error(&self.path))?;
        let this = self.clone();
        let part = tokio::task::spawn_blocking(move || {
            let c = this.plan.chunk_size();
            let mut file = std::fs::File::open(&this.path)?;
            file.seek(SeekFrom::Start(chunks.start * c.bytes()))?;
            let mut reader = ChunkReader::new(Box::new(file));
            let header_space = if number == 1 { this.header.len() } else { 0 };
            let len = this.plan.part_cipher_bytes(chunks.end - chunks.start) as usize;
            let buf = this.pool.take(len);
            let mut part = read_part(&mut reader, number, chunks, c, header_space, buf)?;
            if number == 1 {
                part.set_header(&this.header);
            }
            Ok::<_, std::io::Error>(part)
        })
        .await
        .expect("reader task panicked")
        .map_err(|e| Error::runtime(format!("reading {} failed: {e}", self.path.display())))?;
        let cipher = Arc::clone(&self.cipher);
        Ok(on_cpu_pool(move || {
            let mut part = part;
            seal_part(&cipher, &mut part);
            let bytes = &part.bytes[..part.len];
            let sha256 = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes));
            let crc32c = base64::engine::general_purpose::STANDARD
                .encode(crc32c::crc32c(bytes).to_be_bytes());
            SealedPart {
                part,
                sha256,
                crc32c,
            }
        })
        .await)
    }
}

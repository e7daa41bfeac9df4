//! Part planning within S3's multipart limits: parts of 5 MiB to 5 GiB, at most 10,000 parts,
//! every part holding whole chunks so each is sealed and uploaded on its own.
//!
//! Known length: every part gets the same number of chunks, the requested part size or more
//! when the object would otherwise need over 10,000 parts. Unknown length (stdin): parts start
//! at the requested size (or larger, when `--expected-size` says the stream is big enough to
//! need it: sized so the expected length fits in 10,000 equal parts) and double every 1,000
//! parts, so 10,000 parts reach about 1023 times the first thousand's size (8 MiB parts: about
//! 8 TiB, more than S3's 5 TiB object limit) before the wall. A stream that outgrows what the
//! plan can hold ([`PartPlan::stream_capacity`]) fails with a clear error as soon as it crosses
//! that length, before anything past it is uploaded, never silently at the wall.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::format::{ChunkSize, TAG_LEN};

pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024; // S3: every part but the last
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024; // S3: any part
pub const MAX_PARTS: u32 = 10_000; // S3: parts per upload
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024; // S3: 5 TiB per object
pub const DEFAULT_PART_BYTES: u64 = 8 * 1024 * 1024;
/// For streams of unknown length, part size doubles after this many parts.
pub const PARTS_PER_TIER: u32 = 1000;

/// How an object is cut into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    chunk_size: ChunkSize,
    header_len: u64,
    /// Chunks in each part (known length) or in the first tier of parts (unknown length).
    base_chunks: u64,
    /// Total chunks when the plaintext length is known.
    total_chunks: Option<u64>,
}

impl PartPlan {
    /// Plans an object of `plaintext_len` (None: a stream of unknown length) with parts of
    /// about `part_bytes` plaintext.
    pub fn new(
        chunk_size: ChunkSize, header_len: u64, part_bytes: u64, plaintext_len: Option<u64>,
    ) -> Result<Self> {
        Self::with_hint(chunk_size, header_len, part_bytes, plaintext_len, None)
    }

    /// As [`PartPlan::new`], with a hint for a stream of unknown length: about `expected_size`
    /// bytes. The first parts are made large enough that the expected length fits in 10,000
    /// parts of that size (the stream may still be longer: parts keep growing every 1,000 parts).
    /// Ignored when the length is known.
    pub fn with_hint(
        chunk_size: ChunkSize, header_len: u64, part_bytes: u64, plaintext_len: Option<u64>,
        expected_size: Option<u64>,
    ) -> Result<Self> {
        let c = chunk_size.bytes();
        if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&part_bytes) {
            return Err(Error::usage(format!(
                "part size {part_bytes} is outside S3's limits (5 MiB to 5 GiB)"
            )));
        }
        // A part size near 5 GiB is trimmed so the tags and the header fit too.
        let max_chunks = (MAX_PART_BYTES - header_len.min(MAX_PART_BYTES)) / (c + TAG_LEN as u64);
        let mut base = part_bytes
            .div_ceil(c)
            .min(max_chunks)
            .max(MIN_PART_BYTES.div_ceil(c));
        let total_chunks = plaintext_len.map(|len| len.div_ceil(c).max(1));
        if let Some(len) = plaintext_len {
            if len > MAX_OBJECT_BYTES {
                return Err(Error::usage(format!(
                    "{len} bytes is more than S3's maximum object size (5 TiB)"
                )));
            }
            let n = total_chunks.expect("known");
            base = base.max(n.div_ceil(u64::from(MAX_PARTS)));
        } else if let Some(expected) = expected_size {
            if expected > MAX_OBJECT_BYTES {
                return Err(Error::usage(format!(
                    "--expected-size {expected} is more than S3's maximum object size (5 TiB)"
                )));
            }
            base = base.max(expected.div_ceil(c).div_ceil(u64::from(MAX_PARTS)));
        }
        let plan = PartPlan {
            chunk_size,
            header_len,
            base_chunks: base,
            total_chunks,
        };
        if plan.part_cipher_bytes(base) > MAX_PART_BYTES {
            return Err(Error::usage(
                "the parts this object needs would exceed S3's 5 GiB part limit",
            ));
        }
        Ok(plan)
    }

    pub fn chunk_size(&self) -> ChunkSize {
        self.chunk_size
    }

    /// Ciphertext bytes of a part of `chunks` full chunks, counting the header (part 1 holds
    /// it; other parts are `header_len` smaller).
    pub fn part_cipher_bytes(&self, chunks: u64) -> u64 {
        self.header_len + chunks * (self.chunk_size.bytes() + TAG_LEN as u64)
    }

    /// Length of the header, which part 1 carries before its chunks.
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// True for a stream of unknown length.
    pub fn is_stream(&self) -> bool {
        self.total_chunks.is_none()
    }

    /// Most plaintext bytes a stream can hold with this plan: 10,000 parts at their growing
    /// sizes, and never more than S3's 5 TiB object limit (ciphertext included). `None` for a
    /// known length (the plan holds exactly that length).
    pub fn stream_capacity(&self) -> Option<u64> {
        if !self.is_stream() {
            return None;
        }
        let chunks = self
            .chunks_of_part(MAX_PARTS)
            .ok()
            .flatten()
            .map_or(0, |r| r.end);
        let by_parts = chunks.saturating_mul(self.chunk_size.bytes());
        // Ciphertext = header + plaintext + 16 bytes per chunk must stay within 5 TiB.
        let per_chunk = self.chunk_size.bytes() + TAG_LEN as u64;
        let by_object = (MAX_OBJECT_BYTES - self.header_len) / per_chunk * self.chunk_size.bytes();
        Some(by_parts.min(by_object))
    }

    /// Most chunks a part may hold (5 GiB including the header and tags).
    fn max_chunks(&self) -> u64 {
        (MAX_PART_BYTES - self.header_len) / (self.chunk_size.bytes() + TAG_LEN as u64)
    }

    /// Chunks in part `part` (1-based) of a stream of unknown length.
    fn stream_chunks_in(&self, part: u32) -> u64 {
        let tier = (part - 1) / PARTS_PER_TIER;
        (self.base_chunks << tier.min(40)).min(self.max_chunks())
    }

    /// The chunk indices part `part` (1-based) holds, or `None` past the last part of a known
    /// length, or an error past S3's 10,000-part wall.
    pub fn chunks_of_part(&self, part: u32) -> Result<Option<Range<u64>>> {
        if part == 0 {
            return Ok(None);
        }
        match self.total_chunks {
            Some(total) => {
                let start = u64::from(part - 1) * self.base_chunks;
                if start >= total {
                    return Ok(None);
                }
                Ok(Some(start..(start + self.base_chunks).min(total)))
            }
            None => {
                if part > MAX_PARTS {
                    return Err(Error::runtime_hint(
                        "the stream is longer than 10,000 parts can hold at this part size",
                        "pass a larger --part-size (or --expected-size) for streams this long",
                    ));
                }
                // Sum of the parts before this one, tier by tier.
                let mut start = 0u64;
                let mut p = 1u32;
                while p < part {
                    let tier_end = ((p - 1) / PARTS_PER_TIER + 1) * PARTS_PER_TIER + 1;
                    let upto = tier_end.min(part);
                    start += u64::from(upto - p) * self.stream_chunks_in(p);
                    p = upto;
                }
                Ok(Some(start..start + self.stream_chunks_in(part)))
            }
        }
    }

    /// Parts needed when the length is known.
    pub fn part_count(&self) -> Option<u32> {
        self.total_chunks
            .map(|n| u32::try_from(n.div_ceil(self.base_chunks)).expect("at most 10,000 parts"))
    }

    /// Largest plaintext a part of this plan can hold (for memory estimates).
    pub fn base_part_plain_bytes(&self) -> u64 {
        self.base_chunks * self.chunk_size.bytes()
    }

    /// Chunks in each part of a known length, or in the first 1,000 parts of a stream.
    pub fn base_chunks(&self) -> u64 {
        self.base_chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn known_length_uses_requested_size() {
        let plan = PartPlan::new(ChunkSize::DEFAULT, 300, 8 * MIB, Some(20 * MIB + 1)).unwrap();
        assert_eq!(plan.part_count(), Some(3));
        assert_eq!(plan.chunks_of_part(1).unwrap(), Some(0..8));
        assert_eq!(plan.chunks_of_part(3).unwrap(), Some(16..21));
        assert_eq!(plan.chunks_of_part(4).unwrap(), None);
    }

    #[test]
    fn huge_objects_grow_parts_to_stay_under_10000() {
        let len = 5 * 1024 * 1024 * MIB; // 5 TiB
        let plan = PartPlan::new(ChunkSize::DEFAULT, 300, 8 * MIB, Some(len)).unwrap();
        assert!(plan.part_count().unwrap() <= MAX_PARTS);
        assert!(PartPlan::new(ChunkSize::DEFAULT, 300, 8 * MIB, Some(len + 1)).is_err());
    }

    #[test]
    fn part_size_limits() {
        assert!(PartPlan::new(ChunkSize::DEFAULT, 300, 4 * MIB, None).is_err());
        assert!(PartPlan::new(ChunkSize::DEFAULT, 300, 6 * 1024 * MIB, None).is_err());
    }

    #[test]
    fn streams_double_every_thousand_parts_and_stop_at_the_wall() {
        let plan = PartPlan::new(ChunkSize::DEFAULT, 300, 8 * MIB, None).unwrap();
        assert_eq!(plan.chunks_of_part(1).unwrap(), Some(0..8));
        assert_eq!(plan.chunks_of_part(1000).unwrap(), Some(7992..8000));
        assert_eq!(plan.chunks_of_part(1001).unwrap(), Some(8000..8016));
        assert_eq!(plan.chunks_of_part(2001).unwrap(), Some(24000..24032));
        assert!(plan.chunks_of_part(10_000).unwrap().is_some());
        assert!(plan.chunks_of_part(10_001).is_err());
        // 8 MiB parts would reach about 8 TiB: the 5 TiB object limit is what stops them.
        let cap = plan.stream_capacity().unwrap();
        assert!(cap <= MAX_OBJECT_BYTES && cap > MAX_OBJECT_BYTES - 100 * MIB);
    }

    #[test]
    fn expected_size_sizes_stream_parts_up_front() {
        let small = PartPlan::with_hint(ChunkSize::DEFAULT, 300, 8 * MIB, None, Some(MIB)).unwrap();
        assert_eq!(small.base_chunks(), 8);
        let tib = 1024 * 1024 * MIB;
        let big = PartPlan::with_hint(ChunkSize::DEFAULT, 300, 8 * MIB, None, Some(tib)).unwrap();
        assert_eq!(big.base_chunks(), (tib / MIB).div_ceil(10_000));
        assert!(big.stream_capacity().unwrap() >= tib);
        assert!(
            PartPlan::with_hint(ChunkSize::DEFAULT, 300, 8 * MIB, None, Some(6 * tib)).is_err()
        );
        // 5 MiB parts stop short of 5 TiB: the capacity says so before the stream starts.
        let min = PartPlan::new(ChunkSize::DEFAULT, 300, 5 * MIB, None).unwrap();
        assert!(min.stream_capacity().unwrap() < MAX_OBJECT_BYTES);
    }
}

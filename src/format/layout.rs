//! Sizes and offsets of an s3seal object. Everything here is arithmetic on the header length,
//! chunk size and plaintext length, so any plaintext byte range maps to one ciphertext range
//! that can be fetched with a single ranged GET.

use std::ops::Range;

use super::{FormatError, TAG_LEN};

const TAG: u64 = TAG_LEN as u64;

/// Chunk size as a power of two: 2^16 (64 KiB) to 2^24 (16 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkSize(u8);

impl ChunkSize {
    pub const MIN_LOG2: u8 = 16;
    pub const MAX_LOG2: u8 = 24;
    /// 1 MiB: large enough that per-chunk overhead (16-byte tag, one nonce) is noise, small
    /// enough that a ranged read fetches little extra.
    pub const DEFAULT: ChunkSize = ChunkSize(20);

    pub fn from_log2(log2: u8) -> Result<Self, FormatError> {
        if (Self::MIN_LOG2..=Self::MAX_LOG2).contains(&log2) {
            Ok(ChunkSize(log2))
        } else {
            Err(FormatError::InvalidChunkSize(log2))
        }
    }

    /// From a byte count, which must be a power of two in range.
    pub fn from_bytes(bytes: u64) -> Option<Self> {
        if !bytes.is_power_of_two() {
            return None;
        }
        u8::try_from(bytes.trailing_zeros())
            .ok()
            .and_then(|log2| Self::from_log2(log2).ok())
    }

    pub fn log2(self) -> u8 {
        self.0
    }

    pub fn bytes(self) -> u64 {
        1u64 << self.0
    }

    /// Ciphertext bytes of a full chunk (plaintext plus tag).
    pub fn sealed_bytes(self) -> u64 {
        self.bytes() + TAG
    }
}

/// The geometry of one object: where each chunk lives in plaintext and in ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    header_len: u64,
    chunk_size: ChunkSize,
    plaintext_len: u64,
}

impl Layout {
    pub fn new(header_len: u64, chunk_size: ChunkSize, plaintext_len: u64) -> Self {
        Layout {
            header_len,
            chunk_size,
            plaintext_len,
        }
    }

    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    pub fn chunk_size(&self) -> ChunkSize {
        self.chunk_size
    }

    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// n = max(1, ceil(L / C)): an empty plaintext is one empty final chunk.
    pub fn chunk_count(&self) -> u64 {
        self.plaintext_len.div_ceil(self.chunk_size.bytes()).max(1)
    }

    /// T = H + L + 16 n, in checked 64-bit arithmetic (FORMAT.md section 6): a header claiming
    /// an absurd length (up to 2^64 - 1) is a length error, never a wrapped or clamped total.
    pub fn ciphertext_len(&self) -> Result<u64, FormatError> {
        TAG.checked_mul(self.chunk_count())
            .and_then(|tags| tags.checked_add(self.header_len))
            .and_then(|t| t.checked_add(self.plaintext_len))
            .ok_or(FormatError::LengthOverflow {
                plaintext_len: self.plaintext_len,
            })
    }

    pub fn is_final(&self, index: u64) -> bool {
        index + 1 == self.chunk_count()
    }

    /// Plaintext bytes held by chunk `index`.
    pub fn chunk_plain_range(&self, index: u64) -> Range<u64> {
        let start = index * self.chunk_size.bytes();
        let end = (start + self.chunk_size.bytes()).min(self.plaintext_len);
        start..end.max(start)
    }

    /// Ciphertext bytes (within the object) of chunk `index`, tag included.
    pub fn chunk_cipher_range(&self, index: u64) -> Range<u64> {
        let plain = self.chunk_plain_range(index);
        let start = self.header_len + index * self.chunk_size.sealed_bytes();
        start..start + (plain.end - plain.start) + TAG
    }

    /// The chunks that hold plaintext bytes `range` (end exclusive, clamped to the plaintext).
    /// An empty range maps to no chunks.
    pub fn chunks_covering(&self, range: Range<u64>) -> Range<u64> {
        let end = range.end.min(self.plaintext_len);
        if range.start >= end {
            return 0..0;
        }
        let c = self.chunk_size.bytes();
        range.start / c..end.div_ceil(c)
    }

    /// Ciphertext bytes holding chunks `chunks` (end exclusive).
    pub fn cipher_range_of_chunks(&self, chunks: Range<u64>) -> Range<u64> {
        if chunks.is_empty() {
            return self.header_len..self.header_len;
        }
        self.chunk_cipher_range(chunks.start).start..self.chunk_cipher_range(chunks.end - 1).end
    }

    /// The object must be exactly as long as the header says: anything else is truncation or
    /// appended data.
    pub fn check_object_len(&self, actual: u64) -> Result<(), FormatError> {
        let expected = self.ciphertext_len()?;
        if actual == expected {
            Ok(())
        } else {
            Err(FormatError::LengthMismatch { expected, actual })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(l: u64) -> Layout {
        Layout::new(200, ChunkSize::from_log2(16).unwrap(), l)
    }

    #[test]
    fn chunk_size_bounds() {
        assert!(ChunkSize::from_log2(15).is_err());
        assert!(ChunkSize::from_log2(25).is_err());
        assert_eq!(ChunkSize::from_bytes(1 << 20), Some(ChunkSize::DEFAULT));
        assert_eq!(ChunkSize::from_bytes(3 << 20), None);
        assert_eq!(ChunkSize::from_bytes(1 << 30), None);
    }

    #[test]
    fn sizes_at_the_edges() {
        let c = 1u64 << 16;
        assert_eq!(layout(0).chunk_count(), 1);
        assert_eq!(layout(0).ciphertext_len(), Ok(200 + 16));
        assert_eq!(layout(1).ciphertext_len(), Ok(200 + 1 + 16));
        assert_eq!(layout(c).chunk_count(), 1);
        assert_eq!(layout(c + 1).chunk_count(), 2);
        assert_eq!(layout(c + 1).ciphertext_len(), Ok(200 + c + 1 + 32));
        assert_eq!(layout(c + 1).chunk_plain_range(1), c..c + 1);
        assert_eq!(
            layout(c + 1).chunk_cipher_range(1),
            200 + c + 16..200 + c + 16 + 17
        );
        assert!(layout(c + 1).is_final(1) && !layout(c + 1).is_final(0));
    }

    #[test]
    fn ranges_map_to_covering_chunks() {
        let c = 1u64 << 16;
        let l = layout(3 * c + 5);
        assert_eq!(l.chunks_covering(0..1), 0..1);
        assert_eq!(l.chunks_covering(c - 1..c + 1), 0..2);
        assert_eq!(l.chunks_covering(c..2 * c), 1..2);
        assert_eq!(l.chunks_covering(3 * c..u64::MAX), 3..4);
        assert_eq!(l.chunks_covering(5..5), 0..0);
        assert_eq!(l.chunks_covering(4 * c..5 * c), 0..0);
        assert_eq!(
            l.cipher_range_of_chunks(1..3),
            200 + c + 16..200 + 3 * (c + 16)
        );
    }

    #[test]
    fn absurd_lengths_fail_the_length_check_instead_of_overflowing() {
        let l = Layout::new(200, ChunkSize::from_log2(16).unwrap(), u64::MAX);
        assert_eq!(
            l.ciphertext_len(),
            Err(FormatError::LengthOverflow {
                plaintext_len: u64::MAX
            })
        );
        assert!(l.check_object_len(1 << 40).is_err());
    }

    /// Regression (issue 11, item 6): the total used to saturate at 2^64 - 1, so an object of
    /// exactly that length would have passed the length check of an overflowing header.
    #[test]
    fn ciphertext_len_overflow_is_a_length_error_not_a_saturated_total() {
        // Overflows only in the final addition (H + L with L = 2^64 - 1 - 16 n + 1 ...).
        let c = ChunkSize::from_log2(24).unwrap();
        let plain = u64::MAX - 200;
        let l = Layout::new(200, c, plain);
        assert!(matches!(
            l.ciphertext_len(),
            Err(FormatError::LengthOverflow { .. })
        ));
        assert!(matches!(
            l.check_object_len(u64::MAX),
            Err(FormatError::LengthOverflow { .. })
        ));
        // The largest total that fits is still computed exactly.
        let n = (u64::MAX / 2).div_ceil(c.bytes());
        let fits = Layout::new(200, c, u64::MAX / 2);
        assert_eq!(fits.ciphertext_len(), Ok(200 + u64::MAX / 2 + 16 * n));
    }

    #[test]
    fn length_check() {
        let l = layout(10);
        assert!(l.check_object_len(226).is_ok());
        assert_eq!(
            l.check_object_len(225),
            Err(FormatError::LengthMismatch {
                expected: 226,
                actual: 225
            })
        );
    }
}

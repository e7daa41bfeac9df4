//! One multipart part on its way up: read from the source straight into the buffer it is sent
//! from (header space, then each chunk followed by room for its tag), then sealed in place,
//! chunk by chunk in parallel on the CPU pool. No byte is copied after it is read.
//!
//! A part is sealed once, and the SDK retries it from the same sealed bytes, so a retry never
//! encrypts different data under the same nonce.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use rayon::prelude::*;

use super::pool::{BufferPool, pooled_body};
use super::source::ChunkReader;
use crate::format::{ChunkCipher, ChunkSize, TAG_LEN};

/// One part read from the source: plaintext chunks laid out with room for their tags.
pub(crate) struct PartBuf {
    pub number: u32,
    /// Header space (part 1) followed by, per chunk, plaintext then 16 tag bytes; only the
    /// first `len` bytes are the part (the buffer may be longer when reused).
    pub bytes: Vec<u8>,
    pub len: usize,
    pub header_space: usize,
    /// (chunk index, plaintext length, final?)
    pub chunks: Vec<(u64, usize, bool)>,
    pub plaintext_len: u64,
    pub is_last: bool,
}

impl PartBuf {
    /// The part as a request body; the buffer returns to `pool` when the SDK is done with it.
    pub fn into_body(self, pool: &Arc<BufferPool>) -> Bytes {
        pooled_body(self.bytes, self.len, pool)
    }

    /// Writes the sealed header into the space reserved for it (part 1 only).
    pub fn set_header(&mut self, header: &[u8]) {
        debug_assert_eq!(header.len(), self.header_space);
        self.bytes[..header.len()].copy_from_slice(header);
    }
}

/// Reads the chunks `chunks` of part `number` into `bytes` (a buffer at least as long as the
/// part can be), straight into their final places.
pub(crate) fn read_part(
    reader: &mut ChunkReader, number: u32, chunks: Range<u64>, chunk_size: ChunkSize,
    header_space: usize, mut bytes: Vec<u8>,
) -> std::io::Result<PartBuf> {
    let c = chunk_size.bytes() as usize;
    let count = (chunks.end - chunks.start) as usize;
    let need = header_space + count * (c + TAG_LEN);
    if bytes.len() < need {
        bytes.resize(need, 0);
    }
    let mut off = header_space;
    let mut list = Vec::with_capacity(count);
    let mut plaintext_len = 0u64;
    let mut is_last = false;
    for index in chunks {
        let n = reader.fill(&mut bytes[off..off + c])?;
        let is_final = n < c || reader.at_end()?;
        list.push((index, n, is_final));
        plaintext_len += n as u64;
        off += n + TAG_LEN;
        if is_final {
            is_last = true;
            break;
        }
    }
    Ok(PartBuf {
        number,
        bytes,
        len: off,
        header_space,
        chunks: list,
        plaintext_len,
        is_last,
    })
}

/// Seals every chunk of a part in place, in parallel on the CPU pool (call it from there).
pub(crate) fn seal_part(cipher: &ChunkCipher, part: &mut PartBuf) {
    let mut slices = Vec::with_capacity(part.chunks.len());
    let mut rest = &mut part.bytes[part.header_space..part.len];
    for &(index, len, is_final) in &part.chunks {
        let (this, tail) = rest.split_at_mut(len + TAG_LEN);
        slices.push((index, len, is_final, this));
        rest = tail;
    }
    slices
        .into_par_iter()
        .for_each(|(index, len, is_final, buf)| {
            let (data, tag) = buf.split_at_mut(len);
            tag.copy_from_slice(&cipher.seal_in_place(index, is_final, data));
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(data: Vec<u8>) -> ChunkReader {
        ChunkReader::new(Box::new(std::io::Cursor::new(data)))
    }

    #[test]
    fn final_chunk_detected_at_exact_boundaries() {
        let c = ChunkSize::from_log2(16).unwrap();
        let cs = c.bytes() as usize;
        for len in [0, 1, cs - 1, cs, cs + 1, 3 * cs] {
            let mut r = reader(vec![7u8; len]);
            let part = read_part(&mut r, 1, 0..100, c, 10, Vec::new()).unwrap();
            let expect_chunks = len.div_ceil(cs).max(1);
            assert_eq!(part.chunks.len(), expect_chunks, "len {len}");
            assert!(part.is_last);
            assert!(part.chunks.last().unwrap().2);
            assert_eq!(part.chunks.iter().filter(|c| c.2).count(), 1);
            assert_eq!(part.plaintext_len, len as u64);
            assert_eq!(part.len, 10 + len + TAG_LEN * expect_chunks);
        }
    }

    #[test]
    fn parts_continue_where_the_last_stopped() {
        let c = ChunkSize::from_log2(16).unwrap();
        let cs = c.bytes() as usize;
        let data: Vec<u8> = (0..(2 * cs + 5)).map(|i| (i % 253) as u8).collect();
        let mut r = reader(data.clone());
        let p1 = read_part(&mut r, 1, 0..2, c, 0, Vec::new()).unwrap();
        assert!(!p1.is_last);
        let p2 = read_part(&mut r, 2, 2..4, c, 0, vec![9u8; 5 * cs]).unwrap();
        assert!(p2.is_last);
        assert_eq!(p2.chunks, vec![(2, 5, true)]);
        assert_eq!(&p2.bytes[..5], &data[2 * cs..]);
        assert_eq!(&p1.bytes[cs + TAG_LEN..cs + TAG_LEN + 3], &data[cs..cs + 3]);
    }
}

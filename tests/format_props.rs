//! Property tests of format v1 (docs/FORMAT.md) through the library's public API.
//!
//! Why this exists: the vectors pin chosen cases; these properties sweep the space around
//! them: round trips at the edge sizes (0, 1, C-1, C, C+1, many chunks) and at random sizes and
//! chunk exponents; any single-bit flip anywhere in an object is rejected (512 random cases, and
//! every byte of a two-chunk object); chunks sealed in any order on several threads give the
//! same bytes as sealing in order; truncation and extension at any length are rejected (512
//! random cases, and every prefix of a two-chunk object); a different data key fails at the
//! commitment check, before any chunk is touched.

use proptest::prelude::*;
use s3seal::format::{
    Backend, ChunkCipher, ChunkSize, DataKey, EncryptionContext, FormatError, HeaderFields, Layout,
    MessageId, ObjectKeys, ParsedHeader, open_from_slice, open_verified, seal_to_vec,
};

const KEY_ID: &str = "arn:aws:kms:eu-west-1:111122223333:key/5f3c0e4e-0000-4000-8000-props0000001";

fn plaintext(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|j| (j as u32).wrapping_mul(2654435761).rotate_right(13) as u8 ^ seed)
        .collect()
}

fn fields(k: u8, len: usize, mid: [u8; 32]) -> HeaderFields {
    HeaderFields {
        chunk_size: ChunkSize::from_log2(k).unwrap(),
        plaintext_len: len as u64,
        message_id: MessageId(mid),
        key_id: KEY_ID.into(),
        wrapped_key: vec![0x5A; 184],
        context: EncryptionContext::for_object(
            "props-bucket",
            "a/b/c.bin",
            &[("team".to_string(), "storage".to_string())],
        )
        .unwrap(),
    }
}

/// Seals `pt` under `dk` with message id `mid` at chunk exponent `k`.
fn seal(dk: [u8; 32], mid: [u8; 32], k: u8, pt: &[u8]) -> Vec<u8> {
    let keys = ObjectKeys::derive(&DataKey::from_slice(&dk).unwrap(), MessageId(mid));
    seal_to_vec(&keys, &fields(k, pt.len(), mid), pt).unwrap()
}

fn open(dk: [u8; 32], object: &[u8]) -> Result<Vec<u8>, FormatError> {
    open_from_slice(object, &DataKey::from_slice(&dk).unwrap()).map(|(_, pt)| pt)
}

fn check_round_trip(dk: [u8; 32], mid: [u8; 32], k: u8, len: usize) -> Result<(), TestCaseError> {
    let pt = plaintext(len, dk[0]);
    let object = seal(dk, mid, k, &pt);
    let header_len = ParsedHeader::parse(&object).unwrap().len() as u64;
    let layout = Layout::new(header_len, ChunkSize::from_log2(k).unwrap(), len as u64);
    // Size formula of FORMAT.md section 6: T = H + L + 16 * max(1, ceil(L / C)).
    let c = 1u64 << k;
    let n = (len as u64).div_ceil(c).max(1);
    prop_assert_eq!(object.len() as u64, header_len + len as u64 + 16 * n);
    prop_assert_eq!(layout.ciphertext_len(), Ok(object.len() as u64));
    prop_assert_eq!(open(dk, &object).unwrap(), pt);
    Ok(())
}

#[test]
fn round_trips_at_the_edge_sizes_for_every_chunk_exponent_16_to_20() {
    for k in 16..=20u8 {
        let c = 1usize << k;
        for len in [0, 1, c - 1, c, c + 1, 2 * c, 3 * c + 5] {
            check_round_trip([k; 32], [len as u8; 32], k, len).unwrap();
        }
    }
}

#[test]
fn round_trips_at_the_largest_chunk_size() {
    let c = 1usize << 24;
    for len in [0, 1, c + 1] {
        check_round_trip([24; 32], [7; 32], 24, len).unwrap();
    }
}

#[test]
fn round_trips_with_many_chunks() {
    // 40 chunks of 64 KiB plus a partial one.
    check_round_trip([9; 32], [10; 32], 16, 40 * (1 << 16) + 12345).unwrap();
}

/// Every bit of a small one-chunk object, and of the header, the chunk boundaries and the tags
/// of a three-chunk object: flipping any one of them is rejected.
#[test]
fn every_single_bit_flip_is_rejected_exhaustive_sweep() {
    let dk = [0x11; 32];
    let small = seal(dk, [0x12; 32], 16, &plaintext(100, 1));
    for byte in 0..small.len() {
        for bit in 0..8 {
            let mut bad = small.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                open(dk, &bad).is_err(),
                "flip of bit {bit} of byte {byte} accepted"
            );
        }
    }
    let c = 1usize << 16;
    let big = seal(dk, [0x13; 32], 16, &plaintext(2 * c + 3, 2));
    let h = ParsedHeader::parse(&big).unwrap().len();
    let mut positions: Vec<usize> = (0..h).collect();
    for i in 0..3 {
        let start = h + i * (c + 16);
        let end = (start + c + 16).min(big.len());
        positions.extend([start, start + 1, end - 17, end - 16, end - 1]);
    }
    positions.extend((h..big.len()).step_by(4099));
    for byte in positions {
        let mut bad = big.clone();
        bad[byte] ^= 0x40;
        assert!(
            open(dk, &bad).is_err(),
            "flip at byte {byte} of {} accepted",
            big.len()
        );
    }
}

/// The smallest kind of multi-chunk object (a full non-final chunk and a short final one),
/// swept completely: a flip of every byte, header and body (bit `i % 8` of byte `i`, so every bit
/// position is hit in every region), is refused, and so is every prefix (every truncation).
///
/// `open_from_slice` is `ParsedHeader::parse` + `verify` + `open_verified`. Flips in the header
/// and prefixes shorter than it go through `open_from_slice`; for the body, whose header bytes
/// are intact, the header is verified once and `open_verified` runs on every variant (key
/// derivation is slow in debug builds), and `open_from_slice` itself on every 97th.
#[test]
fn every_byte_flip_and_every_truncation_of_a_two_chunk_object_is_rejected() {
    let dk = [0x15; 32];
    let c = 1usize << 16;
    let pt = plaintext(c + 300, 6);
    let object = seal(dk, [0x16; 32], 16, &pt);
    let h = ParsedHeader::parse(&object).unwrap().len();
    assert_eq!(object.len(), h + c + 16 + 300 + 16);
    let verified = ParsedHeader::parse(&object)
        .unwrap()
        .verify(&DataKey::from_slice(&dk).unwrap())
        .unwrap();
    assert_eq!(open_verified(&verified, &object).unwrap(), pt);
    // `bytes` differs from the object at byte `i` or is its prefix of length `i`: refused by
    // `open_from_slice` (in the header, and at every 97th byte past it) and, past the header,
    // by `open_verified`.
    let refused = |bytes: &[u8], i: usize| {
        let whole = (i < h || i.is_multiple_of(97)).then(|| open(dk, bytes).is_err());
        let body = (i >= h).then(|| open_verified(&verified, bytes).is_err());
        whole.unwrap_or(true) && body.unwrap_or(true)
    };
    let mut bad = object.clone();
    for i in 0..object.len() {
        bad[i] ^= 1 << (i % 8);
        assert!(
            refused(&bad, i),
            "flip at byte {i} of {} (header {h}) accepted",
            object.len()
        );
        bad[i] ^= 1 << (i % 8);
        assert!(
            refused(&object[..i], i),
            "prefix of {i} of {} bytes accepted",
            object.len()
        );
    }
}

/// Seals the chunks of an object in the order given by `order`, spread over `threads` threads,
/// with the library's chunk cipher, and assembles them at their computed offsets.
fn seal_out_of_order(
    dk: [u8; 32], mid: [u8; 32], k: u8, pt: &[u8], order: &[u64], threads: usize,
) -> Vec<u8> {
    let keys = ObjectKeys::derive(&DataKey::from_slice(&dk).unwrap(), MessageId(mid));
    let f = fields(k, pt.len(), mid);
    let header = f.seal(&keys).unwrap();
    let layout = Layout::new(header.len() as u64, f.chunk_size, pt.len() as u64);
    let cipher = ChunkCipher::new(&keys, f.chunk_size, Backend::default());
    let mut out = vec![0u8; layout.ciphertext_len().unwrap() as usize];
    out[..header.len()].copy_from_slice(&header);
    let sealed: Vec<(u64, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = order
            .chunks(order.len().div_ceil(threads))
            .map(|batch| {
                let cipher = &cipher;
                s.spawn(move || {
                    batch
                        .iter()
                        .map(|&i| {
                            let r = layout.chunk_plain_range(i);
                            let mut buf = pt[r.start as usize..r.end as usize].to_vec();
                            let tag = cipher.seal_in_place(i, layout.is_final(i), &mut buf);
                            buf.extend_from_slice(&tag);
                            (i, buf)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for (i, bytes) in sealed {
        let r = layout.chunk_cipher_range(i);
        out[r.start as usize..r.end as usize].copy_from_slice(&bytes);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random sizes (up to a few chunks) at random chunk exponents.
    #[test]
    fn round_trip_random_size_and_chunk_exponent(
        k in 16u8..=18,
        chunks in 0usize..4,
        extra in 0usize..(1 << 16),
        dk in any::<[u8; 32]>(),
        mid in any::<[u8; 32]>(),
    ) {
        let len = (chunks << k) + extra;
        check_round_trip(dk, mid, k, len)?;
    }

    /// Chunks sealed in a random order on several threads give exactly the in-order bytes.
    #[test]
    fn chunks_sealed_out_of_order_in_parallel_give_the_same_bytes(
        chunks in 1usize..9,
        tail in 0usize..1000,
        seed in any::<u64>(),
        threads in 1usize..5,
    ) {
        let k = 16;
        let len = ((chunks - 1) << k) + tail.max(1);
        let pt = plaintext(len, seed as u8);
        let dk = [seed as u8; 32];
        let mid = [(seed >> 8) as u8; 32];
        let n = (len as u64).div_ceil(1 << k).max(1);
        // A permutation of 0..n from the seed (Fisher-Yates with a xorshift generator).
        let mut order: Vec<u64> = (0..n).collect();
        let mut x = seed | 1;
        for i in (1..order.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let expected = seal(dk, mid, k, &pt);
        prop_assert_eq!(seal_out_of_order(dk, mid, k, &pt, &order, threads), expected);
    }

    /// Another data key fails at the commitment check (before the MAC and before any chunk).
    #[test]
    fn a_different_data_key_fails_at_the_commitment(
        dk in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        len in 0usize..70000,
    ) {
        prop_assume!(dk != other);
        let object = seal(dk, [8; 32], 16, &plaintext(len, 9));
        prop_assert_eq!(open(other, &object).unwrap_err(), FormatError::CommitmentMismatch);
        // The header alone is enough to tell: the check needs no chunk.
        let h = ParsedHeader::parse(&object).unwrap();
        prop_assert_eq!(h.verify(&DataKey::from_slice(&other).unwrap()).unwrap_err(), FormatError::CommitmentMismatch);
    }

    /// A sealed chunk opens only at its own index and with its own final flag (requirement 3:
    /// index and finality are bound, so reordering and re-marking fail even where the length
    /// check would not notice).
    #[test]
    fn a_chunk_opens_only_at_its_index_and_finality(
        [index, other] in prop::array::uniform2(0u64..1_000_000),
        is_final in any::<bool>(),
        len in 0usize..2000,
    ) {
        let keys = ObjectKeys::derive(&DataKey::from_slice(&[0x21; 32]).unwrap(), MessageId([0x22; 32]));
        let cipher = ChunkCipher::new(&keys, ChunkSize::from_log2(16).unwrap(), Backend::default());
        let mut sealed = plaintext(len, 4);
        let tag = cipher.seal_in_place(index, is_final, &mut sealed);
        sealed.extend_from_slice(&tag);
        let mut ok = sealed.clone();
        prop_assert_eq!(cipher.open_in_place(index, is_final, &mut ok).unwrap(), len);
        let mut flag = sealed.clone();
        prop_assert!(cipher.open_in_place(index, !is_final, &mut flag).is_err());
        if other != index {
            let mut moved = sealed.clone();
            prop_assert!(cipher.open_in_place(other, is_final, &mut moved).is_err());
        }
    }
}

proptest! {
    // Tampering is the promise that matters most: many more random cases than above.
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any single-bit flip at a random position of a random object is rejected.
    #[test]
    fn any_single_bit_flip_is_rejected(
        len in prop_oneof![0usize..300, 65530usize..65542, 131060usize..131080],
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
        dk in any::<[u8; 32]>(),
    ) {
        let object = seal(dk, [3; 32], 16, &plaintext(len, 5));
        let at = pos.index(object.len());
        let mut bad = object.clone();
        bad[at] ^= 1 << bit;
        prop_assert!(open(dk, &bad).is_err(), "bit {} of byte {} of {} accepted", bit, at, object.len());
    }

    /// Any truncation or extension of an object is rejected.
    #[test]
    fn truncation_and_extension_are_rejected(
        len in 0usize..140000,
        cut in any::<prop::sample::Index>(),
        extra in 1usize..40,
    ) {
        let dk = [0x77; 32];
        let object = seal(dk, [0x78; 32], 16, &plaintext(len, 1));
        let at = cut.index(object.len());
        prop_assert!(open(dk, &object[..at]).is_err(), "prefix of {} of {} bytes accepted", at, object.len());
        let mut longer = object.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert!(open(dk, &longer).is_err());
    }
}

/// With the pure-Rust backend built in, each backend opens what the other sealed, at the edge
/// sizes (issue requirement: keep aes-gcm as a backend and test both ways).
#[cfg(feature = "rustcrypto")]
#[test]
fn backends_open_each_others_objects() {
    let dk = [0x31; 32];
    let keys = ObjectKeys::derive(&DataKey::from_slice(&dk).unwrap(), MessageId([0x32; 32]));
    let k = ChunkSize::from_log2(16).unwrap();
    let lc = ChunkCipher::new(&keys, k, Backend::AwsLc);
    let rc = ChunkCipher::new(&keys, k, Backend::RustCrypto);
    let c = 1usize << 16;
    for len in [0, 1, c - 1, c, c + 1, 3 * c + 5] {
        let pt = plaintext(len, 3);
        let layout = Layout::new(0, k, len as u64);
        for i in 0..layout.chunk_count() {
            let r = layout.chunk_plain_range(i);
            let fin = layout.is_final(i);
            let chunk = &pt[r.start as usize..r.end as usize];
            let mut a = chunk.to_vec();
            let ta = lc.seal_in_place(i, fin, &mut a);
            a.extend(ta);
            let mut b = chunk.to_vec();
            let tb = rc.seal_in_place(i, fin, &mut b);
            b.extend(tb);
            assert_eq!(a, b, "backends disagree at L = {len}, chunk {i}");
            let mut x = a.clone();
            assert_eq!(
                rc.open_in_place(i, layout.is_final(i), &mut x).unwrap(),
                (r.end - r.start) as usize
            );
            let mut y = b.clone();
            assert_eq!(
                lc.open_in_place(i, layout.is_final(i), &mut y).unwrap(),
                (r.end - r.start) as usize
            );
        }
    }
}

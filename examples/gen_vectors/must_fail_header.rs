//! Must-fail vectors that alter the header fields of the 1-byte object: magic, version, suite,
//! flags, chunk size, lengths, ids, commitment and MAC, each either with the stale MAC or
//! re-MACed with the right key.

use super::cases::{Case, Expect, Generated, chunk_err, err, flip, put};
use super::objects::{Bases, KEY_ID, OTHER_KEY_ID, remac, stale};

pub(crate) fn add(g: &mut Generated, b: &Bases) {
    let small = &b.small;
    let hs = small.header_len();
    let mut s = |name: &str, desc: &str, expect: Expect, header: Vec<u8>| {
        let case = Case::new(name, desc, small, expect)
            .bytes(&header)
            .body_of(small);
        g.add(case);
    };
    let sh = small.header();
    s(
        "fail-magic",
        "First magic byte 0x89 changed to 0x88.",
        err("not_s3seal"),
        flip(sh, 0, 0x01),
    );
    s(
        "fail-magic-case",
        "Magic 'S3SEAL' changed to 's3SEAL'.",
        err("not_s3seal"),
        flip(sh, 1, 0x20),
    );
    s(
        "fail-version-2",
        "Format version 2.",
        err("unsupported_version"),
        put(sh, 8, &[2]),
    );
    s(
        "fail-version-0",
        "Format version 0.",
        err("unsupported_version"),
        put(sh, 8, &[0]),
    );
    s(
        "fail-suite-2",
        "Suite id 0x0002.",
        err("unsupported_suite"),
        put(sh, 9, &[0, 2]),
    );
    s(
        "fail-suite-0x0100",
        "Suite id 0x0100 (byte order swapped).",
        err("unsupported_suite"),
        put(sh, 9, &[1, 0]),
    );
    s(
        "fail-flags-1",
        "Flags 0x01.",
        err("malformed_header"),
        put(sh, 16, &[1]),
    );
    s(
        "fail-flags-0x80",
        "Flags 0x80.",
        err("malformed_header"),
        put(sh, 16, &[0x80]),
    );
    s(
        "fail-chunk-size-15",
        "Chunk size exponent 15 (below 16).",
        err("malformed_header"),
        put(sh, 15, &[15]),
    );
    s(
        "fail-chunk-size-25",
        "Chunk size exponent 25 (above 24).",
        err("malformed_header"),
        put(sh, 15, &[25]),
    );
    s(
        "fail-chunk-size-17-not-remaced",
        "Chunk size exponent 16 changed to 17, header MAC not recomputed.",
        err("header_mac"),
        put(sh, 15, &[17]),
    );
    s(
        "fail-plaintext-len-flipped",
        "One bit flipped in the plaintext length field (1 -> 0), MAC not recomputed.",
        err("header_mac"),
        flip(sh, 24, 0x01),
    );
    s(
        "fail-message-id-flipped",
        "One bit flipped in the message id: the commitment no longer matches.",
        err("commitment"),
        flip(sh, 40, 0x04),
    );
    s(
        "fail-commitment-altered",
        "One bit flipped in the key commitment.",
        err("commitment"),
        flip(sh, 70, 0x10),
    );
    s(
        "fail-header-mac-flipped",
        "One bit flipped in the header MAC.",
        err("header_mac"),
        flip(sh, hs - 1, 0x01),
    );
    s(
        "fail-header-mac-zeroed",
        "Header MAC replaced by zeros.",
        err("header_mac"),
        put(sh, hs - 32, &[0; 32]),
    );
    s(
        "fail-header-len-plus-1",
        "Header length field one larger than the header: one byte left over before the MAC.",
        err("malformed_header"),
        put(sh, 11, &((hs + 1) as u32).to_be_bytes()),
    );
    s(
        "fail-header-len-minus-1",
        "Header length field one smaller: the variable part runs past it.",
        err("malformed_header"),
        put(sh, 11, &((hs - 1) as u32).to_be_bytes()),
    );
    s(
        "fail-header-len-128",
        "Header length 128, below the minimum 129.",
        err("malformed_header"),
        put(sh, 11, &128u32.to_be_bytes()),
    );
    s(
        "fail-header-len-65537",
        "Header length 65537, above the maximum 65536.",
        err("malformed_header"),
        put(sh, 11, &65537u32.to_be_bytes()),
    );
    s(
        "fail-header-len-past-end",
        "Header length 65536 (in range) but past the end of the object.",
        err("malformed_header"),
        put(sh, 11, &65536u32.to_be_bytes()),
    );
    s(
        "fail-key-id-byte-flipped",
        "One bit flipped in the KMS key id: KMS refuses.",
        err("kms"),
        flip(sh, 89 + 2 + 40, 0x01),
    );
    s(
        "fail-wrapped-key-byte-flipped",
        "One bit flipped in the wrapped data key: KMS refuses.",
        err("kms"),
        flip(sh, 89 + 2 + KEY_ID.len() + 2 + 10, 0x01),
    );

    // chunk size changed with a correct MAC: L = 1 fits one chunk at either size, so only the
    // content key (which depends on k) catches it.
    let mut h = small.raw_header();
    h.k = 17;
    s(
        "fail-chunk-size-17-remaced",
        "Chunk size exponent 16 changed to 17 and the header re-MACed with the right key: chunk 0's key depends on k.",
        chunk_err(0),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.len = 0;
    s(
        "fail-plaintext-len-minus-1-remaced",
        "Plaintext length 1 changed to 0 and the header re-MACed: only the length check catches it.",
        err("length"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.len = 2;
    s(
        "fail-plaintext-len-plus-1-remaced",
        "Plaintext length 1 changed to 2 and the header re-MACed: only the length check catches it.",
        err("length"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.len = u64::MAX;
    s(
        "fail-plaintext-len-max-remaced",
        "Plaintext length 2^64-1, re-MACed: the total length overflows 64 bits and must fail cleanly.",
        err("length"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.commitment[0] ^= 1;
    s(
        "fail-commitment-altered-remaced",
        "Commitment altered and the header re-MACed: the commitment check still fails.",
        err("commitment"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.key_id = OTHER_KEY_ID.as_bytes().to_vec();
    s(
        "fail-key-id-swapped",
        "KMS key id replaced by another key's ARN (header re-MACed): KMS refuses.",
        err("kms"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.key_id = Vec::new();
    s(
        "fail-key-id-empty",
        "KMS key id of length 0.",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.wrapped = Vec::new();
    s(
        "fail-wrapped-key-empty",
        "Wrapped key of length 0.",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.wrapped = vec![0xAB; 6145];
    s(
        "fail-wrapped-key-too-long",
        "Wrapped key of 6145 bytes (max 6144).",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.key_id = b"arn:aws:kms:\xff".to_vec();
    s(
        "fail-key-id-not-utf8",
        "KMS key id with a byte 0xFF (not UTF-8).",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.pair_count = Some(4);
    s(
        "fail-pair-count-too-high",
        "Pair count says 4, the header holds 3: the parser runs into the MAC.",
        err("malformed_header"),
        stale(h, small),
    );
    let mut h = small.raw_header();
    h.pair_count = Some(257);
    s(
        "fail-pair-count-257",
        "Pair count 257 (max 256).",
        err("malformed_header"),
        stale(h, small),
    );
    let mut h = small.raw_header();
    h.pairs.swap(0, 1);
    s(
        "fail-context-not-sorted",
        "Two context pairs in descending order (re-MACed).",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.pairs[1] = h.pairs[0].clone();
    s(
        "fail-context-duplicate-key",
        "The same context key twice (re-MACed).",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.pairs.insert(0, (b"a\xff".to_vec(), b"v".to_vec()));
    s(
        "fail-context-key-not-utf8",
        "A context key with a byte 0xFF (re-MACed).",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.pairs.insert(0, (Vec::new(), b"v".to_vec()));
    s(
        "fail-context-key-empty",
        "A context key of length 0 (re-MACed).",
        err("malformed_header"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.pairs.retain(|(k, _)| k != b"s3seal:key");
    s(
        "fail-context-reserved-key-missing",
        "Reserved pair s3seal:key removed (re-MACed).",
        err("context"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    h.pairs.retain(|(k, _)| k != b"s3seal:format");
    s(
        "fail-context-reserved-format-missing",
        "Reserved pair s3seal:format removed (re-MACed).",
        err("context"),
        remac(h, small),
    );
    let mut h = small.raw_header();
    for p in h.pairs.iter_mut().filter(|p| p.0 == b"s3seal:format") {
        p.1 = b"2".to_vec();
    }
    s(
        "fail-context-format-2",
        "s3seal:format = 2 (re-MACed).",
        err("context"),
        remac(h, small),
    );
}

//! Must-fail vectors that tamper with the body of the 4-chunk object: flipped bits, swapped,
//! duplicated, dropped, re-marked or foreign chunks, truncation and extension, and headers of
//! other objects in front of its body.

use super::cases::{Case, Expect, Generated, chunk_err, err};
use super::objects::Bases;

pub(crate) fn add(g: &mut Generated, b: &Bases) {
    let big = &b.big;
    let same_dk_other_mid = &b.same_dk_other_mid;
    let other_dk_other_mid = &b.other_dk_other_mid;
    let other_dk_same_mid = &b.other_dk_same_mid;
    let dk_b = b.dk_b;
    let hb = big.header_len();
    let mut f = |name: &str, desc: &str, expect: Expect, build: &dyn Fn(Case) -> Case| {
        let case = build(Case::new(name, desc, big, expect));
        g.add(case);
    };
    f(
        "fail-bit-flip-ciphertext",
        "One bit flipped in the ciphertext of chunk 2.",
        chunk_err(2),
        &|c| {
            let r = big.chunk(2);
            let mid = r.start + 1000;
            c.of(big, 0..mid)
                .bytes(&[big.bytes[mid] ^ 0x01])
                .of(big, mid + 1..big.bytes.len())
        },
    );
    f(
        "fail-bit-flip-tag",
        "One bit flipped in the tag of the final chunk (3).",
        chunk_err(3),
        &|c| {
            let at = big.bytes.len() - 1;
            c.of(big, 0..at).bytes(&[big.bytes[at] ^ 0x80])
        },
    );
    f(
        "fail-chunks-swapped",
        "Chunks 0 and 1 swapped.",
        chunk_err(0),
        &|c| {
            c.of(big, 0..hb)
                .chunk_of(big, 1)
                .chunk_of(big, 0)
                .of(big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-chunks-swapped-with-final",
        "Chunk 2 (full) and chunk 3 (final, 5 bytes) swapped: same total length.",
        chunk_err(2),
        &|c| {
            c.of(big, 0..big.chunk(2).start)
                .chunk_of(big, 3)
                .chunk_of(big, 2)
        },
    );
    f(
        "fail-chunk-duplicated-in-place",
        "Chunk 0 written again in place of chunk 1.",
        chunk_err(1),
        &|c| {
            c.of(big, 0..hb)
                .chunk_of(big, 0)
                .chunk_of(big, 0)
                .of(big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-chunk-duplicated-inserted",
        "Chunk 1 inserted a second time after itself (object one chunk longer).",
        err("length"),
        &|c| {
            c.of(big, 0..big.chunk(1).end)
                .chunk_of(big, 1)
                .of(big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-final-chunk-dropped",
        "The final chunk removed: truncation at a chunk boundary.",
        err("length"),
        &|c| c.of(big, 0..big.chunk(3).start),
    );
    f(
        "fail-truncated-mid-chunk",
        "Object cut in the middle of chunk 2.",
        err("length"),
        &|c| c.of(big, 0..big.chunk(2).start + 30000),
    );
    f(
        "fail-truncated-one-byte",
        "Last byte of the object removed.",
        err("length"),
        &|c| c.of(big, 0..big.bytes.len() - 1),
    );
    f(
        "fail-bytes-appended",
        "One zero byte appended.",
        err("length"),
        &|c| c.whole(big).bytes(&[0]),
    );
    f(
        "fail-chunk-appended",
        "A copy of chunk 2 appended after the final chunk.",
        err("length"),
        &|c| c.whole(big).chunk_of(big, 2),
    );
    f(
        "fail-non-final-chunk-marked-final",
        "Chunk 1 re-sealed (with the right key) with the final flag set.",
        chunk_err(1),
        &|c| {
            c.of(big, 0..big.chunk(1).start)
                .bytes(&big.resealed_chunk(1, true))
                .of(big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-final-chunk-marked-non-final",
        "The final chunk (3) re-sealed (with the right key) without the final flag.",
        chunk_err(3),
        &|c| {
            c.of(big, 0..big.chunk(3).start)
                .bytes(&big.resealed_chunk(3, false))
        },
    );
    f(
        "fail-chunk-from-same-data-key-other-message-id",
        "Final chunk replaced by the final chunk of another object under the same data key (other message id).",
        chunk_err(3),
        &|c| {
            c.of(big, 0..big.chunk(3).start)
                .bytes(same_dk_other_mid.chunk_bytes(3))
        },
    );
    f(
        "fail-chunk-from-other-data-key",
        "Final chunk replaced by the final chunk of another object (other data key, other message id).",
        chunk_err(3),
        &|c| {
            c.of(big, 0..big.chunk(3).start)
                .bytes(other_dk_other_mid.chunk_bytes(3))
        },
    );
    f(
        "fail-chunk-from-other-data-key-same-message-id",
        "Final chunk replaced by that of an object with another data key but the same message id.",
        chunk_err(3),
        &|c| {
            c.of(big, 0..big.chunk(3).start)
                .bytes(other_dk_same_mid.chunk_bytes(3))
        },
    );
    // The header of another valid object (its KMS binding works and gives its own data key).
    let other_binding = other_dk_other_mid.binding();
    let case = Case::new(
        "fail-header-from-other-object",
        "Header replaced by the header of another object of the same size (other data key, which KMS returns): header verifies, chunk 0 does not.",
        big,
        chunk_err(0),
    )
    .bytes(other_dk_other_mid.header())
    .body_of(big)
    .kms(other_binding)
    .data_key(&dk_b);
    g.add(case);
    let case = Case::new(
        "fail-header-from-object-with-same-data-key",
        "Header replaced by the header of another object under the same data key (other message id).",
        big,
        chunk_err(0),
    )
    .bytes(same_dk_other_mid.header())
    .body_of(big);
    g.add(case);
}

//! Property tests for multipart part planning (`s3seal::transfer::plan`): whatever the object
//! size, chunk size, header length, part size and `--expected-size` hint, a plan either is
//! refused up front or respects S3's limits (parts of 5 MiB to 5 GiB except the last, at most
//! 10,000 parts, whole chunks, contiguous coverage of every chunk); and a stream of unknown
//! length stops with a clear error before S3's walls, never at them.

use proptest::prelude::*;
use s3seal::format::{ChunkSize, TAG_LEN};
use s3seal::transfer::plan::{
    MAX_OBJECT_BYTES, MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, PartPlan,
};

const MIB: u64 = 1024 * 1024;

/// Sizes spread over every order of magnitude (uniform sampling would almost never pick small
/// or edge values), plus the exact edges.
fn size_upto(max: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u32..=42).prop_flat_map(move |bits| {
            let hi = (1u64 << bits).min(max);
            hi / 2..=hi
        }),
        1 => Just(0u64),
        1 => Just(max),
        1 => (0u64..=16).prop_map(move |d| max.saturating_sub(d)),
    ]
}

fn chunk_size() -> impl Strategy<Value = ChunkSize> {
    (ChunkSize::MIN_LOG2..=ChunkSize::MAX_LOG2).prop_map(|l| ChunkSize::from_log2(l).unwrap())
}

fn part_bytes() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(MIN_PART_BYTES),
        Just(8 * MIB),
        Just(MAX_PART_BYTES),
        MIN_PART_BYTES..=MAX_PART_BYTES,
        (MIN_PART_BYTES..=64 * MIB),
    ]
}

fn header_len() -> impl Strategy<Value = u64> {
    prop_oneof![Just(120u64), 100u64..=2000, Just(65_536u64)]
}

/// Walks every part and checks the S3 rules; returns (parts, chunks covered).
fn check_parts(plan: &PartPlan, max_part: u32) -> (u32, u64) {
    let c = plan.chunk_size().bytes();
    let mut next = 0u64;
    let mut last_len = 0u64;
    let mut part = 1u32;
    while part <= max_part {
        let Some(chunks) = plan.chunks_of_part(part).expect("within the wall") else {
            break;
        };
        assert_eq!(
            chunks.start, next,
            "part {part} does not start where the last ended"
        );
        assert!(chunks.end > chunks.start, "part {part} is empty");
        let n = chunks.end - chunks.start;
        // Every part is whole chunks; every one but the last is at least 5 MiB of ciphertext
        // (its plaintext alone is), and no part exceeds 5 GiB with its tags (and the header).
        let header = if part == 1 { plan.header_len() } else { 0 };
        assert!(
            header + n * (c + TAG_LEN as u64) <= MAX_PART_BYTES,
            "part {part} exceeds 5 GiB"
        );
        if plan.is_stream() {
            assert!(n * c >= MIN_PART_BYTES, "stream part {part} is under 5 MiB");
            assert!(n >= last_len, "stream parts shrink at part {part}");
        }
        last_len = n;
        next = chunks.end;
        part += 1;
    }
    (part - 1, next)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn known_lengths_give_valid_plans(
        len in size_upto(MAX_OBJECT_BYTES + 4096),
        chunk in chunk_size(),
        part in part_bytes(),
        header in header_len(),
    ) {
        let plan = PartPlan::new(chunk, header, part, Some(len));
        if len > MAX_OBJECT_BYTES {
            prop_assert!(plan.is_err(), "{len} bytes is over 5 TiB and was accepted");
            return Ok(());
        }
        let plan = plan.expect("a length within 5 TiB is plannable");
        let c = chunk.bytes();
        let total_chunks = len.div_ceil(c).max(1);
        let count = plan.part_count().expect("known length");
        prop_assert!((1..=MAX_PARTS).contains(&count), "{count} parts");
        let (walked, covered) = check_parts(&plan, MAX_PARTS);
        prop_assert_eq!(walked, count);
        prop_assert_eq!(covered, total_chunks, "parts do not cover every chunk");
        prop_assert!(plan.chunks_of_part(count + 1).unwrap().is_none());
        // Every part but the last is the same size: at least the requested part size
        // (rounded up to whole chunks) and at least 5 MiB.
        for p in 1..count {
            let r = plan.chunks_of_part(p).unwrap().unwrap();
            prop_assert_eq!(r.end - r.start, plan.base_chunks());
            let n = r.end - r.start;
            prop_assert!(
                n * c >= part || plan.part_cipher_bytes(n + 1) > MAX_PART_BYTES,
                "parts of {n} chunks are smaller than asked and could be larger"
            );
            prop_assert!((r.end - r.start) * c >= MIN_PART_BYTES);
        }
        prop_assert!(plan.stream_capacity().is_none());
    }

    #[test]
    fn streams_grow_within_limits_and_stop_before_the_wall(
        chunk in chunk_size(),
        part in part_bytes(),
        header in header_len(),
        hint in proptest::option::of(size_upto(MAX_OBJECT_BYTES + 4096)),
    ) {
        let plan = PartPlan::with_hint(chunk, header, part, None, hint);
        if hint.is_some_and(|h| h > MAX_OBJECT_BYTES) {
            prop_assert!(plan.is_err(), "a hint over 5 TiB was accepted");
            return Ok(());
        }
        let plan = plan.expect("a stream plan");
        let c = chunk.bytes();
        let (walked, covered) = check_parts(&plan, MAX_PARTS);
        prop_assert_eq!(walked, MAX_PARTS, "a stream plan must define all 10,000 parts");
        // The wall is an error with a way out, never a silent failure.
        let err = plan.chunks_of_part(MAX_PARTS + 1).expect_err("part 10,001");
        prop_assert!(err.to_string().contains("10,000 parts"), "{err}");
        prop_assert!(err.hint().is_some_and(|h| h.contains("--expected-size")));
        // The capacity the upload enforces (failing as soon as a stream crosses it) lies
        // within both walls: what 10,000 parts hold and 5 TiB of ciphertext.
        let cap = plan.stream_capacity().expect("stream");
        prop_assert!(cap <= covered * c, "capacity {cap} beyond 10,000 parts");
        let chunks_at_cap = cap.div_ceil(c).max(1);
        prop_assert!(
            header + cap + chunks_at_cap * TAG_LEN as u64 <= MAX_OBJECT_BYTES,
            "capacity {cap} beyond 5 TiB of ciphertext"
        );
        prop_assert_eq!(cap % c, 0, "capacity is whole chunks");
        // A hint is honoured: a stream of the expected length fits.
        if let Some(h) = hint {
            let by_object = (MAX_OBJECT_BYTES - header) / (c + TAG_LEN as u64) * c;
            prop_assert!(cap >= h.min(by_object), "hint {h} does not fit in {cap}");
        }
    }

    #[test]
    fn part_sizes_outside_s3_limits_are_refused(
        part in prop_oneof![0..MIN_PART_BYTES, MAX_PART_BYTES + 1..=u64::MAX / 2],
        len in proptest::option::of(0u64..=1 << 40),
        chunk in chunk_size(),
    ) {
        prop_assert!(PartPlan::new(chunk, 200, part, len).is_err());
    }
}

#[test]
fn default_stream_reaches_the_object_limit_but_5_mib_parts_do_not() {
    let c = ChunkSize::DEFAULT;
    let default = PartPlan::new(c, 300, 8 * MIB, None).unwrap();
    assert!(default.stream_capacity().unwrap() > MAX_OBJECT_BYTES - 100 * MIB);
    let small = PartPlan::new(c, 300, MIN_PART_BYTES, None).unwrap();
    // 5 MiB x 1000 x (1 + 2 + ... + 512): about 4.9 TiB. Known and reported up front.
    assert_eq!(small.stream_capacity().unwrap(), 5 * MIB * 1000 * 1023);
}

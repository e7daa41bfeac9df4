//! Part planning cost (`cargo bench --bench part_plan`): the upload asks the plan for every
//! part's chunk range, so planning must stay negligible next to sealing a part (microseconds
//! against milliseconds), even for a stream deep into its growing tiers or a 5 TiB file.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use s3seal::format::ChunkSize;
use s3seal::transfer::plan::{MAX_OBJECT_BYTES, MAX_PARTS, PartPlan};

const MIB: u64 = 1024 * 1024;

fn plans(c: &mut Criterion) {
    let chunk = ChunkSize::DEFAULT;
    c.bench_function("new/known_1GiB", |b| {
        b.iter(|| PartPlan::new(chunk, 300, black_box(8 * MIB), Some(black_box(1 << 30))))
    });
    c.bench_function("new/stream_with_hint_1TiB", |b| {
        b.iter(|| PartPlan::with_hint(chunk, 300, black_box(8 * MIB), None, Some(1 << 40)))
    });
    let known = PartPlan::new(chunk, 300, 8 * MIB, Some(MAX_OBJECT_BYTES)).unwrap();
    c.bench_function("chunks_of_part/known_5TiB_all_parts", |b| {
        b.iter(|| {
            for p in 1..=known.part_count().unwrap() {
                black_box(known.chunks_of_part(black_box(p)).unwrap());
            }
        })
    });
    let stream = PartPlan::new(chunk, 300, 8 * MIB, None).unwrap();
    c.bench_function("chunks_of_part/stream_all_10000_parts", |b| {
        b.iter(|| {
            for p in 1..=MAX_PARTS {
                black_box(stream.chunks_of_part(black_box(p)).unwrap());
            }
        })
    });
    c.bench_function("stream_capacity", |b| {
        b.iter(|| black_box(&stream).stream_capacity())
    });
}

criterion_group!(benches, plans);
criterion_main!(benches);

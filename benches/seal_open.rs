//! Seal and open throughput of format v1 chunks (`cargo bench --bench seal_open`).
//!
//! Why this exists: issue 2 sets a target of at least 0.9x `openssl speed -evp aes-256-gcm` per
//! core at the default chunk size, and two cores at least 1.8x one. This bench measures exactly
//! the library's per-chunk path (the chunk cipher the transfer pipeline uses, in place, with the
//! documented nonce) so docs/PERFORMANCE.md can put the figures next to OpenSSL's.
//!
//! Groups:
//! - `chunk_1MiB/{seal,open}/<backend>`: one 1 MiB chunk per iteration on one core, buffer hot in
//!   cache, as `openssl speed -bytes 1048576` measures (the per-core comparison).
//! - `hot_1MiB_per_thread/{seal,copy+open}/{1,N}-threads`: every thread seals (or restores with a
//!   1 MiB copy and opens) its own hot 1 MiB chunk, as `openssl speed -multi N` does (the scaling
//!   comparison; contention from other processes shows here first).
//! - `batch_32MiB/{seal,open}/{1-thread,N-threads}`: 32 distinct chunks of 1 MiB per iteration
//!   (32 MiB: far beyond L2, as large as L3), once on one thread and once over all cores (rayon),
//!   as the transfer pipeline works.
//! - `download_shape/copy+open/{1,N}-threads`: what a download does per GiB, in its real shape:
//!   6 ranges of 8 MiB (the defaults) land in reused range buffers (a copy from the
//!   "received" bytes, as from the HTTP client's frames) and each range's chunks are opened
//!   in place, ranges spread over a pool of 1 and of N threads.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use s3seal::format::{Backend, ChunkCipher, ChunkSize, DataKey, MessageId, ObjectKeys};

const CHUNK: ChunkSize = ChunkSize::DEFAULT; // 1 MiB
const BATCH_CHUNKS: usize = 32;

fn cipher(backend: Backend) -> ChunkCipher {
    let keys = ObjectKeys::derive(
        &DataKey::from_slice(&[0x42; 32]).unwrap(),
        MessageId([0x24; 32]),
    );
    ChunkCipher::new(&keys, CHUNK, backend)
}

fn backends() -> Vec<(&'static str, Backend)> {
    #[allow(unused_mut)]
    let mut list = vec![("aws-lc-rs", Backend::AwsLc)];
    #[cfg(feature = "rustcrypto")]
    list.push(("rustcrypto", Backend::RustCrypto));
    list
}

fn sealed_chunk(c: &ChunkCipher, index: u64) -> Vec<u8> {
    let mut buf: Vec<u8> = (0..CHUNK.bytes()).map(|i| (i * 7 + 3) as u8).collect();
    let tag = c.seal_in_place(index, false, &mut buf);
    buf.extend_from_slice(&tag);
    buf
}

fn per_chunk(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("chunk_1MiB");
    g.throughput(Throughput::Bytes(CHUNK.bytes()));
    for (name, backend) in backends() {
        let c = cipher(backend);
        let mut buf = vec![0x5Au8; CHUNK.bytes() as usize];
        g.bench_function(format!("seal/{name}"), |b| {
            b.iter(|| black_box(c.seal_in_place(7, false, black_box(&mut buf))))
        });
        let sealed = sealed_chunk(&c, 7);
        g.bench_function(format!("open/{name}"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| black_box(c.open_in_place(7, false, black_box(buf)).unwrap()),
                BatchSize::SmallInput,
            )
        });
        // Into another buffer (what a download to a file does, to write with direct I/O).
        let mut out = vec![0u8; CHUNK.bytes() as usize];
        g.bench_function(format!("open_into/{name}"), |b| {
            b.iter(|| black_box(c.open_into(7, false, black_box(&sealed), &mut out).unwrap()))
        });
    }
    g.finish();
}

fn batches(cr: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let c = cipher(Backend::default());
    let mut g = cr.benchmark_group("batch_32MiB");
    g.throughput(Throughput::Bytes(CHUNK.bytes() * BATCH_CHUNKS as u64));
    let fresh = || vec![vec![0x5Au8; CHUNK.bytes() as usize]; BATCH_CHUNKS];
    let sealed: Vec<Vec<u8>> = (0..BATCH_CHUNKS as u64)
        .map(|i| sealed_chunk(&c, i))
        .collect();

    let mut bufs = fresh();
    g.bench_function("seal/1-thread", |b| {
        b.iter(|| {
            for (i, buf) in bufs.iter_mut().enumerate() {
                black_box(c.seal_in_place(i as u64, false, buf));
            }
        })
    });
    let mut bufs = fresh();
    g.bench_function(format!("seal/{threads}-threads"), |b| {
        b.iter(|| {
            pool.install(|| {
                bufs.par_iter_mut().enumerate().for_each(|(i, buf)| {
                    black_box(c.seal_in_place(i as u64, false, buf));
                })
            })
        })
    });
    g.bench_function("open/1-thread", |b| {
        b.iter_batched_ref(
            || sealed.clone(),
            |bufs| {
                for (i, buf) in bufs.iter_mut().enumerate() {
                    black_box(c.open_in_place(i as u64, false, buf).unwrap());
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function(format!("open/{threads}-threads"), |b| {
        b.iter_batched_ref(
            || sealed.clone(),
            |bufs| {
                pool.install(|| {
                    bufs.par_iter_mut().enumerate().for_each(|(i, buf)| {
                        black_box(c.open_in_place(i as u64, false, buf).unwrap());
                    })
                })
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Like `openssl speed -multi N`: every thread seals its own hot 1 MiB buffer, 16 times per
/// iteration, on a pool of 1 and of N threads (same code path, so the ratio is the scaling).
fn hot_scaling(cr: &mut Criterion) {
    const ROUNDS: usize = 16;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let c = cipher(Backend::default());
    let mut g = cr.benchmark_group("hot_1MiB_per_thread");
    for n in [1, threads] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        let bufs: Vec<std::sync::Mutex<Vec<u8>>> = (0..n)
            .map(|_| std::sync::Mutex::new(vec![0x5Au8; CHUNK.bytes() as usize]))
            .collect();
        g.throughput(Throughput::Bytes(CHUNK.bytes() * (ROUNDS * n) as u64));
        g.bench_function(format!("seal/{n}-threads"), |b| {
            b.iter(|| {
                pool.broadcast(|ctx| {
                    let mut buf = bufs[ctx.index()].lock().unwrap();
                    for round in 0..ROUNDS {
                        black_box(c.seal_in_place(round as u64, false, &mut buf));
                    }
                })
            })
        });
        // Open needs fresh ciphertext each time: every round first copies the thread's sealed
        // master chunk into its work buffer (a hot 1 MiB memcpy, included in the time, equally
        // for 1 and N threads), then opens it in place.
        let sealed = sealed_chunk(&c, 7);
        let work: Vec<std::sync::Mutex<Vec<u8>>> = (0..n)
            .map(|_| std::sync::Mutex::new(sealed.clone()))
            .collect();
        g.bench_function(format!("copy+open/{n}-threads"), |b| {
            b.iter(|| {
                pool.broadcast(|ctx| {
                    let mut buf = work[ctx.index()].lock().unwrap();
                    for _ in 0..ROUNDS {
                        buf.copy_from_slice(&sealed);
                        black_box(c.open_in_place(7, false, &mut buf).unwrap());
                    }
                })
            })
        });
    }
    g.finish();
}

/// The download's real shape: [`RANGES`] range buffers of [`RANGE_CHUNKS`] chunks, reused from
/// iteration to iteration as the download's buffer pool reuses them; every range is copied in
/// from the received ciphertext, then its chunks are opened in place. Ranges go to the pool's
/// threads as the download hands them to rayon.
fn download_shape(cr: &mut Criterion) {
    const RANGES: usize = 6;
    const RANGE_CHUNKS: usize = 8;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let c = cipher(Backend::default());
    let sealed_len = CHUNK.bytes() as usize + 16;
    let received: Vec<Vec<u8>> = (0..RANGES)
        .map(|r| {
            (0..RANGE_CHUNKS)
                .flat_map(|k| sealed_chunk(&c, (r * RANGE_CHUNKS + k) as u64))
                .collect()
        })
        .collect();
    let mut g = cr.benchmark_group("download_shape");
    g.throughput(Throughput::Bytes(
        CHUNK.bytes() * (RANGES * RANGE_CHUNKS) as u64,
    ));
    for n in [1, threads] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        let mut bufs: Vec<Vec<u8>> = received.clone();
        g.bench_function(format!("copy+open/{n}-threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    bufs.par_iter_mut()
                        .with_max_len(1)
                        .enumerate()
                        .for_each(|(r, buf)| {
                            buf.copy_from_slice(&received[r]);
                            for (k, chunk) in buf.chunks_mut(sealed_len).enumerate() {
                                let index = (r * RANGE_CHUNKS + k) as u64;
                                black_box(c.open_in_place(index, false, chunk).unwrap());
                            }
                        })
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(10));
    targets = per_chunk, hot_scaling, batches, download_shape
}
criterion_main!(benches);

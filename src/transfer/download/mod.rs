//! Fetch, verify and decrypt: the first ranged read brings the header, the object's size and
//! its ETag; the header is authenticated (binding checks, then KMS, commitment, MAC) before
//! anything else; the rest is fetched as concurrent ranged reads pinned to that ETag
//! (`If-Match`), opened on the CPU pool, and written out.
//!
//! Nothing unauthenticated is released (see [`sink`]); stdout receives a chunk's bytes only
//! after that chunk verified, and any failure ends with an error.
//!
//! Memory and copies: each range's body is streamed straight into one reused buffer (the only
//! copy of the ciphertext) and opened chunk by chunk on the CPU pool. To a file (where the
//! file system allows it) a range is opened into a second, aligned buffer and written from
//! there with direct I/O, past the page cache ([`direct`]); otherwise it is opened in place
//! and written from its own buffer. Every range holds its cost (both buffers) in a memory
//! budget, the download's own or one shared with others, from before its bytes arrive until it
//! is written, so a slow reader slows the download instead of growing memory. Peak memory is
//! about a constant plus the budget. To a file, where the reader streams, one GET brings
//! several ranges, each taken and opened while the next arrives ([`window`]): a long path
//! costs fewer round trips without costing more memory.

mod check;
mod direct;
#[cfg(test)]
mod direct_tests;
mod first_read;
mod output;
pub mod reader;
mod shared;
pub mod sink;
pub(crate) mod temp;
mod window;

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::stream::LocalBoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OwnedSemaphorePermit;

use self::check::{open_unit, open_unit_into};
use self::direct::DirectFile;
use self::first_read::FirstRead;
use self::output::{Writer, write_pieces};
use super::cpu::on_cpu_pool;
use super::{Cancel, Progress};
use crate::error::{Error, Result};
use crate::format::{
    Backend, ChunkCipher, ChunkSize, FormatError, Layout, ParsedHeader, TAG_LEN, header,
};
use crate::kms::Keyring;
use crate::pins::KeyPins;
use crate::transfer::resume::download::{
    PARTIAL_META_VERSION, PartialDownload, PartialMeta, covered,
};

pub use check::check_binding;
pub use reader::{FirstRange, LocalFile, RangeReader, StoreObject, read_exact};
pub use shared::SharedRanges;
pub use sink::{Sink, resolve_destination};
pub use temp::{TempFile, remove_live_temp_files};
pub use window::STREAMED_READ_BYTES;

use self::window::reads;
use crate::transfer::budget::MemoryBudget;

/// Bytes per ranged read of one object's download by default (`--part-size` of get and
/// verify), with [`super::default_download_concurrency`] of them in flight. Every GET costs the
/// server, and on a long path a round trip, besides its bytes: 6 x 8 MiB was faster than
/// 16 x 2 MiB both on loopback and with 20 ms of round trip once the test server stopped
/// dominating the measurement, at a lower peak memory (docs/PERFORMANCE.md).
pub const DEFAULT_RANGE_BYTES: u64 = 8 * 1024 * 1024;

/// Bytes per ranged read where a read shares memory with other work: `get --manifest`, and the
/// reads of `seal` and `migrate` beside their part uploads. (A tree's objects use
/// [`DEFAULT_RANGE_BYTES`]: their ranges share the run's budget, [`SharedRanges`].)
pub const SHARED_RANGE_BYTES: u64 = 2 * 1024 * 1024;
/// Room the first read leaves for the header before the first range. Headers are a few hundred
/// bytes unless the encryption context is large; a header longer than this leaves the first
/// range to a GET of its own.
const FIRST_READ_HEADER_ROOM: u64 = 4096;
/// Bytes fetched by the first read when only a range is wanted: enough for any header.
pub const HEADER_PROBE_BYTES: u64 = header::MAX_HEADER_LEN as u64;

/// How to download.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    /// User encryption-context pairs that must be present with these values.
    pub expected_context: Vec<(String, String)>,
    /// Accept an object whose header binds it to another bucket/key (a deliberate move).
    pub allow_relocated: bool,
    /// The KMS keys trusted to have wrapped the data key (checked before any KMS call).
    pub pins: KeyPins,
    /// Plaintext bytes wanted: start and inclusive end (None: to the end).
    pub range: Option<(u64, Option<u64>)>,
    /// Ranged GETs in flight.
    pub concurrency: usize,
    /// Bytes per unit: chunks verified, opened and written together, and the bytes of a
    /// ranged GET where the reader does not stream or the output needs the units in order.
    pub unit_bytes: u64,
    /// Bytes per ranged GET where the reader streams and the output takes units in any order
    /// (a file): consecutive units are then received from one GET ([`window`]). At most
    /// `unit_bytes`: one GET per unit.
    pub read_bytes: u64,
    /// The budget and buffers this download shares with others (a tree's objects); without
    /// one it has its own. Each range waits for its cost in the budget before its bytes are
    /// received ([`SharedRanges`]).
    pub shared: Option<SharedRanges>,
}

impl DownloadRequest {
    /// Bytes the first read fetches: the header and the whole first range (its chunks' tags
    /// included), so that range is not fetched a second time; or just the header when only a
    /// plaintext range is wanted.
    pub fn first_read_len(&self) -> u64 {
        if self.range.is_some() {
            return HEADER_PROBE_BYTES;
        }
        let unit = self.unit_bytes.max(1);
        let tags = (unit >> ChunkSize::MIN_LOG2).saturating_add(1) * TAG_LEN as u64;
        (unit + tags + FIRST_READ_HEADER_ROOM).max(HEADER_PROBE_BYTES)
    }
}

/// What was read.
#[derive(Debug, Clone)]
pub struct DownloadOutcome {
    pub plaintext_len: u64,
    pub bytes_written: u64,
    pub chunks_verified: u64,
    /// The KMS key that unwrapped the data key (as KMS reported it).
    pub kms_key_arn: String,
    pub destination: Option<PathBuf>,
}

/// The plaintext bytes wanted and the chunks that hold them.
fn wanted(request: &DownloadRequest, layout: &Layout) -> Result<(Range<u64>, Range<u64>)> {
    let plain_len = layout.plaintext_len();
    let Some((start, end)) = request.range else {
        return Ok((0..plain_len, 0..layout.chunk_count()));
    };
    let end = end
        .map(|e| e.saturating_add(1))
        .unwrap_or(u64::MAX)
        .min(plain_len);
    if start >= plain_len || start >= end {
        return Err(Error::usage(format!(
            "--range {start}-{} is outside the object's {plain_len} plaintext bytes",
            request
                .range
                .and_then(|r| r.1)
                .map(|e| e.to_string())
                .unwrap_or_default()
        )));
    }
    Ok((start..end, layout.chunks_covering(start..end)))
}

/// The ranges to fetch while KMS unwraps the data key: those the pipeline starts with besides
/// the first read (none at concurrency 1), for a whole-object download whose header's claimed
/// length matches the object's (otherwise none: the checks after KMS report it).
fn ranges_ahead(
    request: &DownloadRequest, sink: &Sink, claimed: &Layout, first: &FirstRange,
) -> Vec<Range<u64>> {
    let whole = request.range.is_none() && !matches!(sink, Sink::ResumableFile(_));
    if !whole || claimed.check_object_len(first.total()).is_err() {
        return Vec::new();
    }
    let held = first.bytes.len() as u64;
    units(claimed, 0..claimed.chunk_count(), request.unit_bytes)
        .into_iter()
        .map(|unit| claimed.cipher_range_of_chunks(unit))
        .filter(|range| range.end > held)
        .take(request.concurrency.saturating_sub(1))
        .collect()
}

/// The chunks `chunks` grouped into ranges of whole chunks, about `unit_bytes` each (at least
/// one chunk).
fn units(layout: &Layout, chunks: Range<u64>, unit_bytes: u64) -> Vec<Range<u64>> {
    let per_unit = (unit_bytes.max(1) / layout.chunk_size().bytes()).max(1);
    (chunks.start..chunks.end)
        .step_by(per_unit as usize)
        .map(|s| s..(s + per_unit).min(chunks.end))
        .collect()
}

/// The budget of a download that shares none: its ranges in flight, each with the buffer it
/// is received into and the one it is opened into ([`SharedRanges`]); `concurrency` ranges,
/// or more up to [`super::DEFAULT_DOWNLOAD_IN_FLIGHT_BYTES`] of ciphertext (at most eight
/// ranges' worth), so GETs of several ranges keep ranges to receive while others are opened.
fn own_budget(request: &DownloadRequest) -> SharedRanges {
    let unit = request.unit_bytes.max(1);
    let in_flight = (request.concurrency.max(1) as u64 * unit)
        .max(super::DEFAULT_DOWNLOAD_IN_FLIGHT_BYTES.min(8 * unit));
    SharedRanges::new(MemoryBudget::new(2 * in_flight), unit)
}

/// A range fetched ahead, with what it holds of a shared budget.
type Ahead = (Vec<u8>, Option<OwnedSemaphorePermit>);

/// Fetches `ranges` (ciphertext, pinned to `etag`) at once, into buffers of `shared`: only
/// those whose cost is free in its budget now, since the download holding memory already must
/// not wait for more before it can write anything.
async fn prefetch(
    reader: &impl RangeReader, ranges: Vec<Range<u64>>, etag: Option<&str>, shared: &SharedRanges,
) -> Result<HashMap<(u64, u64), Ahead>> {
    let held: Vec<_> = ranges
        .into_iter()
        .map_while(|range| {
            let held = shared.try_hold(range.end - range.start)?;
            Some((range, Some(held)))
        })
        .collect();
    let fetches = held.into_iter().map(|(range, held)| async move {
        let mut buf = shared.pool.take_empty();
        reader.read_range(range.clone(), etag, &mut buf).await?;
        Ok::<_, Error>(((range.start, range.end), (buf, held)))
    });
    let fetched = futures::future::try_join_all(fetches).await?;
    // A short one is left out: the pipeline fetches it again and reports the length.
    Ok(fetched
        .into_iter()
        .filter(|((start, end), (buf, _))| buf.len() as u64 == end - start)
        .collect())
}

/// One opened range: its buffer and where the wanted plaintext sits in it.
struct Opened {
    buf: Vec<u8>,
    /// (plaintext offset in the object, bytes of `buf`), in order.
    pieces: Vec<(u64, Range<usize>)>,
    chunks: u64,
    plain_bytes: u64,
    /// The range's cost in a shared budget, released once the range is written.
    held: Option<OwnedSemaphorePermit>,
}

/// Reads, verifies and decrypts the object behind `reader` into `sink`; `first` is the first
/// read when it was already made (by whoever decided this is an s3seal object).
#[allow(clippy::too_many_arguments)]
pub async fn download(
    reader: &impl RangeReader, first: Option<FirstRange>, keyring: &impl Keyring,
    request: &DownloadRequest, sink: &Sink, progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<DownloadOutcome> {
    let first = match first {
        Some(first) => first,
        None => FirstRange::read(reader, request.first_read_len()).await?,
    };
    let header_len = ParsedHeader::header_len(&first.bytes).map_err(|e| match e {
        FormatError::Incomplete { .. } => FormatError::NotS3seal,
        other => other,
    })?;
    if first.bytes.len() < header_len {
        return Err(FormatError::LengthMismatch {
            expected: header_len as u64,
            actual: first.total(),
        }
        .into());
    }
    let parsed = ParsedHeader::parse(&first.bytes)?;
    check_binding(&parsed, reader.location(), request)?;
    let fields = parsed.fields.clone();
    let shared = match &request.shared {
        Some(shared) => shared.clone(),
        None => own_budget(request),
    };
    // The next ranges are fetched while KMS unwraps the data key, so the pipeline does not
    // start from nothing. They are only ciphertext pinned to the first read's ETag: nothing of
    // them is opened before the header verified under that key, and the ranges are the ones
    // the header claims only when its length matches the object's.
    let ahead = ranges_ahead(request, sink, &parsed.layout(), &first);
    let mut cancel = cancel;
    let (unwrapped, prefetched) = tokio::select! {
        both = async {
            tokio::join!(
                keyring.decrypt(&fields.key_id, &fields.wrapped_key, &fields.context),
                prefetch(reader, ahead, first.etag(), &shared),
            )
        } => both,
        _ = cancel.cancelled() => return Err(Error::Interrupted),
    };
    let unwrapped = unwrapped?;
    let prefetched = prefetched?;
    request.pins.check_reported(unwrapped.key_arn.as_deref())?;
    let kms_key_arn = unwrapped.key_arn.unwrap_or_else(|| fields.key_id.clone());
    // What tells this object apart from any other behind the same ETag (a resumable
    // download's sidecar): authenticated by the verification below.
    let identity = (
        hex::encode(fields.message_id.0),
        hex::encode(parsed.commitment),
    );
    let verified = parsed.verify(&unwrapped.key)?;
    drop(unwrapped.key);
    let layout = verified.layout();
    layout.check_object_len(first.total())?;
    let cipher = Arc::new(verified.chunk_cipher(Backend::default()));
    let (want, chunks) = wanted(request, &layout)?;
    progress.start(Some(want.end - want.start));

    let units = units(&layout, chunks, request.unit_bytes);
    let (mut writer, units, record) = match sink {
        Sink::ResumableFile(path) => {
            let (writer, left, record) =
                resumable_writer(path, reader, &first, identity, &layout, units)?;
            // What an earlier run verified counts as done.
            let left_bytes: u64 = left.iter().map(|u| plain_bytes(&layout, u)).sum();
            progress.advance((want.end - want.start).saturating_sub(left_bytes));
            (writer, left, record)
        }
        _ => (Writer::open(sink)?, units, None),
    };
    // Direct writes need chunk-aligned file offsets: the wanted bytes start at a chunk.
    let direct = (want.start == 0).then(|| writer.direct(want.end)).flatten();
    let mut first = first;
    let first_read = FirstRead::new(std::mem::take(&mut first.bytes), &layout, &units);
    let fetcher = Fetcher {
        record,
        reader,
        layout,
        cipher,
        first: &first,
        first_read,
        want: want.clone(),
        prefetched: Mutex::new(prefetched),
        positioned: writer.positioned(),
        direct,
        shared,
    };
    let concurrency = request.concurrency.max(1);
    let run = async {
        let mut stream: LocalBoxStream<'_, Result<Opened>> = if writer.ordered() {
            futures::stream::iter(units)
                .map(|unit| fetcher.fetch_and_open(unit))
                .buffered(concurrency)
                .boxed_local()
        } else {
            let per_read = match reader.streams() {
                true => request.read_bytes / request.unit_bytes.max(1),
                false => 1,
            };
            let reads = reads(units, per_read as usize, |unit| fetcher.in_memory(unit));
            futures::stream::iter(reads)
                .map(|read| fetcher.read_and_open(read))
                .flatten_unordered(concurrency)
                .boxed_local()
        };
        let (mut written, mut verified_chunks) = (0u64, 0u64);
        while let Some(opened) = stream.try_next().await? {
            let n = opened.plain_bytes;
            verified_chunks += opened.chunks;
            let buf = writer.write_in_order(opened.buf, opened.pieces).await?;
            fetcher.shared.pool.give(buf);
            drop(opened.held);
            written += n;
            progress.advance(n);
        }
        Ok::<_, Error>((written, verified_chunks))
    };
    let result = tokio::select! {
        result = run => result,
        _ = cancel.cancelled() => return Err(Error::Interrupted),
    };
    let (written, verified_chunks) = match result {
        Ok(done) => done,
        Err(e) => {
            // Interrupted or failing for a reason that may pass, a resumable download keeps
            // what verified; not after an integrity failure.
            if e.class() == crate::error::ErrorClass::Integrity
                && let Some(partial) = &fetcher.record
            {
                partial.discard();
            }
            return Err(e);
        }
    };
    drop(fetcher);
    let destination = writer.commit().await?;
    progress.finish();
    Ok(DownloadOutcome {
        plaintext_len: layout.plaintext_len(),
        bytes_written: written,
        chunks_verified: verified_chunks,
        kms_key_arn,
        destination,
    })
}

/// Fetches and opens one range of chunks at a time.
struct Fetcher<'a, R> {
    reader: &'a R,
    layout: Layout,
    cipher: Arc<ChunkCipher>,
    /// The first read (its ETag pins every later read).
    first: &'a FirstRange,
    /// The first read's bytes, served to the units it holds.
    first_read: FirstRead,
    want: Range<u64>,
    /// The temporary file, when ranges are written where they belong as they verify.
    positioned: Option<Arc<std::fs::File>>,
    /// A resumable download's partial file, where each written range is recorded.
    record: Option<Arc<PartialDownload>>,
    /// Ranges fetched while KMS unwrapped the key, by ciphertext range ([`prefetch`]).
    prefetched: Mutex<HashMap<(u64, u64), Ahead>>,
    /// The temporary file's direct handle, when ranges are written past the page cache.
    direct: Option<Arc<DirectFile>>,
    /// The budget this download's ranges hold their cost in (shared with other downloads,
    /// or its own), with the buffers they are received into and the aligned ones they are
    /// opened into when written directly.
    shared: SharedRanges,
}

type Units = Vec<Range<u64>>;

/// Plaintext bytes in chunks `chunks`.
fn plain_bytes(layout: &Layout, chunks: &Range<u64>) -> u64 {
    let c = layout.chunk_size().bytes();
    (chunks.end * c).min(layout.plaintext_len()) - (chunks.start * c).min(layout.plaintext_len())
}

/// The writer of a resumable download, the units still missing, and where to record them.
/// Without an ETag to pin to, nothing can be resumed: everything is fetched.
fn resumable_writer(
    path: &std::path::Path, reader: &impl RangeReader, first: &FirstRange,
    (message_id, commitment): (String, String), layout: &Layout, units: Units,
) -> Result<(Writer, Units, Option<Arc<PartialDownload>>)> {
    let location = reader.location();
    let dest = path.to_path_buf();
    let meta = PartialMeta {
        version: PARTIAL_META_VERSION,
        message_id,
        commitment,
        bucket: location.bucket.clone(),
        key: location.key.clone(),
        etag: first.etag().unwrap_or_default().to_string(),
        ciphertext_len: layout.ciphertext_len()?,
        plaintext_len: layout.plaintext_len(),
        chunk_size: layout.chunk_size().bytes(),
    };
    let (partial, done) = PartialDownload::open(&dest, &meta)?;
    let units = if meta.etag.is_empty() {
        units
    } else {
        units.into_iter().filter(|u| !covered(&done, u)).collect()
    };
    let partial = Arc::new(partial);
    Ok((
        Writer::Resumable(Arc::clone(&partial)),
        units,
        Some(partial),
    ))
}

impl<R: RangeReader> Fetcher<'_, R> {
    async fn fetch_and_open(&self, unit: Range<u64>) -> Result<Opened> {
        let layout = self.layout;
        let range = layout.cipher_range_of_chunks(unit.clone());
        let ahead = || {
            let mut map = self.prefetched.lock().expect("prefetch lock");
            map.remove(&(range.start, range.end))
        };
        let (buf, held) = if let Some(buf) = self.first_read.take(&range, &self.shared.pool) {
            (buf, None)
        } else if let Some(ahead) = ahead() {
            ahead
        } else {
            let held = self.shared.hold(range.end - range.start).await;
            (self.fetch(range).await?, Some(held))
        };
        self.open_and_write(unit, buf, held).await
    }

    /// Opens the fetched range `buf` (chunks `unit`, holding `held` of the budget) and writes
    /// it where the output takes it.
    async fn open_and_write(
        &self, unit: Range<u64>, mut buf: Vec<u8>, held: Option<OwnedSemaphorePermit>,
    ) -> Result<Opened> {
        if let Some(direct) = &self.direct {
            return self.open_and_write_direct(direct, unit, buf, held).await;
        }
        let layout = self.layout;
        let chunks = unit.end - unit.start;
        let unit_range = unit.clone();
        let cipher = Arc::clone(&self.cipher);
        let want = self.want.clone();
        let (buf, pieces) = on_cpu_pool(move || {
            let result = open_unit(&cipher, &layout, unit, &mut buf, &want);
            result.map(|pieces| (buf, pieces))
        })
        .await?;
        let (buf, pieces) = match &self.positioned {
            // Verified: write it where it belongs in the temporary file.
            Some(file) => write_pieces(Arc::clone(file), buf, pieces, self.want.start).await?,
            None => (buf, pieces),
        };
        if let Some(partial) = &self.record {
            let partial = Arc::clone(partial);
            let unit = unit_range;
            tokio::task::spawn_blocking(move || partial.record(unit))
                .await
                .expect("sidecar task panicked")
                .map_err(|e| Error::io("the resumable download's sidecar", e))?;
        }
        let plain_bytes = pieces.iter().map(|(_, r)| (r.end - r.start) as u64).sum();
        Ok(Opened {
            buf,
            pieces,
            chunks,
            plain_bytes,
            held,
        })
    }

    /// The ciphertext `range`, read pinned to the first read's ETag, its length checked.
    async fn fetch(&self, range: Range<u64>) -> Result<Vec<u8>> {
        let mut buf = self.shared.pool.take_empty();
        let meta = self
            .reader
            .read_range(range.clone(), self.first.etag(), &mut buf)
            .await?;
        self.check_len(&buf, &range, meta.total)?;
        Ok(buf)
    }

    /// A range that came back short: the object is not as long as its header says (or the
    /// server cut it), reported against the object's length `total` as the server gave it.
    fn check_len(&self, buf: &[u8], range: &Range<u64>, total: u64) -> Result<()> {
        if buf.len() as u64 == range.end - range.start {
            return Ok(());
        }
        Err(Error::from(FormatError::LengthMismatch {
            expected: self.layout.ciphertext_len()?,
            actual: total.min(range.start + buf.len() as u64),
        }))
    }

    /// Opens the fetched range `buf` (chunks `unit`, holding `held` of a shared budget) into an
    /// aligned buffer and writes its wanted bytes where they belong in the file, with direct
    /// I/O.
    async fn open_and_write_direct(
        &self, direct: &Arc<DirectFile>, unit: Range<u64>, buf: Vec<u8>,
        held: Option<OwnedSemaphorePermit>,
    ) -> Result<Opened> {
        let layout = self.layout;
        let chunks = unit.end - unit.start;
        let start = layout.chunk_plain_range(unit.start).start;
        let len = plain_bytes(&layout, &unit) as usize;
        // The wanted bytes start at 0 here (see `download`), but may end inside this range.
        let keep = self.want.end.min(start + len as u64).saturating_sub(start) as usize;
        let cipher = Arc::clone(&self.cipher);
        // The aligned buffer is taken once a CPU worker runs the open, not while the range waits
        // for one: only the ranges being opened or written hold one.
        let pool = Arc::clone(&self.shared.aligned);
        let (buf, mut aligned) = on_cpu_pool(move || {
            let mut aligned = pool.take(len);
            open_unit_into(&cipher, &layout, unit, &buf, aligned.window(len))
                .map(|()| (buf, aligned))
        })
        .await?;
        let direct = Arc::clone(direct);
        let offset = start - self.want.start;
        let aligned = tokio::task::spawn_blocking(move || {
            direct
                .write_at(aligned.window(keep), offset)
                .map(|()| aligned)
        })
        .await
        .expect("writer task panicked")
        .map_err(|e| Error::io("the temporary download file", e))?;
        self.shared.aligned.give(aligned);
        Ok(Opened {
            buf,
            pieces: Vec::new(),
            chunks,
            plain_bytes: keep as u64,
            held,
        })
    }
}

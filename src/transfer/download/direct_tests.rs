//! The download to a file through direct writes, end to end over the memory store: odd sizes
//! (tails shorter than a block), ranges that end early, several ranges in flight, a tampered
//! range that must leave no file behind, and the first range served by the first read.

use std::sync::Arc;

use crate::location::ObjectLocation;
use crate::store::ObjectStore;
use crate::store::memory::MemoryStore;
use crate::testing::{TestKeyring, download_request};
use crate::transfer::download::{DownloadRequest, RangeReader, Sink, StoreObject, download};
use crate::transfer::{Cancel, NoProgress};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/local-test";
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "dir/object".into(),
    }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 251) as u8).collect()
}

async fn put(store: &Arc<MemoryStore>, data: &[u8]) {
    put_into(Arc::clone(store) as _, data).await;
}

/// Uploads `data` as the test object into any store.
async fn put_into(store: Arc<dyn ObjectStore>, data: &[u8]) {
    crate::testing::seal_into(store, location(), ARN, data).await;
}

/// The test object behind `store`, as a reader.
fn object(store: &Arc<impl ObjectStore + 'static>) -> StoreObject {
    StoreObject::new(Arc::clone(store) as _, location())
}

/// Downloads the object behind `reader` into `path` as `request` says.
async fn get_with(
    reader: &impl RangeReader, request: &DownloadRequest, path: &std::path::Path,
) -> crate::error::Result<()> {
    let sink = Sink::File(path.to_path_buf());
    let keyring = TestKeyring::new(ARN);
    let progress = Arc::new(NoProgress);
    download(
        reader,
        None,
        &keyring,
        request,
        &sink,
        progress,
        Cancel::never(),
    )
    .await?;
    Ok(())
}

/// Downloads the object into `dir/out`: 192 KiB ranges (three 64 KiB chunks), 3 in flight.
async fn get(
    store: &Arc<MemoryStore>, dir: &std::path::Path, range: Option<(u64, Option<u64>)>,
) -> crate::error::Result<std::path::PathBuf> {
    let request = DownloadRequest {
        range,
        concurrency: 3,
        unit_bytes: 192 * KIB as u64,
        ..download_request()
    };
    let path = dir.join("out");
    get_with(&object(store), &request, &path).await?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_sizes_arrive_whole() {
    for len in [
        0,
        1,
        4095,
        4096,
        4097,
        64 * KIB - 1,
        64 * KIB + 1,
        MIB + 4096 + 3,
        2 * MIB + 17,
    ] {
        let store = Arc::new(MemoryStore::new());
        let data = plaintext(len);
        put(&store, &data).await;
        let dir = tempfile::tempdir().unwrap();
        let path = get(&store, dir.path(), None).await.unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), len, "size {len}");
        assert!(got == data, "size {len}: other bytes");
    }
}

/// A range from byte 0 is written directly too; it ends where asked, inside a chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_from_zero_ends_where_asked() {
    let store = Arc::new(MemoryStore::new());
    let data = plaintext(MIB + 333);
    put(&store, &data).await;
    for end in [0usize, 4095, 200 * KIB + 7, MIB + 100] {
        let dir = tempfile::tempdir().unwrap();
        let path = get(&store, dir.path(), Some((0, Some(end as u64))))
            .await
            .unwrap();
        assert!(std::fs::read(&path).unwrap() == data[..=end], "0-{end}");
    }
    // A range that starts elsewhere (written the ordinary way) still arrives right.
    let dir = tempfile::tempdir().unwrap();
    let path = get(&store, dir.path(), Some((5000, Some(300 * KIB as u64))))
        .await
        .unwrap();
    assert!(std::fs::read(&path).unwrap() == data[5000..=300 * KIB]);
}

/// One flipped byte in a range in the middle: the download fails as an integrity failure
/// and nothing appears in the directory, though other ranges were already written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_range_leaves_no_file() {
    let store = Arc::new(MemoryStore::new());
    put(&store, &plaintext(2 * MIB + 5)).await;
    let mut stored = store.object(&location()).unwrap().to_vec();
    let at = stored.len() / 2;
    stored[at] ^= 0x20;
    store.insert(&location(), stored);
    let dir = tempfile::tempdir().unwrap();
    let err = get(&store, dir.path(), None).await.unwrap_err();
    assert_eq!(err.class(), crate::error::ErrorClass::Integrity, "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The first read holds the header and the whole first range, and that range is not fetched
/// again: 1 MiB + 5 in 192 KiB ranges is six ranges, so six GETs in all. In 1 MiB ranges the
/// first read (the range, its tags and room for the header) also holds the 5-byte last chunk,
/// so one GET serves both ranges; an object smaller than one range, one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_read_serves_the_first_range() {
    use crate::store::failure::{Call, FailureStore};
    for (len, unit, gets) in [
        (MIB + 5, 192 * KIB, 6),
        (MIB + 5, MIB, 1),
        (100 * KIB, MIB, 1),
    ] {
        let store = Arc::new(FailureStore::new(MemoryStore::new()));
        let data = plaintext(len);
        put_into(Arc::clone(&store) as _, &data).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        // One GET per range (no longer reads joining them).
        let request = DownloadRequest {
            concurrency: 3,
            unit_bytes: unit as u64,
            read_bytes: 0,
            ..download_request()
        };
        let before = store.calls(Call::GetRange);
        get_with(&object(&store), &request, &path).await.unwrap();
        assert!(std::fs::read(&path).unwrap() == data, "{len} in {unit}");
        let made = store.calls(Call::GetRange) - before;
        assert_eq!(made, gets, "GETs for {len} bytes in {unit}-byte ranges");
    }
}

/// Where the reader streams, adjacent ranges come from one GET, a range at a time: 4 MiB + 5
/// in 256 KiB ranges is 17 ranges; the first read holds the first, two more are fetched while
/// KMS answers (three in flight), and the other 14 come in GETs of up to four: 1 + 2 + 4 GETs.
/// A body that breaks half-way is opened again from where it broke: one GET more, and the
/// same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_reads_join_ranges_and_resume_a_broken_body() {
    use crate::store::failure::{Call, FailureStore, Fault};
    let data = plaintext(4 * MIB + 5);
    for (fault, gets) in [(None, 7), (Some(4), 8), (Some(6), 8)] {
        let store = FailureStore::new(MemoryStore::new());
        let store = match fault {
            Some(nth) => store.fault(Call::GetRange, nth, 1, Fault::Transient),
            None => store,
        };
        let store = Arc::new(store);
        put_into(Arc::clone(&store) as _, &data).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let request = DownloadRequest {
            concurrency: 3,
            unit_bytes: 256 * KIB as u64,
            read_bytes: MIB as u64,
            ..download_request()
        };
        get_with(&object(&store), &request, &path).await.unwrap();
        assert!(std::fs::read(&path).unwrap() == data, "fault {fault:?}");
        assert_eq!(store.calls(Call::GetRange), gets, "fault {fault:?}");
    }
}

/// A server whose long answers end early (a cut `Content-Length`, without an error): what
/// it sent of each long GET stops `short` bytes before the range's end.
struct EndsEarly {
    inner: StoreObject,
    short: u64,
}

impl RangeReader for EndsEarly {
    async fn read_range(
        &self, range: std::ops::Range<u64>, if_match: Option<&str>, buf: &mut Vec<u8>,
    ) -> crate::error::Result<crate::store::RangeMeta> {
        self.inner.read_range(range, if_match, buf).await
    }

    fn location(&self) -> &ObjectLocation {
        self.inner.location()
    }

    async fn open_range(
        &self, range: std::ops::Range<u64>, if_match: Option<&str>,
    ) -> crate::error::Result<crate::store::RangeBody> {
        let mut buf = Vec::new();
        let end = range.end.saturating_sub(self.short).max(range.start);
        self.inner
            .read_range(range.start..end, if_match, &mut buf)
            .await?;
        Ok(crate::store::RangeBody::whole(buf))
    }

    fn streams(&self) -> bool {
        true
    }
}

/// A long GET whose answer ends before its range does is an integrity failure (exit 3), not
/// a shorter file, and nothing is left in the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_read_that_ends_early_is_an_integrity_failure() {
    let store = Arc::new(MemoryStore::new());
    put(&store, &plaintext(4 * MIB + 5)).await;
    let reader = EndsEarly {
        inner: object(&store),
        short: 100,
    };
    let dir = tempfile::tempdir().unwrap();
    let request = DownloadRequest {
        concurrency: 3,
        unit_bytes: 256 * KIB as u64,
        read_bytes: MIB as u64,
        ..download_request()
    };
    let err = get_with(&reader, &request, &dir.path().join("out"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), crate::error::ErrorClass::Integrity, "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

//! Resumable downloads without a server: what an interrupted `get --resumable` keeps, and
//! what it never builds on: another object behind the same ETag, or the verified part of an
//! object that then failed its integrity check.

use std::path::Path;
use std::sync::Arc;

use crate::error::{ErrorClass, Result};
use crate::location::ObjectLocation;
use crate::store::ObjectStore;
use crate::store::failure::{Call, FailureStore, Fault};
use crate::store::memory::MemoryStore;
use crate::testing::{TestKeyring, download_request};
use crate::transfer::download::{Sink, StoreObject, download};
use crate::transfer::{Cancel, NoProgress};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/local-test";
/// Four 1 MiB ranges, the last one short.
const LEN: usize = 3 * 1024 * 1024 + 123;

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "restore.bin".into(),
    }
}

fn data(seed: u8) -> Vec<u8> {
    (0..LEN)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

async fn put(store: Arc<dyn ObjectStore>, plain: &[u8]) {
    crate::testing::seal_into(store, location(), ARN, plain).await;
}

/// `get --resumable` of the object to `dest`, one range at a time.
async fn get(store: Arc<dyn ObjectStore>, dest: &Path) -> Result<()> {
    let mut request = download_request();
    request.concurrency = 1;
    request.read_bytes = request.unit_bytes;
    download(
        &StoreObject::new(store, location()),
        None,
        &TestKeyring::new(ARN),
        &request,
        &Sink::ResumableFile(dest.to_path_buf()),
        Arc::new(NoProgress),
        Cancel::never(),
    )
    .await
    .map(|_| ())
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_object_behind_the_same_etag_starts_over_and_is_never_spliced() {
    // The third ranged GET fails: the first ranges are verified and kept.
    let store = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::GetRange,
        3,
        1,
        Fault::Permanent,
    ));
    let (first, second) = (data(1), data(2));
    put(store.clone(), &first).await;
    let etag = store.head(&location()).await.unwrap().etag.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("restore.bin");
    let err = get(store.clone(), &dest).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Runtime, "{err}");
    assert_eq!(
        names(dir.path()),
        [
            ".restore.bin.s3seal-partial",
            ".restore.bin.s3seal-partial.json"
        ],
        "what verified is kept for the next run"
    );

    // The object is replaced by another of the same length, and the server reports the old
    // ETag for it: only the verified header can tell them apart.
    put(store.clone(), &second).await;
    store.inner().set_etag(&location(), &etag);
    get(store.clone(), &dest)
        .await
        .expect("the second run completes");
    assert!(
        std::fs::read(&dest).unwrap() == second,
        "the file is the new object, not the old one's ranges joined to the new one's"
    );
    assert_eq!(names(dir.path()), ["restore.bin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrity_failure_leaves_no_partial_file_behind() {
    let store = Arc::new(MemoryStore::new());
    put(store.clone(), &data(3)).await;
    let mut stored = store.object(&location()).unwrap().to_vec();
    let last = stored.len() - 1;
    stored[last] ^= 1; // the last chunk's tag
    store.insert(&location(), stored);
    let dir = tempfile::tempdir().unwrap();
    let err = get(store, &dir.path().join("restore.bin"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Integrity, "{err}");
    assert!(
        names(dir.path()).is_empty(),
        "no partial file, sidecar or destination: {:?}",
        names(dir.path())
    );
}

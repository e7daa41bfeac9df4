//! The pipelines' promises about S3 calls, as unit tests without any server: the real upload
//! and download pipelines over [`MemoryStore`], with [`FailureStore`] failing or stalling the
//! Nth call of a kind, and a keyring that wraps keys locally (test-only, no KMS).

use std::sync::Arc;
use std::time::Duration;

use super::ObjectStore;
use super::failure::{Call, FailureStore, Fault};
use super::memory::MemoryStore;
use crate::error::{Error, Result};
use crate::location::ObjectLocation;
use crate::testing::TestKeyring;
use crate::transfer::download::{DownloadRequest, Sink, StoreObject, download};
use crate::transfer::upload::upload;
use crate::transfer::{Cancel, NoProgress, Source};

const MIB: usize = 1024 * 1024;

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/local-test";

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "dir/object".into(),
    }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// 12 MiB in 5 MiB parts: three parts.
async fn put(store: Arc<dyn ObjectStore>, data: &[u8], cancel: Cancel) -> Result<u64> {
    let request = crate::testing::upload_request(location(), None);
    let source = Source::Stream(Box::new(std::io::Cursor::new(data.to_vec())));
    let outcome = upload(
        store,
        &TestKeyring::new(ARN),
        source,
        &request,
        Arc::new(NoProgress),
        cancel,
    )
    .await?;
    Ok(outcome.plaintext_len)
}

async fn get(store: Arc<dyn ObjectStore>, dir: &std::path::Path) -> Result<Vec<u8>> {
    get_from(store, location(), &TestKeyring::new(ARN), dir).await
}

async fn get_from(
    store: Arc<dyn ObjectStore>, from: ObjectLocation, keyring: &TestKeyring, dir: &std::path::Path,
) -> Result<Vec<u8>> {
    let reader = StoreObject::new(store, from);
    let request = DownloadRequest {
        expected_context: vec![],
        allow_relocated: false,
        pins: crate::pins::KeyPins::unpinned(),
        range: None,
        concurrency: 2,
        unit_bytes: 2 * MIB as u64,
        read_bytes: 4 * MIB as u64,
        shared: None,
    };
    let path = dir.join("out");
    download(
        &reader,
        None,
        keyring,
        &request,
        &Sink::File(path.clone()),
        Arc::new(NoProgress),
        Cancel::never(),
    )
    .await?;
    Ok(std::fs::read(path).expect("downloaded file"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_the_memory_store() {
    let store = Arc::new(FailureStore::new(MemoryStore::new()));
    let data = plaintext(12 * MIB + 5);
    assert_eq!(
        put(store.clone(), &data, Cancel::never()).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(store.calls(Call::UploadPart), 3);
    assert_eq!(store.calls(Call::CompleteMultipartUpload), 1);
    assert_eq!(store.calls(Call::AbortMultipartUpload), 0);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(get(store, dir.path()).await.unwrap(), data);
}

/// Uploads 12 MiB in three parts through a store with `faults`; it must fail with the error
/// of the first fault, having sent exactly one abort and left no upload and no object.
async fn failed_upload(
    faults: &[(Call, u32, Fault)], error: &str,
) -> Arc<FailureStore<MemoryStore>> {
    let store = faults.iter().fold(
        FailureStore::new(MemoryStore::new()),
        |s, &(call, nth, fault)| s.fault(call, nth, 1, fault),
    );
    let store = Arc::new(store);
    let err = put(store.clone(), &plaintext(12 * MIB), Cancel::never())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(error), "{err}");
    assert_eq!(store.calls(Call::AbortMultipartUpload), 1);
    assert!(store.inner().object(&location()).is_none());
    store
}

const REFUSED: Fault = Fault::Permanent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_part_aborts_the_upload_and_returns_the_original_error() {
    let faults = [(Call::UploadPart, 2, REFUSED)];
    let store = failed_upload(&faults, "injected failure of UploadPart #2").await;
    assert_eq!(store.inner().open_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_abort_still_returns_the_original_error() {
    let faults = [
        (Call::UploadPart, 1, REFUSED),
        (Call::AbortMultipartUpload, 1, REFUSED),
    ];
    failed_upload(&faults, "injected failure of UploadPart #1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_completion_aborts_the_upload() {
    let faults = [(Call::CompleteMultipartUpload, 1, REFUSED)];
    let store = failed_upload(&faults, "injected failure of CompleteMultipartUpload #1").await;
    assert_eq!(store.calls(Call::UploadPart), 3);
    assert_eq!(store.inner().open_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_an_upload_aborts_it() {
    let store =
        Arc::new(FailureStore::new(MemoryStore::new()).fault(Call::UploadPart, 2, 1, Fault::Stall));
    let (trigger, cancel) = Cancel::new();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = trigger.send(true);
    });
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        put(store.clone(), &plaintext(12 * MIB), cancel),
    )
    .await
    .expect("cancellation ends the upload");
    assert!(matches!(result, Err(Error::Interrupted)), "{result:?}");
    assert_eq!(store.calls(Call::AbortMultipartUpload), 1);
    assert_eq!(store.calls(Call::CompleteMultipartUpload), 0);
    assert_eq!(store.inner().open_uploads(), 0);
    assert!(store.inner().object(&location()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranged_get_that_fails_once_is_retried() {
    let data = plaintext(12 * MIB);
    let dir = tempfile::tempdir().unwrap();
    // How many ranged GETs a clean download makes.
    let clean = Arc::new(FailureStore::new(MemoryStore::new()));
    put(clean.clone(), &data, Cancel::never()).await.unwrap();
    assert_eq!(get(clean.clone(), dir.path()).await.unwrap(), data);
    let gets = clean.calls(Call::GetRange);
    assert!(gets > 2, "the download reads several ranges ({gets})");

    let flaky = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::GetRange,
        2,
        1,
        Fault::Transient,
    ));
    put(flaky.clone(), &data, Cancel::never()).await.unwrap();
    assert_eq!(get(flaky.clone(), dir.path()).await.unwrap(), data);
    assert_eq!(flaky.calls(Call::GetRange), gets + 1);
}

/// Downloads an object of `len` bytes through a store whose GETs fail as `fault` says, from
/// the `nth` on, `times` in a row; it must fail with `error` and leave no file behind.
async fn failed_download(
    len: usize, (nth, times, fault): (u32, u32, Fault), error: &str,
) -> Arc<FailureStore<MemoryStore>> {
    let store =
        Arc::new(FailureStore::new(MemoryStore::new()).fault(Call::GetRange, nth, times, fault));
    put(store.clone(), &plaintext(len), Cancel::never())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = get(store.clone(), dir.path()).await.unwrap_err();
    assert!(err.to_string().contains(error), "{err}");
    // Nothing is left in the destination directory: no file, no temporary file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_ranged_get_is_not_retried_and_leaves_no_file() {
    let store = failed_download(
        12 * MIB,
        (2, 1, Fault::Permanent),
        "injected failure of GetRange #2",
    )
    .await;
    assert_eq!(store.calls(Call::GetRange), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranged_get_that_keeps_failing_gives_up() {
    let store = failed_download(
        MIB,
        (1, 100, Fault::Transient),
        "injected transient failure",
    )
    .await;
    assert_eq!(store.calls(Call::GetRange), super::RANGE_ATTEMPTS);
}

/// A long GET (two ranges of 2 MiB, after the first read and one range fetched ahead) whose
/// body keeps breaking half-way is opened again from where it broke, then given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_read_whose_body_keeps_breaking_gives_up() {
    let store = failed_download(
        12 * MIB,
        (3, 100, Fault::Transient),
        "injected transient failure",
    )
    .await;
    let gets = store.calls(Call::GetRange);
    assert!(gets >= 2 + super::RANGE_ATTEMPTS, "{gets} GETs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_overwritten_during_a_download_is_not_mixed_in() {
    let data = plaintext(12 * MIB);
    // Another writer replaces the object after the first ranged read: every later read is
    // pinned to the first one's ETag, so it fails instead of returning the new object's bytes.
    let store = Arc::new(FailureStore::new(MemoryStore::new()).before_call(
        Call::GetRange,
        2,
        |inner| inner.insert(&location(), b"a newer object".to_vec()),
    ));
    put(store.clone(), &data, Cancel::never()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = get(store.clone(), dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("PreconditionFailed"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relocated_object_is_refused_before_any_kms_call() {
    let store = Arc::new(FailureStore::new(MemoryStore::new()));
    put(store.clone(), &plaintext(3 * MIB), Cancel::never())
        .await
        .unwrap();
    let elsewhere = ObjectLocation {
        bucket: "bucket".into(),
        key: "copied/here".into(),
    };
    let stored = store.inner().object(&location()).unwrap();
    store.inner().insert(&elsewhere, stored);
    let keyring = TestKeyring::new(ARN);
    let dir = tempfile::tempdir().unwrap();
    let err = get_from(store.clone(), elsewhere, &keyring, dir.path())
        .await
        .unwrap_err();
    assert_eq!(err.class(), crate::ErrorClass::Integrity, "{err}");
    assert!(err.to_string().contains("copied or moved"), "{err}");
    assert_eq!(
        keyring.decrypts(),
        0,
        "KMS was asked before the binding check"
    );
    // The same object where it belongs is read with one KMS call.
    let back = get_from(store, location(), &keyring, dir.path())
        .await
        .unwrap();
    assert_eq!(back.len(), 3 * MIB);
    assert_eq!(keyring.decrypts(), 1);
}

#[test]
fn tags_are_percent_encoded_for_the_tagging_header() {
    let settings = super::ObjectSettings {
        tags: vec![
            ("team".into(), "data eng".into()),
            ("a&b".into(), "x=y/ü".into()),
        ],
        ..Default::default()
    };
    assert_eq!(
        settings.tagging().as_deref(),
        Some("team=data%20eng&a%26b=x%3Dy%2F%C3%BC")
    );
    assert_eq!(super::ObjectSettings::default().tagging(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sink_is_exactly_its_path_never_a_file_inside_a_directory_there() {
    // A tree's objects `x` and `x/y` race for `x`: when `x` is a directory by the time the
    // object `x` is written, its download fails instead of writing `x/object`.
    let store = Arc::new(MemoryStore::new());
    put(store.clone(), &plaintext(3 * MIB), Cancel::never())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let err = get(store, dir.path()).await.unwrap_err();
    assert_eq!(err.class(), crate::ErrorClass::Runtime, "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("out")).unwrap().count(),
        0,
        "nothing was written inside the directory"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

//! The pipelines' promises about S3 calls, as unit tests without any server: the real upload
//! and download pipelines over [`MemoryStore`], with [`FailureStore`] failing or stalling the
//! Nth call of a kind, and a keyring that wraps keys locally (test-only, no KMS).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::ObjectStore;
use super::failure::{Call, FailureStore, Fault};
use super::memory::MemoryStore;
use crate::error::{Error, Result};
use crate::format::{ChunkSize, DataKey, EncryptionContext};
use crate::kms::{ForeignKey, Keyring, NewDataKey, Rewrapped, Unwrapped};
use crate::location::ObjectLocation;
use crate::transfer::download::{DownloadRequest, Sink, StoreObject, download};
use crate::transfer::upload::{UploadRequest, upload};
use crate::transfer::{Cancel, NoProgress, Source};

const MIB: usize = 1024 * 1024;

/// "Wraps" data keys by XOR with a constant: enough to run the pipelines without KMS. Counts
/// the data keys it unwraps.
#[derive(Default)]
struct LocalKeyring {
    decrypts: std::sync::atomic::AtomicU32,
}

impl LocalKeyring {
    fn decrypts(&self) -> u32 {
        self.decrypts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/local-test";

fn xor(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| b ^ 0x5a).collect()
}

impl Keyring for LocalKeyring {
    async fn generate(&self, _key_id: &str, _context: &EncryptionContext) -> Result<NewDataKey> {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("randomness");
        Ok(NewDataKey {
            key: DataKey::from_slice(&key)?,
            wrapped: xor(&key),
            key_arn: ARN.into(),
        })
    }

    async fn decrypt(
        &self,
        _key_id: &str,
        wrapped: &[u8],
        _context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        self.decrypts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Unwrapped {
            key: DataKey::from_slice(&xor(wrapped))?,
            key_arn: Some(ARN.into()),
        })
    }

    async fn decrypt_foreign(
        &self,
        _wrapped: &[u8],
        _context: &BTreeMap<String, String>,
        _key_id: Option<&str>,
    ) -> Result<ForeignKey> {
        Err(Error::runtime("not used by these tests"))
    }

    async fn describe_key(&self, _key_id: &str) -> Result<String> {
        Ok(ARN.into())
    }

    async fn reencrypt(
        &self,
        _wrapped: &[u8],
        _key_id: &str,
        _context: &EncryptionContext,
        _new_key_id: &str,
        _new_context: &EncryptionContext,
    ) -> Result<Rewrapped> {
        Err(Error::runtime("not used by these tests"))
    }
}

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
    let request = UploadRequest {
        dest: location(),
        kms_key_id: "alias/test".into(),
        sse_kms_key_id: None,
        context: vec![],
        chunk_size: ChunkSize::from_log2(16).unwrap(),
        part_size: 5 * MIB as u64,
        concurrency: 2,
        if_match: None,
    };
    let source = Source::Stream(Box::new(std::io::Cursor::new(data.to_vec())));
    let outcome = upload(
        store,
        &LocalKeyring::default(),
        source,
        &request,
        Arc::new(NoProgress),
        cancel,
    )
    .await?;
    Ok(outcome.plaintext_len)
}

async fn get(store: Arc<dyn ObjectStore>, dir: &std::path::Path) -> Result<Vec<u8>> {
    get_from(store, location(), &LocalKeyring::default(), dir).await
}

async fn get_from(
    store: Arc<dyn ObjectStore>,
    from: ObjectLocation,
    keyring: &LocalKeyring,
    dir: &std::path::Path,
) -> Result<Vec<u8>> {
    let reader = StoreObject::new(store, from);
    let request = DownloadRequest {
        expected_context: vec![],
        allow_relocated: false,
        pins: crate::pins::KeyPins::unpinned(),
        range: None,
        concurrency: 2,
        unit_bytes: 2 * MIB as u64,
    };
    let path = dir.join("out");
    download(
        &reader,
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
    faults: &[(Call, u32, Fault)],
    error: &str,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_part_aborts_the_upload_and_returns_the_original_error() {
    let store = failed_upload(
        &[(Call::UploadPart, 2, Fault::Permanent)],
        "injected failure of UploadPart #2",
    )
    .await;
    assert_eq!(store.inner().open_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_abort_still_returns_the_original_error() {
    failed_upload(
        &[
            (Call::UploadPart, 1, Fault::Permanent),
            (Call::AbortMultipartUpload, 1, Fault::Permanent),
        ],
        "injected failure of UploadPart #1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_completion_aborts_the_upload() {
    let store = failed_upload(
        &[(Call::CompleteMultipartUpload, 1, Fault::Permanent)],
        "injected failure of CompleteMultipartUpload #1",
    )
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_ranged_get_is_not_retried_and_leaves_no_file() {
    let data = plaintext(12 * MIB);
    let store = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::GetRange,
        2,
        1,
        Fault::Permanent,
    ));
    put(store.clone(), &data, Cancel::never()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = get(store.clone(), dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("injected failure of GetRange #2"),
        "{err}"
    );
    // Nothing is left in the destination directory: no file, no temporary file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranged_get_that_keeps_failing_gives_up() {
    let data = plaintext(MIB);
    let store = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::GetRange,
        1,
        100,
        Fault::Transient,
    ));
    put(store.clone(), &data, Cancel::never()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = get(store.clone(), dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("injected transient failure"),
        "{err}"
    );
    assert_eq!(store.calls(Call::GetRange), super::RANGE_ATTEMPTS);
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
    let keyring = LocalKeyring::default();
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

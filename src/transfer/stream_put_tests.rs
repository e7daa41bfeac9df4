//! The streamed single PUT's promises without a server: a streamed object decrypts and needs no
//! multipart upload; a body that breaks stores nothing; a retryable failure starts the object
//! again with a fresh data key (never replays sealed data); a file that grows while it is read
//! fails with nothing stored and no retry; Ctrl-C stores nothing; progress counts each byte once.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::format::EncryptionContext;
use crate::kms::{ForeignKey, Keyring, NewDataKey, Rewrapped, Unwrapped};
use crate::location::ObjectLocation;
use crate::store::ObjectStore;
use crate::store::failure::{Call, FailureStore, Fault};
use crate::store::memory::MemoryStore;
use crate::testing::{TestKeyring, download_request, upload_request};
use crate::transfer::download::{Sink, StoreObject, download};
use crate::transfer::upload::{UploadOutcome, upload};
use crate::transfer::{Cancel, NoProgress, Source};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/local-test";
const MIB: usize = 1024 * 1024;

/// A [`TestKeyring`] that counts the data keys it hands out.
struct Counting {
    inner: TestKeyring,
    generated: AtomicU32,
}

impl Counting {
    fn new() -> Self {
        Counting {
            inner: TestKeyring::new(ARN),
            generated: AtomicU32::new(0),
        }
    }

    fn generated(&self) -> u32 {
        self.generated.load(Ordering::SeqCst)
    }
}

impl Keyring for Counting {
    async fn generate(&self, key_id: &str, context: &EncryptionContext) -> Result<NewDataKey> {
        self.generated.fetch_add(1, Ordering::SeqCst);
        self.inner.generate(key_id, context).await
    }

    async fn decrypt(
        &self, key_id: &str, wrapped: &[u8], context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        self.inner.decrypt(key_id, wrapped, context).await
    }

    async fn decrypt_foreign(
        &self, wrapped: &[u8], context: &BTreeMap<String, String>, key_id: Option<&str>,
    ) -> Result<ForeignKey> {
        self.inner.decrypt_foreign(wrapped, context, key_id).await
    }

    async fn reencrypt(
        &self, wrapped: &[u8], key_id: &str, context: &EncryptionContext, new_key_id: &str,
        new_context: &EncryptionContext,
    ) -> Result<Rewrapped> {
        self.inner
            .reencrypt(wrapped, key_id, context, new_key_id, new_context)
            .await
    }

    async fn describe_key(&self, key_id: &str) -> Result<String> {
        self.inner.describe_key(key_id).await
    }
}

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "dir/streamed".into(),
    }
}

/// A file of `len` patterned bytes in `dir`.
fn file(dir: &std::path::Path, len: usize) -> (std::path::PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
    let path = dir.join("source");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// Uploads `path` in 5 MiB parts, 64 KiB chunks, streamed up to `stream_max` bytes.
async fn put(
    store: Arc<dyn ObjectStore>, keyring: &Counting, path: &std::path::Path, stream_max: u64,
    cancel: Cancel,
) -> Result<UploadOutcome> {
    let mut request = upload_request(location(), None);
    request.stream_put_max = stream_max;
    upload(
        store,
        keyring,
        Source::File(path.to_path_buf()),
        &request,
        Arc::new(NoProgress),
        cancel,
    )
    .await
}

async fn get(store: Arc<dyn ObjectStore>, dir: &std::path::Path) -> Vec<u8> {
    let reader = StoreObject::new(store, location());
    let out = dir.join("out");
    download(
        &reader,
        None,
        &TestKeyring::new(ARN),
        &download_request(),
        &Sink::File(out.clone()),
        Arc::new(NoProgress),
        Cancel::never(),
    )
    .await
    .expect("the stored object decrypts");
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_a_part_goes_up_as_one_streamed_put() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = file(dir.path(), 12 * MIB + 5);
    let store = Arc::new(FailureStore::new(MemoryStore::new()));
    let keyring = Counting::new();
    let outcome = put(store.clone(), &keyring, &path, 64 << 20, Cancel::never())
        .await
        .unwrap();
    assert_eq!(outcome.parts, 0);
    assert_eq!(outcome.plaintext_len, data.len() as u64);
    assert_eq!(store.calls(Call::PutObjectStream), 1);
    assert_eq!(store.calls(Call::CreateMultipartUpload), 0);
    assert_eq!(store.calls(Call::UploadPart), 0);
    assert_eq!(store.calls(Call::PutObject), 0);
    let stored = store.inner().object(&location()).unwrap();
    assert_eq!(stored.len() as u64, outcome.ciphertext_len);
    assert_eq!(get(store, dir.path()).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_limit_or_above_it_multipart_stays_and_small_files_stay_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = file(dir.path(), 12 * MIB);
    for max in [0, 12 * MIB as u64 - 1] {
        let store = Arc::new(FailureStore::new(MemoryStore::new()));
        put(store.clone(), &Counting::new(), &path, max, Cancel::never())
            .await
            .unwrap();
        assert_eq!(store.calls(Call::PutObjectStream), 0, "max {max}");
        assert_eq!(store.calls(Call::CreateMultipartUpload), 1, "max {max}");
    }
    let (small, data) = file(dir.path(), MIB);
    let store = Arc::new(FailureStore::new(MemoryStore::new()));
    put(
        store.clone(),
        &Counting::new(),
        &small,
        64 << 20,
        Cancel::never(),
    )
    .await
    .unwrap();
    assert_eq!(store.calls(Call::PutObjectStream), 0);
    assert_eq!(store.calls(Call::PutObject), 1);
    assert_eq!(get(store, dir.path()).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_body_is_retried_whole_with_a_fresh_data_key() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = file(dir.path(), 7 * MIB);
    let store = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::PutObjectStream,
        1,
        1,
        Fault::Transient,
    ));
    let keyring = Counting::new();
    put(store.clone(), &keyring, &path, 64 << 20, Cancel::never())
        .await
        .unwrap();
    assert_eq!(store.calls(Call::PutObjectStream), 2);
    assert_eq!(
        keyring.generated(),
        2,
        "the second attempt has its own data key (and message id), never the first one's"
    );
    assert_eq!(get(store, dir.path()).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_mid_body_store_nothing_and_stop_after_three_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = file(dir.path(), 7 * MIB);
    let store = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::PutObjectStream,
        1,
        9,
        Fault::Permanent,
    ));
    let keyring = Counting::new();
    let err = put(store.clone(), &keyring, &path, 64 << 20, Cancel::never())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(store.calls(Call::PutObjectStream), 3);
    assert_eq!(keyring.generated(), 3);
    assert!(store.inner().object(&location()).is_none());
    assert_eq!(store.inner().open_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_grows_while_read_fails_with_nothing_stored_and_no_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = file(dir.path(), 7 * MIB);
    let grow = path.clone();
    let store = Arc::new(FailureStore::new(MemoryStore::new()).before_call(
        Call::PutObjectStream,
        1,
        move |_| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&grow)
                .unwrap();
            f.write_all(b"appended while the upload reads").unwrap();
        },
    ));
    let keyring = Counting::new();
    let err = put(store.clone(), &keyring, &path, 64 << 20, Cancel::never())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("changed while it was being uploaded"),
        "{err}"
    );
    assert_eq!(
        store.calls(Call::PutObjectStream),
        1,
        "a changed file is not retried"
    );
    assert_eq!(keyring.generated(), 1);
    assert!(store.inner().object(&location()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_streamed_put_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = file(dir.path(), 7 * MIB);
    let store = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::PutObjectStream,
        1,
        1,
        Fault::Stall,
    ));
    let (trigger, cancel) = Cancel::new();
    let keyring = Counting::new();
    let upload = put(store.clone(), &keyring, &path, 64 << 20, cancel);
    let stop = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        trigger.send(true).unwrap();
    };
    // The stalled request keeps its body (as a connection stuck writing it would): the
    // upload must still end promptly.
    let limit = std::time::Duration::from_secs(20);
    let (result, ()) = tokio::join!(tokio::time::timeout(limit, upload), stop);
    let result = result.expect("the cancelled upload ended");
    assert!(matches!(result, Err(Error::Interrupted)), "{result:?}");
    assert!(store.inner().object(&location()).is_none());
}

/// Adds up the progress it is given.
#[derive(Default)]
struct Sum(std::sync::atomic::AtomicU64);

impl crate::transfer::Progress for Sum {
    fn start(&self, _: Option<u64>) {}
    fn advance(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::SeqCst);
    }
    fn finish(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_counts_each_byte_once_across_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = file(dir.path(), 7 * MIB + 9);
    let store = Arc::new(FailureStore::new(MemoryStore::new()).fault(
        Call::PutObjectStream,
        1,
        1,
        Fault::Transient,
    ));
    let mut request = upload_request(location(), None);
    request.stream_put_max = 64 << 20;
    let sum = Arc::new(Sum::default());
    upload(
        store.clone(),
        &Counting::new(),
        Source::File(path),
        &request,
        sum.clone(),
        Cancel::never(),
    )
    .await
    .unwrap();
    assert_eq!(store.calls(Call::PutObjectStream), 2);
    assert_eq!(sum.0.load(Ordering::SeqCst), data.len() as u64);
}

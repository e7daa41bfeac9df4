//! Key pinning and conditional writes, as unit tests without a server: the real download and
//! rewrap code over [`MemoryStore`], with a keyring that wraps keys locally, counts its
//! Decrypt calls, can report another key than the header names (a lying or confused KMS), and
//! can play a concurrent writer that replaces the object between read and write.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::rewrap::{RewrapRequest, rewrap};
use crate::error::{Error, ErrorClass, Result};
use crate::location::ObjectLocation;
use crate::pins::KeyPins;
use crate::store::ObjectStore;
use crate::store::memory::MemoryStore;
use crate::testing::{NEWER, TestKeyring};
use crate::transfer::download::{DownloadRequest, Sink, StoreObject, download};
use crate::transfer::upload::upload;
use crate::transfer::{Cancel, NoProgress, Source};

const MINE: &str = "arn:aws:kms:us-east-1:111122223333:key/mine";
const THEIRS: &str = "arn:aws:kms:us-east-1:444455556666:key/theirs";

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "report.txt".into(),
    }
}

/// Stores `len` bytes at [`location`], wrapped by `keyring`.
async fn put(store: Arc<MemoryStore>, keyring: &TestKeyring, len: usize) {
    put_if(store, keyring, len, None).await.expect("upload");
}

/// Stores `len` bytes at [`location`] with `If-Match: if_match`.
async fn put_if(
    store: Arc<MemoryStore>, keyring: &TestKeyring, len: usize, if_match: Option<String>,
) -> Result<()> {
    let request = crate::testing::upload_request(location(), if_match);
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let source = Source::Stream(Box::new(std::io::Cursor::new(data)));
    upload(
        store,
        keyring,
        source,
        &request,
        Arc::new(NoProgress),
        Cancel::never(),
    )
    .await
    .map(drop)
}

async fn get(store: Arc<MemoryStore>, keyring: &TestKeyring, pins: KeyPins) -> Result<()> {
    let reader = StoreObject::new(store, location());
    let request = DownloadRequest {
        expected_context: vec![],
        allow_relocated: false,
        pins,
        range: None,
        concurrency: 2,
        unit_bytes: 1 << 20,
        read_bytes: 4 << 20,
        shared: None,
    };
    download(
        &reader,
        None,
        keyring,
        &request,
        &Sink::Discard,
        Arc::new(NoProgress),
        Cancel::never(),
    )
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_object_is_refused_before_the_keyring_is_asked() {
    let store = Arc::new(MemoryStore::new());
    put(Arc::clone(&store), &TestKeyring::new(THEIRS), 3000).await;
    let reader_keyring = TestKeyring::new(THEIRS);
    let err = get(
        Arc::clone(&store),
        &reader_keyring,
        KeyPins::from_arns(vec![MINE.into()]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Integrity);
    assert!(err.to_string().contains(THEIRS), "{err}");
    assert_eq!(reader_keyring.decrypts.load(Ordering::SeqCst), 0);
    // Unpinned (or pinned to the right key) it reads, with one Decrypt.
    get(Arc::clone(&store), &reader_keyring, KeyPins::unpinned())
        .await
        .unwrap();
    get(
        store,
        &reader_keyring,
        KeyPins::from_arns(vec![THEIRS.into()]),
    )
    .await
    .unwrap();
    assert_eq!(reader_keyring.decrypts.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decrypt_answer_naming_another_key_is_refused() {
    let store = Arc::new(MemoryStore::new());
    put(Arc::clone(&store), &TestKeyring::new(MINE), 3000).await;
    let confused = TestKeyring {
        reports: THEIRS,
        ..TestKeyring::new(MINE)
    };
    let err = get(store, &confused, KeyPins::from_arns(vec![MINE.into()]))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Integrity);
    assert!(err.to_string().contains(THEIRS), "{err}");
}

fn rewrap_request(pins: KeyPins) -> RewrapRequest {
    RewrapRequest {
        location: location(),
        new_kms_key_id: "alias/new".into(),
        new_context: None,
        sse_kms_key_id: None,
        copy_part_bytes: 5 << 20,
        concurrency: 2,
        pins,
    }
}

/// Rewraps [`location`] while another writer replaces it after the header was read.
async fn rewrap_losing_a_race(len: usize) -> (Arc<MemoryStore>, Error) {
    let store = Arc::new(MemoryStore::new());
    put(Arc::clone(&store), &TestKeyring::new(MINE), len).await;
    let keyring = TestKeyring {
        race: Some((Arc::clone(&store), location())),
        ..TestKeyring::new(MINE)
    };
    let request = rewrap_request(KeyPins::from_arns(vec![MINE.into()]));
    let store_dyn: Arc<dyn ObjectStore> = store.clone();
    let err = rewrap(store_dyn, &keyring, &request, Cancel::never())
        .await
        .unwrap_err();
    (store, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_that_loses_a_race_changes_nothing() {
    // One conditional PUT, then a multipart upload (copies pinned to the old ETag, and a
    // conditional CompleteMultipartUpload).
    for len in [3000, 12 << 20] {
        let (store, err) = rewrap_losing_a_race(len).await;
        assert!(err.to_string().contains("PreconditionFailed"), "{err}");
        assert_eq!(
            store.object(&location()).as_deref(),
            Some(NEWER),
            "the newer object was overwritten"
        );
        assert_eq!(store.open_uploads(), 0, "multipart upload left open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_without_pins_names_the_key_and_asks_for_none() {
    let store = Arc::new(MemoryStore::new());
    put(Arc::clone(&store), &TestKeyring::new(THEIRS), 3000).await;
    let keyring = TestKeyring::new(MINE);
    let request = rewrap_request(KeyPins::unpinned());
    let before = store.object(&location());
    let err = rewrap(store.clone(), &keyring, &request, Cancel::never())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Usage);
    assert!(err.to_string().contains(THEIRS), "{err}");
    assert_eq!(keyring.decrypts.load(Ordering::SeqCst), 0);
    assert_eq!(store.object(&location()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_upload_that_loses_a_race_changes_nothing() {
    // migrate's write: the upload pipeline with If-Match, as one PUT and as a multipart upload
    // (the condition is on CompleteMultipartUpload).
    for len in [3000, 12 << 20] {
        let store = Arc::new(MemoryStore::new());
        put(Arc::clone(&store), &TestKeyring::new(MINE), 100).await;
        let etag = store.head(&location()).await.unwrap().etag;
        assert!(etag.is_some());
        let keyring = TestKeyring {
            race: Some((Arc::clone(&store), location())),
            ..TestKeyring::new(MINE)
        };
        let err = put_if(Arc::clone(&store), &keyring, len, etag)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("PreconditionFailed"), "{err}");
        assert_eq!(store.object(&location()).as_deref(), Some(NEWER));
        assert_eq!(store.open_uploads(), 0, "multipart upload left open");
    }
}

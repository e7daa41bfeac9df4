//! `seal`'s promises without a server: the real seal, upload and download code over
//! [`MemoryStore`] with the local test keyring. Sealed objects read back to the original bytes,
//! a second seal changes nothing, a writer that replaces the object between read and write
//! wins (no partial object, no open multipart upload), and only the current version is sealed.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::error::ErrorClass;
use crate::store::failure::{Call, FailureStore};
use crate::store::memory::MemoryStore;
use crate::testing::{NEWER, TestKeyring};
use crate::transfer::download::{DownloadRequest, Sink, download};

const MINE: &str = "arn:aws:kms:us-east-1:111122223333:key/mine";
const MIB: usize = 1 << 20;

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "plain/report.csv".into(),
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
        .collect()
}

fn request() -> SealRequest {
    SealRequest {
        location: location(),
        version_id: None,
        kms_key_id: "alias/test".into(),
        sse_kms_key_id: None,
        context: vec![("team".into(), "ops".into())],
        chunk_size: ChunkSize::from_log2(16).unwrap(),
        part_size: 5 << 20,
        concurrency: 2,
        delete_plaintext_version: false,
    }
}

/// Decrypts the object at [`location`] into memory.
async fn read_back(store: Arc<dyn ObjectStore>, keyring: &TestKeyring) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let reader = StoreObject::new(store, location());
    download(
        &reader,
        None,
        keyring,
        &DownloadRequest {
            expected_context: vec![("team".into(), "ops".into())],
            allow_relocated: false,
            pins: KeyPins::from_arns(vec![MINE.into()]),
            range: None,
            concurrency: 2,
            unit_bytes: MIB as u64,
            read_bytes: 0,
            shared: None,
        },
        &Sink::File(path.clone()),
        Arc::new(NoProgress),
        Cancel::never(),
    )
    .await
    .expect("sealed object reads back");
    std::fs::read(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_read_back_and_a_second_seal_changes_nothing() {
    for len in [0, 1, 5 * MIB + 1, 11 * MIB + 3] {
        let memory = Arc::new(MemoryStore::new());
        memory.insert(&location(), data(len));
        let store: Arc<dyn ObjectStore> = memory.clone();
        let keyring = TestKeyring::new(MINE);
        let outcome = seal(Arc::clone(&store), &keyring, &request(), Cancel::never())
            .await
            .unwrap_or_else(|e| panic!("{len}: {e}"));
        assert_eq!(outcome.action, SealAction::Sealed);
        assert_eq!(outcome.plaintext_len, len as u64);
        assert_eq!(outcome.kms_key_arn, MINE);
        assert_eq!(outcome.previous_version, None);
        let stored = memory.object(&location()).unwrap();
        assert!(stored.starts_with(&MAGIC), "{len}: not sealed");
        assert_eq!(stored.len() as u64, outcome.ciphertext_len);
        assert_eq!(read_back(Arc::clone(&store), &keyring).await, data(len));
        assert_eq!(memory.open_uploads(), 0);

        let again = seal(Arc::clone(&store), &keyring, &request(), Cancel::never())
            .await
            .unwrap();
        assert_eq!(again.action, SealAction::AlreadySealed);
        assert_eq!(again.kms_key_arn, MINE);
        assert_eq!(again.plaintext_len, len as u64);
        assert_eq!(
            memory.object(&location()).unwrap(),
            stored,
            "{len}: rewritten"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_replaces_the_object_before_the_write_wins() {
    // The keyring replaces the object while the data key is generated: after the read began,
    // before the conditional write (one PUT, or CompleteMultipartUpload).
    for len in [3000, 12 * MIB] {
        let memory = Arc::new(MemoryStore::new());
        memory.insert(&location(), data(len));
        let keyring = TestKeyring {
            race: Some((Arc::clone(&memory), location())),
            ..TestKeyring::new(MINE)
        };
        let err = seal(memory.clone(), &keyring, &request(), Cancel::never())
            .await
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Runtime, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("PreconditionFailed") || text.contains("changed"),
            "{text}"
        );
        assert_eq!(memory.object(&location()).as_deref(), Some(NEWER));
        assert_eq!(memory.open_uploads(), 0, "multipart upload left open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_replaces_the_object_between_reads_wins() {
    // Replaced just before the second ranged GET of the plaintext: that read is pinned to the
    // first ETag, so it fails, and nothing is written.
    let memory = MemoryStore::new();
    memory.insert(&location(), data(9 * MIB));
    let failing = FailureStore::new(memory).before_call(Call::GetRange, 3, |inner| {
        inner.insert(&location(), Bytes::from_static(NEWER))
    });
    let store = Arc::new(failing);
    let keyring = TestKeyring::new(MINE);
    let err = seal(store.clone(), &keyring, &request(), Cancel::never())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
    assert_eq!(store.inner().object(&location()).as_deref(), Some(NEWER));
    assert_eq!(store.inner().open_uploads(), 0);
    assert_eq!(store.calls(Call::CompleteMultipartUpload), 0);
    assert_eq!(store.calls(Call::PutObject), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_current_version_is_sealed() {
    let memory = Arc::new(MemoryStore::new());
    memory.insert(&location(), data(10));
    let mut wanted = request();
    wanted.version_id = Some("v1".into());
    let err = seal(
        memory.clone(),
        &TestKeyring::new(MINE),
        &wanted,
        Cancel::never(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Usage);
    assert_eq!(memory.object(&location()).unwrap(), Bytes::from(data(10)));
}

#[test]
fn which_plaintext_version_survives() {
    let head = |v: Option<&str>| ObjectHead {
        version_id: v.map(str::to_string),
        ..ObjectHead::default()
    };
    // Unversioned bucket: nothing survives.
    assert_eq!(surviving_version(&head(None), &head(None)), None);
    // Versioning enabled: the version read survives, `null` included.
    assert_eq!(
        surviving_version(&head(Some("a1")), &head(Some("b2"))),
        Some("a1".into())
    );
    assert_eq!(
        surviving_version(&head(Some("null")), &head(Some("b2"))),
        Some("null".into())
    );
    // Versioning suspended: the `null` version is overwritten, a real one survives.
    assert_eq!(
        surviving_version(&head(Some("null")), &head(Some("null"))),
        None
    );
    assert_eq!(
        surviving_version(&head(Some("a1")), &head(Some("null"))),
        Some("a1".into())
    );
}

#[test]
fn settings_carry_metadata_tags_class_and_content_type() {
    let head = ObjectHead {
        metadata: [("owner".to_string(), "ann".to_string())].into(),
        content_type: Some("text/csv".into()),
        storage_class: Some("STANDARD_IA".into()),
        ..ObjectHead::default()
    };
    let settings = carried_settings(&head, vec![("k".into(), "v".into())]);
    assert_eq!(settings.storage_class.as_deref(), Some("STANDARD_IA"));
    assert_eq!(settings.tags, vec![("k".to_string(), "v".to_string())]);
    assert_eq!(
        settings.metadata,
        vec![
            ("owner".to_string(), "ann".to_string()),
            (CONTENT_TYPE_METADATA.to_string(), "text/csv".to_string())
        ]
    );
}

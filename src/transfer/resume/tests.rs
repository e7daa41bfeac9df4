//! Resumable uploads without a server: the real pipeline over [`MemoryStore`] behind a
//! [`FailureStore`] that breaks one UploadPart (the interruption), then a second run on the
//! same store. Shows that a resume sends only the missing parts, and that a changed file (same
//! size and mtime, other bytes; or another size) is never resumed: the old upload is aborted and
//! a new data key seals the object.

use std::sync::Arc;

use super::journal::JournalDir;
use super::upload::{ResumableOutcome, upload_resumable};
use crate::error::Result;
use crate::location::ObjectLocation;
use crate::store::failure::{Call, FailureStore, Fault};
use crate::store::memory::MemoryStore;
use crate::testing::TestKeyring;
use crate::transfer::download::{Sink, StoreObject, download};
use crate::transfer::{Cancel, NoProgress};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/mine";
/// Four parts of 5 MiB, the last one short.
const LEN: usize = 17 * 1024 * 1024 + 77;

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "big.bin".into(),
    }
}

struct Setup {
    dir: tempfile::TempDir,
    journals: JournalDir,
    store: Arc<FailureStore<MemoryStore>>,
    keyring: TestKeyring,
}

impl Setup {
    /// The 3rd UploadPart fails (one part at a time, so parts 1-2 are stored).
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let journals = JournalDir::at(dir.path().join("state"));
        let store =
            FailureStore::new(MemoryStore::new()).fault(Call::UploadPart, 3, 1, Fault::Permanent);
        Setup {
            dir,
            journals,
            store: Arc::new(store),
            keyring: TestKeyring::new(ARN),
        }
    }

    fn src(&self) -> std::path::PathBuf {
        self.dir.path().join("src.bin")
    }

    async fn put(&self) -> Result<ResumableOutcome> {
        let mut request = crate::testing::upload_request(location(), None);
        request.concurrency = 1;
        upload_resumable(
            Arc::clone(&self.store) as _,
            &self.keyring,
            &self.src(),
            &request,
            &self.journals,
            Arc::new(NoProgress),
            Cancel::never(),
        )
        .await
    }

    async fn get(&self) -> Vec<u8> {
        let out = self.dir.path().join("out.bin");
        let reader = StoreObject::new(Arc::clone(&self.store) as _, location());
        let request = crate::testing::download_request();
        download(
            &reader,
            None,
            &self.keyring,
            &request,
            &Sink::File(out.clone()),
            Arc::new(NoProgress),
            Cancel::never(),
        )
        .await
        .expect("download");
        std::fs::read(out).unwrap()
    }

    /// The sealed header the journal holds (the data key's wrapped form and the message id).
    fn journal_header(&self) -> String {
        self.journals.load(&location()).unwrap().unwrap().0.header
    }
}

fn data(seed: u8) -> Vec<u8> {
    (0..LEN).map(|i| (i % 251) as u8 ^ seed).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_with_only_the_missing_parts() {
    let s = Setup::new();
    let plain = data(0);
    std::fs::write(s.src(), &plain).unwrap();
    s.put().await.expect_err("the 3rd part fails");
    assert_eq!(s.store.inner().open_uploads(), 1, "left open to resume");
    assert!(s.journals.load(&location()).unwrap().is_some());
    let before = s.store.calls(Call::UploadPart);
    let done = s.put().await.expect("resumed");
    assert_eq!(done.skipped_parts, 2);
    assert_eq!(done.skipped_bytes, 10 << 20);
    assert!(done.restarted.is_none());
    assert_eq!(
        s.store.calls(Call::UploadPart) - before,
        2,
        "parts 3-4 only"
    );
    assert_eq!(s.store.inner().open_uploads(), 0);
    assert!(s.journals.load(&location()).unwrap().is_none());
    assert_eq!(s.get().await, plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_in_place_is_never_resumed() {
    let s = Setup::new();
    std::fs::write(s.src(), data(0)).unwrap();
    s.put().await.expect_err("the 3rd part fails");
    let old_header = s.journal_header();
    // Same size, same mtime, other bytes in part 2: only re-sealing can tell.
    let mtime = std::fs::metadata(s.src()).unwrap().modified().unwrap();
    let mut changed = data(0);
    changed[6 << 20] ^= 1;
    std::fs::write(s.src(), &changed).unwrap();
    let file = std::fs::File::options().write(true).open(s.src()).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    let done = s.put().await.expect("uploaded afresh");
    let reason = done.restarted.expect("restarted");
    assert!(reason.contains("part 2"), "{reason}");
    assert_eq!(done.skipped_parts, 0);
    assert_eq!(
        s.store.inner().open_uploads(),
        0,
        "the old upload was aborted"
    );
    assert_eq!(s.get().await, changed);
    let stored = s.store.inner().object(&location()).unwrap();
    let old =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, old_header).unwrap();
    assert_ne!(
        &stored[..old.len()],
        &old[..],
        "a new data key and message id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_another_size_starts_afresh() {
    let s = Setup::new();
    std::fs::write(s.src(), data(0)).unwrap();
    s.put().await.expect_err("the 3rd part fails");
    let mut longer = data(0);
    longer.extend_from_slice(b"more");
    std::fs::write(s.src(), &longer).unwrap();
    let done = s.put().await.expect("uploaded afresh");
    assert!(done.restarted.unwrap().contains("source changed"));
    assert_eq!(s.store.inner().open_uploads(), 0);
    assert_eq!(s.get().await, longer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_vanished_starts_afresh() {
    use crate::store::ObjectStore;
    let s = Setup::new();
    let plain = data(3);
    std::fs::write(s.src(), &plain).unwrap();
    s.put().await.expect_err("the 3rd part fails");
    let (journal, _) = s.journals.load(&location()).unwrap().unwrap();
    // Aborted meanwhile (by hand, or by a lifecycle rule).
    s.store
        .abort_multipart_upload(&location(), &journal.upload_id)
        .await
        .unwrap();
    let done = s.put().await.expect("uploaded afresh");
    assert!(done.restarted.unwrap().contains("no longer exists"));
    assert_eq!(s.get().await, plain);
    assert!(s.journals.load(&location()).unwrap().is_none());
}

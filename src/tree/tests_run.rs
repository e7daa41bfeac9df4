//! The runner's promises without a server ([`MemoryStore`], [`FailureStore`], the test
//! keyring): a tree round trip inside a small budget (small files and a multipart one), sync
//! skipping everything the second time without a KMS call, a failed object not stopping the
//! others (and `fail_fast` stopping them), and a dry run sending no write.

use std::path::Path;
use std::sync::Arc;

use super::run::{ObjectReport, Summary};
use super::{Direction, TreeMode, TreeRequest, run_tree};
use crate::location::ObjectLocation;
use crate::store::ObjectStore;
use crate::store::failure::{Call, FailureStore, Fault};
use crate::store::memory::MemoryStore;
use crate::testing::{TestKeyring, download_request, upload_request};
use crate::transfer::{Cancel, NoProgress};

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/test";

fn sample(root: &Path) -> usize {
    for i in 0..24 {
        let path = root.join(format!("d{}/f{i:02}", i % 3));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![i as u8; 1000 + i * 37]).unwrap();
    }
    // Two 5 MiB parts and a bit: a multipart upload inside the budget.
    std::fs::write(root.join("large"), vec![7u8; 11 << 20]).unwrap();
    25
}

fn request(direction: Direction, mode: TreeMode) -> TreeRequest {
    let dest = ObjectLocation {
        bucket: "b".into(),
        key: "p/".into(),
    };
    TreeRequest {
        direction,
        mode,
        dry_run: false,
        fail_fast: false,
        follow_symlinks: false,
        filters: Default::default(),
        upload: Some(upload_request(dest, None)),
        journals: None,
        download: download_request(),
        concurrency: 2,
        // Less than two large parts: large objects must wait for room, small ones squeeze in.
        budget_bytes: 16 << 20,
        objects_in_flight: 8,
    }
}

fn up(root: &Path) -> Direction {
    Direction::Up {
        root: root.to_path_buf(),
        bucket: "b".into(),
        prefix: "p/".into(),
    }
}

async fn go(
    store: Arc<dyn ObjectStore>, keyring: &TestKeyring, request: &TreeRequest,
) -> (Summary, Vec<ObjectReport>) {
    let mut reports = Vec::new();
    let summary = run_tree(
        store,
        keyring,
        request,
        Arc::new(NoProgress),
        Cancel::never(),
        |r| reports.push(clone_report(r)),
    )
    .await
    .expect("the run itself succeeds");
    (summary, reports)
}

/// The fields the tests look at (reports own their error, which is not `Clone`).
fn clone_report(r: &ObjectReport) -> ObjectReport {
    ObjectReport {
        source: r.source.clone(),
        destination: r.destination.clone(),
        plaintext_bytes: r.plaintext_bytes,
        action: r.action,
        dry_run: r.dry_run,
        reason: r.reason.clone(),
        kms_key_arn: r.kms_key_arn.clone(),
        etag: r.etag.clone(),
        parts_skipped: r.parts_skipped,
        error: r
            .error
            .as_ref()
            .map(|e| crate::Error::runtime(e.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_round_trips_inside_a_small_budget_and_a_second_sync_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    let files = sample(&src);
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    let keyring = TestKeyring::new(ARN);

    let (summary, _) = go(
        Arc::clone(&store),
        &keyring,
        &request(up(&src), TreeMode::Copy { skip_done: true }),
    )
    .await;
    assert_eq!((summary.uploaded, summary.failed), (files as u64, 0));

    let down = Direction::Down {
        bucket: "b".into(),
        prefix: "p/".into(),
        root: dst.clone(),
    };
    let (summary, _) = go(
        Arc::clone(&store),
        &keyring,
        &request(down.clone(), TreeMode::Copy { skip_done: true }),
    )
    .await;
    assert_eq!((summary.downloaded, summary.failed), (files as u64, 0));
    assert_eq!(
        std::fs::read(dst.join("large")).unwrap(),
        vec![7u8; 11 << 20]
    );
    assert_eq!(
        std::fs::read(dst.join("d1/f04")).unwrap(),
        vec![4u8; 1000 + 4 * 37]
    );

    let sync = TreeMode::Sync {
        delete: true,
        checksum: false,
    };
    let unwrapped = keyring.decrypts();
    let (summary, _) = go(Arc::clone(&store), &keyring, &request(down, sync)).await;
    assert_eq!(
        (summary.skipped, summary.downloaded, summary.deleted),
        (files as u64, 0, 0)
    );
    let (summary, _) = go(Arc::clone(&store), &keyring, &request(up(&src), sync)).await;
    assert_eq!((summary.skipped, summary.uploaded), (files as u64, 0));
    assert_eq!(
        keyring.decrypts(),
        unwrapped,
        "a no-op sync unwraps no data key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_object_never_stops_the_others_unless_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let files = sample(dir.path());
    let keyring = TestKeyring::new(ARN);
    let failing =
        FailureStore::new(MemoryStore::default()).fault(Call::PutObject, 3, 1, Fault::Permanent);
    let store: Arc<dyn ObjectStore> = Arc::new(failing);
    let (summary, reports) = go(
        store,
        &keyring,
        &request(up(dir.path()), TreeMode::Copy { skip_done: true }),
    )
    .await;
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.uploaded, files as u64 - 1);
    assert_eq!(summary.failures.len(), 1);
    assert_eq!(reports.len(), files);

    let failing =
        FailureStore::new(MemoryStore::default()).fault(Call::PutObject, 1, 1000, Fault::Permanent);
    let mut fast = request(up(dir.path()), TreeMode::Copy { skip_done: true });
    fast.fail_fast = true;
    fast.objects_in_flight = 1;
    let (summary, reports) = go(Arc::new(failing), &keyring, &fast).await;
    assert_eq!(summary.failed, 1, "nothing starts after the first failure");
    assert_eq!(reports.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let files = sample(dir.path());
    let keyring = TestKeyring::new(ARN);
    let store = Arc::new(FailureStore::new(MemoryStore::default()));
    let mut dry = request(
        up(dir.path()),
        TreeMode::Sync {
            delete: true,
            checksum: true,
        },
    );
    dry.dry_run = true;
    let (summary, reports) = go(store.clone(), &keyring, &dry).await;
    assert_eq!(summary.uploaded, files as u64);
    assert!(reports.iter().all(|r| r.dry_run));
    for call in [
        Call::PutObject,
        Call::CreateMultipartUpload,
        Call::DeleteObject,
    ] {
        assert_eq!(store.calls(call), 0, "{call:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fingerprint_key_object_is_never_overwritten_by_a_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".s3seal")).unwrap();
    std::fs::write(dir.path().join(".s3seal/fingerprint-key"), b"not a key").unwrap();
    std::fs::write(dir.path().join("ok"), b"fine").unwrap();
    let keyring = TestKeyring::new(ARN);
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    let at_root = Direction::Up {
        root: dir.path().to_path_buf(),
        bucket: "b".into(),
        prefix: String::new(),
    };
    let (summary, _) = go(
        store,
        &keyring,
        &request(at_root, TreeMode::Copy { skip_done: true }),
    )
    .await;
    assert_eq!((summary.uploaded, summary.failed), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_objects_in_flight_cannot_starve_each_other_of_budget() {
    // Each object needs more than one range; together, the objects in flight would hold more
    // than the whole budget if each held its share while its ranges waited for room.
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..12u8 {
        std::fs::write(src.join(format!("f{i:02}")), vec![i; (3 << 20) + 1000]).unwrap();
    }
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    let keyring = TestKeyring::new(ARN);
    let copy = TreeMode::Copy { skip_done: true };
    let (summary, _) = go(Arc::clone(&store), &keyring, &request(up(&src), copy)).await;
    assert_eq!((summary.uploaded, summary.failed), (12, 0));

    let down = Direction::Down {
        bucket: "b".into(),
        prefix: "p/".into(),
        root: dst.clone(),
    };
    let mut tight = request(down, copy);
    tight.budget_bytes = 4 << 20;
    tight.objects_in_flight = 12;
    let run = go(Arc::clone(&store), &keyring, &tight);
    let (summary, _) = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the downloads finish instead of waiting on each other");
    assert_eq!((summary.downloaded, summary.failed), (12, 0));
    for i in 0..12u8 {
        let got = std::fs::read(dst.join(format!("f{i:02}"))).unwrap();
        assert_eq!(got, vec![i; (3 << 20) + 1000], "f{i:02}");
    }
}

/// A bucket where `p/x` is an object and also a prefix (`p/x/x`, `p/x/y`), which no
/// directory can hold: uploaded from two local trees.
async fn file_and_prefix(store: &Arc<dyn ObjectStore>, keyring: &TestKeyring, dir: &Path) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(b.join("x")).unwrap();
    std::fs::create_dir_all(&a).unwrap();
    std::fs::write(a.join("x"), b"object x").unwrap();
    std::fs::write(b.join("x/x"), b"object x/x").unwrap();
    std::fs::write(b.join("x/y"), b"object x/y").unwrap();
    for root in [&a, &b] {
        let (summary, _) = go(
            Arc::clone(store),
            keyring,
            &request(up(root), TreeMode::Copy { skip_done: false }),
        )
        .await;
        assert_eq!(summary.failed, 0);
    }
}

fn down_to(root: &Path) -> Direction {
    Direction::Down {
        bucket: "b".into(),
        prefix: "p/".into(),
        root: root.to_path_buf(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_also_a_prefix_fails_and_never_lands_at_another_path() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    let keyring = TestKeyring::new(ARN);
    file_and_prefix(&store, &keyring, dir.path()).await;
    // The objects race for `x`: whichever order they take, each file written holds its own
    // object, and what cannot be written is a failure, not a success.
    for round in 0..6 {
        let dst = dir.path().join(format!("dst{round}"));
        let (summary, reports) = go(
            Arc::clone(&store),
            &keyring,
            &request(down_to(&dst), TreeMode::Copy { skip_done: false }),
        )
        .await;
        assert_eq!(reports.len(), 3);
        assert!(summary.failed >= 1, "x and x/... cannot both be written");
        assert_eq!(summary.downloaded + summary.failed, 3);
        for r in reports
            .iter()
            .filter(|r| r.action == super::run::Action::Downloaded)
        {
            let rel = r
                .source
                .strip_prefix("s3://b/p/")
                .expect("a source under p/");
            let got = std::fs::read(dst.join(rel)).expect("a downloaded object has its file");
            assert_eq!(got, format!("object {rel}").into_bytes(), "{rel}");
        }
        if dst.join("x").is_dir() {
            assert!(
                !dst.join("x/x").exists()
                    || std::fs::read(dst.join("x/x")).unwrap() == b"object x/x"
            );
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_directory_in_the_destination_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, outside) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("outside"),
    );
    std::fs::create_dir_all(src.join("linkdir/sub")).unwrap();
    std::fs::write(src.join("linkdir/evil"), b"e").unwrap();
    std::fs::write(src.join("linkdir/sub/deeper"), b"d").unwrap();
    std::fs::write(src.join("fine"), b"f").unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    let keyring = TestKeyring::new(ARN);
    go(
        Arc::clone(&store),
        &keyring,
        &request(up(&src), TreeMode::Copy { skip_done: false }),
    )
    .await;

    std::fs::create_dir_all(&dst).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dst.join("linkdir")).unwrap();
    for mode in [
        TreeMode::Copy { skip_done: false },
        TreeMode::Sync {
            delete: false,
            checksum: false,
        },
    ] {
        let (summary, _) = go(Arc::clone(&store), &keyring, &request(down_to(&dst), mode)).await;
        assert_eq!(summary.failed, 2, "both objects under the link fail");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing written or made through the link"
        );
        assert_eq!(std::fs::read(dst.join("fine")).unwrap(), b"f");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_refuses_a_fingerprint_key_planted_under_another_kms_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("salary"), b"123456").unwrap();
    let memory = Arc::new(MemoryStore::default());
    let store: Arc<dyn ObjectStore> = memory.clone();
    // Someone who may write the bucket stores a fingerprint key under a KMS key of theirs.
    let planter = TestKeyring::new("arn:aws:kms:us-east-1:999999999999:key/theirs");
    let pins = crate::pins::KeyPins::unpinned();
    super::fingerprint::FingerprintKey::load(&*store, &planter, "b", Some("x"), None, &pins)
        .await
        .unwrap();
    let keyring = TestKeyring::new(ARN);
    let checksum = TreeMode::Sync {
        delete: false,
        checksum: true,
    };
    let err = run_tree(
        Arc::clone(&store),
        &keyring,
        &request(up(dir.path()), checksum),
        Arc::new(NoProgress),
        Cancel::never(),
        |_| {},
    )
    .await
    .expect_err("a planted fingerprint key stops the run");
    assert_eq!(err.class(), crate::ErrorClass::Integrity, "{err}");
    assert!(err.to_string().contains("could have planted it"), "{err}");
    assert_eq!(keyring.decrypts(), 0, "refused before any KMS call");
    let salary = ObjectLocation {
        bucket: "b".into(),
        key: "p/salary".into(),
    };
    assert!(memory.object(&salary).is_none(), "nothing was uploaded");

    // Under the run's own key, the same kind of object is used.
    let own: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    super::fingerprint::FingerprintKey::load(&*own, &keyring, "b", Some(ARN), None, &pins)
        .await
        .unwrap();
    let (summary, _) = go(own, &keyring, &request(up(dir.path()), checksum)).await;
    assert_eq!((summary.uploaded, summary.failed), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_objects_just_under_one_range_download_without_waiting_on_each_other() {
    // Each object is read whole by its first read (held in the budget by the object) but is
    // two units (7 full chunks and a short one). Six of them fill the default budget; each
    // unit must come out of the first read, never wait for room the others hold.
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..12u8 {
        std::fs::write(src.join(format!("f{i:02}")), vec![i; 7_800_000]).unwrap();
    }
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    let keyring = TestKeyring::new(ARN);
    let mut up_request = request(up(&src), TreeMode::Copy { skip_done: false });
    up_request.budget_bytes = super::run::DEFAULT_BUDGET_BYTES;
    let (summary, _) = go(Arc::clone(&store), &keyring, &up_request).await;
    assert_eq!(summary.uploaded, 12);

    let mut down = request(down_to(&dst), TreeMode::Copy { skip_done: false });
    down.budget_bytes = super::run::DEFAULT_BUDGET_BYTES;
    down.objects_in_flight = super::run::DEFAULT_OBJECTS_IN_FLIGHT;
    down.download.unit_bytes = crate::transfer::download::DEFAULT_RANGE_BYTES;
    down.download.read_bytes = 0;
    down.download.concurrency = 6;
    let run = go(Arc::clone(&store), &keyring, &down);
    let (summary, _) = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the download finishes (no object waits for budget the others hold)");
    assert_eq!((summary.downloaded, summary.failed), (12, 0));
    assert_eq!(
        std::fs::read(dst.join("f07")).unwrap(),
        vec![7u8; 7_800_000]
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_is_not_utf8_fails_alone_and_the_walk_goes_on() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(
        src.join("sub").join(std::ffi::OsStr::from_bytes(b"q\xfe")),
        b"x",
    )
    .unwrap();
    std::fs::write(src.join("sub/ok"), b"ok").unwrap();
    std::fs::write(src.join("zz"), b"z").unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::default());
    let keyring = TestKeyring::new(ARN);
    for mode in [
        TreeMode::Copy { skip_done: false },
        TreeMode::Sync {
            delete: true,
            checksum: false,
        },
    ] {
        let (summary, reports) = go(Arc::clone(&store), &keyring, &request(up(&src), mode)).await;
        assert_eq!(summary.failed, 1, "{reports:?}");
        assert_eq!(summary.uploaded + summary.skipped, 2, "{reports:?}");
        let failed = reports
            .iter()
            .find(|r| r.action == super::run::Action::Failed)
            .unwrap();
        assert!(failed.source.ends_with("sub/q\u{FFFD}"), "{failed:?}");
        assert!(!failed.source.contains("src/src"), "{failed:?}");
        assert!(
            failed.destination.ends_with("p/sub/q\u{FFFD}"),
            "{failed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_starts_nothing_after_a_failure_known_before_any_request() {
    // The first path in key order cannot be a key (over 1,024 bytes): with --fail-fast the
    // objects already handed out stop before their first request.
    let dir = tempfile::tempdir().unwrap();
    let mut long = dir.path().to_path_buf();
    for _ in 0..5 {
        long.push("a".repeat(220));
    }
    std::fs::create_dir_all(&long).unwrap();
    std::fs::write(long.join("f"), b"x").unwrap();
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("z{i}")), b"small").unwrap();
    }
    let store = Arc::new(FailureStore::new(MemoryStore::default()));
    let keyring = TestKeyring::new(ARN);
    let mut fast = request(up(dir.path()), TreeMode::Copy { skip_done: false });
    fast.fail_fast = true;
    fast.objects_in_flight = 8;
    let (summary, reports) = go(store.clone(), &keyring, &fast).await;
    assert_eq!(summary.uploaded, 0, "{reports:?}");
    assert!(summary.failed >= 1);
    assert_eq!(
        store.calls(Call::PutObject),
        0,
        "no request after the failure"
    );
}

//! The handler's decisions that need no server: Lambda's deadline stops a stalled task as a
//! `TemporaryFailure` (nothing half-written), and S3 failures on the first HEAD are sorted
//! into retried and not retried. Over [`FailureStore`] and the unit tests' keyring.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::store::failure::{Call, FailureStore, Fault};
use crate::store::memory::MemoryStore;
use crate::testing::TestKeyring;
use crate::transfer::upload::upload;
use crate::transfer::{NoProgress, Source};

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/batch";
const MIB: usize = 1 << 20;

fn location() -> ObjectLocation {
    ObjectLocation {
        bucket: "bucket".into(),
        key: "big object.bin".into(),
    }
}

/// A verify event for [`location`], pinned to [`KEY_ARN`].
fn verify_event() -> BatchEvent {
    let doc = serde_json::json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": "aW52b2NhdGlvbg",
        "job": {"id": "job", "userArguments": {"operation": "verify", "expectedKmsKeyIds": KEY_ARN}},
        "tasks": [{"taskId": "t0", "s3Key": "big+object.bin", "s3VersionId": null, "s3Bucket": "bucket"}]
    });
    BatchEvent::parse(doc.to_string().as_bytes()).unwrap()
}

/// `store` holding a `len`-byte s3seal object at [`location`].
async fn with_object(
    store: FailureStore<MemoryStore>, len: usize,
) -> Arc<FailureStore<MemoryStore>> {
    let store = Arc::new(store);
    let request = crate::testing::upload_request(location(), None);
    let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let source = Source::Stream(Box::new(std::io::Cursor::new(data)));
    upload(
        store.clone(),
        &TestKeyring::new(KEY_ARN),
        source,
        &request,
        Arc::new(NoProgress),
        Cancel::never(),
    )
    .await
    .expect("upload");
    store
}

async fn run(store: Arc<dyn ObjectStore>, deadline: Option<Instant>) -> (ResultCode, String) {
    run_until(store, deadline, Cancel::never()).await
}

async fn run_until(
    store: Arc<dyn ObjectStore>, deadline: Option<Instant>, cancel: Cancel,
) -> (ResultCode, String) {
    let keyring = TestKeyring::new(KEY_ARN);
    let env = TaskEnv {
        store,
        keyring: &keyring,
        temp_dir: std::env::temp_dir(),
        limits: Limits::default(),
        deadline,
        cancel,
    };
    let handled = handle(&verify_event(), &env).await;
    let result = handled.response.results[0].clone();
    (result.result_code, result.result_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intact_object_verifies() {
    let store = with_object(FailureStore::new(MemoryStore::new()), 6 * MIB + 3).await;
    let (code, text) = run(store, None).await;
    assert_eq!(code, ResultCode::Succeeded, "{text}");
    assert!(
        text.starts_with(&format!("intact: {} bytes", 6 * MIB + 3)),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_still_running_near_the_deadline_is_stopped_and_retried() {
    // Every ranged GET after the first never answers: only the deadline ends the task (the
    // object is larger than the first read: 8 MiB by default).
    let stalled =
        FailureStore::new(MemoryStore::new()).fault(Call::GetRange, 2, 1000, Fault::Stall);
    let store = with_object(stalled, 20 * MIB).await;
    let started = Instant::now();
    let deadline = started + DEADLINE_MARGIN + Duration::from_millis(300);
    let (code, text) = run(store.clone(), Some(deadline)).await;
    assert_eq!(code, ResultCode::TemporaryFailure, "{text}");
    assert!(text.starts_with("interrupted: "), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(store.calls(Call::GetRange) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_stop_ends_the_running_task_and_skips_the_rest() {
    let stalled =
        FailureStore::new(MemoryStore::new()).fault(Call::GetRange, 2, 1000, Fault::Stall);
    let store = with_object(stalled, 20 * MIB).await;
    let (trigger, cancel) = Cancel::new();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = trigger.send(true);
    });
    let (code, text) = run_until(store.clone(), None, cancel.clone()).await;
    assert_eq!(code, ResultCode::TemporaryFailure, "{text}");
    assert!(text.starts_with("interrupted: "), "{text}");
    // Once stopped, a task does not start: no HEAD.
    let heads = store.calls(Call::Head);
    let (code, _) = run_until(store.clone(), None, cancel).await;
    assert_eq!(code, ResultCode::TemporaryFailure);
    assert_eq!(store.calls(Call::Head), heads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_failures_on_the_first_look_are_sorted_into_retried_and_not() {
    for (fault, wanted) in [
        (Fault::Transient, ResultCode::TemporaryFailure),
        (Fault::Permanent, ResultCode::TemporaryFailure),
    ] {
        let store = FailureStore::new(MemoryStore::new()).fault(Call::Head, 1, 1, fault);
        let store = with_object(store, 1000).await;
        let (code, text) = run(store, None).await;
        assert_eq!(code, wanted, "{fault:?}: {text}");
        assert!(text.starts_with("retryable: "), "{text}");
    }
    // Nothing there: permanent.
    let (code, text) = run(Arc::new(MemoryStore::new()), None).await;
    assert_eq!(code, ResultCode::PermanentFailure, "{text}");
    assert!(text.starts_with("not-found: "), "{text}");
}

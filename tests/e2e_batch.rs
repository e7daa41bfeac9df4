//! The S3 Batch Operations handler (`s3seal::batch_task`, the Lambda function's code) against
//! moto over HTTPS: invoked in-process with event documents shaped as AWS sends them
//! (`tests/fixtures/batch/`, filled with this test's bucket, keys and KMS keys), and through
//! `s3seal batch-task --event FILE`, which must give the same result codes. Failures are real:
//! a tampered object, a missing one, KMS answering ThrottlingException through the fault
//! proxy.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::files::{get_file, put_file};
use common::proxy::{Fault, Match, Proxy, Rule};
use common::route::{Route, cmd};
use common::store::Store;
use common::{Target, data, env, s3seal, unique_key};
use s3seal::batch_task::{
    BatchEvent, FailureClass, Handled, Limits, ResultCode, TaskEnv, TaskResult, handle,
};
use s3seal::kms::KmsKeyring;
use s3seal::store::{ObjectStore, SdkStore};

use ResultCode::{PermanentFailure, Succeeded, TemporaryFailure};

/// Object keys in manifests and events are URL-encoded (form encoding).
fn encode_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

/// The fixture `name` with this test's bucket and KMS keys, and one task per key (the
/// fixture's task repeated, each with its own id), as a JSON document.
fn event(name: &str, keys: &[&str]) -> String {
    event_with(name, keys, |_| {})
}

/// [`event`], with `edit` changing the document (user arguments, version ids) first.
fn event_with(name: &str, keys: &[&str], edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/batch")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("@KMS_KEY_ARN@", &env().kms_arn)
        .replace("@OTHER_KMS_KEY_ARN@", &env().other_kms_arn)
        .replace("@BUCKET@", &env().bucket);
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let template = doc["tasks"][0].clone();
    doc["tasks"] = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut task = template.clone();
            task["taskId"] = format!("task-{i}").into();
            task["s3Key"] = encode_key(key).into();
            task
        })
        .collect();
    edit(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap()
}

/// The handler, in this process, with S3 and KMS on moto (KMS through `kms_proxy` if given).
fn in_process(event: &str, kms_proxy: Option<&Proxy>) -> Handled {
    let store = Store::moto();
    let event = BatchEvent::parse(event.as_bytes()).expect("the event parses");
    let mut aws = store.aws.clone();
    if let Some(proxy) = kms_proxy {
        let config = aws
            .kms
            .config()
            .to_builder()
            .endpoint_url(proxy.endpoint())
            .build();
        aws.kms = aws_sdk_kms::Client::from_conf(config);
    }
    let temp = tempfile::tempdir().unwrap();
    store.block_on(async {
        let keyring = KmsKeyring::new(aws.kms.clone());
        let objects: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
        let task_env = TaskEnv {
            store: objects,
            keyring: &keyring,
            temp_dir: temp.path().to_path_buf(),
            limits: Limits::default(),
            deadline: None,
            cancel: s3seal::transfer::Cancel::never(),
        };
        handle(&event, &task_env).await
    })
}

/// `s3seal batch-task --event FILE` with `command`: the response it printed and its exit code.
fn via_cli(mut command: assert_cmd::Command, event: &str) -> (Vec<TaskResult>, i32) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, event).unwrap();
    let out = command
        .args(["batch-task", "--event", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let response: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "batch-task printed no response ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    let results = serde_json::from_value(response["results"].clone()).unwrap();
    (results, out.status.code().unwrap_or(-1))
}

/// Each object `get`s, pinned to `key_arn`, to its plaintext.
fn opens_under(key_arn: &str, objects: &[(&str, &[u8])]) {
    for (key, plain) in objects {
        let (got, dst, _dir) = get_file(Target::Moto, key, &["--expected-kms-key-id", key_arn]);
        got.success();
        assert_eq!(&std::fs::read(dst).unwrap(), plain);
    }
}

fn codes(results: &[TaskResult]) -> Vec<ResultCode> {
    results.iter().map(|r| r.result_code).collect()
}

/// The in-process response for `event`: its task ids and invocation id are the event's.
fn check_shape(event: &str, handled: &Handled) {
    let doc: serde_json::Value = serde_json::from_str(event).unwrap();
    let response = &handled.response;
    assert_eq!(response.invocation_id, doc["invocationId"]);
    assert_eq!(
        response.invocation_schema_version,
        doc["invocationSchemaVersion"]
    );
    let ids: Vec<&str> = response
        .results
        .iter()
        .map(|r| r.task_id.as_str())
        .collect();
    let wanted: Vec<&str> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, wanted);
}

#[test]
fn verify_and_rewrap_do_the_work_on_the_named_objects() {
    let base = unique_key("batch-ok");
    let (a, b) = (format!("{base}/a.bin"), format!("{base}/naïve file.bin"));
    let (plain_a, plain_b) = (data(100_000, 61), Vec::new());
    put_file(Target::Moto, &plain_a, &a, &[]);
    put_file(Target::Moto, &plain_b, &b, &[]);

    let verify = event("verify-2.0.json", &[&a, &b]);
    let handled = in_process(&verify, None);
    check_shape(&verify, &handled);
    let results = &handled.response.results;
    assert_eq!(codes(results), [Succeeded, Succeeded], "{results:?}");
    assert!(results[0].result_string.starts_with("intact: 100000 bytes"));
    assert!(results[1].result_string.starts_with("intact: 0 bytes"));
    let (cli, code) = via_cli(s3seal(Target::Moto), &verify);
    assert_eq!((codes(&cli), code), (codes(results), 0));

    // Rewrap both under the other key: the objects then open under it, and only under it.
    let rewrap = event("rewrap-2.0.json", &[&a, &b]);
    let handled = in_process(&rewrap, None);
    let results = &handled.response.results;
    assert_eq!(codes(results), [Succeeded, Succeeded], "{results:?}");
    assert!(
        results[0].result_string.contains(&env().other_kms_arn),
        "{results:?}"
    );
    opens_under(&env().other_kms_arn, &[(&a, &plain_a), (&b, &plain_b)]);
    // The verify job pinned to the old key now refuses them: integrity, not retried.
    let handled = in_process(&verify, None);
    assert_eq!(
        codes(&handled.response.results),
        [PermanentFailure, PermanentFailure]
    );
    assert!(handled.any_integrity_failure());
    assert!(
        handled.response.results[0]
            .result_string
            .starts_with("integrity: ")
    );
    // Batch retries a task whose answer was lost: the objects are under the new key and
    // verify under it, so the retry succeeds without rewriting anything.
    let (cli, code) = via_cli(s3seal(Target::Moto), &rewrap);
    assert_eq!((codes(&cli), code), (vec![Succeeded; 2], 0));
    assert!(
        cli[0].result_string.starts_with("already under KMS key"),
        "{cli:?}"
    );
    // But an object under a key neither pinned nor the target still fails: integrity.
    let c = format!("{base}/c.bin");
    put_file(Target::Moto, &plain_a, &c, &[]);
    let (cli, code) = via_cli(
        s3seal(Target::Moto),
        &event_with("rewrap-2.0.json", &[&c], |doc| {
            doc["job"]["userArguments"]["expectedKmsKeyIds"] = env().other_kms_arn.clone().into();
        }),
    );
    assert_eq!((codes(&cli), code), (vec![PermanentFailure], 3), "{cli:?}");
    assert!(cli[0].result_string.starts_with("integrity: "), "{cli:?}");
}

#[test]
fn tampered_and_missing_objects_are_permanent_failures() {
    let base = unique_key("batch-bad");
    let (good, tampered, missing) = (
        format!("{base}/good"),
        format!("{base}/tampered"),
        format!("{base}/missing"),
    );
    put_file(Target::Moto, &data(70_000, 62), &good, &[]);
    put_file(Target::Moto, &data(70_000, 63), &tampered, &[]);
    Store::moto().tamper(&tampered, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
    });

    let verify = event("verify-2.0.json", &[&good, &tampered, &missing]);
    let handled = in_process(&verify, None);
    check_shape(&verify, &handled);
    let results = &handled.response.results;
    assert_eq!(
        codes(results),
        [Succeeded, PermanentFailure, PermanentFailure],
        "{results:?}"
    );
    assert_eq!(
        handled.failures,
        [
            None,
            Some(FailureClass::Integrity),
            Some(FailureClass::NotFound)
        ]
    );
    assert!(results[1].result_string.starts_with("integrity: "));
    assert!(results[2].result_string.starts_with("not-found: "));
    // The CLI: same codes; an integrity failure of any object makes the run exit 3.
    let (cli, code) = via_cli(s3seal(Target::Moto), &verify);
    assert_eq!((codes(&cli), code), (codes(results), 3));
    // Without the tampered object: some failed, the rest succeeded, exit 7.
    let (cli, code) = via_cli(
        s3seal(Target::Moto),
        &event("verify-2.0.json", &[&good, &missing]),
    );
    assert_eq!((codes(&cli), code), (vec![Succeeded, PermanentFailure], 7));
}

#[test]
fn kms_throttling_is_a_temporary_failure_that_batch_retries() {
    let key = unique_key("batch-throttled");
    put_file(Target::Moto, &data(30_000, 64), &key, &[]);
    let throttled = || {
        Proxy::http(
            &env().moto,
            &env().ca,
            vec![Rule::new(
                Match::kms("Decrypt"),
                Fault::kms_throttling(),
                u32::MAX,
            )],
        )
    };
    let verify = event("verify-2.0.json", &[&key]);
    let proxy = throttled();
    let handled = in_process(&verify, Some(&proxy));
    let results = &handled.response.results;
    assert_eq!(codes(results), [TemporaryFailure], "{results:?}");
    assert!(results[0].result_string.starts_with("retryable: "));
    assert!(proxy.fired() >= 1);

    let proxy = throttled();
    let (cli, code) = via_cli(cmd(&Route::kms(&proxy)), &verify);
    assert_eq!((codes(&cli), code), (vec![TemporaryFailure], 7));
    assert!(proxy.fired() >= 1);
}

#[test]
fn what_no_retry_can_fix_fails_every_task_permanently() {
    let key = unique_key("batch-args");
    put_file(Target::Moto, &data(1_000, 65), &key, &[]);
    let permanent = |event: &str, starts: &str| {
        let handled = in_process(event, None);
        let results = &handled.response.results;
        assert_eq!(codes(results), [PermanentFailure], "{results:?}");
        assert!(
            results[0].result_string.starts_with(starts),
            "{starts}: {results:?}"
        );
        results[0].result_string.clone()
    };
    // Schema 1.0 carries no user arguments, so no operation.
    permanent(&event("invocation-1.0.json", &[&key]), "usage: ");
    // A typo in a user argument.
    permanent(
        &event_with("verify-2.0.json", &[&key], |doc| {
            doc["job"]["userArguments"]["operation"] = "verfiy".into();
        }),
        "usage: ",
    );
    // A version that is not the current one.
    permanent(
        &event_with("verify-2.0.json", &[&key], |doc| {
            doc["tasks"][0]["s3VersionId"] = "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd".into();
        }),
        "usage: ",
    );
    // Larger than one invocation takes: the sharded CLI is named.
    let text = permanent(
        &event_with("verify-2.0.json", &[&key], |doc| {
            doc["job"]["userArguments"]["maxObjectBytes"] = "999".into();
        }),
        "too-large: ",
    );
    assert!(text.contains("s3seal verify --manifest"), "{text}");
}

#[test]
fn migrate_reencrypts_s3ec_objects_and_a_retry_succeeds() {
    let base = unique_key("batch-migrate");
    let (v2, v3) = (format!("{base}/v2.bin"), format!("{base}/v3 instr.bin"));
    let (plain_v2, plain_v3) = (data(3_000, 67), data(70_001, 68));
    let dir = tempfile::tempdir().unwrap();
    let spec = |key: &str, plain: &[u8], format: &str, instruction_file: bool| {
        let input = dir.path().join(format!("{format}.in"));
        std::fs::write(&input, plain).unwrap();
        serde_json::json!({"key": key, "input": input, "format": format,
            "context": {"app": "batch"}, "multipart": false, "instruction_file": instruction_file})
    };
    let specs = serde_json::json!([
        spec(&v2, &plain_v2, "v2", false),
        spec(&v3, &plain_v3, "v3", true)
    ]);
    common::s3ec::write_objects(&env().kms_arn, &specs);

    let migrate = event("migrate-2.0.json", &[&v2, &v3]);
    let handled = in_process(&migrate, None);
    let results = &handled.response.results;
    assert_eq!(codes(results), [Succeeded, Succeeded], "{results:?}");
    assert!(
        results[0]
            .result_string
            .starts_with("migrated: S3EC v2 -> s3seal")
    );
    assert!(
        results[1]
            .result_string
            .starts_with("migrated: S3EC v3 -> s3seal")
    );
    opens_under(&env().kms_arn, &[(&v2, &plain_v2), (&v3, &plain_v3)]);
    assert!(!Store::moto().exists(&format!("{v3}.instruction")));
    // Batch runs a task again when its answer was lost: nothing left to do, still Succeeded.
    let (cli, code) = via_cli(s3seal(Target::Moto), &migrate);
    assert_eq!((codes(&cli), code), (vec![Succeeded; 2], 0));
    assert!(
        cli[0].result_string.starts_with("already s3seal"),
        "{cli:?}"
    );
}

#[test]
fn a_document_that_is_no_batch_event_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    // An S3 event notification, not a Batch Operations invocation.
    std::fs::write(
        &file,
        r#"{"Records": [{"eventName": "ObjectCreated:Put"}]}"#,
    )
    .unwrap();
    s3seal(Target::Moto)
        .args(["batch-task", "--event", file.to_str().unwrap()])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains(
            "not an S3 Batch Operations invocation event",
        ));
}

#[test]
fn seal_turns_named_plaintext_objects_into_s3seal_objects() {
    let base = unique_key("batch-seal");
    let (a, b) = (format!("{base}/a.txt"), format!("{base}/b.txt"));
    let (plain_a, plain_b) = (data(123_457, 66), b"hello".to_vec());
    let store = Store::moto();
    store.put_raw(&a, plain_a.clone());
    store.put_raw(&b, plain_b.clone());
    let seal = event("seal-2.0.json", &[&a, &b]);
    let handled = in_process(&seal, None);
    assert_eq!(
        codes(&handled.response.results),
        [Succeeded, Succeeded],
        "{:?}",
        handled.response.results
    );
    opens_under(&env().kms_arn, &[(&a, &plain_a), (&b, &plain_b)]);
    // Run again (Batch retries): already sealed objects are skipped, still Succeeded.
    let (cli, code) = via_cli(s3seal(Target::Moto), &seal);
    assert_eq!((codes(&cli), code), (vec![Succeeded, Succeeded], 0));
}

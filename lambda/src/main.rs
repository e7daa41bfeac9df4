//! The S3 Batch Operations Lambda function: Lambda's runtime loop (`lambda_runtime`) hands
//! each invocation event to `s3seal::batch_task::handle` and returns its response. Everything
//! that decides what happens to an object is in the library; this file only wires the AWS
//! clients (from the function's role and region), `/tmp`, and the invocation's deadline.
//!
//! Environment: `S3SEAL_EXPECTED_OWNER` (optional) makes every S3 request carry
//! ExpectedBucketOwner; `RUST_LOG` sets the log level (default `info`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use s3seal::batch_task::{BatchEvent, Limits, TaskEnv, handle};
use s3seal::kms::Keyring;

/// Parses the event, runs its tasks in `task_env` (which carries the invocation's deadline),
/// answers with the Batch Operations response document. A document that is no Batch event
/// fails the invocation itself.
async fn respond<K: Keyring>(
    payload: serde_json::Value, task_env: &TaskEnv<'_, K>,
) -> Result<serde_json::Value, Error> {
    let bytes = serde_json::to_vec(&payload)?;
    let event = BatchEvent::parse(&bytes)?;
    let handled = handle(&event, task_env).await;
    Ok(serde_json::to_value(&handled.response)?)
}

/// Lambda's deadline (wall clock, from the invocation) as an `Instant`.
fn deadline_of(context: &lambda_runtime::Context) -> Instant {
    let left = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time()
        .init();
    let aws = s3seal::aws::connect(&s3seal::aws::AwsSettings::default()).await?;
    let keyring = s3seal::kms::KmsKeyring::new(aws.kms.clone());
    let owner = std::env::var("S3SEAL_EXPECTED_OWNER")
        .ok()
        .filter(|o| !o.is_empty());
    let store: Arc<dyn s3seal::store::ObjectStore> =
        Arc::new(s3seal::store::SdkStore::new(aws.s3.clone(), owner));
    let (keyring, store) = (&keyring, &store);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let task_env = TaskEnv {
                store: Arc::clone(store),
                keyring,
                temp_dir: PathBuf::from("/tmp"),
                limits: Limits::default(),
                deadline: Some(deadline_of(&event.context)),
                cancel: s3seal::transfer::Cancel::never(),
            };
            respond(event.payload, &task_env).await
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    //! The glue without a network: an event in, the response document out, against the
    //! library's in-memory store and a keyring that is never reached.

    use std::collections::BTreeMap;

    use s3seal::format::EncryptionContext;
    use s3seal::kms::{ForeignKey, NewDataKey, Rewrapped, Unwrapped};
    use s3seal::store::memory::MemoryStore;

    use super::*;

    /// Fails every call: these events never need KMS.
    struct NoKms;

    fn unreachable_kms() -> s3seal::Error {
        s3seal::Error::runtime("no KMS in this test")
    }

    impl Keyring for NoKms {
        async fn generate(&self, _: &str, _: &EncryptionContext) -> s3seal::Result<NewDataKey> {
            Err(unreachable_kms())
        }
        async fn decrypt(
            &self, _: &str, _: &[u8], _: &EncryptionContext,
        ) -> s3seal::Result<Unwrapped> {
            Err(unreachable_kms())
        }
        async fn decrypt_foreign(
            &self, _: &[u8], _: &BTreeMap<String, String>, _: Option<&str>,
        ) -> s3seal::Result<ForeignKey> {
            Err(unreachable_kms())
        }
        async fn describe_key(&self, _: &str) -> s3seal::Result<String> {
            Err(unreachable_kms())
        }
        async fn reencrypt(
            &self, _: &[u8], _: &str, _: &EncryptionContext, _: &str, _: &EncryptionContext,
        ) -> s3seal::Result<Rewrapped> {
            Err(unreachable_kms())
        }
    }

    fn event(operation: &str) -> serde_json::Value {
        serde_json::json!({
            "invocationSchemaVersion": "2.0",
            "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
            "job": {
                "id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce",
                "userArguments": {"operation": operation}
            },
            "tasks": [{
                "taskId": "dGFza2lkZ29lc2hlcmUK",
                "s3Key": "missing%20object.bin",
                "s3VersionId": null,
                "s3Bucket": "amzn-s3-demo-bucket"
            }]
        })
    }

    async fn run(payload: serde_json::Value) -> Result<serde_json::Value, Error> {
        let task_env = TaskEnv {
            store: Arc::new(MemoryStore::new()),
            keyring: &NoKms,
            temp_dir: std::env::temp_dir(),
            limits: Limits::default(),
            deadline: Some(Instant::now() + Duration::from_secs(900)),
            cancel: s3seal::transfer::Cancel::never(),
        };
        respond(payload, &task_env).await
    }

    #[tokio::test]
    async fn a_missing_object_is_a_permanent_failure() {
        // The document's envelope is checked on the real binary (tests/runtime_api.rs).
        let response = run(event("verify")).await.unwrap();
        let result = &response["results"][0];
        assert_eq!(result["resultCode"], "PermanentFailure");
        let text = result["resultString"].as_str().unwrap();
        assert!(text.starts_with("not-found: "), "{text}");
        // The key was URL-decoded before it was looked up.
        assert!(text.contains("missing object.bin"), "{text}");
    }

    #[tokio::test]
    async fn bad_arguments_fail_the_task_and_bad_events_the_invocation() {
        let response = run(event("shred")).await.unwrap();
        assert_eq!(response["results"][0]["resultCode"], "PermanentFailure");
        assert!(
            response["results"][0]["resultString"]
                .as_str()
                .unwrap()
                .starts_with("usage: ")
        );
        assert!(run(serde_json::json!({"Records": []})).await.is_err());
    }
}

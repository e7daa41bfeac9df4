//! The documents S3 Batch Operations exchanges with a Lambda function: the invocation event
//! (schema 2.0, and 1.0 which names the bucket by ARN) and the response with one result per
//! task. Only shapes and their decoding live here; what a task does is in [`super::handle`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::location::ObjectLocation;

/// The schema versions this handler reads.
pub const SCHEMA_VERSIONS: [&str; 2] = ["1.0", "2.0"];

/// One invocation: a job's user arguments and the tasks (objects) to process. Batch
/// Operations sends one task per invocation today; the handler processes any number.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEvent {
    pub invocation_schema_version: String,
    pub invocation_id: String,
    pub job: Job,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    /// Schema 2.0 only (at most 10 pairs): what to do, see [`super::arguments`].
    #[serde(default)]
    pub user_arguments: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    /// URL-encoded (form encoding: `+` is a space), as in S3 Inventory and Batch manifests.
    pub s3_key: String,
    #[serde(default)]
    pub s3_version_id: Option<String>,
    /// Schema 2.0: the bucket's name.
    #[serde(default)]
    pub s3_bucket: Option<String>,
    /// Schema 1.0: the bucket's ARN (`arn:aws:s3:::NAME`).
    #[serde(default)]
    pub s3_bucket_arn: Option<String>,
}

/// What became of a task; Batch Operations retries `TemporaryFailure` (up to the job's
/// retry limit) and records the others in the completion report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultCode {
    Succeeded,
    TemporaryFailure,
    PermanentFailure,
}

/// The function's answer: one result per task, in the order of the tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub invocation_schema_version: String,
    /// A task without a result is a permanent failure, never silently retried or passed.
    pub treat_missing_keys_as: ResultCode,
    pub invocation_id: String,
    pub results: Vec<TaskResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    pub task_id: String,
    pub result_code: ResultCode,
    /// Short and printable: `CLASS: message` for failures (see [`super::outcome`]).
    pub result_string: String,
}

impl BatchEvent {
    /// Parses an event document; an unknown schema version is refused.
    pub fn parse(json: &[u8]) -> Result<BatchEvent> {
        let event: BatchEvent = serde_json::from_slice(json).map_err(|e| {
            Error::usage_hint(
                format!("not an S3 Batch Operations invocation event: {e}"),
                "the event needs invocationSchemaVersion, invocationId, job.id and tasks[] (docs/SCALE.md)",
            )
        })?;
        if !SCHEMA_VERSIONS.contains(&event.invocation_schema_version.as_str()) {
            return Err(Error::usage_hint(
                format!(
                    "invocation schema version {:?} is not supported",
                    crate::terminal::escape_for_terminal(&event.invocation_schema_version)
                ),
                "create the job with InvocationSchemaVersion 2.0 (1.0 is read too, without user arguments)",
            ));
        }
        Ok(event)
    }
}

impl Task {
    /// The object this task names: the bucket from `s3Bucket` (2.0) or `s3BucketArn` (1.0),
    /// the key URL-decoded.
    pub fn location(&self) -> Result<ObjectLocation> {
        let bucket = match (&self.s3_bucket, &self.s3_bucket_arn) {
            (Some(name), _) if !name.is_empty() => name.clone(),
            (_, Some(arn)) => bucket_from_arn(arn)?,
            _ => {
                return Err(Error::usage(
                    "the task names no bucket (s3Bucket or s3BucketArn)",
                ));
            }
        };
        Ok(ObjectLocation {
            bucket,
            key: decode_key(&self.s3_key)?,
        })
    }
}

/// `arn:aws:s3:::NAME` -> `NAME`.
fn bucket_from_arn(arn: &str) -> Result<String> {
    match arn.rsplit_once(':') {
        Some((prefix, name)) if prefix.starts_with("arn:") && !name.is_empty() => {
            Ok(name.to_string())
        }
        _ => Err(Error::usage(format!(
            "s3BucketArn {:?} is not a bucket ARN",
            crate::terminal::escape_for_terminal(arn)
        ))),
    }
}

/// Form-decodes an object key: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub fn decode_key(encoded: &str) -> Result<String> {
    let spaced = encoded.replace('+', " ");
    let key = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|_| Error::usage("the task's s3Key does not decode to UTF-8"))?
        .into_owned();
    if key.is_empty() {
        return Err(Error::usage("the task's s3Key is empty"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(decode_key("a/b%20c+d.txt").unwrap(), "a/b c d.txt");
        assert_eq!(decode_key("%E2%82%AC%2B").unwrap(), "\u{20ac}+");
        assert!(decode_key("%FF").is_err());
        assert!(decode_key("").is_err());
    }

    #[test]
    fn both_schemas_name_the_bucket() {
        let two = Task {
            task_id: "t".into(),
            s3_key: "k".into(),
            s3_version_id: None,
            s3_bucket: Some("b".into()),
            s3_bucket_arn: None,
        };
        assert_eq!(two.location().unwrap().bucket, "b");
        let one = Task {
            s3_bucket: None,
            s3_bucket_arn: Some("arn:aws:s3:::examplebucket".into()),
            ..two.clone()
        };
        assert_eq!(one.location().unwrap().bucket, "examplebucket");
        let none = Task {
            s3_bucket: None,
            ..two
        };
        assert!(none.location().is_err());
    }

    #[test]
    fn unknown_schema_versions_are_refused() {
        let doc =
            br#"{"invocationSchemaVersion":"3.0","invocationId":"i","job":{"id":"j"},"tasks":[]}"#;
        assert!(BatchEvent::parse(doc).is_err());
        assert!(BatchEvent::parse(b"{}").is_err());
    }
}

//! S3 failures as [`StoreError`]s: the error a user sees (cause and hint, class), plus what
//! the pipelines need to decide (can a retry help? which status and code did S3 answer?).
//! Every S3 object call's error is mapped here, once.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::{service_error_parts, transport_error};
use crate::error::Error;
use crate::location::ObjectLocation;

/// A failed object call.
#[derive(Debug)]
pub struct StoreError {
    /// What the user sees.
    pub error: Error,
    /// The request never got an answer, or its body broke: trying again may help.
    pub transient: bool,
    /// HTTP status of S3's answer, if there was one.
    pub status: Option<u16>,
    /// S3's error code, if it sent one.
    pub code: Option<String>,
}

impl StoreError {
    /// A failure that trying again may cure (a broken body, no answer).
    pub fn transient(error: Error) -> Self {
        StoreError {
            error,
            transient: true,
            status: None,
            code: None,
        }
    }

    /// An answer from the server that says no.
    pub fn answered(error: Error, status: u16, code: impl Into<String>) -> Self {
        StoreError {
            error,
            transient: false,
            status: Some(status),
            code: Some(code.into()),
        }
    }

    /// The object (or bucket) is not there.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) || matches!(self.code.as_deref(), Some("NoSuchKey" | "NotFound"))
    }

    /// Whether sending the request again may succeed: no answer or a broken body, or an
    /// answer that says "later" (throttling, a timeout, a server error). For requests the SDK
    /// retries itself this was already tried; a streamed PutObject is never retried by the
    /// SDK, so its caller asks this.
    pub fn is_retryable(&self) -> bool {
        self.transient
            || self.status.is_some_and(|s| s == 429 || s >= 500)
            || matches!(
                self.code.as_deref(),
                Some(
                    "SlowDown"
                        | "Throttling"
                        | "ThrottlingException"
                        | "RequestTimeout"
                        | "RequestTimeTooSkewed"
                        | "InternalError"
                        | "ServiceUnavailable"
                )
            )
    }

    /// The range asked for does not exist (only an empty object has no byte 0).
    pub fn is_unsatisfiable_range(&self) -> bool {
        self.status == Some(416) || self.code.as_deref() == Some("InvalidRange")
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        e.error
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// The permission a denied operation needs, for the hint.
fn permission_for(operation: &str) -> &'static str {
    match operation {
        "GetObject" | "HeadObject" => "s3:GetObject",
        "GetObjectTagging" => "s3:GetObjectTagging",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "ListParts" => "s3:ListMultipartUploadParts",
        "ListObjectsV2" => "s3:ListBucket",
        "DeleteObject" => "s3:DeleteObject",
        "DeleteObjectVersion" => "s3:DeleteObjectVersion",
        _ => "s3:PutObject",
    }
}

/// Maps an S3 failure to an error with the cause and a hint.
pub(crate) fn s3_error<E>(
    operation: &str, location: &ObjectLocation, err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(e) = transport_error(&format!("S3 {operation} {location}"), &err) {
        // A request refused before it left (plain HTTP) will not get better.
        let refused = matches!(err, SdkError::ConstructionFailure(_));
        return StoreError {
            error: e,
            transient: !refused,
            status: None,
            code: None,
        };
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (code, detail) = service_error_parts(&err);
    let error = service_error(operation, location, &code, &detail);
    StoreError {
        error,
        transient: false,
        status,
        code: Some(code),
    }
}

fn service_error(operation: &str, location: &ObjectLocation, code: &str, detail: &str) -> Error {
    let permission = permission_for(operation);
    match code {
        "NoSuchBucket" => Error::runtime_hint(
            format!("bucket {} does not exist ({detail})", location.bucket),
            "check the bucket name and --region / --endpoint-url",
        ),
        "NoSuchKey" | "NotFound" if location.key.ends_with('/') => Error::runtime_hint(
            format!("object {location} does not exist"),
            "a key ending in / names a prefix: add --recursive (get) or use `s3seal sync` for everything under it",
        ),
        "NoSuchKey" | "NotFound" => Error::runtime_hint(
            format!("object {location} does not exist"),
            "check the key; `aws s3 ls` lists what is there",
        ),
        "NoSuchUpload" => Error::runtime_hint(
            format!("the multipart upload of {location} no longer exists ({detail})"),
            "it was aborted or completed meanwhile (a lifecycle rule?); run the command again",
        ),
        "AccessDenied" | "Forbidden" => Error::runtime_hint(
            format!("access denied by S3 for {operation} on {location} ({detail})"),
            format!(
                "the caller needs {permission} on this bucket (and kms permissions for SSE-KMS)"
            ),
        ),
        "PreconditionFailed" if matches!(operation, "PutObject" | "CompleteMultipartUpload") => {
            Error::runtime_hint(
                format!(
                    "{location} was replaced by another writer after it was read ({detail}); the conditional write lost the race and nothing was written"
                ),
                "inspect the new object, then run the command again if it still needs it",
            )
        }
        "PreconditionFailed" => Error::runtime_hint(
            format!("{location} changed while it was being read ({detail})"),
            "the object was overwritten during the download; run the command again",
        ),
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" => Error::runtime_hint(
            format!("S3 rejected the credentials ({detail})"),
            "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --profile, or refresh the session",
        ),
        "InternalError" | "SlowDown" | "ServiceUnavailable" | "RequestTimeout" => {
            Error::unavailable(
                format!("S3 {operation} {location} kept failing after retries ({detail})"),
                "S3 is overloaded or unavailable; try again later (AWS_MAX_ATTEMPTS raises the retries)",
            )
        }
        _ => Error::runtime(format!("S3 {operation} {location} failed: {detail}")),
    }
}

//! The per-object report of a run over many objects: one JSON document per line
//! (docs/JSON.md, "Reports"), written and flushed as each object finishes, so a worker that
//! dies leaves a valid report of what it did, and three shards' reports together show every
//! object exactly once. Fields: `object`, `version_id`, `action`, `kms_key_arn`, `result`
//! (`ok` or `failed`), `error_class` and `error` (on failure), plus the operation's own
//! (`previous_version`, `deleted_previous` for `seal`).

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use super::ObjectRef;
use crate::error::{Error, ErrorClass, Result};

/// The name of an error class in reports and JSON documents.
pub fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Runtime => "runtime",
        ErrorClass::Usage => "usage",
        ErrorClass::Integrity => "integrity",
        ErrorClass::Posture => "posture",
        ErrorClass::Interrupted => "interrupted",
    }
}

/// What an operation did to one object that it finished.
#[derive(Debug, Default)]
pub struct Done {
    /// What happened, in one word: `sealed`, `already-sealed`, `rewrapped`, `verified`, ...
    pub action: String,
    /// The KMS key that wraps the object's data key now.
    pub kms_key_arn: Option<String>,
    /// The operation's own fields, added to the line as they are.
    pub extra: Map<String, Value>,
    /// Set when the object was changed but part of the work failed (a plaintext version
    /// that could not be deleted): the line says `failed` with this error.
    pub failure: Option<Error>,
}

impl Done {
    pub fn new(action: impl Into<String>, kms_key_arn: Option<String>) -> Self {
        Done {
            action: action.into(),
            kms_key_arn,
            ..Done::default()
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportLine {
    pub object: String,
    pub version_id: Option<String>,
    /// `None` when the operation failed before it could do anything.
    pub action: Option<String>,
    pub kms_key_arn: Option<String>,
    /// `ok` or `failed`.
    pub result: &'static str,
    pub error_class: Option<&'static str>,
    pub error: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ReportLine {
    /// The line for `object` and what its operation returned.
    pub fn new(object: &ObjectRef, outcome: &Result<Done>) -> Self {
        let (action, kms_key_arn, extra, failure) = match outcome {
            Ok(done) => (
                Some(done.action.clone()),
                done.kms_key_arn.clone(),
                done.extra.clone(),
                done.failure.as_ref(),
            ),
            Err(e) => (None, None, Map::new(), Some(e)),
        };
        ReportLine {
            object: object.location.to_string(),
            version_id: object.version_id.clone(),
            action,
            kms_key_arn,
            result: if failure.is_some() { "failed" } else { "ok" },
            error_class: failure.map(|e| class_name(e.class())),
            error: failure.map(|e| e.to_string()),
            extra,
        }
    }
}

/// Writes report lines to a file or stdout, each flushed at once.
pub struct ReportWriter {
    out: Box<dyn Write + Send>,
    what: String,
}

impl ReportWriter {
    /// A report on stdout.
    pub fn stdout() -> Self {
        ReportWriter {
            out: Box::new(std::io::stdout()),
            what: "stdout".into(),
        }
    }

    /// A report in the file at `path` (replaced if it exists).
    pub fn create(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::create(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(ReportWriter {
            out: Box::new(file),
            what: path.display().to_string(),
        })
    }

    /// Any writer (tests, the Lambda handler's buffer).
    pub fn to_writer(out: Box<dyn Write + Send>, what: impl Into<String>) -> Self {
        ReportWriter {
            out,
            what: what.into(),
        }
    }

    pub fn write(&mut self, line: &ReportLine) -> Result<()> {
        let mut text = serde_json::to_string(line).expect("report lines serialize");
        text.push('\n');
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::io(self.what.clone(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_object_the_action_and_the_failure() {
        let object = ObjectRef::new("b", "dir/a b");
        let mut done = Done::new("sealed", Some("arn:k".into()));
        done.extra.insert("previous_version".into(), "v1".into());
        let ok = serde_json::to_value(ReportLine::new(&object, &Ok(done))).unwrap();
        assert_eq!(
            ok,
            serde_json::json!({
                "object": "s3://b/dir/a b", "version_id": null, "action": "sealed",
                "kms_key_arn": "arn:k", "result": "ok", "error_class": null, "error": null,
                "previous_version": "v1",
            })
        );
        let failed = ReportLine::new(&object, &Err(Error::integrity("tampered", None)));
        assert_eq!(failed.result, "failed");
        assert_eq!(failed.error_class, Some("integrity"));
        assert_eq!(failed.action, None);
    }
}

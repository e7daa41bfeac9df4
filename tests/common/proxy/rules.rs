//! The proxy's vocabulary: which requests a rule applies to ([`Match`]), what goes wrong
//! ([`Fault`]) and how often ([`Rule`]). Kept apart from the machinery in `proxy.rs` so that a
//! test reads as a list of rules.

use std::time::Duration;

use super::RequestHead;

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client to server: requests, part bodies.
    Up,
    /// Server to client: answers, GET bodies.
    Down,
}

/// What goes wrong.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Reset both TCP connections once `after` bytes went `dir` on this connection (TCP) or in
    /// this request's answer (HTTP, `dir` Down) or body (HTTP, `dir` Up).
    Reset { dir: Dir, after: u64 },
    /// Forward nothing more for `pause` once `after` bytes went `dir`, then carry on.
    Stall {
        dir: Dir,
        after: u64,
        pause: Duration,
    },
    /// HTTP only: answer with `status` and an AWS error body instead of forwarding.
    Respond { status: u16, error: AwsError },
}

impl Fault {
    pub fn reset(dir: Dir, after: u64) -> Fault {
        Fault::Reset { dir, after }
    }

    pub fn stall(dir: Dir, after: u64, pause: Duration) -> Fault {
        Fault::Stall { dir, after, pause }
    }

    /// An S3 error answer, e.g. `(503, "SlowDown")`.
    pub fn s3(status: u16, code: &'static str) -> Fault {
        Fault::Respond {
            status,
            error: AwsError::S3(code),
        }
    }

    /// KMS `ThrottlingException` (HTTP 400).
    pub fn kms_throttling() -> Fault {
        Fault::Respond {
            status: 400,
            error: AwsError::Kms("ThrottlingException"),
        }
    }
}

/// The error bodies the fault server can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsError {
    /// S3 XML `<Error><Code>..`.
    S3(&'static str),
    /// KMS JSON `{"__type": ..}`.
    Kms(&'static str),
}

/// Which requests a rule applies to (HTTP layer; the TCP layer ignores it).
#[derive(Clone, Debug, Default)]
pub struct Match {
    pub method: Option<&'static str>,
    /// Substring of the request target (path and query).
    pub target_has: Option<String>,
    /// Substring the target must not have.
    pub target_lacks: Option<String>,
    /// (lower-case header name, substring of its value).
    pub header_has: Option<(&'static str, String)>,
    /// (lower-case header name): the header must be absent, or must not contain the value.
    pub header_lacks: Option<(&'static str, String)>,
}

impl Match {
    pub fn any() -> Match {
        Match::default()
    }

    /// `GetObject`.
    pub fn get_object() -> Match {
        Match {
            method: Some("GET"),
            header_has: Some(("range", "bytes=".into())),
            ..Match::default()
        }
    }

    /// A ranged `GetObject` after the first one (which reads from byte 0).
    pub fn later_get_object() -> Match {
        Match {
            header_lacks: Some(("range", "bytes=0-".into())),
            ..Match::get_object()
        }
    }

    /// An S3 operation, told by its method and query.
    pub fn s3(op: S3Op) -> Match {
        let (method, has, lacks) = match op {
            S3Op::UploadPart => ("PUT", Some("partNumber="), None),
            S3Op::PutObject => ("PUT", None, Some("partNumber=")),
            S3Op::CreateMultipart => ("POST", Some("uploads"), None),
            S3Op::CompleteMultipart => ("POST", Some("uploadId="), None),
            S3Op::AbortMultipart => ("DELETE", Some("uploadId="), None),
        };
        Match {
            method: Some(method),
            target_has: has.map(Into::into),
            target_lacks: lacks.map(Into::into),
            ..Match::default()
        }
    }

    /// A KMS operation, e.g. "GenerateDataKey" or "Decrypt".
    pub fn kms(operation: &str) -> Match {
        Match {
            method: Some("POST"),
            header_has: Some(("x-amz-target", format!("TrentService.{operation}"))),
            ..Match::default()
        }
    }

    pub(super) fn matches(&self, head: &RequestHead) -> bool {
        if let Some(m) = self.method
            && m != head.method
        {
            return false;
        }
        if let Some(t) = &self.target_has
            && !head.target.contains(t.as_str())
        {
            return false;
        }
        if let Some(t) = &self.target_lacks
            && head.target.contains(t.as_str())
        {
            return false;
        }
        if let Some((name, value)) = &self.header_has
            && !head
                .header(name)
                .is_some_and(|v| v.contains(value.as_str()))
        {
            return false;
        }
        if let Some((name, value)) = &self.header_lacks
            && head
                .header(name)
                .is_some_and(|v| v.contains(value.as_str()))
        {
            return false;
        }
        true
    }
}

/// The S3 operations rules name (GETs have their own matchers: they are told by their range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Op {
    /// PUT with partNumber.
    UploadPart,
    /// PUT without partNumber.
    PutObject,
    /// POST with `?uploads`.
    CreateMultipart,
    /// POST with uploadId.
    CompleteMultipart,
    /// DELETE with uploadId.
    AbortMultipart,
}

/// A fault, where it applies, and how many times it may fire.
#[derive(Clone, Debug)]
pub struct Rule {
    pub matcher: Match,
    pub fault: Fault,
    /// Budget; `u32::MAX` for a permanent fault.
    pub times: u32,
}

impl Rule {
    pub fn new(matcher: Match, fault: Fault, times: u32) -> Rule {
        Rule {
            matcher,
            fault,
            times,
        }
    }
}

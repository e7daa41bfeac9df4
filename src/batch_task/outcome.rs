//! How a task's failure becomes a Batch Operations result: `TemporaryFailure` when trying
//! again later can help (throttling, server errors, timeouts: Batch retries), otherwise
//! `PermanentFailure` with the failure's class first in a short, printable `resultString`,
//! which ends up in the job's completion report (a CSV file people read).

use crate::error::{Error, ErrorClass};

use super::event::ResultCode;

/// The longest `resultString` written (the completion report is for people; Batch also caps
/// what it keeps).
pub const MAX_RESULT_CHARS: usize = 512;

/// Why a task failed, first in its `resultString`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The stored data cannot be trusted (the CLI's exit 3): tampered, truncated, wrong key,
    /// unpinned key, moved object.
    Integrity,
    NotFound,
    AccessDenied,
    /// The job's arguments or the task are wrong, or the object is not what the operation
    /// takes.
    Usage,
    /// Larger than one Lambda invocation can process; the sharded CLI can.
    TooLarge,
    /// Throttled, a server error, a timeout: may succeed later.
    Retryable,
    /// Stopped before Lambda's time limit (or by a signal), nothing half-written.
    Interrupted,
    /// Any other failure that would fail the same way again.
    Runtime,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Integrity => "integrity",
            FailureClass::NotFound => "not-found",
            FailureClass::AccessDenied => "access-denied",
            FailureClass::Usage => "usage",
            FailureClass::TooLarge => "too-large",
            FailureClass::Retryable => "retryable",
            FailureClass::Interrupted => "interrupted",
            FailureClass::Runtime => "runtime",
        }
    }

    /// Batch retries temporary failures only.
    pub fn result_code(self) -> ResultCode {
        match self {
            FailureClass::Retryable | FailureClass::Interrupted => ResultCode::TemporaryFailure,
            _ => ResultCode::PermanentFailure,
        }
    }

    /// The class of a library error. Not-found and access-denied answers of the first HEAD
    /// are classified from S3's status by the caller; here they are recognised from the
    /// message the store and the keyring give them.
    pub fn of(err: &Error) -> FailureClass {
        if err.is_retryable() {
            return FailureClass::Retryable;
        }
        match err.class() {
            ErrorClass::Integrity => FailureClass::Integrity,
            ErrorClass::Usage => FailureClass::Usage,
            ErrorClass::Interrupted => FailureClass::Interrupted,
            ErrorClass::Posture => FailureClass::Runtime,
            ErrorClass::Runtime => {
                let text = err.to_string().to_ascii_lowercase();
                if text.contains("access denied") {
                    FailureClass::AccessDenied
                } else if text.contains("does not exist") || text.contains("not found") {
                    FailureClass::NotFound
                } else {
                    FailureClass::Runtime
                }
            }
        }
    }
}

/// `CLASS: message (hint)`, escaped for a terminal, on one line, at most
/// [`MAX_RESULT_CHARS`] characters. Library errors never carry key material or credentials.
pub fn failure_string(class: FailureClass, message: &str, hint: Option<&str>) -> String {
    let text = match hint {
        Some(hint) => format!("{}: {message} (hint: {hint})", class.as_str()),
        None => format!("{}: {message}", class.as_str()),
    };
    short(&text)
}

/// One printable line of at most [`MAX_RESULT_CHARS`] characters.
pub fn short(text: &str) -> String {
    let escaped = crate::terminal::escape_for_terminal(text).replace(['\n', '\r'], " ");
    if escaped.chars().count() <= MAX_RESULT_CHARS {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(MAX_RESULT_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_decide_whether_batch_retries() {
        let throttled = Error::unavailable("KMS throttled the request", "later");
        assert_eq!(FailureClass::of(&throttled), FailureClass::Retryable);
        assert_eq!(
            FailureClass::of(&throttled).result_code(),
            ResultCode::TemporaryFailure
        );
        let tampered = Error::integrity("chunk 3 failed authentication", None);
        assert_eq!(FailureClass::of(&tampered), FailureClass::Integrity);
        assert_eq!(
            FailureClass::of(&tampered).result_code(),
            ResultCode::PermanentFailure
        );
        let missing = Error::runtime("object s3://b/k does not exist");
        assert_eq!(FailureClass::of(&missing), FailureClass::NotFound);
        let denied = Error::runtime("access denied by KMS for key k");
        assert_eq!(FailureClass::of(&denied), FailureClass::AccessDenied);
        assert_eq!(
            FailureClass::of(&Error::usage("bad")).result_code(),
            ResultCode::PermanentFailure
        );
        assert_eq!(
            FailureClass::of(&Error::Interrupted).result_code(),
            ResultCode::TemporaryFailure
        );
    }

    #[test]
    fn result_strings_are_short_printable_lines() {
        let s = failure_string(
            FailureClass::Usage,
            "key \u{1b}[31mred\nnext",
            Some("fix it"),
        );
        assert!(s.starts_with("usage: "));
        assert!(!s.contains('\u{1b}') && !s.contains('\n'), "{s}");
        let long = "x".repeat(5000);
        let s = failure_string(FailureClass::Runtime, &long, None);
        assert_eq!(s.chars().count(), MAX_RESULT_CHARS);
        assert!(s.ends_with("..."));
    }
}

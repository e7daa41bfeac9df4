//! One error type for the library, and the rules for it:
//! - every error names its cause in words a user can act on, and carries a hint where one helps;
//! - no error ever contains key material, credentials or plaintext;
//! - each error belongs to a [`ErrorClass`], which the CLI turns into an exit code, so the
//!   decision "can this data be trusted?" is made here, once.

use crate::format::FormatError;

/// What kind of failure an error is: decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network, AWS, I/O: retrying later may help.
    Runtime,
    /// The command line or its inputs are wrong.
    Usage,
    /// The stored data cannot be trusted: authentication failed, truncated, tampered, wrong
    /// key or context, moved object.
    Integrity,
    /// The bucket posture check refused the upload.
    Posture,
    /// Interrupted by a signal.
    Interrupted,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("integrity check failed: {0}")]
    Format(#[from] FormatError),
    #[error("integrity check failed: {message}")]
    Integrity {
        message: String,
        hint: Option<String>,
    },
    #[error("{message}")]
    Runtime {
        message: String,
        hint: Option<String>,
    },
    /// The service was busy or did not answer (throttling, server errors after the SDK's
    /// retries, timeouts, a broken connection): the same request may succeed later. Class
    /// [`ErrorClass::Runtime`]; [`Error::is_retryable`] tells it apart for callers that
    /// retry whole tasks (S3 Batch Operations' `TemporaryFailure`).
    #[error("{message}")]
    Unavailable {
        message: String,
        hint: Option<String>,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("refused by the bucket posture check: {0}")]
    Posture(String),
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Error::Runtime {
            message: message.into(),
            hint: None,
        }
    }

    pub fn runtime_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Runtime {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A failure that trying again later may cure (see [`Error::Unavailable`]).
    pub fn unavailable(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Whether the same request may succeed later: throttling, server errors, timeouts,
    /// broken connections. Every other failure would fail the same way again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    pub fn integrity(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Integrity {
            message: message.into(),
            hint,
        }
    }

    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A file the user named as input (a manifest, an event document) that cannot be opened:
    /// a missing or unreadable one is a usage error with a hint, as a missing `put` source is.
    pub fn input_file(path: &std::path::Path, source: std::io::Error) -> Self {
        let shown = path.display();
        match source.kind() {
            std::io::ErrorKind::NotFound => {
                Error::usage_hint(format!("{shown}: no such file"), "check the path")
            }
            std::io::ErrorKind::PermissionDenied => Error::usage_hint(
                format!("{shown}: not readable (permission denied)"),
                "give a file this user may read",
            ),
            _ => Error::io(shown.to_string(), source),
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Usage { .. } => ErrorClass::Usage,
            Error::Format(e) if e.is_integrity() => ErrorClass::Integrity,
            Error::Format(_) => ErrorClass::Runtime,
            Error::Integrity { .. } => ErrorClass::Integrity,
            Error::Runtime { .. } | Error::Unavailable { .. } | Error::Io { .. } => {
                ErrorClass::Runtime
            }
            Error::Posture(_) => ErrorClass::Posture,
            Error::Interrupted => ErrorClass::Interrupted,
        }
    }

    /// A line telling the user what to try, where we know one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Usage { hint, .. }
            | Error::Integrity { hint, .. }
            | Error::Runtime { hint, .. }
            | Error::Unavailable { hint, .. } => hint.clone(),
            Error::Format(FormatError::NotS3seal) => Some(
                "the object was not written by s3seal (or was replaced); `s3seal inspect` shows its first bytes".into(),
            ),
            Error::Format(e) if e.is_integrity() => Some(
                "do not use this data: it was altered, truncated, or does not belong to this key or location".into(),
            ),
            _ => None,
        }
    }
}

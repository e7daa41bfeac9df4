//! A job's user arguments (`job.userArguments`, schema 2.0: at most 10 string pairs) turned
//! into what every task of the invocation does. Unknown names are refused, so a typo in a job
//! fails every task at once instead of running a different operation than the one meant.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// The operation a job runs on each object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Authenticate every byte; write nothing.
    Verify,
    /// Move the data key under `kms_key_id` (`ops::rewrap`).
    Rewrap { kms_key_id: String },
    /// Re-encrypt an S3 Encryption Client object under `kms_key_id` (`ops::migrate`).
    Migrate { kms_key_id: String },
    /// Encrypt a plaintext object in place under `kms_key_id`.
    Seal { kms_key_id: String },
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Verify => "verify",
            Operation::Rewrap { .. } => "rewrap",
            Operation::Migrate { .. } => "migrate",
            Operation::Seal { .. } => "seal",
        }
    }
}

/// Everything the user arguments say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arguments {
    pub operation: Operation,
    /// `expectedKmsKeyIds`: the keys trusted to have wrapped the objects' data keys (comma
    /// separated; ids, ARNs or aliases). Required by rewrap and migrate.
    pub expected_kms_key_ids: Vec<String>,
    /// `expectedContext`: `K=V` pairs (comma separated) the objects' context must carry.
    pub expected_context: Vec<(String, String)>,
    /// `sseKmsKeyId`: the key for S3's own SSE-KMS layer of rewritten objects.
    pub sse_kms_key_id: Option<String>,
    /// `maxObjectBytes`: overrides the operation's size limit for one invocation.
    pub max_object_bytes: Option<u64>,
    /// `allowS3ec`: `true` lets verify accept S3 Encryption Client objects.
    pub allow_s3ec: bool,
}

/// The names [`Arguments::parse`] knows.
pub const NAMES: [&str; 7] = [
    "operation",
    "kmsKeyId",
    "expectedKmsKeyIds",
    "expectedContext",
    "sseKmsKeyId",
    "maxObjectBytes",
    "allowS3ec",
];

fn list(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Arguments {
    /// Reads the user arguments; `None` (schema 1.0) is refused: the operation must be named.
    pub fn parse(args: Option<&BTreeMap<String, String>>) -> Result<Arguments> {
        let hint = "set userArguments on the job's LambdaInvoke operation (InvocationSchemaVersion 2.0): operation=verify|rewrap|migrate|seal, kmsKeyId, expectedKmsKeyIds (docs/SCALE.md)";
        let empty = BTreeMap::new();
        let args = args.unwrap_or(&empty);
        if let Some(unknown) = args.keys().find(|k| !NAMES.contains(&k.as_str())) {
            return Err(Error::usage_hint(
                format!(
                    "unknown user argument {:?}",
                    crate::terminal::escape_for_terminal(unknown)
                ),
                format!("known: {}", NAMES.join(", ")),
            ));
        }
        let kms_key_id = |op: &str| {
            args.get("kmsKeyId")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    Error::usage_hint(format!("{op} needs the user argument kmsKeyId"), hint)
                })
        };
        let operation = match args.get("operation").map(|s| s.trim()) {
            Some("verify") => Operation::Verify,
            Some("rewrap") => Operation::Rewrap {
                kms_key_id: kms_key_id("rewrap")?,
            },
            Some("migrate") => Operation::Migrate {
                kms_key_id: kms_key_id("migrate")?,
            },
            Some("seal") => Operation::Seal {
                kms_key_id: kms_key_id("seal")?,
            },
            Some(other) => {
                return Err(Error::usage_hint(
                    format!(
                        "unknown operation {:?}",
                        crate::terminal::escape_for_terminal(other)
                    ),
                    hint,
                ));
            }
            None => return Err(Error::usage_hint("the job names no operation", hint)),
        };
        let expected_kms_key_ids = list(args.get("expectedKmsKeyIds"));
        if matches!(
            operation,
            Operation::Rewrap { .. } | Operation::Migrate { .. }
        ) && expected_kms_key_ids.is_empty()
        {
            return Err(Error::usage_hint(
                format!(
                    "{} needs expectedKmsKeyIds: without pinned keys it would launder a planted object under your key",
                    operation.name()
                ),
                "set expectedKmsKeyIds to the key ARNs (or aliases) your objects are wrapped under",
            ));
        }
        let expected_context = list(args.get("expectedContext"))
            .iter()
            .map(|pair| {
                pair.split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "expectedContext: {:?} is not KEY=VALUE",
                            crate::terminal::escape_for_terminal(pair)
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let max_object_bytes = match args.get("maxObjectBytes") {
            None => None,
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                Error::usage(format!(
                    "maxObjectBytes {:?} is not a number of bytes",
                    crate::terminal::escape_for_terminal(v)
                ))
            })?),
        };
        let allow_s3ec = match args.get("allowS3ec").map(|s| s.trim()) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(Error::usage("allowS3ec must be true or false")),
        };
        Ok(Arguments {
            operation,
            expected_kms_key_ids,
            expected_context,
            sse_kms_key_id: args
                .get("sseKmsKeyId")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            max_object_bytes,
            allow_s3ec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Result<Arguments> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arguments::parse(Some(&map))
    }

    #[test]
    fn operations_and_their_requirements() {
        assert_eq!(
            args(&[("operation", "verify")]).unwrap().operation,
            Operation::Verify
        );
        let r = args(&[
            ("operation", "rewrap"),
            ("kmsKeyId", "alias/new"),
            ("expectedKmsKeyIds", "arn:a, arn:b"),
            ("expectedContext", "team=x,env=prod"),
            ("maxObjectBytes", "1000"),
        ])
        .unwrap();
        assert_eq!(
            r.operation,
            Operation::Rewrap {
                kms_key_id: "alias/new".into()
            }
        );
        assert_eq!(r.expected_kms_key_ids, ["arn:a", "arn:b"]);
        assert_eq!(r.expected_context.len(), 2);
        assert_eq!(r.max_object_bytes, Some(1000));
        // rewrap and migrate refuse to run unpinned; a key is required to write.
        assert!(args(&[("operation", "rewrap"), ("kmsKeyId", "k")]).is_err());
        assert!(args(&[("operation", "migrate"), ("kmsKeyId", "k")]).is_err());
        assert!(args(&[("operation", "seal")]).is_err());
        assert!(args(&[("operation", "seal"), ("kmsKeyId", "k")]).is_ok());
    }

    #[test]
    fn typos_and_missing_operations_are_refused() {
        assert!(Arguments::parse(None).is_err());
        assert!(args(&[("operation", "verfiy")]).is_err());
        assert!(args(&[("operation", "verify"), ("expectedKmsKeyId", "a")]).is_err());
        assert!(args(&[("operation", "verify"), ("expectedContext", "novalue")]).is_err());
        assert!(args(&[("operation", "verify"), ("maxObjectBytes", "1GiB")]).is_err());
        assert!(args(&[("operation", "verify"), ("allowS3ec", "yes")]).is_err());
    }
}

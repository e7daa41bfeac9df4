//! Key pinning: the KMS keys a reader trusts. Anyone who can write to a bucket can plant an
//! s3seal (or S3EC) object wrapped under a key of their own whose policy lets everyone decrypt;
//! without pins such an object reads back as genuine. With pins, the header's key id must be
//! one of them, compared as full key ARNs before any KMS call, and the `KeyId` KMS reports
//! for the unwrapping must be one of them too. `rewrap` and `migrate` require pins: they
//! would otherwise launder a planted object under the operator's own key.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::kms::{ForeignKey, Keyring};

/// The KMS keys a reader trusts, as full key ARNs. Empty: any key (an unpinned read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPins {
    arns: Vec<String>,
    /// The operation refuses to run unpinned (rewrap, migrate).
    required: bool,
}

/// Escapes what an attacker may control (key ids, KMS messages) for a terminal: the one
/// escaping rule of [`crate::terminal::escape_for_terminal`].
pub fn printable(s: &str) -> String {
    crate::terminal::escape_for_terminal(s).into_owned()
}

/// A full KMS key ARN (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`), as opposed to a key id,
/// an alias name or an alias ARN.
pub fn is_key_arn(id: &str) -> bool {
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && parts[5].strip_prefix("key/").is_some_and(|k| !k.is_empty())
}

impl KeyPins {
    /// No pins: any key KMS will unwrap with is accepted.
    pub fn unpinned() -> Self {
        KeyPins::default()
    }

    /// Pins that are already full key ARNs (see [`KeyPins::resolve`] for other ids).
    pub fn from_arns(arns: Vec<String>) -> Self {
        KeyPins {
            arns,
            required: false,
        }
    }

    /// Resolves `ids` (key ARNs, key ids, alias names or alias ARNs) to full key ARNs: key
    /// ARNs as they are, anything else once with KMS DescribeKey.
    pub async fn resolve(keyring: &impl Keyring, ids: &[String]) -> Result<Self> {
        let mut arns = Vec::with_capacity(ids.len());
        for id in ids.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            let arn = if is_key_arn(id) {
                id.to_string()
            } else {
                keyring.describe_key(id).await?
            };
            if !arns.contains(&arn) {
                arns.push(arn);
            }
        }
        Ok(KeyPins::from_arns(arns))
    }

    /// The same pins, for an operation that refuses to run without any.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn is_pinned(&self) -> bool {
        !self.arns.is_empty()
    }

    pub fn arns(&self) -> &[String] {
        &self.arns
    }

    /// Checks the key an object names (its header's key id, or the key KMS reports it
    /// unwrapped with): a pinned key, or any key when unpinned and pins are not required.
    pub fn check(&self, found: &str) -> Result<()> {
        // Raw in the error: the CLI escapes every error once, where it reaches the terminal.
        let shown = found;
        if self.arns.is_empty() {
            if self.required {
                return Err(Error::usage_hint(
                    format!(
                        "the object's data key is wrapped under KMS key {shown}, and no --expected-kms-key-id pins the keys you trust"
                    ),
                    format!(
                        "if that key is yours, pin it deliberately: --expected-kms-key-id {shown} (or S3SEAL_EXPECTED_KMS_KEY_IDS)"
                    ),
                ));
            }
            return Ok(());
        }
        if self.arns.iter().any(|a| a == found) {
            return Ok(());
        }
        Err(Error::integrity(
            format!(
                "the object's data key is wrapped under KMS key {shown}, which is not one of the --expected-kms-key-id keys"
            ),
            Some(
                "someone who can write to the bucket may have planted it under their own key; do not use this data (pin that key only if you trust it)"
                    .into(),
            ),
        ))
    }

    /// Checks the `KeyId` of KMS's Decrypt answer, when pinned.
    pub fn check_reported(&self, reported: Option<&str>) -> Result<()> {
        match reported {
            Some(arn) => self.check(arn),
            None if self.is_pinned() => Err(Error::integrity(
                "KMS did not say which key unwrapped the data key, so the pinned key cannot be checked",
                None,
            )),
            None => Ok(()),
        }
    }

    /// Unwraps an S3 Encryption Client data key (whose metadata names no key): with pins,
    /// Decrypt is sent with each pinned key as `KeyId` in turn (KMS refuses any other key),
    /// and the key KMS reports is checked.
    pub async fn unwrap_foreign(
        &self, keyring: &impl Keyring, wrapped: &[u8], context: &BTreeMap<String, String>,
    ) -> Result<ForeignKey> {
        let unwrapped = if self.arns.is_empty() {
            keyring.decrypt_foreign(wrapped, context, None).await?
        } else {
            let mut last = None;
            let mut found = None;
            for arn in &self.arns {
                match keyring.decrypt_foreign(wrapped, context, Some(arn)).await {
                    Ok(key) => {
                        found = Some(key);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match (found, last) {
                (Some(key), _) => key,
                (None, Some(Error::Integrity { message, .. })) => {
                    return Err(Error::integrity(
                        format!("no --expected-kms-key-id key unwraps this S3EC object's data key: {message}"),
                        Some("the object was written under another KMS key (perhaps planted), or its metadata was altered; do not use this data".into()),
                    ));
                }
                (None, Some(e)) => return Err(e),
                (None, None) => unreachable!("pinned means at least one key"),
            }
        };
        self.check_reported(unwrapped.key_arn.as_deref())?;
        Ok(unwrapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "arn:aws:kms:us-east-1:111122223333:key/aaaa";
    const B: &str = "arn:aws:kms:us-east-1:111122223333:key/bbbb";

    #[test]
    fn key_arns_are_told_from_other_ids() {
        assert!(is_key_arn(A));
        assert!(!is_key_arn("aaaa"));
        assert!(!is_key_arn("alias/mine"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:111122223333:alias/mine"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:111122223333:key/"));
    }

    #[test]
    fn a_pinned_reader_accepts_only_its_keys() {
        let pins = KeyPins::from_arns(vec![A.into()]);
        assert!(pins.check(A).is_ok());
        let err = pins.check(B).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Integrity);
        assert!(err.to_string().contains(B));
        assert!(pins.check_reported(None).is_err());
    }

    #[test]
    fn unpinned_reads_accept_any_key_unless_pins_are_required() {
        assert!(KeyPins::unpinned().check(B).is_ok());
        let err = KeyPins::unpinned().required().check(B).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        assert!(err.hint().unwrap().contains(B));
    }

    #[test]
    fn the_key_found_is_named_and_escaped_once_for_the_terminal() {
        let pins = KeyPins::from_arns(vec![A.into()]);
        let found = "evil\x1b]0;title\x07\r";
        let err = pins.check(found).unwrap_err().to_string();
        // The error holds the key as found; the CLI escapes every error once, where it is
        // printed (tests/regression: hostile_key_id_in_a_header_is_printed_escaped...).
        assert!(err.contains(found), "{err}");
        let shown = crate::terminal::escape_for_terminal(&err);
        assert!(!shown.contains('\x1b') && !shown.contains('\r') && !shown.contains('\x07'));
        assert!(shown.contains("evil\\u{1b}]0;title\\u{7}\\u{d}"), "{shown}");
    }
}

//! Data keys from AWS KMS: `GenerateDataKey` for every new object and `Decrypt` to read one,
//! always under the object's encryption context. The plaintext data key is copied into a
//! zeroizing [`DataKey`] at once and the SDK's copy is wiped; it is never logged or printed.
//!
//! [`Keyring`] is the seam: the CLI uses [`KmsKeyring`]; tests of pure logic can use another.

use std::collections::BTreeMap;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroize;

use crate::aws::{service_error_parts, transport_error};
use crate::error::{Error, Result};
use crate::format::{DataKey, EncryptionContext};

/// A fresh data key and its KMS-wrapped form.
pub struct NewDataKey {
    pub key: DataKey,
    pub wrapped: Vec<u8>,
    /// The ARN of the KMS key that wrapped it (KMS resolves aliases and key ids to the ARN).
    pub key_arn: String,
}

impl std::fmt::Debug for NewDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDataKey")
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

/// An unwrapped data key and the KMS key that unwrapped it, as KMS reported it (the `KeyId`
/// of the Decrypt response, which a pinned reader checks).
pub struct Unwrapped {
    pub key: DataKey,
    pub key_arn: Option<String>,
}

/// A data key unwrapped for an object another client wrote (the S3 Encryption Client).
pub type ForeignKey = Unwrapped;

/// A data key wrapped anew under another KMS key (rewrap).
#[derive(Debug, Clone)]
pub struct Rewrapped {
    pub wrapped: Vec<u8>,
    pub key_arn: String,
    /// The KMS key that unwrapped the old wrapped key, as KMS reported it.
    pub source_key_arn: Option<String>,
}

/// Where data keys come from.
#[allow(async_fn_in_trait)]
pub trait Keyring {
    async fn generate(&self, key_id: &str, context: &EncryptionContext) -> Result<NewDataKey>;
    /// Unwraps an s3seal data key with `key_id` (the header's). KMS answers that mean "this
    /// object cannot be trusted" are integrity errors.
    async fn decrypt(
        &self, key_id: &str, wrapped: &[u8], context: &EncryptionContext,
    ) -> Result<Unwrapped>;
    /// Unwraps a data key written by the S3 Encryption Client, under exactly its stored
    /// `context`, with `key_id` when the reader pins one (KMS then refuses any other key).
    /// KMS answers that mean "this object cannot be trusted" are integrity errors.
    async fn decrypt_foreign(
        &self, wrapped: &[u8], context: &BTreeMap<String, String>, key_id: Option<&str>,
    ) -> Result<ForeignKey>;
    /// The full key ARN of `key_id` (a key id, key ARN, alias name or alias ARN).
    async fn describe_key(&self, key_id: &str) -> Result<String>;
    /// Wraps the data key behind `wrapped` (under `key_id` and `context`) under `new_key_id`
    /// and `new_context`, without the key leaving KMS.
    async fn reencrypt(
        &self, wrapped: &[u8], key_id: &str, context: &EncryptionContext, new_key_id: &str,
        new_context: &EncryptionContext,
    ) -> Result<Rewrapped>;
}

/// AWS KMS.
#[derive(Clone, Debug)]
pub struct KmsKeyring {
    client: aws_sdk_kms::Client,
}

impl KmsKeyring {
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        KmsKeyring { client }
    }
}

/// Takes the key bytes out of a KMS response blob, wiping the SDK's buffer.
fn take_plaintext(blob: Option<Blob>) -> Result<DataKey> {
    let mut bytes = blob
        .ok_or_else(|| Error::runtime("KMS returned no plaintext data key"))?
        .into_inner();
    Ok(key_from(&mut bytes)?)
}

/// The wrapped data key of a KMS answer.
fn take_wrapped(blob: Option<Blob>) -> Result<Vec<u8>> {
    blob.map(Blob::into_inner)
        .ok_or_else(|| Error::runtime("KMS returned no wrapped data key"))
}

/// Copies a data key out of `bytes` and overwrites them with zeros, whatever their length.
fn key_from(bytes: &mut [u8]) -> std::result::Result<DataKey, crate::format::FormatError> {
    let key = DataKey::from_slice(bytes);
    bytes.zeroize();
    key
}

/// A KMS failure as an error: one that never reached KMS (credentials, TLS, network) as
/// such, one KMS answered through `answered(code, detail)`, the operation's own mapping.
fn kms_failure<E, R>(
    operation: &str, err: aws_sdk_kms::error::SdkError<E, R>,
    answered: impl FnOnce(&str, &str) -> Error,
) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(e) = transport_error(operation, &err) {
        return e;
    }
    let (code, detail) = service_error_parts(&err);
    answered(&code, &detail)
}

/// Maps a KMS failure to an error with the missing permission or the likely cause.
fn kms_error(operation: &str, permission: &str, key_id: &str, code: &str, detail: &str) -> Error {
    match code {
        "NotFoundException" => Error::runtime_hint(
            format!("KMS key {key_id} not found ({detail})"),
            format!(
                "check {} (key id, ARN or alias/NAME) and --region",
                if operation == "DescribeKey" {
                    "--expected-kms-key-id"
                } else {
                    "--kms-key-id"
                }
            ),
        ),
        "AccessDeniedException" => Error::runtime_hint(
            format!("access denied by KMS for key {key_id} ({detail})"),
            format!("the caller needs {permission} on {key_id}"),
        ),
        _ => not_now(code, key_id, detail, "enable it or use another key").unwrap_or_else(|| {
            Error::runtime(format!("KMS {operation} failed for key {key_id}: {detail}"))
        }),
    }
}

impl Keyring for KmsKeyring {
    async fn generate(&self, key_id: &str, context: &EncryptionContext) -> Result<NewDataKey> {
        let out = self
            .client
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.to_map()))
            .send()
            .await
            .map_err(|e| {
                kms_failure("KMS GenerateDataKey", e, |c, d| {
                    kms_error("GenerateDataKey", "kms:GenerateDataKey", key_id, c, d)
                })
            })?;
        let mut out = out;
        let key = take_plaintext(out.plaintext.take())?;
        let wrapped = take_wrapped(out.ciphertext_blob.take())?;
        let key_arn = out.key_id.take().unwrap_or_else(|| key_id.to_string());
        Ok(NewDataKey {
            key,
            wrapped,
            key_arn,
        })
    }

    async fn decrypt(
        &self, key_id: &str, wrapped: &[u8], context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        let mut out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(context.to_map()))
            .send()
            .await
            .map_err(|e| kms_failure("KMS Decrypt", e, |c, d| decrypt_error(key_id, c, d)))?;
        let key = take_plaintext(out.plaintext.take())?;
        Ok(Unwrapped {
            key,
            key_arn: out.key_id.take(),
        })
    }

    async fn decrypt_foreign(
        &self, wrapped: &[u8], context: &BTreeMap<String, String>, key_id: Option<&str>,
    ) -> Result<ForeignKey> {
        let map = context
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = self
            .client
            .decrypt()
            .set_key_id(key_id.map(str::to_string))
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(map))
            .send()
            .await
            .map_err(|e| kms_failure("KMS Decrypt", e, foreign_decrypt_error))?;
        let key_arn = out.key_id.take();
        let mut bytes = out
            .plaintext
            .take()
            .ok_or_else(|| Error::runtime("KMS returned no plaintext data key"))?
            .into_inner();
        let len = bytes.len();
        let key = key_from(&mut bytes).map_err(|_| {
            Error::integrity(
                format!("KMS returned a {len}-byte data key; S3EC uses 32-byte AES-256 keys"),
                None,
            )
        })?;
        Ok(ForeignKey { key, key_arn })
    }

    async fn reencrypt(
        &self, wrapped: &[u8], key_id: &str, context: &EncryptionContext, new_key_id: &str,
        new_context: &EncryptionContext,
    ) -> Result<Rewrapped> {
        let mut out = self
            .client
            .re_encrypt()
            .ciphertext_blob(Blob::new(wrapped))
            .source_key_id(key_id)
            .set_source_encryption_context(Some(context.to_map()))
            .destination_key_id(new_key_id)
            .set_destination_encryption_context(Some(new_context.to_map()))
            .send()
            .await
            .map_err(|e| {
                kms_failure("KMS ReEncrypt", e, |c, d| reencrypt_error(new_key_id, c, d))
            })?;
        let wrapped = take_wrapped(out.ciphertext_blob.take())?;
        let key_arn = out.key_id.take().unwrap_or_else(|| new_key_id.to_string());
        Ok(Rewrapped {
            wrapped,
            key_arn,
            source_key_arn: out.source_key_id.take(),
        })
    }

    async fn describe_key(&self, key_id: &str) -> Result<String> {
        let out = self
            .client
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| {
                kms_failure("KMS DescribeKey", e, |c, d| {
                    kms_error("DescribeKey", "kms:DescribeKey", key_id, c, d)
                })
            })?;
        out.key_metadata
            .map(|m| m.arn.unwrap_or(m.key_id))
            .filter(|arn| !arn.is_empty())
            .ok_or_else(|| Error::runtime(format!("KMS DescribeKey returned no ARN for {key_id}")))
    }
}

/// A failed Decrypt of an s3seal data key. Everything Decrypt is sent comes from the object's
/// header (key id, wrapped key, context), and the header is authenticated only after the data
/// key is unwrapped, so an answer that says "this cannot be unwrapped" is an integrity failure:
/// a script that retries on exit 1 must not retry a tampered or planted object.
fn decrypt_error(key_id: &str, code: &str, detail: &str) -> Error {
    // Raw in the error: the CLI escapes every error once, where it reaches the terminal.
    let key = key_id;
    let altered = "the header (its key id, wrapped key or encryption context) was altered or planted, or the object was moved; do not use this data";
    match code {
        "NotFoundException" => Error::integrity(
            format!("the object's header names KMS key {key}, which KMS does not know ({detail})"),
            Some(format!(
                "{altered} (or it was written in another account or region: check --region)"
            )),
        ),
        "AccessDeniedException" => Error::integrity(
            format!("KMS refused to decrypt the data key with key {key} ({detail})"),
            Some(format!(
                "the object names a key you may not use: a planted object, or you lack kms:Decrypt on {key}; pin the keys you trust with --expected-kms-key-id"
            )),
        ),
        "InvalidCiphertextException" | "IncorrectKeyException" => Error::integrity(
            format!("KMS could not decrypt the data key ({detail})"),
            Some(altered.into()),
        ),
        "InvalidKeyUsageException" | "ValidationException" => Error::integrity(
            format!("KMS rejected the header's key {key} or encryption context ({detail})"),
            Some(altered.into()),
        ),
        _ => not_now(code, key, detail, "ask its owner to enable it").unwrap_or_else(|| {
            Error::runtime(format!("KMS Decrypt failed for key {key}: {detail}"))
        }),
    }
}

/// The answers that mean "not now" whatever the operation: a disabled key (with what to do
/// about it), throttling and KMS's own failures (retryable).
fn not_now(code: &str, key_id: &str, detail: &str, enable: &str) -> Option<Error> {
    match code {
        "DisabledException" | "KMSInvalidStateException" => Some(Error::runtime_hint(
            format!("KMS key {key_id} cannot be used now ({detail})"),
            format!("the key is disabled or pending deletion; {enable}"),
        )),
        "ThrottlingException" | "LimitExceededException" => Some(Error::unavailable(
            format!("KMS throttled the request ({detail})"),
            "try again later or lower the request rate",
        )),
        "KMSInternalException" | "DependencyTimeoutException" | "ServiceUnavailableException" => {
            Some(Error::unavailable(
                format!("KMS could not answer now ({detail})"),
                "try again later",
            ))
        }
        _ => None,
    }
}

/// A failed Decrypt of an S3 Encryption Client data key.
fn foreign_decrypt_error(code: &str, detail: &str) -> Error {
    match code {
        "InvalidCiphertextException"
        | "IncorrectKeyException"
        | "AccessDeniedException"
        | "NotFoundException"
        | "InvalidKeyUsageException"
        | "ValidationException" => Error::integrity(
            format!(
                "KMS could not decrypt the data key of this S3EC object ({detail})"
            ),
            Some("the stored encryption context or wrapped key was altered, it names a KMS key that is not there or is not pinned, or you may not use its key (kms:Decrypt); do not use this data".into()),
        ),
        "DisabledException" | "KMSInvalidStateException" => Error::runtime_hint(
            format!("the object's KMS key cannot be used now ({detail})"),
            "the key is disabled or pending deletion",
        ),
        _ => not_now(code, "of this object", detail, "ask its owner to enable it")
            .unwrap_or_else(|| Error::runtime(format!("KMS Decrypt failed: {detail}"))),
    }
}

/// A failed ReEncrypt (rewrap).
fn reencrypt_error(key_id: &str, code: &str, detail: &str) -> Error {
    match code {
        "NotFoundException" => Error::runtime_hint(
            format!("KMS key {key_id} not found ({detail})"),
            "check --kms-key-id (key id, ARN or alias/NAME) and --region",
        ),
        "AccessDeniedException" => Error::runtime_hint(
            format!("access denied by KMS for ReEncrypt ({detail})"),
            format!(
                "the caller needs kms:ReEncryptFrom on the object's key and kms:ReEncryptTo and kms:Decrypt on {key_id}"
            ),
        ),
        "InvalidCiphertextException" | "IncorrectKeyException" => Error::integrity(
            format!("KMS could not unwrap the object's data key ({detail})"),
            Some(
                "the header's key id, wrapped key or encryption context was altered, or the object was moved".into(),
            ),
        ),
        "DisabledException" | "KMSInvalidStateException" => Error::runtime_hint(
            format!("a KMS key cannot be used now ({detail})"),
            "the old or new key is disabled or pending deletion",
        ),
        _ => not_now(code, key_id, detail, "enable it").unwrap_or_else(|| {
            Error::runtime(format!("KMS ReEncrypt to {key_id} failed: {detail}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_copy_of_a_data_key_is_wiped() {
        let mut bytes: Vec<u8> = (1..=32).collect();
        let key = key_from(&mut bytes).unwrap();
        assert_eq!(bytes.len(), 32);
        assert!(bytes.iter().all(|b| *b == 0), "{bytes:?}");
        drop(key);
        // A wrong length is refused, and wiped all the same.
        let mut short = vec![7u8; 16];
        assert!(key_from(&mut short).is_err());
        assert!(short.iter().all(|b| *b == 0));
    }
}

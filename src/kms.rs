//! Data keys from AWS KMS: `GenerateDataKey` for every new object and `Decrypt` to read one,
//! always under the object's encryption context. The plaintext data key is copied into a
//! zeroizing [`DataKey`] at once and the SDK's copy is wiped; it is never logged or printed.
//!
//! [`Keyring`] is the seam: the CLI uses [`KmsKeyring`]; tests of pure logic can use another.

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

/// Where data keys come from.
#[allow(async_fn_in_trait)]
pub trait Keyring {
    async fn generate(&self, key_id: &str, context: &EncryptionContext) -> Result<NewDataKey>;
    async fn decrypt(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<DataKey>;
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
    let key = DataKey::from_slice(&bytes);
    bytes.zeroize();
    Ok(key?)
}

/// Maps a KMS failure to an error with the missing permission or the likely cause.
fn kms_error<E, R>(
    operation: &str,
    permission: &str,
    key_id: &str,
    err: aws_sdk_kms::error::SdkError<E, R>,
) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(e) = transport_error(&format!("KMS {operation}"), &err) {
        return e;
    }
    let (code, detail) = service_error_parts(&err);
    match code.as_str() {
        "NotFoundException" => Error::runtime_hint(
            format!("KMS key {key_id} not found ({detail})"),
            "check --kms-key-id (key id, ARN or alias/NAME) and --region",
        ),
        "AccessDeniedException" if operation == "Decrypt" => Error::integrity(
            format!("KMS refused to decrypt the data key with key {key_id} ({detail})"),
            Some(format!(
                "the object names a key you may not use, or the wrong key; you need {permission} on {key_id}"
            )),
        ),
        "AccessDeniedException" => Error::runtime_hint(
            format!("access denied by KMS for key {key_id} ({detail})"),
            format!("the caller needs {permission} on {key_id}"),
        ),
        "InvalidCiphertextException" | "IncorrectKeyException" => Error::integrity(
            format!("KMS could not decrypt the data key ({detail})"),
            Some(
                "the encryption context or key does not match what the object was written with: wrong --context, a moved object, or a tampered header".into(),
            ),
        ),
        "DisabledException" | "KMSInvalidStateException" => Error::runtime_hint(
            format!("KMS key {key_id} cannot be used now ({detail})"),
            "the key is disabled or pending deletion; enable it or use another key",
        ),
        "ThrottlingException" | "LimitExceededException" => Error::runtime_hint(
            format!("KMS throttled the request ({detail})"),
            "try again later or lower the request rate",
        ),
        _ => Error::runtime(format!("KMS {operation} failed for key {key_id}: {detail}")),
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
            .map_err(|e| kms_error("GenerateDataKey", "kms:GenerateDataKey", key_id, e))?;
        let mut out = out;
        let key = take_plaintext(out.plaintext.take())?;
        let wrapped = out
            .ciphertext_blob
            .take()
            .ok_or_else(|| Error::runtime("KMS returned no wrapped data key"))?
            .into_inner();
        let key_arn = out.key_id.take().unwrap_or_else(|| key_id.to_string());
        Ok(NewDataKey {
            key,
            wrapped,
            key_arn,
        })
    }

    async fn decrypt(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<DataKey> {
        let mut out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(context.to_map()))
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", "kms:Decrypt", key_id, e))?;
        take_plaintext(out.plaintext.take())
    }
}

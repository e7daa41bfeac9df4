//! The envelope of a new object, set up the same way for every writer (`put`, the upload
//! through a presigned URL): a fresh KMS data key under the object's encryption context
//! (bound to its bucket and key), a random message id, the derived keys, and the header
//! fields. The plaintext data key is dropped as soon as the keys are derived. A resumable
//! upload rebuilds the same envelope from its sealed header ([`NewEnvelope::from_header`]).

use crate::error::{Error, Result};
use crate::format::{
    Backend, ChunkCipher, ChunkSize, EncryptionContext, HeaderFields, MessageId, ObjectKeys,
    ParsedHeader,
};
use crate::kms::Keyring;
use crate::location::ObjectLocation;

/// Keys and header of an object being written.
pub(crate) struct NewEnvelope {
    keys: ObjectKeys,
    fields: HeaderFields,
    /// The ARN of the KMS key that wrapped the data key.
    pub key_arn: String,
    /// Length of the sealed header (it does not depend on the plaintext length, so part 1
    /// can reserve it before the length is known).
    pub header_len: usize,
}

/// The encryption context of an object at `dest` with the caller's pairs.
pub(crate) fn context_for(
    dest: &ObjectLocation, pairs: &[(String, String)],
) -> Result<EncryptionContext> {
    EncryptionContext::for_object(&dest.bucket, &dest.key, pairs)
        .map_err(|e| Error::usage(e.to_string()))
}

impl NewEnvelope {
    /// Asks `keyring` for a data key under `kms_key_id` and derives the object's keys.
    pub async fn generate(
        keyring: &impl Keyring, kms_key_id: &str, context: EncryptionContext, chunk_size: ChunkSize,
    ) -> Result<Self> {
        let new_key = keyring.generate(kms_key_id, &context).await?;
        let message_id = MessageId::random();
        let keys = ObjectKeys::derive(&new_key.key, message_id);
        drop(new_key.key);
        let fields = HeaderFields {
            chunk_size,
            plaintext_len: 0,
            message_id,
            key_id: new_key.key_arn.clone(),
            wrapped_key: new_key.wrapped,
            context,
        };
        let header_len = fields.seal(&keys)?.len();
        Ok(NewEnvelope {
            keys,
            fields,
            key_arn: new_key.key_arn,
            header_len,
        })
    }

    /// The envelope of an upload begun earlier, from its sealed header: the data key is
    /// unwrapped by KMS (under the header's context) and the header's commitment and MAC are
    /// checked, so the keys are exactly the ones the header was sealed with (resumable uploads).
    pub async fn from_header(keyring: &impl Keyring, header: &[u8]) -> Result<Self> {
        let parsed = ParsedHeader::parse(header)?;
        let fields = parsed.fields.clone();
        let unwrapped = keyring
            .decrypt(&fields.key_id, &fields.wrapped_key, &fields.context)
            .await?;
        let verified = parsed.verify(&unwrapped.key)?;
        drop(unwrapped.key);
        let keys = verified.keys().clone_for_epochs();
        Ok(NewEnvelope {
            keys,
            key_arn: unwrapped.key_arn.unwrap_or_else(|| fields.key_id.clone()),
            header_len: header.len(),
            fields,
        })
    }

    /// The sealed header for an object of `plaintext_len` bytes.
    pub fn seal_header(&mut self, plaintext_len: u64) -> Result<Vec<u8>> {
        self.fields.plaintext_len = plaintext_len;
        let header = self.fields.seal(&self.keys)?;
        debug_assert_eq!(header.len(), self.header_len);
        Ok(header)
    }

    pub fn chunk_size(&self) -> ChunkSize {
        self.fields.chunk_size
    }

    /// The chunk cipher of this object.
    pub fn cipher(&self) -> ChunkCipher {
        ChunkCipher::new(&self.keys, self.fields.chunk_size, Backend::default())
    }
}

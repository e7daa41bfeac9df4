//! Finding an S3 Encryption Client object's envelope: its metadata on the object (from the
//! first response, so recognising it costs no extra request) or in `KEY.instruction`, parsed
//! and validated without KMS. Also what `inspect` shows of it.

use std::collections::{BTreeMap, HashMap};

use super::gcm::TAG_LEN;
use super::metadata::{
    self, Envelope, INSTRUCTION_SUFFIX, MetadataError, MetadataLocation, S3ecFormat,
};
use crate::error::{Error, Result};
use crate::location::ObjectLocation;
use crate::store::{ObjectStore, get_range_retrying};

/// Largest instruction file read (they hold a few hundred bytes).
const MAX_INSTRUCTION_BYTES: usize = 64 * 1024;

/// What `inspect` can show about an S3EC object without KMS.
#[derive(Debug, Clone)]
pub struct Description {
    pub format: S3ecFormat,
    pub metadata_location: MetadataLocation,
    pub content_cipher: &'static str,
    pub key_wrapping: &'static str,
    /// The stored KMS encryption context (including `aws:x-amz-cek-alg`).
    pub context: BTreeMap<String, String>,
    pub object_len: u64,
    /// Object size minus the 16-byte tag (`None` if the object is shorter than a tag).
    pub plaintext_len: Option<u64>,
}

fn metadata_error(e: MetadataError) -> Error {
    match e {
        MetadataError::Unsupported(_) => Error::usage_hint(
            e.to_string(),
            "decrypt it with the S3 Encryption Client and its raw keyring",
        ),
        MetadataError::Legacy(_) => Error::integrity(
            e.to_string(),
            Some("legacy modes cannot detect tampering, so s3seal does not read them; if you trust this object, re-encrypt it with an S3 Encryption Client configured for legacy modes".into()),
        ),
        _ => Error::integrity(
            e.to_string(),
            Some("the object's S3 Encryption Client metadata was altered or is incomplete; do not use this data".into()),
        ),
    }
}

/// Reads `KEY.instruction` (at most [`MAX_INSTRUCTION_BYTES`]); `None` if it does not exist.
async fn fetch_instruction(
    store: &dyn ObjectStore, location: &ObjectLocation,
) -> Result<Option<Vec<u8>>> {
    let instruction = ObjectLocation {
        bucket: location.bucket.clone(),
        key: format!("{}{INSTRUCTION_SUFFIX}", location.key),
    };
    let mut body = Vec::new();
    let range = 0..MAX_INSTRUCTION_BYTES as u64 + 1;
    let meta = match get_range_retrying(store, &instruction, range, None, &mut body).await {
        Ok(meta) => meta,
        Err(e) if e.is_not_found() => return Ok(None),
        // An empty instruction file: no metadata in it.
        Err(e) if e.is_unsatisfiable_range() => return Ok(Some(Vec::new())),
        Err(e) => return Err(e.into()),
    };
    if meta.total as usize > MAX_INSTRUCTION_BYTES {
        return Err(Error::integrity(
            format!("{instruction} is too large to be an S3EC instruction file"),
            None,
        ));
    }
    Ok(Some(body))
}

/// The validated S3EC envelope of the object at `location` whose user metadata is `meta`, with
/// its instruction file read when the metadata points there. `Ok(None)`: not an S3EC object.
pub async fn load_envelope(
    store: &dyn ObjectStore, location: &ObjectLocation, meta: &HashMap<String, String>,
) -> Result<Option<Envelope>> {
    let claimed = metadata::detect(meta);
    let instruction = if metadata::needs_instruction_file(meta) {
        match fetch_instruction(store, location).await? {
            Some(body) => Some(body),
            None if claimed.is_none() => return Ok(None),
            None => {
                return Err(Error::integrity(
                    format!(
                        "{location} has S3EC v3 content metadata but no wrapped key, and {}{INSTRUCTION_SUFFIX} does not exist",
                        location.key
                    ),
                    Some("the instruction file was deleted, or the metadata was altered".into()),
                ));
            }
        }
    } else {
        None
    };
    match metadata::parse(meta, instruction.as_deref()) {
        Ok(envelope) => Ok(Some(envelope)),
        Err(MetadataError::NotS3ec) if claimed.is_none() => Ok(None),
        Err(e) => Err(metadata_error(e)),
    }
}

/// What `inspect` shows for an S3EC object (no KMS call). `Ok(None)`: not an S3EC object.
pub async fn describe(
    store: &dyn ObjectStore, location: &ObjectLocation, meta: &HashMap<String, String>,
    object_len: u64,
) -> Result<Option<Description>> {
    Ok(load_envelope(store, location, meta)
        .await?
        .map(|e| describe_envelope(&e, object_len)))
}

/// [`describe`] for an envelope already loaded.
pub fn describe_envelope(envelope: &Envelope, object_len: u64) -> Description {
    Description {
        format: envelope.format,
        metadata_location: envelope.location,
        content_cipher: envelope.content_cipher(),
        key_wrapping: "kms+context",
        context: envelope.context.clone(),
        object_len,
        plaintext_len: object_len.checked_sub(TAG_LEN as u64),
    }
}

//! The content fingerprint of `sync --checksum`: HMAC-SHA-256 of the plaintext under a
//! per-bucket fingerprint key, stored as `x-amz-meta-s3seal-fingerprint`. A plain SHA-256 in
//! metadata would let anyone who can HEAD the object confirm a guessed plaintext; the keyed
//! fingerprint only lets holders of the key do that, and the key is a KMS data key.
//!
//! The key: created once per bucket with KMS GenerateDataKey (under the run's `--kms-key-id`,
//! encryption context bound to the bucket and [`KEY_OBJECT`]) and stored wrapped, as a small
//! JSON object at [`KEY_OBJECT`] in the bucket root. Each run that needs it reads that object
//! and unwraps it with one KMS Decrypt: a constant number of KMS calls per run, none per file.
//! Two first runs racing may each create a key; the later one wins, and fingerprints made
//! under the other simply stop matching, which makes sync transfer again (never skip wrongly).

use std::io::Read;
use std::path::Path;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::format::EncryptionContext;
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::pins::KeyPins;
use crate::store::{ObjectStore, WriteOptions};

/// Where a bucket's wrapped fingerprint key lives (left out of tree listings of the bucket root).
pub const KEY_OBJECT: &str = ".s3seal/fingerprint-key";
/// The encryption-context pair that says what the data key is for.
const PURPOSE: (&str, &str) = ("purpose", "s3seal-sync-fingerprint");
/// Bytes read per step while fingerprinting a file.
const READ_BYTES: usize = 256 * 1024;

/// The stored form of the wrapped key.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    version: u32,
    kms_key_arn: String,
    /// The KMS ciphertext blob, base64.
    wrapped: String,
}

/// A bucket's fingerprint key, unwrapped (wiped on drop; never printed).
#[derive(Clone)]
pub struct FingerprintKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

fn context(bucket: &str) -> Result<EncryptionContext> {
    EncryptionContext::for_object(
        bucket,
        KEY_OBJECT,
        &[(PURPOSE.0.to_string(), PURPOSE.1.to_string())],
    )
    .map_err(|e| Error::runtime(e.to_string()))
}

impl FingerprintKey {
    /// The fingerprint key of `bucket`: read and unwrapped (one KMS call), or, when the bucket
    /// has none and `create_with` names a KMS key, created and stored (one KMS call).
    /// `Ok(None)`: the bucket has no key and none may be created (a download: then no object
    /// carries a fingerprint either).
    /// With `pins` (a download's `--expected-kms-key-id`; for an upload, its own KMS key too),
    /// a key wrapped under any other KMS key is refused before any KMS call, as an object would
    /// be.
    pub async fn load(
        store: &dyn ObjectStore, keyring: &impl Keyring, bucket: &str, create_with: Option<&str>,
        sse_kms_key_id: Option<&str>, pins: &KeyPins,
    ) -> Result<Option<FingerprintKey>> {
        let location = ObjectLocation {
            bucket: bucket.to_string(),
            key: KEY_OBJECT.to_string(),
        };
        let ctx = context(bucket)?;
        let mut buf = Vec::new();
        match store
            .get_range(&location, 0..64 * 1024, None, &mut buf)
            .await
        {
            Ok(_) => {
                let stored: StoredKey = serde_json::from_slice(&buf).map_err(|e| {
                    Error::integrity(
                        format!("{location} is not a fingerprint key: {e}"),
                        Some("delete it to have the next upload with --checksum create a new one (fingerprints then stop matching once)".into()),
                    )
                })?;
                use base64::Engine;
                let wrapped = base64::engine::general_purpose::STANDARD
                    .decode(&stored.wrapped)
                    .map_err(|e| Error::integrity(format!("{location}: {e}"), None))?;
                if pins.check(&stored.kms_key_arn).is_err() {
                    return Err(Error::integrity(
                        format!(
                            "{location} holds a fingerprint key wrapped under KMS key {}, not under {}: anyone who may write to the bucket could have planted it, and fingerprints under a key they know would let them confirm guessed contents",
                            stored.kms_key_arn,
                            pins.arns().join(", ")
                        ),
                        Some("if it was made under another of your keys (before a key rotation), delete it: the next `sync --checksum` upload creates one under --kms-key-id, and every file is compared by content once more".into()),
                    ));
                }
                let unwrapped = keyring.decrypt(&stored.kms_key_arn, &wrapped, &ctx).await?;
                pins.check_reported(unwrapped.key_arn.as_deref())?;
                Ok(Some(FingerprintKey(Zeroizing::new(
                    unwrapped.key.expose().to_vec(),
                ))))
            }
            Err(e) if e.is_not_found() => {
                let Some(kms_key_id) = create_with else {
                    return Ok(None);
                };
                let new = keyring.generate(kms_key_id, &ctx).await?;
                use base64::Engine;
                let stored = StoredKey {
                    version: 1,
                    kms_key_arn: new.key_arn.clone(),
                    wrapped: base64::engine::general_purpose::STANDARD.encode(&new.wrapped),
                };
                let body = serde_json::to_vec(&stored).expect("serialisable");
                let options = WriteOptions {
                    sse_kms_key_id: Some(
                        sse_kms_key_id.map_or_else(|| new.key_arn.clone(), str::to_string),
                    ),
                    ..Default::default()
                };
                store
                    .put_object(&location, body.into(), &options)
                    .await
                    .map_err(|e| e.error)?;
                Ok(Some(FingerprintKey(Zeroizing::new(
                    new.key.expose().to_vec(),
                ))))
            }
            Err(e) => Err(e.error),
        }
    }

    /// A key from raw bytes (tests).
    pub fn from_bytes(bytes: &[u8]) -> FingerprintKey {
        FingerprintKey(Zeroizing::new(bytes.to_vec()))
    }

    /// The fingerprint of a local file's content (hex), read in steps (constant memory).
    pub fn of_file(&self, path: &Path) -> Result<String> {
        let io = |e| Error::io(path.display().to_string(), e);
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        let mut buf = vec![0u8; READ_BYTES];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            mac.update(&buf[..n]);
        }
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::testing::TestKeyring;

    const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/test";

    #[tokio::test]
    async fn the_key_is_created_once_then_unwrapped_with_one_kms_call_per_run() {
        let store = MemoryStore::default();
        let keyring = TestKeyring::new(ARN);
        let none = KeyPins::default();
        let absent = FingerprintKey::load(&store, &keyring, "b", None, None, &none).await;
        assert!(absent.unwrap().is_none(), "a download never creates a key");
        let made = FingerprintKey::load(&store, &keyring, "b", Some(ARN), None, &none)
            .await
            .unwrap()
            .unwrap();
        let again = FingerprintKey::load(&store, &keyring, "b", Some(ARN), None, &none)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*made.0, *again.0);
        assert_eq!(keyring.decrypts(), 1);
        // The stored object holds only the wrapped key.
        let stored = store
            .object(&ObjectLocation {
                bucket: "b".into(),
                key: KEY_OBJECT.into(),
            })
            .unwrap();
        assert!(!stored.windows(32).any(|w| w == made.0.as_slice()));
        // A reader pinned to another KMS key refuses it before any KMS call.
        let other = KeyPins::from_arns(vec!["arn:aws:kms:us-east-1:123456789012:key/other".into()]);
        let refused = FingerprintKey::load(&store, &keyring, "b", None, None, &other).await;
        assert!(refused.is_err());
        assert_eq!(keyring.decrypts(), 1);
    }

    #[test]
    fn fingerprints_depend_on_key_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"same size 1").unwrap();
        std::fs::write(&b, b"same size 2").unwrap();
        let k1 = FingerprintKey::from_bytes(&[1; 32]);
        let k2 = FingerprintKey::from_bytes(&[2; 32]);
        assert_ne!(k1.of_file(&a).unwrap(), k1.of_file(&b).unwrap());
        assert_ne!(k1.of_file(&a).unwrap(), k2.of_file(&a).unwrap());
        assert_eq!(k1.of_file(&a).unwrap(), k1.of_file(&a).unwrap());
        // Not a plain hash of the content.
        use sha2::Digest;
        let plain = hex::encode(Sha256::digest(b"same size 1"));
        assert_ne!(k1.of_file(&a).unwrap(), plain);
        assert_eq!(format!("{k1:?}"), "FingerprintKey(..)");
    }
}

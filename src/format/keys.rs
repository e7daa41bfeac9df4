//! The key schedule: from the KMS data key and the object's message id to the key commitment,
//! the header-MAC key and the per-epoch content keys (`docs/FORMAT.md`, "Key schedule").
//! Key material lives in zeroizing buffers and never appears in `Debug` output.
//!
//! This module only derives: the header seals and checks its own MAC (`header.rs`) and the
//! chunk cipher is built from these keys (`chunk.rs`), so neither is imported here.

use hkdf::Hkdf;
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::layout::ChunkSize;
use super::{FormatError, SUITE_AES256GCM_HKDF_SHA512};

pub const DATA_KEY_LEN: usize = 32;
pub const MESSAGE_ID_LEN: usize = 32;
pub const COMMITMENT_LEN: usize = 32;
pub const MAC_LEN: usize = 32;

pub(crate) const LABEL_COMMIT: &[u8] = b"s3seal/v1 commit";
pub(crate) const LABEL_HEADER_MAC: &[u8] = b"s3seal/v1 header-mac";
pub(crate) const LABEL_CONTENT: &[u8] = b"s3seal/v1 content";

/// log2 of the plaintext bytes one content key covers (64 GiB): each key then encrypts at most
/// 2^32 AES blocks, far inside the AES-GCM usage limits of draft-irtf-cfrg-aead-limits.
pub const EPOCH_BYTES_LOG2: u8 = 36;

/// The plaintext data key from KMS. Zeroized on drop; `Debug` prints no key bytes.
pub struct DataKey(Zeroizing<[u8; DATA_KEY_LEN]>);

impl DataKey {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, FormatError> {
        let array: [u8; DATA_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| FormatError::InvalidDataKey(bytes.len()))?;
        Ok(DataKey(Zeroizing::new(array)))
    }

    pub(crate) fn expose(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// 32 random bytes that make every object's keys unique, even under a reused data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId(pub [u8; MESSAGE_ID_LEN]);

impl MessageId {
    /// A fresh id from the operating system's CSPRNG.
    pub fn random() -> Self {
        let mut bytes = [0u8; MESSAGE_ID_LEN];
        aws_lc_rs::rand::fill(&mut bytes).expect("the OS random number generator failed");
        MessageId(bytes)
    }
}

/// Everything derived from (data key, message id): the root of one object's keys.
pub struct ObjectKeys {
    prk: Zeroizing<[u8; 64]>,
    message_id: MessageId,
}

impl std::fmt::Debug for ObjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectKeys")
            .field("message_id", &hex::encode(self.message_id.0))
            .finish_non_exhaustive()
    }
}

impl ObjectKeys {
    /// PRK = HKDF-Extract(SHA-512, salt = message id, IKM = data key).
    pub fn derive(data_key: &DataKey, message_id: MessageId) -> Self {
        let (prk, _) = Hkdf::<Sha512>::extract(Some(&message_id.0), data_key.expose());
        let mut bytes = Zeroizing::new([0u8; 64]);
        bytes.copy_from_slice(&prk);
        ObjectKeys {
            prk: bytes,
            message_id,
        }
    }

    /// A second handle on the same derivation root (for a chunk cipher that outlives `self`).
    pub(crate) fn clone_for_epochs(&self) -> ObjectKeys {
        ObjectKeys {
            prk: self.prk.clone(),
            message_id: self.message_id,
        }
    }

    pub fn message_id(&self) -> MessageId {
        self.message_id
    }

    pub(crate) fn expand(&self, info: &[&[u8]], out: &mut [u8]) {
        Hkdf::<Sha512>::from_prk(self.prk.as_slice())
            .expect("a SHA-512 PRK is 64 bytes")
            .expand_multi_info(info, out)
            .expect("32 bytes is a valid HKDF-SHA-512 output length");
    }

    /// The key commitment stored in the header.
    pub fn commitment(&self) -> [u8; COMMITMENT_LEN] {
        let mut out = [0u8; COMMITMENT_LEN];
        self.expand(
            &[LABEL_COMMIT, &SUITE_AES256GCM_HKDF_SHA512.to_be_bytes()],
            &mut out,
        );
        out
    }

    /// Constant-time comparison against a stored commitment.
    pub fn check_commitment(&self, stored: &[u8; COMMITMENT_LEN]) -> Result<(), FormatError> {
        if bool::from(self.commitment().ct_eq(stored)) {
            Ok(())
        } else {
            Err(FormatError::CommitmentMismatch)
        }
    }

    /// The HMAC-SHA-256 key of the header MAC (the header computes and checks the MAC).
    pub(crate) fn header_mac_key(&self) -> Zeroizing<[u8; MAC_LEN]> {
        let mut key = Zeroizing::new([0u8; MAC_LEN]);
        self.expand(
            &[LABEL_HEADER_MAC, &SUITE_AES256GCM_HKDF_SHA512.to_be_bytes()],
            key.as_mut_slice(),
        );
        key
    }

    /// Content key of one epoch.
    pub(crate) fn content_key(&self, chunk_size: ChunkSize, epoch: u64) -> Zeroizing<[u8; 32]> {
        let mut key = Zeroizing::new([0u8; 32]);
        self.expand(
            &[
                LABEL_CONTENT,
                &SUITE_AES256GCM_HKDF_SHA512.to_be_bytes(),
                &[chunk_size.log2()],
                &epoch.to_be_bytes(),
            ],
            key.as_mut_slice(),
        );
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = DataKey::from_slice(&[0xAB; 32]).unwrap();
        let text = format!("{key:?}");
        assert!(!text.contains("ab") && !text.contains("171"), "{text}");
        let keys = ObjectKeys::derive(&key, MessageId([1; 32]));
        let text = format!("{keys:?}");
        assert!(!text.contains("prk"), "{text}");
    }

    #[test]
    fn data_key_length_checked() {
        assert_eq!(
            DataKey::from_slice(&[0; 16]).unwrap_err(),
            FormatError::InvalidDataKey(16)
        );
    }

    #[test]
    fn commitment_depends_on_key_and_message_id() {
        let a = DataKey::from_slice(&[1; 32]).unwrap();
        let b = DataKey::from_slice(&[2; 32]).unwrap();
        let ka = ObjectKeys::derive(&a, MessageId([0; 32]));
        let kb = ObjectKeys::derive(&b, MessageId([0; 32]));
        let ka2 = ObjectKeys::derive(&a, MessageId([9; 32]));
        assert_ne!(ka.commitment(), kb.commitment());
        assert_ne!(ka.commitment(), ka2.commitment());
        assert!(ka.check_commitment(&ka.commitment()).is_ok());
        assert_eq!(
            ka.check_commitment(&kb.commitment()),
            Err(FormatError::CommitmentMismatch)
        );
    }

    /// Pins the key schedule to values computed independently (Python `cryptography`, see
    /// `tests/interop/`), so an accidental change of labels or order cannot pass unnoticed.
    #[test]
    fn key_schedule_is_hkdf_sha512_with_documented_labels() {
        let dk = DataKey::from_slice(&[0x42; 32]).unwrap();
        let keys = ObjectKeys::derive(&dk, MessageId([0x24; 32]));
        // Recompute with the hkdf crate directly from the documented formula.
        let hk = Hkdf::<Sha512>::new(Some(&[0x24; 32]), &[0x42; 32]);
        let mut expect = [0u8; 32];
        hk.expand(b"s3seal/v1 commit\x00\x01", &mut expect).unwrap();
        assert_eq!(keys.commitment(), expect);
        let mut content = [0u8; 32];
        hk.expand(
            b"s3seal/v1 content\x00\x01\x14\x00\x00\x00\x00\x00\x00\x00\x02",
            &mut content,
        )
        .unwrap();
        assert_eq!(*keys.content_key(ChunkSize::DEFAULT, 2), content);
    }
}

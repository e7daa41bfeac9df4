//! Content keys for S3 Encryption Client objects: the v2 format encrypts with the KMS data key
//! itself; the v3 key-committing format (suite 0x0073) derives the content key and a key
//! commitment with HKDF-SHA512 from the data key and the message id, and the stored commitment
//! must match (checked in constant time) before any ciphertext is touched.

use hkdf::Hkdf;
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Suite id of ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY, as the two bytes used in HKDF infos and AAD.
pub const SUITE_V3_ID_BYTES: [u8; 2] = [0x00, 0x73];
/// Message id (HKDF salt) length in v3.
pub const MESSAGE_ID_LEN: usize = 28;
/// Key commitment length in v3.
pub const COMMITMENT_LEN: usize = 28;
/// The fixed v3 GCM IV: twelve 0x01 bytes (every object has its own derived key).
pub const V3_IV: [u8; 12] = [0x01; 12];

/// A 256-bit content key, wiped on drop, never printed.
pub struct ContentKey(pub(crate) Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(<redacted>)")
    }
}

impl ContentKey {
    /// The v2 content key: the data key as it is.
    pub fn v2(data_key: &[u8; 32]) -> Self {
        ContentKey(Zeroizing::new(*data_key))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The stored commitment does not match the one derived from the data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitmentMismatch;

/// The v3 key schedule: checks `stored_commitment` against the derived commitment in constant
/// time and only then returns the derived content key.
pub fn derive_v3(
    data_key: &[u8; 32], message_id: &[u8; MESSAGE_ID_LEN],
    stored_commitment: &[u8; COMMITMENT_LEN],
) -> Result<ContentKey, CommitmentMismatch> {
    let hk = Hkdf::<Sha512>::new(Some(message_id), data_key);
    let mut info = [0u8; 11];
    info[..2].copy_from_slice(&SUITE_V3_ID_BYTES);
    info[2..].copy_from_slice(b"COMMITKEY");
    let mut commitment = Zeroizing::new([0u8; COMMITMENT_LEN]);
    hk.expand(&info, commitment.as_mut())
        .expect("28 bytes is a valid HKDF-SHA512 length");
    if !bool::from(commitment.ct_eq(stored_commitment)) {
        return Err(CommitmentMismatch);
    }
    info[2..].copy_from_slice(b"DERIVEKEY");
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(&info, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA512 length");
    Ok(ContentKey(key))
}

/// The commitment for `data_key` and `message_id` (test helper for building v3 objects).
#[cfg(test)]
pub(crate) fn commitment_v3(
    data_key: &[u8; 32], message_id: &[u8; MESSAGE_ID_LEN],
) -> [u8; COMMITMENT_LEN] {
    let hk = Hkdf::<Sha512>::new(Some(message_id), data_key);
    let mut out = [0u8; COMMITMENT_LEN];
    hk.expand(b"\x00\x73COMMITKEY", &mut out).unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specified HKDF-SHA512 (RFC 5869) for data key 0x42.., message id 0x17..: values
    /// computed outside this crate (Python `hmac`/`hashlib` by hand, and `cryptography`'s
    /// HKDF agree) with info `00 73 "COMMITKEY"` (28 bytes) and `00 73 "DERIVEKEY"` (32 bytes).
    /// `tests/s3ec_format.rs` builds whole objects with HKDF written out by hand.
    const KNOWN_COMMITMENT: &str = "aec3878d17d39a3bf1df2a585d705d35ddc2ed534f2e2c89162d5ad0";
    const KNOWN_CONTENT_KEY: &str =
        "0a28cdc74630081854965d1c806e1d9d13fac62d23adbcb758e1733c036801b5";

    #[test]
    fn derivation_matches_the_specified_hkdf() {
        let dk = [0x42u8; 32];
        let mid = [0x17u8; MESSAGE_ID_LEN];
        let commit = commitment_v3(&dk, &mid);
        assert_eq!(hex::encode(commit), KNOWN_COMMITMENT);
        let key = derive_v3(&dk, &mid, &commit).unwrap();
        assert_eq!(hex::encode(key.bytes()), KNOWN_CONTENT_KEY);
    }

    #[test]
    fn any_wrong_commitment_byte_is_refused() {
        let dk = [1u8; 32];
        let mid = [2u8; MESSAGE_ID_LEN];
        let commit = commitment_v3(&dk, &mid);
        for i in 0..COMMITMENT_LEN {
            let mut bad = commit;
            bad[i] ^= 1;
            assert_eq!(derive_v3(&dk, &mid, &bad).unwrap_err(), CommitmentMismatch);
        }
        let mut other_mid = mid;
        other_mid[0] ^= 1;
        assert!(derive_v3(&dk, &other_mid, &commit).is_err());
        assert!(derive_v3(&[3u8; 32], &mid, &commit).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let k = ContentKey::v2(&[0xAB; 32]);
        assert!(!format!("{k:?}").to_lowercase().contains("ab"));
    }
}

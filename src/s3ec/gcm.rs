//! Incremental AES-256-GCM decryption (NIST SP 800-38D) for S3 Encryption Client objects: their
//! whole body is one GCM message, so it is decrypted piece by piece with flat memory. aws-lc-rs
//! has only one-shot GCM, so this is built from RustCrypto's AES block cipher, CTR mode and
//! GHASH. The caller must treat all output as unauthenticated until [`GcmDecryptor::finish`]
//! returned `Ok`.

use aes::Aes256;
use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;

/// GCM IV length supported here (the only one S3EC uses).
pub const IV_LEN: usize = 12;
/// GCM tag length (S3EC: 128 bits).
pub const TAG_LEN: usize = 16;
/// Most plaintext bytes one GCM message may hold: 2^32 - 2 blocks.
pub const MAX_PLAINTEXT_LEN: u64 = ((1u64 << 32) - 2) * 16;

type Aes256Ctr = ctr::Ctr32BE<Aes256>;

/// Decrypts one GCM message incrementally.
pub struct GcmDecryptor {
    ctr: Aes256Ctr,
    ghash: GHash,
    /// E_K(J0), XORed into GHASH's output to form the tag.
    tag_mask: [u8; 16],
    /// Ciphertext bytes not yet hashed (less than one block).
    pending: [u8; 16],
    pending_len: usize,
    aad_len: u64,
    ct_len: u64,
}

impl std::fmt::Debug for GcmDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmDecryptor")
            .field("ct_len", &self.ct_len)
            .finish_non_exhaustive()
    }
}

impl GcmDecryptor {
    /// A decryptor for `key` (32 bytes), a 12-byte `iv` and additional data `aad`.
    pub fn new(key: &[u8; 32], iv: &[u8; IV_LEN], aad: &[u8]) -> Self {
        let cipher = Aes256::new(key.into());
        let mut h = [0u8; 16];
        cipher.encrypt_block((&mut h).into());
        let mut j0 = [0u8; 16];
        j0[..IV_LEN].copy_from_slice(iv);
        j0[15] = 1;
        let mut tag_mask = j0;
        cipher.encrypt_block((&mut tag_mask).into());
        // Counter blocks for the data start at inc32(J0).
        let mut ctr_iv = j0;
        ctr_iv[15] = 2;
        let ctr = Aes256Ctr::new(key.into(), (&ctr_iv).into());
        let mut ghash = GHash::new((&h).into());
        ghash.update_padded(aad);
        GcmDecryptor {
            ctr,
            ghash,
            tag_mask,
            pending: [0u8; 16],
            pending_len: 0,
            aad_len: aad.len() as u64,
            ct_len: 0,
        }
    }

    /// Ciphertext bytes seen so far.
    pub fn ciphertext_len(&self) -> u64 {
        self.ct_len
    }

    /// Decrypts the next ciphertext bytes in place. The result is not authenticated yet.
    pub fn update(&mut self, buf: &mut [u8]) {
        self.ct_len += buf.len() as u64;
        // Hash the ciphertext first (GHASH runs over ciphertext), block by block.
        let mut rest: &[u8] = buf;
        if self.pending_len > 0 {
            let take = (16 - self.pending_len).min(rest.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&rest[..take]);
            self.pending_len += take;
            rest = &rest[take..];
            if self.pending_len == 16 {
                self.ghash.update_padded(&self.pending);
                self.pending_len = 0;
            }
        }
        let whole = rest.len() - rest.len() % 16;
        if whole > 0 {
            self.ghash.update_padded(&rest[..whole]);
        }
        let tail = &rest[whole..];
        if !tail.is_empty() {
            self.pending[..tail.len()].copy_from_slice(tail);
            self.pending_len = tail.len();
        }
        self.ctr.apply_keystream(buf);
    }

    /// Checks `tag` (in constant time) against everything passed to [`update`](Self::update).
    pub fn finish(mut self, tag: &[u8; TAG_LEN]) -> Result<(), TagMismatch> {
        if self.pending_len > 0 {
            let n = self.pending_len;
            self.ghash.update_padded(&self.pending[..n]);
        }
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.ct_len * 8).to_be_bytes());
        self.ghash.update_padded(&lengths);
        let s = self.ghash.clone().finalize();
        let mut expected = [0u8; 16];
        for (i, e) in expected.iter_mut().enumerate() {
            *e = s[i] ^ self.tag_mask[i];
        }
        let ok: bool = expected.ct_eq(tag).into();
        if ok { Ok(()) } else { Err(TagMismatch) }
    }
}

impl Drop for GcmDecryptor {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.tag_mask.zeroize();
        self.pending.zeroize();
    }
}

/// The GCM tag did not verify: the ciphertext, tag, key, IV or AAD is not what was sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMismatch;

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    fn seal(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let mut buf = plain.to_vec();
        k.seal_in_place_append_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), &mut buf)
            .unwrap();
        buf
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Decrypts `sealed` fed in pieces of the given sizes (cycled).
    fn open_in_pieces(
        key: &[u8; 32], iv: &[u8; 12], aad: &[u8], sealed: &[u8], pieces: &[usize],
    ) -> Result<Vec<u8>, TagMismatch> {
        let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut d = GcmDecryptor::new(key, iv, aad);
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < ct.len() {
            let n = pieces[i % pieces.len()].min(ct.len() - pos);
            let mut piece = ct[pos..pos + n].to_vec();
            d.update(&mut piece);
            out.extend_from_slice(&piece);
            pos += n;
            i += 1;
        }
        d.finish(tag.try_into().unwrap())?;
        Ok(out)
    }

    #[test]
    fn agrees_with_one_shot_gcm_for_many_lengths_and_splits() {
        let key = [7u8; 32];
        let iv = [1u8; 12];
        for len in [
            0, 1, 15, 16, 17, 31, 32, 33, 100, 255, 256, 1000, 4096, 65_537,
        ] {
            let plain = pattern(len, len as u8);
            for aad in [&b""[..], &[0x00, 0x73][..], &pattern(40, 3)[..]] {
                let sealed = seal(&key, &iv, aad, &plain);
                for pieces in [&[1usize][..], &[3, 16, 5], &[16], &[7000], &[15, 17, 1, 64]] {
                    let out = open_in_pieces(&key, &iv, aad, &sealed, pieces).unwrap();
                    assert_eq!(out, plain, "len {len} pieces {pieces:?}");
                }
            }
        }
    }

    #[test]
    fn known_answer_nist_gcm_test_case_16() {
        // The GCM spec's test case 16 (AES-256, 96-bit IV, 20-byte AAD).
        let key: [u8; 32] =
            hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
                .unwrap()
                .try_into()
                .unwrap();
        let iv: [u8; 12] = hex::decode("cafebabefacedbaddecaf888")
            .unwrap()
            .try_into()
            .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let plain = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let ct = hex::decode(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        )
        .unwrap();
        let tag: [u8; 16] = hex::decode("76fc6ece0f4e1768cddf8853bb2d551b")
            .unwrap()
            .try_into()
            .unwrap();
        let mut buf = ct.clone();
        let mut d = GcmDecryptor::new(&key, &iv, &aad);
        d.update(&mut buf);
        assert_eq!(buf, plain);
        d.finish(&tag).unwrap();
    }

    #[test]
    fn any_change_fails_the_tag() {
        let key = [9u8; 32];
        let iv = [2u8; 12];
        let plain = pattern(300, 1);
        let sealed = seal(&key, &iv, b"", &plain);
        for pos in [0, 17, 299, 300, 315] {
            let mut bad = sealed.clone();
            bad[pos] ^= 0x40;
            assert_eq!(
                open_in_pieces(&key, &iv, b"", &bad, &[64]),
                Err(TagMismatch),
                "flip at {pos}"
            );
        }
        // Wrong AAD, wrong IV, wrong key, truncation.
        assert!(open_in_pieces(&key, &iv, &[0, 0x73], &sealed, &[64]).is_err());
        assert!(open_in_pieces(&key, &[3u8; 12], b"", &sealed, &[64]).is_err());
        assert!(open_in_pieces(&[8u8; 32], &iv, b"", &sealed, &[64]).is_err());
        let mut cut = sealed[..100].to_vec();
        cut.extend_from_slice(&sealed[sealed.len() - 16..]);
        assert!(open_in_pieces(&key, &iv, b"", &cut, &[64]).is_err());
    }
}

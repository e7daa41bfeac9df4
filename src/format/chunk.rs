//! AES-256-GCM over one chunk, in place. The nonce carries the chunk index and the final-chunk
//! flag, so a chunk only opens at the position and with the finality it was sealed with, and
//! any chunk can be sealed or opened alone, on any core, in any order.
//!
//! Two interchangeable backends: aws-lc-rs (default: one fused AES-GCM loop, at the speed of
//! OpenSSL) and, with the `rustcrypto` feature, RustCrypto's pure-Rust `aes-gcm`. Both produce
//! standard AES-GCM, so each opens what the other sealed.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::keys::{EPOCH_BYTES_LOG2, ObjectKeys};
use super::layout::ChunkSize;
use super::{FormatError, TAG_LEN};

/// Which AES-GCM implementation seals and opens chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    AwsLc,
    #[cfg(feature = "rustcrypto")]
    RustCrypto,
}

enum EpochKey {
    AwsLc(LessSafeKey),
    #[cfg(feature = "rustcrypto")]
    RustCrypto(Box<aes_gcm::Aes256Gcm>),
}

impl EpochKey {
    fn new(backend: Backend, key: &[u8; 32]) -> Self {
        match backend {
            Backend::AwsLc => EpochKey::AwsLc(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key"),
            )),
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use aes_gcm::KeyInit;
                EpochKey::RustCrypto(Box::new(
                    aes_gcm::Aes256Gcm::new_from_slice(key).expect("32-byte AES-256 key"),
                ))
            }
        }
    }

    fn seal(&self, nonce: [u8; 12], data: &mut [u8]) -> [u8; TAG_LEN] {
        match self {
            EpochKey::AwsLc(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        data,
                    )
                    .expect("AES-GCM sealing fails only past 64 GiB per call");
                tag.as_ref().try_into().expect("16-byte tag")
            }
            #[cfg(feature = "rustcrypto")]
            EpochKey::RustCrypto(cipher) => {
                use aes_gcm::aead::AeadInOut;
                let tag = cipher
                    .encrypt_inout_detached(&nonce.into(), &[], data.into())
                    .expect("AES-GCM sealing fails only past 64 GiB per call");
                tag.into()
            }
        }
    }

    /// Opens `sealed` (ciphertext || tag) into `out` (exactly the ciphertext's length),
    /// leaving `sealed` untouched. On failure `out` holds garbage that must not be used.
    fn open_into(&self, nonce: [u8; 12], sealed: &[u8], out: &mut [u8]) -> bool {
        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        match self {
            EpochKey::AwsLc(key) => key
                .open_separate_gather(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    ciphertext,
                    tag,
                    out,
                )
                .is_ok(),
            #[cfg(feature = "rustcrypto")]
            EpochKey::RustCrypto(cipher) => {
                use aes_gcm::aead::AeadInOut;
                out.copy_from_slice(ciphertext);
                let tag = aes_gcm::Tag::try_from(tag).expect("16-byte tag");
                cipher
                    .decrypt_inout_detached(&nonce.into(), &[], out.into(), &tag)
                    .is_ok()
            }
        }
    }

    fn open(&self, nonce: [u8; 12], sealed: &mut [u8]) -> bool {
        match self {
            EpochKey::AwsLc(key) => key
                .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), sealed)
                .is_ok(),
            #[cfg(feature = "rustcrypto")]
            EpochKey::RustCrypto(cipher) => {
                use aes_gcm::aead::AeadInOut;
                let (data, tag) = sealed.split_at_mut(sealed.len() - TAG_LEN);
                let tag = aes_gcm::Tag::try_from(&*tag).expect("16-byte tag");
                cipher
                    .decrypt_inout_detached(&nonce.into(), &[], data.into(), &tag)
                    .is_ok()
            }
        }
    }
}

/// Seals and opens the chunks of one object. `Sync`: share one across worker threads.
pub struct ChunkCipher {
    chunk_size: ChunkSize,
    backend: Backend,
    /// Key of epoch 0, which covers the first 64 GiB: every object most people will ever write.
    first_epoch: EpochKey,
    /// Kept to derive the keys of later epochs on demand.
    keys: ObjectKeysHandle,
}

/// The PRK is needed for epochs past the first; keep a private copy of the derivation root.
struct ObjectKeysHandle(ObjectKeys);

impl ChunkCipher {
    /// The chunk cipher of the object whose keys are `keys`.
    pub fn new(keys: &ObjectKeys, chunk_size: ChunkSize, backend: Backend) -> Self {
        let first = keys.content_key(chunk_size, 0);
        ChunkCipher {
            chunk_size,
            backend,
            first_epoch: EpochKey::new(backend, &first),
            keys: ObjectKeysHandle(keys.clone_for_epochs()),
        }
    }

    /// The epoch (content key number) of chunk `index`.
    pub fn epoch_of(&self, index: u64) -> u64 {
        index >> (EPOCH_BYTES_LOG2 - self.chunk_size.log2())
    }

    /// nonce = 00 00 00 || index (u64 BE) || final flag.
    pub fn nonce(index: u64, is_final: bool) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&index.to_be_bytes());
        nonce[11] = u8::from(is_final);
        nonce
    }

    fn with_key<T>(&self, index: u64, f: impl FnOnce(&EpochKey) -> T) -> T {
        match self.epoch_of(index) {
            0 => f(&self.first_epoch),
            epoch => f(&EpochKey::new(
                self.backend,
                &self.keys.0.content_key(self.chunk_size, epoch),
            )),
        }
    }

    /// Encrypts `data` (one chunk's plaintext, at most the chunk size) in place and returns the
    /// tag to append.
    pub fn seal_in_place(&self, index: u64, is_final: bool, data: &mut [u8]) -> [u8; TAG_LEN] {
        assert!(
            data.len() as u64 <= self.chunk_size.bytes(),
            "chunk larger than the chunk size"
        );
        self.with_key(index, |key| key.seal(Self::nonce(index, is_final), data))
    }

    /// Decrypts one sealed chunk (ciphertext || tag) in place. Returns the plaintext length,
    /// which is at the front of `sealed`.
    pub fn open_in_place(
        &self, index: u64, is_final: bool, sealed: &mut [u8],
    ) -> Result<usize, FormatError> {
        let fail = FormatError::ChunkAuthentication { index };
        if sealed.len() < TAG_LEN || sealed.len() as u64 > self.chunk_size.sealed_bytes() {
            return Err(fail);
        }
        if self.with_key(index, |key| key.open(Self::nonce(index, is_final), sealed)) {
            Ok(sealed.len() - TAG_LEN)
        } else {
            Err(fail)
        }
    }

    /// Decrypts one sealed chunk (ciphertext || tag) into the front of `out`, leaving `sealed`
    /// as it was (the download writes the plaintext from a buffer aligned for direct I/O).
    /// Returns the plaintext length. On failure the front of `out` holds garbage.
    pub fn open_into(
        &self, index: u64, is_final: bool, sealed: &[u8], out: &mut [u8],
    ) -> Result<usize, FormatError> {
        let fail = FormatError::ChunkAuthentication { index };
        if sealed.len() < TAG_LEN || sealed.len() as u64 > self.chunk_size.sealed_bytes() {
            return Err(fail);
        }
        let n = sealed.len() - TAG_LEN;
        let out = &mut out[..n];
        if self.with_key(index, |key| {
            key.open_into(Self::nonce(index, is_final), sealed, out)
        }) {
            Ok(n)
        } else {
            Err(fail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{DataKey, MessageId};

    fn cipher(backend: Backend) -> ChunkCipher {
        let keys = ObjectKeys::derive(&DataKey::from_slice(&[5; 32]).unwrap(), MessageId([6; 32]));
        ChunkCipher::new(&keys, ChunkSize::from_log2(16).unwrap(), backend)
    }

    fn seal(c: &ChunkCipher, index: u64, fin: bool, data: &[u8]) -> Vec<u8> {
        let mut buf = data.to_vec();
        let tag = c.seal_in_place(index, fin, &mut buf);
        buf.extend_from_slice(&tag);
        buf
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(
            ChunkCipher::nonce(0x0102, true),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1]
        );
    }

    #[test]
    fn chunk_bound_to_index_and_finality() {
        let c = cipher(Backend::AwsLc);
        let sealed = seal(&c, 3, false, b"hello chunk");
        let mut ok = sealed.clone();
        assert_eq!(c.open_in_place(3, false, &mut ok).unwrap(), 11);
        assert_eq!(&ok[..11], b"hello chunk");
        for (index, fin) in [(4, false), (3, true), (2, false)] {
            let mut bad = sealed.clone();
            assert_eq!(
                c.open_in_place(index, fin, &mut bad),
                Err(FormatError::ChunkAuthentication { index })
            );
        }
    }

    /// Opening into another buffer gives the plaintext opening in place gives, leaves the
    /// sealed bytes as they were, and refuses the same tampering, index and finality.
    #[test]
    fn open_into_matches_open_in_place() {
        for backend in backends() {
            let c = cipher(backend);
            let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
            let sealed = seal(&c, 9, true, &data);
            let mut out = vec![0xAA; 6000];
            assert_eq!(c.open_into(9, true, &sealed, &mut out), Ok(data.len()));
            assert_eq!(&out[..data.len()], &data[..]);
            assert!(
                out[data.len()..].iter().all(|&b| b == 0xAA),
                "wrote past the plaintext"
            );
            assert_eq!(sealed, seal(&c, 9, true, &data), "the sealed bytes changed");
            for (index, fin) in [(8, true), (9, false)] {
                assert_eq!(
                    c.open_into(index, fin, &sealed, &mut out),
                    Err(FormatError::ChunkAuthentication { index })
                );
            }
            for at in [0, 100, sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[at] ^= 1;
                assert!(
                    c.open_into(9, true, &bad, &mut out).is_err(),
                    "flip at {at}"
                );
            }
            assert!(c.open_into(9, true, &sealed[..15], &mut out).is_err());
        }
    }

    fn backends() -> Vec<Backend> {
        #[allow(unused_mut)]
        let mut list = vec![Backend::AwsLc];
        #[cfg(feature = "rustcrypto")]
        list.push(Backend::RustCrypto);
        list
    }

    /// One-shot AES-256-GCM straight from aws-lc-rs, without [`EpochKey`] or [`ChunkCipher`]:
    /// the independent reference the chunk cipher's output is compared with.
    fn reference_seal(key: &[u8; 32], nonce: [u8; 12], data: &[u8]) -> Vec<u8> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let mut out = data.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut out)
            .unwrap();
        out
    }

    fn reference_opens(key: &[u8; 32], nonce: [u8; 12], sealed: &[u8]) -> bool {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let mut buf = sealed.to_vec();
        key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .is_ok()
    }

    /// Each chunk is sealed with the content key of its own epoch: the first chunk of epoch 1
    /// is exactly AES-256-GCM under `content_key(.., 1)` at its nonce, and epoch 0's key does
    /// not open it; the last chunk of epoch 0 still uses epoch 0's key, and epoch 2 its own.
    #[test]
    fn later_epochs_use_other_keys() {
        let k16 = ChunkSize::from_log2(16).unwrap();
        let keys = ObjectKeys::derive(&DataKey::from_slice(&[5; 32]).unwrap(), MessageId([6; 32]));
        let key = |epoch| keys.content_key(k16, epoch);
        assert_ne!(*key(0), *key(1));
        let per_epoch = 1u64 << (EPOCH_BYTES_LOG2 - 16);
        let data = b"epoch boundary chunk";
        for backend in backends() {
            let c = cipher(backend);
            assert_eq!(c.epoch_of(per_epoch - 1), 0);
            assert_eq!(c.epoch_of(per_epoch), 1);
            assert_eq!(c.epoch_of(2 * per_epoch), 2);
            for (index, epoch) in [(per_epoch - 1, 0), (per_epoch, 1), (2 * per_epoch, 2)] {
                for fin in [false, true] {
                    let nonce = ChunkCipher::nonce(index, fin);
                    let sealed = seal(&c, index, fin, data);
                    assert_eq!(
                        sealed,
                        reference_seal(&key(epoch), nonce, data),
                        "chunk {index} ({backend:?}) not sealed with the epoch-{epoch} key"
                    );
                    assert!(reference_opens(&key(epoch), nonce, &sealed));
                    for other in (0..3).filter(|&e| e != epoch) {
                        assert!(
                            !reference_opens(&key(other), nonce, &sealed),
                            "the epoch-{other} key opens chunk {index} of epoch {epoch}"
                        );
                    }
                    let mut round = sealed.clone();
                    assert_eq!(c.open_in_place(index, fin, &mut round), Ok(data.len()));
                    // The cipher refuses a chunk sealed under epoch 0's key at an epoch-1 index.
                    if epoch == 1 {
                        let mut wrong = reference_seal(&key(0), nonce, data);
                        assert!(c.open_in_place(index, fin, &mut wrong).is_err());
                    }
                }
            }
        }
    }

    #[test]
    fn oversized_or_short_chunks_rejected() {
        let c = cipher(Backend::AwsLc);
        let mut short = vec![0u8; 15];
        assert!(c.open_in_place(0, true, &mut short).is_err());
        let mut long = vec![0u8; (1 << 16) + 17];
        assert!(c.open_in_place(0, true, &mut long).is_err());
    }

    #[cfg(feature = "rustcrypto")]
    #[test]
    fn backends_open_each_others_chunks() {
        let lc = cipher(Backend::AwsLc);
        let rc = cipher(Backend::RustCrypto);
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        for (index, fin, len) in [(0, false, 65536), (1, true, 4464), (7, true, 0)] {
            let a = seal(&lc, index, fin, &data[..len]);
            let b = seal(&rc, index, fin, &data[..len]);
            assert_eq!(a, b, "backends disagree at chunk {index}");
            let mut x = a.clone();
            assert_eq!(rc.open_in_place(index, fin, &mut x).unwrap(), len);
            let mut y = b.clone();
            assert_eq!(lc.open_in_place(index, fin, &mut y).unwrap(), len);
            let mut tampered = a.clone();
            tampered[0] ^= 1;
            assert!(rc.open_in_place(index, fin, &mut tampered).is_err());
        }
    }
}

//! What the library's unit tests share: a keyring that wraps data keys locally (no KMS),
//! counts its Decrypt calls, can report another key than the header names (a lying or
//! confused KMS), and can play a concurrent writer that replaces an object between read and
//! write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::{DataKey, EncryptionContext};
use crate::kms::{ForeignKey, Keyring, NewDataKey, Rewrapped, Unwrapped};
use crate::location::ObjectLocation;
use crate::store::memory::MemoryStore;

/// What the concurrent writer of [`TestKeyring::race`] stores.
pub const NEWER: &[u8] = b"a newer object by another writer";

/// "Wraps" data keys by XOR; `arn` is the key it says it used.
pub struct TestKeyring {
    pub arn: &'static str,
    /// The key Decrypt reports (normally `arn`).
    pub reports: &'static str,
    pub decrypts: AtomicU32,
    /// Replaces the object here with [`NEWER`] during ReEncrypt or GenerateDataKey (a
    /// concurrent writer, after the read and before the write).
    pub race: Option<(Arc<MemoryStore>, ObjectLocation)>,
}

impl TestKeyring {
    /// How many data keys were unwrapped.
    pub fn decrypts(&self) -> u32 {
        self.decrypts.load(Ordering::SeqCst)
    }

    pub fn new(arn: &'static str) -> Self {
        TestKeyring {
            arn,
            reports: arn,
            decrypts: AtomicU32::new(0),
            race: None,
        }
    }
}

fn xor(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| b ^ 0x5a).collect()
}

impl Keyring for TestKeyring {
    async fn generate(&self, _key_id: &str, _context: &EncryptionContext) -> Result<NewDataKey> {
        if let Some((store, location)) = &self.race {
            store.insert(location, Bytes::from_static(NEWER));
        }
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("randomness");
        Ok(NewDataKey {
            key: DataKey::from_slice(&key)?,
            wrapped: xor(&key),
            key_arn: self.arn.into(),
        })
    }

    async fn decrypt(
        &self, _key_id: &str, wrapped: &[u8], _context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        Ok(Unwrapped {
            key: DataKey::from_slice(&xor(wrapped))?,
            key_arn: Some(self.reports.into()),
        })
    }

    async fn decrypt_foreign(
        &self, _wrapped: &[u8], _context: &BTreeMap<String, String>, _key_id: Option<&str>,
    ) -> Result<ForeignKey> {
        Err(Error::runtime("not used by these tests"))
    }

    async fn reencrypt(
        &self, wrapped: &[u8], key_id: &str, _context: &EncryptionContext, _new_key_id: &str,
        _new_context: &EncryptionContext,
    ) -> Result<Rewrapped> {
        if let Some((store, location)) = &self.race {
            store.insert(location, Bytes::from_static(NEWER));
        }
        Ok(Rewrapped {
            wrapped: wrapped.to_vec(),
            key_arn: self.arn.into(),
            source_key_arn: Some(key_id.into()),
        })
    }

    async fn describe_key(&self, _key_id: &str) -> Result<String> {
        Ok(self.arn.into())
    }
}

/// The header fields the format's unit tests share.
pub fn sample_fields() -> crate::format::HeaderFields {
    crate::format::HeaderFields {
        chunk_size: crate::format::ChunkSize::DEFAULT,
        plaintext_len: 12345,
        message_id: crate::format::MessageId([7; 32]),
        key_id: "arn:aws:kms:us-east-1:123456789012:key/abc".into(),
        wrapped_key: vec![9; 180],
        context: EncryptionContext::for_object("b", "k", &[("team".into(), "x".into())]).unwrap(),
    }
}

/// An upload of `dest` under a test key, 64 KiB chunks, 5 MiB parts, 2 in flight.
pub fn upload_request(
    dest: ObjectLocation, if_match: Option<String>,
) -> crate::transfer::upload::UploadRequest {
    crate::transfer::upload::UploadRequest {
        settings: Default::default(),
        dest,
        kms_key_id: "alias/test".into(),
        sse_kms_key_id: None,
        context: vec![],
        chunk_size: crate::format::ChunkSize::from_log2(16).unwrap(),
        part_size: 5 << 20,
        concurrency: 2,
        if_match,
        stream_put_max: 0,
    }
}

/// A download of a whole object, no pins or context, 1 MiB ranges, 2 in flight.
pub fn download_request() -> crate::transfer::download::DownloadRequest {
    crate::transfer::download::DownloadRequest {
        expected_context: vec![],
        allow_relocated: false,
        pins: Default::default(),
        range: None,
        concurrency: 2,
        unit_bytes: 1 << 20,
        read_bytes: 4 << 20,
        shared: None,
    }
}

/// Seals `plain` into `store` at `dest` under a [`TestKeyring`] of `arn`, with
/// [`upload_request`]'s settings (64 KiB chunks, 5 MiB parts).
pub async fn seal_into(
    store: std::sync::Arc<dyn crate::store::ObjectStore>, dest: ObjectLocation, arn: &'static str,
    plain: &[u8],
) {
    let source = crate::transfer::Source::Stream(Box::new(std::io::Cursor::new(plain.to_vec())));
    crate::transfer::upload::upload(
        store,
        &TestKeyring::new(arn),
        source,
        &upload_request(dest, None),
        std::sync::Arc::new(crate::transfer::NoProgress),
        crate::transfer::Cancel::never(),
    )
    .await
    .expect("upload");
}

//! The objects the vectors are made of: sealed by the library from fixed data keys, message ids
//! and plaintexts, and re-encoded by an independent header encoder and key schedule written from
//! docs/FORMAT.md (sections 3 and 4), which must reproduce the library's header byte for byte.
//! Tampered headers are built with that encoder.

use hkdf::Hkdf;
use hmac::Hmac;
use s3seal::format::{
    Backend, ChunkCipher, ChunkSize, DataKey, EncryptionContext, HeaderFields, Layout, MessageId,
    ObjectKeys, seal_to_vec,
};
use sha2::{Digest, Sha256, Sha512};

use super::schema::KmsBinding;

pub(crate) const C16: usize = 1 << 16;
pub(crate) const KEY_ID: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// Same length as KEY_ID, so swapping it keeps the header length.
pub(crate) const OTHER_KEY_ID: &str =
    "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
pub(crate) const BUCKET: &str = "vectors-bucket";
pub(crate) const OBJECT_KEY: &str = "vectors/object.bin";
pub(crate) const WRAPPED_LEN: usize = 184;

// ---------------------------------------------------------------------------------------------
// Objects sealed by the library

/// One object sealed by the library, with everything needed to tamper with it.
#[derive(Clone)]
pub(crate) struct Obj {
    pub(crate) dk: [u8; 32],
    pub(crate) mid: [u8; 32],
    pub(crate) k: u8,
    pub(crate) key_id: String,
    pub(crate) wrapped: Vec<u8>,
    pub(crate) pairs: Vec<(String, String)>, // the full context, sorted, as stored
    pub(crate) plaintext: Vec<u8>,
    pub(crate) bytes: Vec<u8>,
    pub(crate) layout: Layout,
    /// Set once the object is stored as a file: (file name).
    pub(crate) file: Option<String>,
}

pub(crate) fn data_key(seed: u8) -> [u8; 32] {
    std::array::from_fn(|i| seed.wrapping_add(i as u8))
}

/// Message id `n`: bytes 0x20..0x3f with the last byte XOR n (n = 0 is the id of the
/// key-schedule test values in docs/FORMAT.md section 4).
pub(crate) fn message_id(n: u8) -> [u8; 32] {
    let mut m: [u8; 32] = std::array::from_fn(|i| 0x20 + i as u8);
    m[31] ^= n;
    m
}

/// A stand-in for a KMS CiphertextBlob: opaque, deterministic, 184 bytes like AWS's.
pub(crate) fn fake_wrapped(seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    let mut block = Sha256::digest([b"s3seal vector wrapped key ".as_slice(), &[seed]].concat());
    while out.len() < WRAPPED_LEN {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(WRAPPED_LEN);
    out
}

/// Plaintext byte j = (j * 7 + 3) mod 251: not all equal, not a multiple of the block size.
pub(crate) fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|j| ((j * 7 + 3) % 251) as u8).collect()
}

pub(crate) fn user_pairs() -> Vec<(String, String)> {
    vec![
        ("department".into(), "finance".into()),
        ("project".into(), "s3seal vectors".into()),
    ]
}

pub(crate) struct ObjSpec {
    pub(crate) dk: [u8; 32],
    pub(crate) mid: [u8; 32],
    pub(crate) k: u8,
    pub(crate) len: usize,
    pub(crate) user: Vec<(String, String)>,
    pub(crate) wrapped_seed: u8,
}

pub(crate) fn seal(spec: ObjSpec) -> Obj {
    let dk = DataKey::from_slice(&spec.dk).expect("32 bytes");
    let keys = ObjectKeys::derive(&dk, MessageId(spec.mid));
    let context = EncryptionContext::for_object(BUCKET, OBJECT_KEY, &spec.user).expect("context");
    let fields = HeaderFields {
        chunk_size: ChunkSize::from_log2(spec.k).expect("k"),
        plaintext_len: spec.len as u64,
        message_id: MessageId(spec.mid),
        key_id: KEY_ID.to_string(),
        wrapped_key: fake_wrapped(spec.wrapped_seed),
        context: context.clone(),
    };
    let pt = plaintext(spec.len);
    let bytes = seal_to_vec(&keys, &fields, &pt).expect("seal");
    let pairs: Vec<(String, String)> = context
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let header = RawHeader::of_fields(
        &spec.dk,
        &spec.mid,
        spec.k,
        spec.len as u64,
        KEY_ID,
        &fields.wrapped_key,
        &pairs,
    );
    let h = header.encode(&Mac::Compute(k_mac(&spec.dk, &spec.mid)));
    assert_eq!(
        h[..],
        bytes[..h.len()],
        "the independent header encoder disagrees with the library"
    );
    Obj {
        dk: spec.dk,
        mid: spec.mid,
        k: spec.k,
        key_id: KEY_ID.to_string(),
        wrapped: fields.wrapped_key.clone(),
        pairs,
        plaintext: pt,
        layout: Layout::new(h.len() as u64, fields.chunk_size, spec.len as u64),
        bytes,
        file: None,
    }
}

impl Obj {
    pub(crate) fn header_len(&self) -> usize {
        self.layout.header_len() as usize
    }
    pub(crate) fn header(&self) -> &[u8] {
        &self.bytes[..self.header_len()]
    }
    pub(crate) fn chunk(&self, i: u64) -> std::ops::Range<usize> {
        let r = self.layout.chunk_cipher_range(i);
        r.start as usize..r.end as usize
    }
    pub(crate) fn chunk_bytes(&self, i: u64) -> &[u8] {
        &self.bytes[self.chunk(i)]
    }
    pub(crate) fn raw_header(&self) -> RawHeader {
        RawHeader::of_fields(
            &self.dk,
            &self.mid,
            self.k,
            self.plaintext.len() as u64,
            &self.key_id,
            &self.wrapped,
            &self.pairs,
        )
    }
    pub(crate) fn binding(&self) -> KmsBinding {
        KmsBinding {
            key_id: self.key_id.clone(),
            wrapped_key_hex: hex::encode(&self.wrapped),
            context: self
                .pairs
                .iter()
                .map(|(k, v)| [k.clone(), v.clone()])
                .collect(),
        }
    }
    /// Chunk `i` sealed again with the library's chunk cipher, with the given final flag.
    pub(crate) fn resealed_chunk(&self, i: u64, is_final: bool) -> Vec<u8> {
        let dk = DataKey::from_slice(&self.dk).expect("32 bytes");
        let keys = ObjectKeys::derive(&dk, MessageId(self.mid));
        let cipher = ChunkCipher::new(
            &keys,
            ChunkSize::from_log2(self.k).expect("k"),
            Backend::default(),
        );
        let r = self.layout.chunk_plain_range(i);
        let mut data = self.plaintext[r.start as usize..r.end as usize].to_vec();
        let tag = cipher.seal_in_place(i, is_final, &mut data);
        data.extend_from_slice(&tag);
        data
    }
}

// ---------------------------------------------------------------------------------------------
// An independent header encoder and key schedule (docs/FORMAT.md sections 3 and 4)

pub(crate) fn expand(dk: &[u8; 32], mid: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha512>::new(Some(mid), dk);
    let mut out = [0u8; 32];
    hk.expand(info, &mut out).expect("32 bytes");
    out
}

pub(crate) fn commitment(dk: &[u8; 32], mid: &[u8; 32]) -> [u8; 32] {
    expand(dk, mid, b"s3seal/v1 commit\x00\x01")
}

pub(crate) fn k_mac(dk: &[u8; 32], mid: &[u8; 32]) -> [u8; 32] {
    expand(dk, mid, b"s3seal/v1 header-mac\x00\x01")
}

pub(crate) enum Mac {
    /// HMAC-SHA-256 under this K_mac (a correct MAC for the bytes as encoded).
    Compute([u8; 32]),
    /// These 32 bytes, whatever the header says (a stale MAC).
    Keep([u8; 32]),
}

/// Every field of a header, free to be set to invalid values.
#[derive(Clone)]
pub(crate) struct RawHeader {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u8,
    pub(crate) suite: u16,
    /// None: the true length of the encoding.
    pub(crate) header_len: Option<u32>,
    pub(crate) k: u8,
    pub(crate) flags: u8,
    pub(crate) len: u64,
    pub(crate) mid: [u8; 32],
    pub(crate) commitment: [u8; 32],
    pub(crate) key_id: Vec<u8>,
    pub(crate) wrapped: Vec<u8>,
    /// None: the number of pairs.
    pub(crate) pair_count: Option<u16>,
    pub(crate) pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawHeader {
    pub(crate) fn of_fields(
        dk: &[u8; 32], mid: &[u8; 32], k: u8, len: u64, key_id: &str, wrapped: &[u8],
        pairs: &[(String, String)],
    ) -> RawHeader {
        RawHeader {
            magic: *b"\x89S3SEAL\n",
            version: 1,
            suite: 1,
            header_len: None,
            k,
            flags: 0,
            len,
            mid: *mid,
            commitment: commitment(dk, mid),
            key_id: key_id.as_bytes().to_vec(),
            wrapped: wrapped.to_vec(),
            pair_count: None,
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    pub(crate) fn encode(&self, mac: &Mac) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.magic);
        out.push(self.version);
        out.extend_from_slice(&self.suite.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(self.k);
        out.push(self.flags);
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.mid);
        out.extend_from_slice(&self.commitment);
        let field = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        };
        field(&mut out, &self.key_id);
        field(&mut out, &self.wrapped);
        let count = self.pair_count.unwrap_or(self.pairs.len() as u16);
        out.extend_from_slice(&count.to_be_bytes());
        for (k, v) in &self.pairs {
            field(&mut out, k);
            field(&mut out, v);
        }
        let h = self.header_len.unwrap_or((out.len() + 32) as u32);
        out[11..15].copy_from_slice(&h.to_be_bytes());
        let tag = match mac {
            Mac::Compute(key) => {
                let mut m =
                    <Hmac<sha2::Sha256> as Mac2>::new_from_slice(key).expect("any key length");
                m.update(&out);
                m.finalize().into_bytes().into()
            }
            Mac::Keep(tag) => *tag,
        };
        out.extend_from_slice(&tag);
        out
    }
}

/// `hmac::Mac` under another name (this file has its own `Mac` enum).
use hmac::Mac as Mac2;

pub(crate) fn stale_mac(o: &Obj) -> Mac {
    let h = o.header();
    Mac::Keep(h[h.len() - 32..].try_into().expect("32 bytes"))
}

pub(crate) fn fresh_mac(o: &Obj) -> Mac {
    Mac::Compute(k_mac(&o.dk, &o.mid))
}

/// A correct MAC for the header as encoded, under the object's own K_mac.
pub(crate) fn remac(h: RawHeader, o: &Obj) -> Vec<u8> {
    h.encode(&fresh_mac(o))
}

/// The object's original MAC, whatever the header now says.
pub(crate) fn stale(h: RawHeader, o: &Obj) -> Vec<u8> {
    h.encode(&stale_mac(o))
}

/// The objects the must-fail vectors tamper with or splice from.
pub(crate) struct Bases {
    pub(crate) dk_a: [u8; 32],
    pub(crate) dk_b: [u8; 32],
    /// 4 chunks: 3 full, final of 5 bytes (message id 0, under `dk_a`).
    pub(crate) big: Obj,
    /// 1 chunk of 1 byte, inline.
    pub(crate) small: Obj,
    /// 1 chunk of 1 byte, with user context pairs.
    pub(crate) small_user: Obj,
    /// 2 chunks: full, final of 1 byte.
    pub(crate) two: Obj,
    /// Same size as `big`, same data key, other message id (not stored as a vector).
    pub(crate) same_dk_other_mid: Obj,
    /// Same size as `big`, other data key and message id (not stored as a vector).
    pub(crate) other_dk_other_mid: Obj,
    /// Same size as `big`, other data key, same message id (not stored as a vector).
    pub(crate) other_dk_same_mid: Obj,
}

//! Generates the conformance vectors in `tests/vectors/` (run: `cargo run --example gen_vectors`).
//!
//! Why this exists: docs/FORMAT.md is the authority; these vectors pin the bytes the Rust
//! implementation writes (valid vectors) and the reader checks of section 7 (must-fail vectors,
//! one per adversarial case of the project notes that applies to a single object). Everything is
//! deterministic (fixed data keys and message ids), and `tests/format_vectors.rs` includes this
//! file to check that regenerating gives identical bytes, so the vectors cannot drift silently.
//!
//! Tampered headers are built by an encoder written here from docs/FORMAT.md (section 3) with
//! its own key schedule (hkdf/hmac crates), not by the library; for every valid object it must
//! reproduce the library's header byte for byte, which cross-checks both.
//! The vector schema is described in `tests/vectors/README.md`.

#![allow(dead_code)]

use std::collections::BTreeMap;

use hkdf::Hkdf;
use hmac::Hmac;
use s3seal::format::{
    Backend, ChunkCipher, ChunkSize, DataKey, EncryptionContext, HeaderFields, Layout, MessageId,
    ObjectKeys, seal_to_vec,
};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

/// Where the vectors live.
pub const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
/// Objects (or pieces of them) larger than this go to a `.bin` file instead of inline hex.
const INLINE_MAX: usize = 4096;
/// Plaintexts up to this size are also stored as hex (larger ones by length and SHA-256).
const PLAINTEXT_HEX_MAX: usize = 4096;

const C16: usize = 1 << 16;
const KEY_ID: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// Same length as KEY_ID, so swapping it keeps the header length.
const OTHER_KEY_ID: &str =
    "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
const BUCKET: &str = "vectors-bucket";
const OBJECT_KEY: &str = "vectors/object.bin";
const WRAPPED_LEN: usize = 184;

// ---------------------------------------------------------------------------------------------
// The JSON schema (tests/vectors/README.md)

#[derive(Serialize)]
pub struct Vector {
    pub name: String,
    pub description: String,
    pub data_key_hex: String,
    pub chunk_size_log2: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_parts: Option<Vec<PartJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsBinding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_from: Option<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caller_context: Vec<[String; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_chunk: Option<u64>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum PartJson {
    Hex { hex: String },
    File { file: String, start: u64, end: u64 },
}

/// What the stand-in for KMS Decrypt accepts: exactly this key id, wrapped key and context.
#[derive(Serialize, Clone)]
pub struct KmsBinding {
    pub key_id: String,
    pub wrapped_key_hex: String,
    pub context: Vec<[String; 2]>,
}

#[derive(Serialize, Clone)]
pub struct Location {
    pub bucket: String,
    pub key: String,
}

// ---------------------------------------------------------------------------------------------
// Objects sealed by the library

/// One object sealed by the library, with everything needed to tamper with it.
#[derive(Clone)]
struct Obj {
    dk: [u8; 32],
    mid: [u8; 32],
    k: u8,
    key_id: String,
    wrapped: Vec<u8>,
    pairs: Vec<(String, String)>, // the full context, sorted, as stored
    plaintext: Vec<u8>,
    bytes: Vec<u8>,
    layout: Layout,
    /// Set once the object is stored as a file: (file name).
    file: Option<String>,
}

fn data_key(seed: u8) -> [u8; 32] {
    std::array::from_fn(|i| seed.wrapping_add(i as u8))
}

/// Message id `n`: bytes 0x20..0x3f with the last byte XOR n (n = 0 is the id of the
/// key-schedule test values in docs/FORMAT.md section 4).
fn message_id(n: u8) -> [u8; 32] {
    let mut m: [u8; 32] = std::array::from_fn(|i| 0x20 + i as u8);
    m[31] ^= n;
    m
}

/// A stand-in for a KMS CiphertextBlob: opaque, deterministic, 184 bytes like AWS's.
fn fake_wrapped(seed: u8) -> Vec<u8> {
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
fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|j| ((j * 7 + 3) % 251) as u8).collect()
}

fn user_pairs() -> Vec<(String, String)> {
    vec![
        ("department".into(), "finance".into()),
        ("project".into(), "s3seal vectors".into()),
    ]
}

struct ObjSpec {
    dk: [u8; 32],
    mid: [u8; 32],
    k: u8,
    len: usize,
    user: Vec<(String, String)>,
    wrapped_seed: u8,
}

fn seal(spec: ObjSpec) -> Obj {
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
    fn header_len(&self) -> usize {
        self.layout.header_len() as usize
    }
    fn header(&self) -> &[u8] {
        &self.bytes[..self.header_len()]
    }
    fn chunk(&self, i: u64) -> std::ops::Range<usize> {
        let r = self.layout.chunk_cipher_range(i);
        r.start as usize..r.end as usize
    }
    fn chunk_bytes(&self, i: u64) -> &[u8] {
        &self.bytes[self.chunk(i)]
    }
    fn raw_header(&self) -> RawHeader {
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
    fn binding(&self) -> KmsBinding {
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
    fn resealed_chunk(&self, i: u64, is_final: bool) -> Vec<u8> {
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

fn expand(dk: &[u8; 32], mid: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha512>::new(Some(mid), dk);
    let mut out = [0u8; 32];
    hk.expand(info, &mut out).expect("32 bytes");
    out
}

fn commitment(dk: &[u8; 32], mid: &[u8; 32]) -> [u8; 32] {
    expand(dk, mid, b"s3seal/v1 commit\x00\x01")
}

fn k_mac(dk: &[u8; 32], mid: &[u8; 32]) -> [u8; 32] {
    expand(dk, mid, b"s3seal/v1 header-mac\x00\x01")
}

enum Mac {
    /// HMAC-SHA-256 under this K_mac (a correct MAC for the bytes as encoded).
    Compute([u8; 32]),
    /// These 32 bytes, whatever the header says (a stale MAC).
    Keep([u8; 32]),
}

/// Every field of a header, free to be set to invalid values.
#[derive(Clone)]
struct RawHeader {
    magic: [u8; 8],
    version: u8,
    suite: u16,
    /// None: the true length of the encoding.
    header_len: Option<u32>,
    k: u8,
    flags: u8,
    len: u64,
    mid: [u8; 32],
    commitment: [u8; 32],
    key_id: Vec<u8>,
    wrapped: Vec<u8>,
    /// None: the number of pairs.
    pair_count: Option<u16>,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawHeader {
    fn of_fields(
        dk: &[u8; 32],
        mid: &[u8; 32],
        k: u8,
        len: u64,
        key_id: &str,
        wrapped: &[u8],
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

    fn encode(&self, mac: &Mac) -> Vec<u8> {
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

fn stale_mac(o: &Obj) -> Mac {
    let h = o.header();
    Mac::Keep(h[h.len() - 32..].try_into().expect("32 bytes"))
}

fn fresh_mac(o: &Obj) -> Mac {
    Mac::Compute(k_mac(&o.dk, &o.mid))
}

// ---------------------------------------------------------------------------------------------
// Building vectors

enum Piece {
    Bytes(Vec<u8>),
    /// A byte range of a stored object.
    Of(String, std::ops::Range<usize>),
}

enum Expect {
    Plaintext(Vec<u8>),
    Error(&'static str, Option<u64>),
}

struct Case {
    name: String,
    description: String,
    dk: Vec<u8>,
    k: u8,
    pieces: Vec<Piece>,
    kms: Option<KmsBinding>,
    read_from: Option<Location>,
    caller: Vec<(String, String)>,
    expect: Expect,
}

impl Case {
    fn new(name: &str, description: &str, base: &Obj, expect: Expect) -> Case {
        Case {
            name: name.to_string(),
            description: description.to_string(),
            dk: base.dk.to_vec(),
            k: base.k,
            pieces: Vec::new(),
            kms: Some(base.binding()),
            read_from: Some(Location {
                bucket: BUCKET.into(),
                key: OBJECT_KEY.into(),
            }),
            caller: Vec::new(),
            expect,
        }
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.pieces.push(Piece::Bytes(b.to_vec()));
        self
    }
    fn of(mut self, o: &Obj, r: std::ops::Range<usize>) -> Self {
        match &o.file {
            Some(f) => self.pieces.push(Piece::Of(f.clone(), r)),
            None => self.pieces.push(Piece::Bytes(o.bytes[r].to_vec())),
        }
        self
    }
    /// The object's bytes after its header.
    fn body_of(self, o: &Obj) -> Self {
        let h = o.header_len();
        self.of(o, h..o.bytes.len())
    }
    fn whole(self, o: &Obj) -> Self {
        self.of(o, 0..o.bytes.len())
    }
    fn chunk_of(self, o: &Obj, i: u64) -> Self {
        let r = o.chunk(i);
        self.of(o, r)
    }
    fn no_kms(mut self) -> Self {
        self.kms = None;
        self
    }
    fn kms(mut self, b: KmsBinding) -> Self {
        self.kms = Some(b);
        self
    }
    fn data_key(mut self, dk: &[u8]) -> Self {
        self.dk = dk.to_vec();
        self
    }
    fn read_from(mut self, bucket: &str, key: &str) -> Self {
        self.read_from = Some(Location {
            bucket: bucket.into(),
            key: key.into(),
        });
        self
    }
    fn caller(mut self, k: &str, v: &str) -> Self {
        self.caller.push((k.into(), v.into()));
        self
    }
}

/// The output: file name and bytes, for every JSON vector and every `.bin` file.
pub struct Generated {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Generated {
    fn store_object(&mut self, name: &str, o: &mut Obj) {
        if o.bytes.len() > INLINE_MAX {
            let file = format!("{name}.bin");
            self.files.insert(file.clone(), o.bytes.clone());
            o.file = Some(file);
        }
    }

    fn add(&mut self, case: Case) {
        let mut full = Vec::new();
        let mut parts = Vec::new();
        for piece in &case.pieces {
            match piece {
                Piece::Bytes(b) => {
                    full.extend_from_slice(b);
                    if b.len() > INLINE_MAX {
                        let file = format!("{}.part{}.bin", case.name, parts.len());
                        self.files.insert(file.clone(), b.clone());
                        parts.push(PartJson::File {
                            file,
                            start: 0,
                            end: b.len() as u64,
                        });
                    } else {
                        parts.push(PartJson::Hex {
                            hex: hex::encode(b),
                        });
                    }
                }
                Piece::Of(file, r) => {
                    full.extend_from_slice(&self.files[file][r.clone()]);
                    parts.push(PartJson::File {
                        file: file.clone(),
                        start: r.start as u64,
                        end: r.end as u64,
                    });
                }
            }
        }
        let (object_hex, object_parts) = if full.len() <= INLINE_MAX {
            (Some(hex::encode(&full)), None)
        } else {
            (None, Some(parts))
        };
        let mut v = Vector {
            name: case.name.clone(),
            description: case.description,
            data_key_hex: hex::encode(&case.dk),
            chunk_size_log2: case.k,
            object_hex,
            object_parts,
            kms: case.kms,
            read_from: case.read_from,
            caller_context: case
                .caller
                .iter()
                .map(|(k, v)| [k.clone(), v.clone()])
                .collect(),
            plaintext_len: None,
            plaintext_sha256: None,
            plaintext_hex: None,
            error: None,
            error_chunk: None,
        };
        match case.expect {
            Expect::Plaintext(pt) => {
                v.plaintext_len = Some(pt.len() as u64);
                v.plaintext_sha256 = Some(hex::encode(Sha256::digest(&pt)));
                if pt.len() <= PLAINTEXT_HEX_MAX {
                    v.plaintext_hex = Some(hex::encode(&pt));
                }
            }
            Expect::Error(class, chunk) => {
                v.error = Some(class.to_string());
                v.error_chunk = chunk;
            }
        }
        let mut json = serde_json::to_string_pretty(&v).expect("serialize");
        json.push('\n');
        let name = format!("{}.json", case.name);
        assert!(
            self.files.insert(name.clone(), json.into_bytes()).is_none(),
            "duplicate {name}"
        );
    }
}

fn flip(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= mask;
    b
}

fn put(bytes: &[u8], at: usize, new: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + new.len()].copy_from_slice(new);
    b
}

/// Builds every vector. Deterministic: same bytes on every run and machine.
pub fn generate() -> Generated {
    let mut g = Generated {
        files: BTreeMap::new(),
    };
    let dk_a = data_key(0x00);
    let dk_b = data_key(0x40);
    let spec = |dk, mid, k, len, user: bool, wrapped_seed| ObjSpec {
        dk,
        mid,
        k,
        len,
        user: if user { user_pairs() } else { Vec::new() },
        wrapped_seed,
    };

    // ---- valid vectors ---------------------------------------------------------------------
    let sizes: [(&str, usize, u8, bool); 10] = [
        ("valid-k16-len0", 0, 16, false),
        ("valid-k16-len1", 1, 16, false),
        ("valid-k16-len-c-minus-1", C16 - 1, 16, false),
        ("valid-k16-len-c", C16, 16, false),
        ("valid-k16-len-c-plus-1", C16 + 1, 16, false),
        ("valid-k16-len-3c-plus-5", 3 * C16 + 5, 16, false),
        ("valid-k16-len0-user-context", 0, 16, true),
        ("valid-k16-len1-user-context", 1, 16, true),
        ("valid-k20-len1000", 1000, 20, false),
        ("valid-k24-len1", 1, 24, true),
    ];
    let mut valid = BTreeMap::new();
    for (n, (name, len, k, user)) in sizes.iter().enumerate() {
        // Message id 0 (the documented key-schedule test values) for the 3C+5 object, the
        // base of most must-fail vectors; every other object has its own id.
        let mid = if *len == 3 * C16 + 5 {
            message_id(0)
        } else {
            message_id(n as u8 + 1)
        };
        let mut o = seal(spec(dk_a, mid, *k, *len, *user, 1));
        g.store_object(name, &mut o);
        let desc = format!(
            "A valid object: L = {len} at k = {k} ({} chunk(s)){}.",
            o.layout.chunk_count(),
            if *user {
                ", with user context pairs"
            } else {
                ""
            }
        );
        let case = Case::new(name, &desc, &o, Expect::Plaintext(o.plaintext.clone())).whole(&o);
        g.add(case);
        valid.insert(*name, o);
    }
    let caller_ok = Case::new(
        "valid-caller-context-matches",
        "The caller asks for a context pair that the header has with that value: accepted.",
        &valid["valid-k16-len1-user-context"],
        Expect::Plaintext(valid["valid-k16-len1-user-context"].plaintext.clone()),
    )
    .whole(&valid["valid-k16-len1-user-context"])
    .caller("project", "s3seal vectors");
    g.add(caller_ok);
    let no_kms = Case::new(
        "valid-data-key-given-directly",
        "No KMS binding: the data key is given directly (as a decoder without KMS would be).",
        &valid["valid-k16-len1"],
        Expect::Plaintext(valid["valid-k16-len1"].plaintext.clone()),
    )
    .whole(&valid["valid-k16-len1"])
    .no_kms();
    g.add(no_kms);

    let big = valid["valid-k16-len-3c-plus-5"].clone(); // 4 chunks: 3 full, final of 5 bytes
    let small = valid["valid-k16-len1"].clone(); // 1 chunk of 1 byte, inline
    let small_user = valid["valid-k16-len1-user-context"].clone();
    let two = valid["valid-k16-len-c-plus-1"].clone(); // 2 chunks: full, final of 1 byte
    let hb = big.header_len();
    let err = |c: &'static str| Expect::Error(c, None);
    let chunk_err = |i: u64| Expect::Error("chunk", Some(i));

    // Other objects to splice from (not stored as vectors themselves).
    let same_dk_other_mid = seal(spec(dk_a, message_id(0x80), 16, 3 * C16 + 5, false, 1));
    let other_dk_other_mid = seal(spec(dk_b, message_id(0x81), 16, 3 * C16 + 5, false, 2));
    let other_dk_same_mid = seal(spec(dk_b, message_id(0), 16, 3 * C16 + 5, false, 3));
    assert_eq!(other_dk_other_mid.header_len(), hb);

    // ---- body: chunks ----------------------------------------------------------------------
    let mut f = |name: &str, desc: &str, expect: Expect, build: &dyn Fn(Case) -> Case| {
        let case = build(Case::new(name, desc, &big, expect));
        g.add(case);
    };
    f(
        "fail-bit-flip-ciphertext",
        "One bit flipped in the ciphertext of chunk 2.",
        chunk_err(2),
        &|c| {
            let r = big.chunk(2);
            let mid = r.start + 1000;
            c.of(&big, 0..mid)
                .bytes(&[big.bytes[mid] ^ 0x01])
                .of(&big, mid + 1..big.bytes.len())
        },
    );
    f(
        "fail-bit-flip-tag",
        "One bit flipped in the tag of the final chunk (3).",
        chunk_err(3),
        &|c| {
            let at = big.bytes.len() - 1;
            c.of(&big, 0..at).bytes(&[big.bytes[at] ^ 0x80])
        },
    );
    f(
        "fail-chunks-swapped",
        "Chunks 0 and 1 swapped.",
        chunk_err(0),
        &|c| {
            c.of(&big, 0..hb)
                .chunk_of(&big, 1)
                .chunk_of(&big, 0)
                .of(&big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-chunks-swapped-with-final",
        "Chunk 2 (full) and chunk 3 (final, 5 bytes) swapped: same total length.",
        chunk_err(2),
        &|c| {
            c.of(&big, 0..big.chunk(2).start)
                .chunk_of(&big, 3)
                .chunk_of(&big, 2)
        },
    );
    f(
        "fail-chunk-duplicated-in-place",
        "Chunk 0 written again in place of chunk 1.",
        chunk_err(1),
        &|c| {
            c.of(&big, 0..hb)
                .chunk_of(&big, 0)
                .chunk_of(&big, 0)
                .of(&big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-chunk-duplicated-inserted",
        "Chunk 1 inserted a second time after itself (object one chunk longer).",
        err("length"),
        &|c| {
            c.of(&big, 0..big.chunk(1).end)
                .chunk_of(&big, 1)
                .of(&big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-final-chunk-dropped",
        "The final chunk removed: truncation at a chunk boundary.",
        err("length"),
        &|c| c.of(&big, 0..big.chunk(3).start),
    );
    f(
        "fail-truncated-mid-chunk",
        "Object cut in the middle of chunk 2.",
        err("length"),
        &|c| c.of(&big, 0..big.chunk(2).start + 30000),
    );
    f(
        "fail-truncated-one-byte",
        "Last byte of the object removed.",
        err("length"),
        &|c| c.of(&big, 0..big.bytes.len() - 1),
    );
    f(
        "fail-bytes-appended",
        "One zero byte appended.",
        err("length"),
        &|c| c.whole(&big).bytes(&[0]),
    );
    f(
        "fail-chunk-appended",
        "A copy of chunk 2 appended after the final chunk.",
        err("length"),
        &|c| c.whole(&big).chunk_of(&big, 2),
    );
    f(
        "fail-non-final-chunk-marked-final",
        "Chunk 1 re-sealed (with the right key) with the final flag set.",
        chunk_err(1),
        &|c| {
            c.of(&big, 0..big.chunk(1).start)
                .bytes(&big.resealed_chunk(1, true))
                .of(&big, big.chunk(2).start..big.bytes.len())
        },
    );
    f(
        "fail-final-chunk-marked-non-final",
        "The final chunk (3) re-sealed (with the right key) without the final flag.",
        chunk_err(3),
        &|c| {
            c.of(&big, 0..big.chunk(3).start)
                .bytes(&big.resealed_chunk(3, false))
        },
    );
    f(
        "fail-chunk-from-same-data-key-other-message-id",
        "Final chunk replaced by the final chunk of another object under the same data key (other message id).",
        chunk_err(3),
        &|c| {
            c.of(&big, 0..big.chunk(3).start)
                .bytes(same_dk_other_mid.chunk_bytes(3))
        },
    );
    f(
        "fail-chunk-from-other-data-key",
        "Final chunk replaced by the final chunk of another object (other data key, other message id).",
        chunk_err(3),
        &|c| {
            c.of(&big, 0..big.chunk(3).start)
                .bytes(other_dk_other_mid.chunk_bytes(3))
        },
    );
    f(
        "fail-chunk-from-other-data-key-same-message-id",
        "Final chunk replaced by that of an object with another data key but the same message id.",
        chunk_err(3),
        &|c| {
            c.of(&big, 0..big.chunk(3).start)
                .bytes(other_dk_same_mid.chunk_bytes(3))
        },
    );
    // The header of another valid object (its KMS binding works and gives its own data key).
    let other_binding = other_dk_other_mid.binding();
    let case = Case::new(
        "fail-header-from-other-object",
        "Header replaced by the header of another object of the same size (other data key, which KMS returns): header verifies, chunk 0 does not.",
        &big,
        chunk_err(0),
    )
    .bytes(other_dk_other_mid.header())
    .body_of(&big)
    .kms(other_binding)
    .data_key(&dk_b);
    g.add(case);
    let case = Case::new(
        "fail-header-from-object-with-same-data-key",
        "Header replaced by the header of another object under the same data key (other message id).",
        &big,
        chunk_err(0),
    )
    .bytes(same_dk_other_mid.header())
    .body_of(&big);
    g.add(case);

    // ---- header fields, on the 1-byte object (inline hex) --------------------------------
    let hs = small.header_len();
    let mut s = |name: &str, desc: &str, expect: Expect, header: Vec<u8>| {
        let case = Case::new(name, desc, &small, expect)
            .bytes(&header)
            .body_of(&small);
        g.add(case);
    };
    let sh = small.header();
    s(
        "fail-magic",
        "First magic byte 0x89 changed to 0x88.",
        err("not_s3seal"),
        flip(sh, 0, 0x01),
    );
    s(
        "fail-magic-case",
        "Magic 'S3SEAL' changed to 's3SEAL'.",
        err("not_s3seal"),
        flip(sh, 1, 0x20),
    );
    s(
        "fail-version-2",
        "Format version 2.",
        err("unsupported_version"),
        put(sh, 8, &[2]),
    );
    s(
        "fail-version-0",
        "Format version 0.",
        err("unsupported_version"),
        put(sh, 8, &[0]),
    );
    s(
        "fail-suite-2",
        "Suite id 0x0002.",
        err("unsupported_suite"),
        put(sh, 9, &[0, 2]),
    );
    s(
        "fail-suite-0x0100",
        "Suite id 0x0100 (byte order swapped).",
        err("unsupported_suite"),
        put(sh, 9, &[1, 0]),
    );
    s(
        "fail-flags-1",
        "Flags 0x01.",
        err("malformed_header"),
        put(sh, 16, &[1]),
    );
    s(
        "fail-flags-0x80",
        "Flags 0x80.",
        err("malformed_header"),
        put(sh, 16, &[0x80]),
    );
    s(
        "fail-chunk-size-15",
        "Chunk size exponent 15 (below 16).",
        err("malformed_header"),
        put(sh, 15, &[15]),
    );
    s(
        "fail-chunk-size-25",
        "Chunk size exponent 25 (above 24).",
        err("malformed_header"),
        put(sh, 15, &[25]),
    );
    s(
        "fail-chunk-size-17-not-remaced",
        "Chunk size exponent 16 changed to 17, header MAC not recomputed.",
        err("header_mac"),
        put(sh, 15, &[17]),
    );
    s(
        "fail-plaintext-len-flipped",
        "One bit flipped in the plaintext length field (1 -> 0), MAC not recomputed.",
        err("header_mac"),
        flip(sh, 24, 0x01),
    );
    s(
        "fail-message-id-flipped",
        "One bit flipped in the message id: the commitment no longer matches.",
        err("commitment"),
        flip(sh, 40, 0x04),
    );
    s(
        "fail-commitment-altered",
        "One bit flipped in the key commitment.",
        err("commitment"),
        flip(sh, 70, 0x10),
    );
    s(
        "fail-header-mac-flipped",
        "One bit flipped in the header MAC.",
        err("header_mac"),
        flip(sh, hs - 1, 0x01),
    );
    s(
        "fail-header-mac-zeroed",
        "Header MAC replaced by zeros.",
        err("header_mac"),
        put(sh, hs - 32, &[0; 32]),
    );
    s(
        "fail-header-len-plus-1",
        "Header length field one larger than the header: one byte left over before the MAC.",
        err("malformed_header"),
        put(sh, 11, &((hs + 1) as u32).to_be_bytes()),
    );
    s(
        "fail-header-len-minus-1",
        "Header length field one smaller: the variable part runs past it.",
        err("malformed_header"),
        put(sh, 11, &((hs - 1) as u32).to_be_bytes()),
    );
    s(
        "fail-header-len-128",
        "Header length 128, below the minimum 129.",
        err("malformed_header"),
        put(sh, 11, &128u32.to_be_bytes()),
    );
    s(
        "fail-header-len-65537",
        "Header length 65537, above the maximum 65536.",
        err("malformed_header"),
        put(sh, 11, &65537u32.to_be_bytes()),
    );
    s(
        "fail-header-len-past-end",
        "Header length 65536 (in range) but past the end of the object.",
        err("malformed_header"),
        put(sh, 11, &65536u32.to_be_bytes()),
    );
    s(
        "fail-key-id-byte-flipped",
        "One bit flipped in the KMS key id: KMS refuses.",
        err("kms"),
        flip(sh, 89 + 2 + 40, 0x01),
    );
    s(
        "fail-wrapped-key-byte-flipped",
        "One bit flipped in the wrapped data key: KMS refuses.",
        err("kms"),
        flip(sh, 89 + 2 + KEY_ID.len() + 2 + 10, 0x01),
    );

    let remac = |h: RawHeader, o: &Obj| h.encode(&fresh_mac(o));
    let stale = |h: RawHeader, o: &Obj| h.encode(&stale_mac(o));
    // chunk size changed with a correct MAC: L = 1 fits one chunk at either size, so only the
    // content key (which depends on k) catches it.
    let mut h = small.raw_header();
    h.k = 17;
    s(
        "fail-chunk-size-17-remaced",
        "Chunk size exponent 16 changed to 17 and the header re-MACed with the right key: chunk 0's key depends on k.",
        chunk_err(0),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.len = 0;
    s(
        "fail-plaintext-len-minus-1-remaced",
        "Plaintext length 1 changed to 0 and the header re-MACed: only the length check catches it.",
        err("length"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.len = 2;
    s(
        "fail-plaintext-len-plus-1-remaced",
        "Plaintext length 1 changed to 2 and the header re-MACed: only the length check catches it.",
        err("length"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.len = u64::MAX;
    s(
        "fail-plaintext-len-max-remaced",
        "Plaintext length 2^64-1, re-MACed: the total length overflows 64 bits and must fail cleanly.",
        err("length"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.commitment[0] ^= 1;
    s(
        "fail-commitment-altered-remaced",
        "Commitment altered and the header re-MACed: the commitment check still fails.",
        err("commitment"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.key_id = OTHER_KEY_ID.as_bytes().to_vec();
    s(
        "fail-key-id-swapped",
        "KMS key id replaced by another key's ARN (header re-MACed): KMS refuses.",
        err("kms"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.key_id = Vec::new();
    s(
        "fail-key-id-empty",
        "KMS key id of length 0.",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.wrapped = Vec::new();
    s(
        "fail-wrapped-key-empty",
        "Wrapped key of length 0.",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.wrapped = vec![0xAB; 6145];
    s(
        "fail-wrapped-key-too-long",
        "Wrapped key of 6145 bytes (max 6144).",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.key_id = b"arn:aws:kms:\xff".to_vec();
    s(
        "fail-key-id-not-utf8",
        "KMS key id with a byte 0xFF (not UTF-8).",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.pair_count = Some(4);
    s(
        "fail-pair-count-too-high",
        "Pair count says 4, the header holds 3: the parser runs into the MAC.",
        err("malformed_header"),
        stale(h, &small),
    );
    let mut h = small.raw_header();
    h.pair_count = Some(257);
    s(
        "fail-pair-count-257",
        "Pair count 257 (max 256).",
        err("malformed_header"),
        stale(h, &small),
    );
    let mut h = small.raw_header();
    h.pairs.swap(0, 1);
    s(
        "fail-context-not-sorted",
        "Two context pairs in descending order (re-MACed).",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.pairs[1] = h.pairs[0].clone();
    s(
        "fail-context-duplicate-key",
        "The same context key twice (re-MACed).",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.pairs.insert(0, (b"a\xff".to_vec(), b"v".to_vec()));
    s(
        "fail-context-key-not-utf8",
        "A context key with a byte 0xFF (re-MACed).",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.pairs.insert(0, (Vec::new(), b"v".to_vec()));
    s(
        "fail-context-key-empty",
        "A context key of length 0 (re-MACed).",
        err("malformed_header"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.pairs.retain(|(k, _)| k != b"s3seal:key");
    s(
        "fail-context-reserved-key-missing",
        "Reserved pair s3seal:key removed (re-MACed).",
        err("context"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    h.pairs.retain(|(k, _)| k != b"s3seal:format");
    s(
        "fail-context-reserved-format-missing",
        "Reserved pair s3seal:format removed (re-MACed).",
        err("context"),
        remac(h, &small),
    );
    let mut h = small.raw_header();
    for p in h.pairs.iter_mut().filter(|p| p.0 == b"s3seal:format") {
        p.1 = b"2".to_vec();
    }
    s(
        "fail-context-format-2",
        "s3seal:format = 2 (re-MACed).",
        err("context"),
        remac(h, &small),
    );

    // ---- context and location ----------------------------------------------------------------
    let uh = small_user.header();
    let mut u = |name: &str, desc: &str, expect: Expect, header: Vec<u8>, no_kms: bool| {
        let mut case = Case::new(name, desc, &small_user, expect)
            .bytes(&header)
            .body_of(&small_user);
        if no_kms {
            case = case.no_kms();
        }
        g.add(case);
    };
    let value_at = |h: &[u8], needle: &[u8]| {
        h.windows(needle.len())
            .position(|w| w == needle)
            .expect("value in header")
    };
    let at = value_at(uh, b"finance");
    u(
        "fail-context-value-altered",
        "User pair value 'finance' changed to 'financf' (MAC not recomputed): KMS refuses the changed context.",
        err("kms"),
        put(uh, at, b"financf"),
        false,
    );
    u(
        "fail-context-value-altered-no-kms",
        "As above, with the data key given directly (no KMS): the header MAC catches it.",
        err("header_mac"),
        put(uh, at, b"financf"),
        true,
    );
    let mut h = small_user.raw_header();
    h.pairs
        .iter_mut()
        .find(|p| p.0 == b"department")
        .expect("pair")
        .1 = b"marketing".to_vec();
    u(
        "fail-context-value-altered-remaced",
        "User pair value changed and the header re-MACed with the right key: only KMS catches it.",
        err("kms"),
        remac(h, &small_user),
        false,
    );
    let mut h = small_user.raw_header();
    h.pairs.push((b"zone".to_vec(), b"extra".to_vec()));
    u(
        "fail-context-pair-added-remaced",
        "A user pair added (re-MACed): KMS refuses.",
        err("kms"),
        remac(h.clone(), &small_user),
        false,
    );
    u(
        "fail-context-pair-added-no-kms",
        "A user pair added, MAC not recomputed, data key given directly: the header MAC catches it.",
        err("header_mac"),
        stale(h, &small_user),
        true,
    );
    let mut h = small_user.raw_header();
    h.pairs.retain(|(k, _)| k != b"project");
    u(
        "fail-context-pair-removed-remaced",
        "A user pair removed (re-MACed): KMS refuses.",
        err("kms"),
        remac(h.clone(), &small_user),
        false,
    );
    u(
        "fail-context-pair-removed-no-kms",
        "A user pair removed, MAC not recomputed, data key given directly: the header MAC catches it.",
        err("header_mac"),
        stale(h, &small_user),
        true,
    );
    let at_b = value_at(uh, BUCKET.as_bytes());
    u(
        "fail-context-bucket-altered",
        "Bound bucket name altered in the header: differs from where the object is read.",
        err("context"),
        flip(uh, at_b, 0x01),
        false,
    );

    let mut c = |name: &str, desc: &str, build: &dyn Fn(Case) -> Case| {
        let case = build(Case::new(name, desc, &small_user, err("context")).whole(&small_user));
        g.add(case);
    };
    c(
        "fail-relocated-key",
        "Object read from another key than the one bound in its context (copied).",
        &|c| c.read_from(BUCKET, "vectors/copied.bin"),
    );
    c(
        "fail-relocated-bucket",
        "Object read from another bucket than the bound one.",
        &|c| c.read_from("other-bucket", OBJECT_KEY),
    );
    c(
        "fail-caller-context-mismatch",
        "The caller requires project=other; the header says otherwise.",
        &|c| c.caller("project", "other"),
    );
    c(
        "fail-caller-context-missing",
        "The caller requires a pair the header does not have.",
        &|c| c.caller("owner", "alice"),
    );

    // ---- keys ----------------------------------------------------------------------------------
    let case = Case::new("fail-wrong-data-key", "Opened with another data key (given directly): the commitment check fails before any chunk.", &two, err("commitment"))
        .whole(&two)
        .no_kms()
        .data_key(&dk_b);
    g.add(case);
    let mut binding = two.binding();
    binding.wrapped_key_hex = hex::encode(fake_wrapped(2));
    let case = Case::new(
        "fail-wrapped-key-swapped",
        "Wrapped key replaced by another valid one (same KMS key and context, another data key): KMS returns that key, the commitment check fails.",
        &two,
        err("commitment"),
    )
    .bytes(&RawHeader { wrapped: fake_wrapped(2), ..two.raw_header() }.encode(&stale_mac(&two)))
    .body_of(&two)
    .kms(binding)
    .data_key(&dk_b);
    g.add(case);
    let case = Case::new(
        "fail-kms-returns-short-key",
        "KMS returns a 31-byte data key.",
        &small,
        err("kms"),
    )
    .whole(&small)
    .data_key(&dk_a[..31]);
    g.add(case);

    // ---- not an object / truncated header ------------------------------------------------
    let mut raw = |name: &str, desc: &str, expect: Expect, bytes: &[u8]| {
        let case = Case::new(name, desc, &small, expect).bytes(bytes);
        g.add(case);
    };
    raw(
        "fail-plaintext-instead-of-object",
        "The object was replaced by plaintext.",
        err("not_s3seal"),
        b"hello, this is not an s3seal object\n",
    );
    raw(
        "fail-empty-object",
        "A zero-byte object.",
        err("malformed_header"),
        b"",
    );
    raw(
        "fail-magic-only",
        "Only the 8 magic bytes.",
        err("malformed_header"),
        &sh[..8],
    );
    raw(
        "fail-header-truncated",
        "The object ends inside the header (100 bytes).",
        err("malformed_header"),
        &sh[..100],
    );
    raw(
        "fail-header-only",
        "The header without any chunk.",
        err("length"),
        sh,
    );
    g
}

/// Writes the vectors to `tests/vectors/`, removing stale generated files.
fn main() {
    let g = generate();
    let dir = std::path::Path::new(VECTOR_DIR);
    std::fs::create_dir_all(dir).expect("create tests/vectors");
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let generated = name.ends_with(".json") || name.ends_with(".bin");
        if generated && !g.files.contains_key(&name) {
            std::fs::remove_file(&path).expect("remove stale vector");
        }
    }
    let mut total = 0;
    for (name, bytes) in &g.files {
        std::fs::write(dir.join(name), bytes).expect("write vector");
        total += bytes.len();
    }
    let vectors = g.files.keys().filter(|n| n.ends_with(".json")).count();
    println!(
        "wrote {vectors} vectors ({} files, {total} bytes) to {}",
        g.files.len(),
        dir.display()
    );
}

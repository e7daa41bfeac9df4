//! Building one vector: a [`Case`] names an object made of pieces (bytes, or byte ranges of a
//! stored object), the KMS binding and location it is read with, and the expected outcome;
//! [`Generated`] turns cases into the JSON and `.bin` files of `tests/vectors/`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::objects::{BUCKET, OBJECT_KEY, Obj};
use super::schema::{KmsBinding, Location, PartJson, Vector};

/// Objects (or pieces of them) larger than this go to a `.bin` file instead of inline hex.
const INLINE_MAX: usize = 4096;
/// Plaintexts up to this size are also stored as hex (larger ones by length and SHA-256).
const PLAINTEXT_HEX_MAX: usize = 4096;

pub(crate) enum Piece {
    Bytes(Vec<u8>),
    /// A byte range of a stored object.
    Of(String, std::ops::Range<usize>),
}

pub(crate) enum Expect {
    Plaintext(Vec<u8>),
    Error(&'static str, Option<u64>),
}

pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) dk: Vec<u8>,
    pub(crate) k: u8,
    pub(crate) pieces: Vec<Piece>,
    pub(crate) kms: Option<KmsBinding>,
    pub(crate) read_from: Option<Location>,
    pub(crate) caller: Vec<(String, String)>,
    pub(crate) expect: Expect,
}

impl Case {
    pub(crate) fn new(name: &str, description: &str, base: &Obj, expect: Expect) -> Case {
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
    pub(crate) fn bytes(mut self, b: &[u8]) -> Self {
        self.pieces.push(Piece::Bytes(b.to_vec()));
        self
    }
    pub(crate) fn of(mut self, o: &Obj, r: std::ops::Range<usize>) -> Self {
        match &o.file {
            Some(f) => self.pieces.push(Piece::Of(f.clone(), r)),
            None => self.pieces.push(Piece::Bytes(o.bytes[r].to_vec())),
        }
        self
    }
    /// The object's bytes after its header.
    pub(crate) fn body_of(self, o: &Obj) -> Self {
        let h = o.header_len();
        self.of(o, h..o.bytes.len())
    }
    pub(crate) fn whole(self, o: &Obj) -> Self {
        self.of(o, 0..o.bytes.len())
    }
    pub(crate) fn chunk_of(self, o: &Obj, i: u64) -> Self {
        let r = o.chunk(i);
        self.of(o, r)
    }
    pub(crate) fn no_kms(mut self) -> Self {
        self.kms = None;
        self
    }
    pub(crate) fn kms(mut self, b: KmsBinding) -> Self {
        self.kms = Some(b);
        self
    }
    pub(crate) fn data_key(mut self, dk: &[u8]) -> Self {
        self.dk = dk.to_vec();
        self
    }
    pub(crate) fn read_from(mut self, bucket: &str, key: &str) -> Self {
        self.read_from = Some(Location {
            bucket: bucket.into(),
            key: key.into(),
        });
        self
    }
    pub(crate) fn caller(mut self, k: &str, v: &str) -> Self {
        self.caller.push((k.into(), v.into()));
        self
    }
}

/// The output: file name and bytes, for every JSON vector and every `.bin` file.
pub struct Generated {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Generated {
    pub(crate) fn store_object(&mut self, name: &str, o: &mut Obj) {
        if o.bytes.len() > INLINE_MAX {
            let file = format!("{name}.bin");
            self.files.insert(file.clone(), o.bytes.clone());
            o.file = Some(file);
        }
    }

    pub(crate) fn add(&mut self, case: Case) {
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

pub(crate) fn flip(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= mask;
    b
}

pub(crate) fn put(bytes: &[u8], at: usize, new: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + new.len()].copy_from_slice(new);
    b
}

/// The vector must fail with this error class.
pub(crate) fn err(class: &'static str) -> Expect {
    Expect::Error(class, None)
}

/// The vector must fail at chunk `i`.
pub(crate) fn chunk_err(i: u64) -> Expect {
    Expect::Error("chunk", Some(i))
}

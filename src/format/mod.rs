//! The s3seal object format, version 1: everything that turns a data key and plaintext into the
//! bytes S3 stores, and back. Pure and synchronous on purpose (no AWS, no tokio, no I/O), so it
//! can be specified (`docs/FORMAT.md`), fuzzed and tested on its own; the KMS and transfer
//! modules wrap it.
//!
//! Reading order: [`layout`] (sizes and offsets), [`context`] (the encryption context),
//! [`keys`] (data key, key schedule, commitment), [`header`] (encode, parse, authenticate),
//! [`chunk`] (AES-256-GCM per chunk).

pub mod chunk;
pub mod context;
pub mod header;
pub mod keys;
pub mod layout;

pub use chunk::{Backend, ChunkCipher};
pub use context::EncryptionContext;
pub use header::{HeaderFields, ParsedHeader, VerifiedHeader};
pub use keys::{DataKey, MessageId, ObjectKeys};
pub use layout::{ChunkSize, Layout};

/// First bytes of every s3seal object: a non-ASCII byte (never mistaken for text), the name,
/// and a newline that catches line-ending conversion (the PNG trick).
pub const MAGIC: [u8; 8] = *b"\x89S3SEAL\n";
/// The only format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Suite 1: AES-256-GCM chunks, HKDF-SHA-512 key schedule, HMAC-SHA-256 header MAC,
/// 32-byte key commitment.
pub const SUITE_AES256GCM_HKDF_SHA512: u16 = 0x0001;
/// AES-GCM authentication tag length, appended to every chunk.
pub const TAG_LEN: usize = 16;

/// Why a byte sequence is not an intact s3seal object (or cannot be made into one).
///
/// Every variant except [`FormatError::Incomplete`] and the writer-side ones means the data
/// cannot be trusted; the CLI maps them to the integrity exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not an s3seal object (the first bytes are not the s3seal magic)")]
    NotS3seal,
    #[error(
        "unsupported s3seal format version {0} (this build reads version 1; was it written by a newer s3seal?)"
    )]
    UnsupportedVersion(u8),
    #[error("unsupported algorithm suite 0x{0:04x}")]
    UnsupportedSuite(u16),
    #[error("chunk size exponent {0} is outside 16..=24")]
    InvalidChunkSize(u8),
    #[error("unknown header flags 0x{0:02x}")]
    UnknownFlags(u8),
    #[error("malformed header: {0}")]
    MalformedHeader(&'static str),
    #[error("header needs {needed} bytes, only {available} available")]
    Incomplete { needed: usize, available: usize },
    #[error("key commitment does not match: the data key does not belong to this object")]
    CommitmentMismatch,
    #[error("header authentication failed: the header was altered")]
    HeaderMacMismatch,
    #[error("chunk {index} failed authentication (tampered, reordered, truncated or spliced)")]
    ChunkAuthentication { index: u64 },
    #[error("object is {actual} bytes but its header implies {expected}: truncated or extended")]
    LengthMismatch { expected: u64, actual: u64 },
    #[error(
        "header claims {plaintext_len} plaintext bytes: the object length it implies overflows 64 bits"
    )]
    LengthOverflow { plaintext_len: u64 },
    #[error("invalid encryption context: {0}")]
    InvalidContext(String),
    #[error("data key must be 32 bytes, got {0}")]
    InvalidDataKey(usize),
    #[error("header field too long: {0}")]
    FieldTooLong(&'static str),
}

impl FormatError {
    /// True when the error means the stored bytes cannot be trusted (as opposed to a caller
    /// mistake on the writing side).
    pub fn is_integrity(&self) -> bool {
        !matches!(
            self,
            FormatError::Incomplete { .. }
                | FormatError::InvalidDataKey(_)
                | FormatError::FieldTooLong(_)
        )
    }
}

/// Seals a whole plaintext held in memory: header followed by every chunk. For tests, vectors
/// and small objects; the transfer pipeline seals chunk by chunk instead.
pub fn seal_to_vec(
    keys: &ObjectKeys, fields: &HeaderFields, plaintext: &[u8],
) -> Result<Vec<u8>, FormatError> {
    if fields.plaintext_len != plaintext.len() as u64 {
        return Err(FormatError::MalformedHeader(
            "plaintext length differs from the data",
        ));
    }
    let header = fields.seal(keys)?;
    let layout = Layout::new(header.len() as u64, fields.chunk_size, fields.plaintext_len);
    let cipher = ChunkCipher::new(keys, fields.chunk_size, Backend::default());
    let mut out = Vec::with_capacity(layout.ciphertext_len()? as usize);
    out.extend_from_slice(&header);
    for index in 0..layout.chunk_count() {
        let range = layout.chunk_plain_range(index);
        let start = out.len();
        out.extend_from_slice(&plaintext[range.start as usize..range.end as usize]);
        let tag = cipher.seal_in_place(index, layout.is_final(index), &mut out[start..]);
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Opens a whole object held in memory with its data key: every check of `docs/FORMAT.md`
/// except the ones that need KMS or the object's location. Returns the header and plaintext.
pub fn open_from_slice(
    object: &[u8], data_key: &DataKey,
) -> Result<(VerifiedHeader, Vec<u8>), FormatError> {
    let verified = ParsedHeader::parse(object)?.verify(data_key)?;
    let plaintext = open_verified(&verified, object)?;
    Ok((verified, plaintext))
}

/// The part of [`open_from_slice`] after the header: `object` (header included) must have
/// exactly the length `verified` implies, and every chunk must open at its index and finality.
/// Returns the plaintext.
pub fn open_verified(verified: &VerifiedHeader, object: &[u8]) -> Result<Vec<u8>, FormatError> {
    let layout = verified.layout();
    layout.check_object_len(object.len() as u64)?;
    let cipher = verified.chunk_cipher(Backend::default());
    let mut plaintext = Vec::with_capacity(layout.plaintext_len() as usize);
    for index in 0..layout.chunk_count() {
        let range = layout.chunk_cipher_range(index);
        let mut chunk = object[range.start as usize..range.end as usize].to_vec();
        let len = cipher.open_in_place(index, layout.is_final(index), &mut chunk)?;
        plaintext.extend_from_slice(&chunk[..len]);
    }
    Ok(plaintext)
}

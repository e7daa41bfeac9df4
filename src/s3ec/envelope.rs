//! A validated S3EC envelope and the rules that make one: the metadata key names of each format
//! version, and the checks that turn the merged keys of one object into an [`Envelope`] s3seal
//! can decrypt: v2 (`kms+context`, `AES/GCM/NoPadding`, 128-bit tag) or v3 (`x-amz-c` = `115`,
//! `x-amz-w` = `12`). Mixed versions, legacy unauthenticated modes and malformed values are
//! refused here, before any KMS call. Where the keys come from (object metadata, instruction
//! file) is `metadata.rs`, whose tests drive these checks through [`super::metadata::parse`].
//!
//! Pure: no I/O. Sources: the S3EC specification (`s3-encryption/data-format/content-metadata.md`,
//! `metadata-strategy.md`) and the clients that write these objects.

use std::collections::BTreeMap;

use base64::Engine;

use super::keys::{COMMITMENT_LEN, MESSAGE_ID_LEN};

// v1/v2 map keys.
pub const KEY_V1: &str = "x-amz-key";
pub const KEY_V2: &str = "x-amz-key-v2";
pub const MATDESC: &str = "x-amz-matdesc";
pub const IV: &str = "x-amz-iv";
pub const WRAP_ALG: &str = "x-amz-wrap-alg";
pub const CEK_ALG: &str = "x-amz-cek-alg";
pub const TAG_LEN: &str = "x-amz-tag-len";
pub const UNENCRYPTED_LEN: &str = "x-amz-unencrypted-content-length";
// v3 map keys (compressed).
pub const V3_CONTENT_CIPHER: &str = "x-amz-c";
pub const V3_KEY: &str = "x-amz-3";
pub const V3_MATDESC: &str = "x-amz-m";
pub const V3_CONTEXT: &str = "x-amz-t";
pub const V3_WRAP_ALG: &str = "x-amz-w";
pub const V3_COMMITMENT: &str = "x-amz-d";
pub const V3_MESSAGE_ID: &str = "x-amz-i";

/// Key in the stored KMS context that names the content algorithm (reserved by S3EC).
pub const CONTEXT_CEK_ALG: &str = "aws:x-amz-cek-alg";

/// v2 content cipher s3seal reads.
pub const V2_GCM: &str = "AES/GCM/NoPadding";
/// v3 content cipher s3seal reads (suite 0x0073).
pub const V3_SUITE_115: &str = "115";

pub(super) const V1V2_KEYS: [&str; 8] = [
    KEY_V1,
    KEY_V2,
    MATDESC,
    IV,
    WRAP_ALG,
    CEK_ALG,
    TAG_LEN,
    UNENCRYPTED_LEN,
];
pub(super) const V3_KEYS: [&str; 7] = [
    V3_CONTENT_CIPHER,
    V3_KEY,
    V3_MATDESC,
    V3_CONTEXT,
    V3_WRAP_ALG,
    V3_COMMITMENT,
    V3_MESSAGE_ID,
];
/// v3 keys that live only in the object's metadata, never in an instruction file.
pub(super) const V3_OBJECT_ONLY: [&str; 3] = [V3_CONTENT_CIPHER, V3_COMMITMENT, V3_MESSAGE_ID];

/// An S3 Encryption Client metadata format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ecFormat {
    /// `x-amz-key`: legacy, AES/CBC; refused.
    V1,
    /// `x-amz-key-v2`.
    V2,
    /// `x-amz-c`, `x-amz-3`, ...: key committing.
    V3,
}

impl std::fmt::Display for S3ecFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            S3ecFormat::V1 => "S3EC v1",
            S3ecFormat::V2 => "S3EC v2",
            S3ecFormat::V3 => "S3EC v3",
        })
    }
}

/// Where the key material of an S3EC object is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataLocation {
    ObjectMetadata,
    InstructionFile,
}

/// How the content is encrypted, with what s3seal needs to decrypt it.
#[derive(Clone, PartialEq, Eq)]
pub enum Content {
    /// AES-256-GCM under the data key, this IV, no AAD.
    V2Gcm { iv: [u8; 12] },
    /// ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY.
    V3Committing {
        message_id: [u8; MESSAGE_ID_LEN],
        commitment: [u8; COMMITMENT_LEN],
    },
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::V2Gcm { .. } => f.write_str("V2Gcm"),
            Content::V3Committing { .. } => f.write_str("V3Committing"),
        }
    }
}

/// A validated S3EC envelope that s3seal can decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub format: S3ecFormat,
    pub location: MetadataLocation,
    /// The KMS-wrapped data key (`kms+context`).
    pub wrapped_key: Vec<u8>,
    /// The stored KMS encryption context, exactly as KMS must receive it (including
    /// `aws:x-amz-cek-alg`).
    pub context: BTreeMap<String, String>,
    pub content: Content,
    /// `x-amz-unencrypted-content-length`, when the writer stored it (not authenticated).
    pub unencrypted_len: Option<u64>,
}

impl Envelope {
    /// The content cipher as the metadata names it.
    pub fn content_cipher(&self) -> &'static str {
        match self.content {
            Content::V2Gcm { .. } => V2_GCM,
            Content::V3Committing { .. } => "115 (ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY)",
        }
    }

    /// The caller's context pairs (the stored context without S3EC's reserved key).
    pub fn user_context(&self) -> impl Iterator<Item = (&str, &str)> {
        self.context
            .iter()
            .filter(|(k, _)| k.as_str() != CONTEXT_CEK_ALG)
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Why metadata was refused. Messages name keys and modes, never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("no S3 Encryption Client metadata")]
    NotS3ec,
    #[error("S3EC metadata mixes format versions ({0}): it was altered")]
    Mixed(String),
    #[error("refusing a legacy, unauthenticated S3EC mode: {0}")]
    Legacy(String),
    #[error("unsupported S3EC mode: {0}")]
    Unsupported(String),
    #[error("invalid S3EC metadata: {0}")]
    Invalid(String),
}

/// Validates the merged S3EC keys of one object (lower-cased, from its metadata and instruction
/// file) into an [`Envelope`].
pub(super) fn validate(
    m: &BTreeMap<String, String>, location: MetadataLocation,
) -> Result<Envelope, MetadataError> {
    let has = |k: &str| m.contains_key(k);
    let v3_present: Vec<&str> = V3_KEYS.iter().copied().filter(|k| has(k)).collect();
    let v12_present: Vec<&str> = V1V2_KEYS.iter().copied().filter(|k| has(k)).collect();
    if has(KEY_V1) && has(KEY_V2) {
        return Err(MetadataError::Mixed(format!("{KEY_V1} and {KEY_V2}")));
    }
    if !v3_present.is_empty() && !v12_present.is_empty() {
        return Err(MetadataError::Mixed(format!(
            "v3 keys {} with v1/v2 keys {}",
            v3_present.join(", "),
            v12_present.join(", ")
        )));
    }
    if has(KEY_V1) {
        let cek = m.get(CEK_ALG).map(String::as_str).unwrap_or("AES/CBC");
        return Err(MetadataError::Legacy(format!(
            "the S3EC v1 format ({KEY_V1}, content encryption {}); s3seal reads only authenticated v2/v3 objects",
            printable(cek)
        )));
    }
    if has(KEY_V2) {
        return parse_v2(m, location);
    }
    if !v3_present.is_empty() {
        return parse_v3(m, location);
    }
    if !v12_present.is_empty() {
        return Err(MetadataError::Invalid(format!(
            "v1/v2 keys ({}) without a wrapped data key",
            v12_present.join(", ")
        )));
    }
    Err(MetadataError::NotS3ec)
}

fn required<'a>(m: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str, MetadataError> {
    m.get(key)
        .map(String::as_str)
        .ok_or_else(|| MetadataError::Invalid(format!("{key} is missing")))
}

fn b64(key: &str, value: &str) -> Result<Vec<u8>, MetadataError> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| MetadataError::Invalid(format!("{key} is not base64")))
}

fn fixed<const N: usize>(key: &str, value: &str) -> Result<[u8; N], MetadataError> {
    let bytes = b64(key, value)?;
    bytes.as_slice().try_into().map_err(|_| {
        MetadataError::Invalid(format!("{key} is {} bytes, expected {N}", bytes.len()))
    })
}

fn context_json(key: &str, value: &str) -> Result<BTreeMap<String, String>, MetadataError> {
    let parsed: serde_json::Value = serde_json::from_str(value)
        .map_err(|_| MetadataError::Invalid(format!("{key} is not JSON")))?;
    let serde_json::Value::Object(map) = parsed else {
        return Err(MetadataError::Invalid(format!(
            "{key} is not a JSON object"
        )));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            _ => Err(MetadataError::Invalid(format!(
                "{key} has a non-string value for {}",
                printable(&k)
            ))),
        })
        .collect()
}

fn wrapped_key(key: &str, value: &str) -> Result<Vec<u8>, MetadataError> {
    let bytes = b64(key, value)?;
    if bytes.is_empty() || bytes.len() > 6144 {
        return Err(MetadataError::Invalid(format!(
            "{key} is {} bytes, not a KMS ciphertext",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn unencrypted_len(m: &BTreeMap<String, String>) -> Result<Option<u64>, MetadataError> {
    m.get(UNENCRYPTED_LEN)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| MetadataError::Invalid(format!("{UNENCRYPTED_LEN} is not a number")))
        })
        .transpose()
}

/// The stored context must name the same content algorithm as the metadata (KMS binds the
/// context to the data key, so this ties the algorithm to the key).
fn check_context_alg(
    context: &BTreeMap<String, String>, source: &str, expected: &str,
) -> Result<(), MetadataError> {
    match context.get(CONTEXT_CEK_ALG) {
        Some(v) if v == expected => Ok(()),
        Some(v) => Err(MetadataError::Invalid(format!(
            "{source} names content algorithm {} but the object uses {expected}",
            printable(v)
        ))),
        None => Err(MetadataError::Invalid(format!(
            "{source} has no {CONTEXT_CEK_ALG}, which kms+context always stores"
        ))),
    }
}

fn wrapping_mode(wrap: &str) -> Result<(), MetadataError> {
    match wrap {
        "kms+context" => Ok(()),
        "kms" => Err(MetadataError::Legacy(
            "key wrapping `kms` (KMS without an encryption context)".into(),
        )),
        "AES/GCM"
        | "AESWrap"
        | "RSA/ECB/OAEPWithSHA-256AndMGF1Padding"
        | "RSA-OAEP-SHA1"
        | "RSA" => Err(MetadataError::Unsupported(format!(
            "key wrapping {wrap} (a raw AES or RSA keyring); s3seal reads KMS-wrapped objects (kms+context)"
        ))),
        other => Err(MetadataError::Invalid(format!(
            "unknown key wrapping algorithm {}",
            printable(other)
        ))),
    }
}

fn parse_v2(
    m: &BTreeMap<String, String>, location: MetadataLocation,
) -> Result<Envelope, MetadataError> {
    let cek = required(m, CEK_ALG)?;
    match cek {
        V2_GCM => {}
        "AES/CBC/PKCS5Padding" | "AES/CBC/PKCS7Padding" => {
            return Err(MetadataError::Legacy(format!(
                "content encryption {cek} (unauthenticated AES/CBC)"
            )));
        }
        other => {
            return Err(MetadataError::Invalid(format!(
                "unknown content encryption {}",
                printable(other)
            )));
        }
    }
    wrapping_mode(required(m, WRAP_ALG)?)?;
    let tag_len = required(m, TAG_LEN)?;
    if tag_len.trim() != "128" {
        return Err(MetadataError::Invalid(format!(
            "{TAG_LEN} is {}, expected 128",
            printable(tag_len)
        )));
    }
    let iv = fixed::<12>(IV, required(m, IV)?)?;
    let names = KmsNames {
        context: MATDESC,
        wrapped_key: KEY_V2,
        cek_alg: V2_GCM,
    };
    kms_envelope(m, S3ecFormat::V2, location, names, || {
        Ok((Content::V2Gcm { iv }, unencrypted_len(m)?))
    })
}

fn parse_v3(
    m: &BTreeMap<String, String>, location: MetadataLocation,
) -> Result<Envelope, MetadataError> {
    let cipher = required(m, V3_CONTENT_CIPHER)?;
    if cipher != V3_SUITE_115 {
        return Err(MetadataError::Invalid(format!(
            "{V3_CONTENT_CIPHER} is {}, expected 115",
            printable(cipher)
        )));
    }
    let wrap = match required(m, V3_WRAP_ALG)? {
        "12" => "kms+context",
        "02" => "AES/GCM",
        "22" => "RSA-OAEP-SHA1",
        other => {
            return Err(MetadataError::Invalid(format!(
                "unknown {V3_WRAP_ALG} value {}",
                printable(other)
            )));
        }
    };
    wrapping_mode(wrap)?;
    let names = KmsNames {
        context: V3_CONTEXT,
        wrapped_key: V3_KEY,
        cek_alg: V3_SUITE_115,
    };
    kms_envelope(m, S3ecFormat::V3, location, names, || {
        let content = Content::V3Committing {
            message_id: fixed::<MESSAGE_ID_LEN>(V3_MESSAGE_ID, required(m, V3_MESSAGE_ID)?)?,
            commitment: fixed::<COMMITMENT_LEN>(V3_COMMITMENT, required(m, V3_COMMITMENT)?)?,
        };
        Ok((content, None))
    })
}

/// Where a format version keeps the parts every `kms+context` envelope has.
struct KmsNames {
    /// Map key of the stored KMS encryption context (a JSON object).
    context: &'static str,
    /// Map key of the KMS-wrapped data key.
    wrapped_key: &'static str,
    /// The content algorithm the stored context must name under `aws:x-amz-cek-alg`.
    cek_alg: &'static str,
}

/// The envelope of a `kms+context` object whose modes were checked: the stored context (which
/// must name the content algorithm), then the wrapped key, then what `content` reads (the
/// format's own content parameters and the unencrypted length), in that order.
fn kms_envelope(
    m: &BTreeMap<String, String>, format: S3ecFormat, location: MetadataLocation, names: KmsNames,
    content: impl FnOnce() -> Result<(Content, Option<u64>), MetadataError>,
) -> Result<Envelope, MetadataError> {
    let context = context_json(names.context, required(m, names.context)?)?;
    check_context_alg(&context, names.context, names.cek_alg)?;
    let wrapped_key = wrapped_key(names.wrapped_key, required(m, names.wrapped_key)?)?;
    let (content, unencrypted_len) = content()?;
    Ok(Envelope {
        format,
        location,
        wrapped_key,
        context,
        content,
        unencrypted_len,
    })
}

/// A value for an error message: at most 64 printable ASCII characters.
pub(super) fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    format!("{out:?}")
}

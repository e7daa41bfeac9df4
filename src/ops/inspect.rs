//! `inspect`: what an object's header says (format version, suite, KMS key id, encryption
//! context, chunk size, lengths) read with one ranged GET of at most 64 KiB, without KMS. The
//! fields are the header's claims: nothing here authenticates them (that needs the data key,
//! see `verify`), which the output says.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::format::header::MAX_HEADER_LEN;
use crate::format::{FORMAT_VERSION, FormatError, ParsedHeader, SUITE_AES256GCM_HKDF_SHA512};
use crate::s3ec::{Description, describe as describe_s3ec};
use crate::store::ObjectStore;
use crate::transfer::download::{FirstRange, RangeReader};

/// Bytes `inspect` reads at most: the largest header a reader accepts (64 KiB).
pub const INSPECT_BYTES: u64 = MAX_HEADER_LEN as u64;

/// What an object is, as far as its first bytes tell.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// Whether the object starts with the s3seal magic and a header this build parses.
    pub is_s3seal: bool,
    /// Size of the whole stored object in bytes.
    pub object_len: u64,
    /// Bytes actually read to inspect it.
    pub bytes_read: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The header's claims (s3seal objects only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderSummary>,
    /// For anything else: its first 16 bytes, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bytes_hex: Option<String>,
}

/// The header fields, unauthenticated.
#[derive(Debug, Clone, Serialize)]
pub struct HeaderSummary {
    pub format_version: u8,
    pub suite: String,
    pub header_len: u64,
    pub chunk_size: u64,
    pub chunk_count: u64,
    pub plaintext_len: u64,
    /// Length the header implies (header + plaintext + 16 bytes per chunk).
    pub ciphertext_len: u64,
    /// Whether the stored object has exactly that length.
    pub length_matches: bool,
    pub kms_key_id: String,
    pub encryption_context: BTreeMap<String, String>,
    pub bound_bucket: Option<String>,
    pub bound_key: Option<String>,
    pub message_id: String,
    pub wrapped_key_len: usize,
    /// Always false: the header MAC and commitment need the data key (`s3seal verify`).
    pub authenticated: bool,
}

/// Describes the first bytes of an object of `object_len` bytes. An object that is not an
/// s3seal object is described as such (not an error); a damaged s3seal header is an error.
pub fn inspect_bytes(bytes: &[u8], object_len: u64) -> Result<Inspection> {
    let base = Inspection {
        is_s3seal: false,
        object_len,
        bytes_read: bytes.len() as u64,
        etag: None,
        header: None,
        first_bytes_hex: None,
    };
    let parsed = match ParsedHeader::parse(bytes) {
        Ok(p) => p,
        Err(FormatError::NotS3seal) => {
            return Ok(Inspection {
                first_bytes_hex: Some(hex::encode(&bytes[..bytes.len().min(16)])),
                ..base
            });
        }
        Err(FormatError::Incomplete { .. }) if (bytes.len() as u64) >= object_len => {
            return Err(FormatError::LengthMismatch {
                expected: ParsedHeader::header_len(bytes).map_or(0, |n| n as u64),
                actual: object_len,
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let layout = parsed.layout();
    let fields = &parsed.fields;
    let bound = fields.context.bound_location();
    let header = HeaderSummary {
        format_version: FORMAT_VERSION,
        suite: format!(
            "0x{SUITE_AES256GCM_HKDF_SHA512:04x} (AES-256-GCM chunks, HKDF-SHA-512, HMAC-SHA-256 header MAC, key commitment)"
        ),
        header_len: layout.header_len(),
        chunk_size: layout.chunk_size().bytes(),
        chunk_count: layout.chunk_count(),
        plaintext_len: layout.plaintext_len(),
        ciphertext_len: layout.ciphertext_len()?,
        length_matches: layout.ciphertext_len()? == object_len,
        kms_key_id: fields.key_id.clone(),
        encryption_context: fields
            .context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        bound_bucket: bound.map(|(b, _)| b.to_string()),
        bound_key: bound.map(|(_, k)| k.to_string()),
        message_id: hex::encode(fields.message_id.0),
        wrapped_key_len: fields.wrapped_key.len(),
        authenticated: false,
    };
    Ok(Inspection {
        is_s3seal: true,
        header: Some(header),
        ..base
    })
}

/// What an object is: an s3seal object's header claims, or an S3 Encryption Client object.
#[derive(Debug, Clone)]
pub enum Inspected {
    S3seal(Inspection),
    S3ec(Description),
}

/// Reads the first [`INSPECT_BYTES`] of the object behind `reader` (one ranged read) and
/// describes them. With `s3ec_store`, an object carrying S3 Encryption Client metadata (on the
/// object, or in `KEY.instruction` read through that store) is described as one.
pub async fn inspect(
    reader: &impl RangeReader, s3ec_store: Option<&dyn ObjectStore>,
) -> Result<Inspected> {
    let first = match FirstRange::read(reader, INSPECT_BYTES).await {
        Ok(first) => first,
        // An empty object.
        Err(crate::Error::Format(FormatError::NotS3seal)) => {
            return Ok(Inspected::S3seal(Inspection {
                is_s3seal: false,
                object_len: 0,
                bytes_read: 0,
                etag: None,
                header: None,
                first_bytes_hex: Some(String::new()),
            }));
        }
        Err(e) => return Err(e),
    };
    if let Some(store) = s3ec_store
        && let Some(description) =
            describe_s3ec(store, reader.location(), first.metadata(), first.total()).await?
    {
        return Ok(Inspected::S3ec(description));
    }
    let mut inspection = inspect_bytes(&first.bytes, first.total())?;
    inspection.etag = first.meta.etag;
    Ok(Inspected::S3seal(inspection))
}

/// Human-readable lines for an inspection.
pub fn describe(source: &str, i: &Inspection) -> String {
    let mut out = String::new();
    // Every value may come from the object (key id, context, names): escaped for the terminal.
    let mut line = |k: &str, v: String| {
        out.push_str(&format!(
            "{k:<20} {}\n",
            crate::terminal::escape_for_terminal(&v)
        ))
    };
    line("object", source.to_string());
    line("size", format!("{} bytes", i.object_len));
    match &i.header {
        None => {
            line("s3seal object", "no".into());
            if let Some(hex) = &i.first_bytes_hex {
                line("first bytes", hex.clone());
            }
        }
        Some(h) => {
            line("s3seal object", "yes".into());
            line("format version", h.format_version.to_string());
            line("suite", h.suite.clone());
            line("KMS key id", h.kms_key_id.clone());
            let mut first = true;
            for (k, v) in &h.encryption_context {
                line(
                    if first { "encryption context" } else { "" },
                    format!("{k}={v}"),
                );
                first = false;
            }
            line("chunk size", format!("{} bytes", h.chunk_size));
            line("chunks", h.chunk_count.to_string());
            line("header length", format!("{} bytes", h.header_len));
            line("plaintext length", format!("{} bytes", h.plaintext_len));
            line(
                "ciphertext length",
                format!(
                    "{} bytes{}",
                    h.ciphertext_len,
                    if h.length_matches {
                        String::new()
                    } else {
                        format!(
                            " (but the object is {}: truncated or extended)",
                            i.object_len
                        )
                    }
                ),
            );
            line("message id", h.message_id.clone());
            line(
                "authenticated",
                "no: these are the header's claims; `s3seal verify` checks them with KMS".into(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{ChunkSize, DataKey, HeaderFields, ObjectKeys};

    #[test]
    fn describes_an_s3seal_header_and_anything_else() {
        let dk = DataKey::from_slice(&[5; 32]).unwrap();
        let fields = HeaderFields {
            chunk_size: ChunkSize::from_log2(16).unwrap(),
            plaintext_len: 3,
            ..crate::testing::sample_fields()
        };
        let object = crate::format::seal_to_vec(
            &ObjectKeys::derive(&dk, fields.message_id),
            &fields,
            b"abc",
        )
        .unwrap();
        let i = inspect_bytes(&object, object.len() as u64).unwrap();
        let h = i.header.as_ref().unwrap();
        assert!(i.is_s3seal && h.length_matches && !h.authenticated);
        assert_eq!(h.kms_key_id, fields.key_id);
        assert_eq!(h.bound_key.as_deref(), Some("k"));
        assert_eq!(
            h.encryption_context.get("team").map(String::as_str),
            Some("x")
        );
        assert!(describe("f", &i).contains("team=x"));
        let short = inspect_bytes(&object, object.len() as u64 + 1).unwrap();
        assert!(!short.header.unwrap().length_matches);

        let other = inspect_bytes(b"PK\x03\x04 a zip file", 100).unwrap();
        assert!(!other.is_s3seal);
        assert_eq!(
            other.first_bytes_hex.as_deref(),
            Some("504b03042061207a69702066696c65")
        );
        let mut bad = object.clone();
        bad[16] = 0x80; // flags
        assert!(inspect_bytes(&bad, bad.len() as u64).is_err());
    }
}

//! The object header: encoding, strict parsing, and authentication (commitment, then MAC).
//! Parsing never trusts a length field further than the bytes it was given, and a parsed header
//! is only a claim until [`ParsedHeader::verify`] has checked it under the data key.
//!
//! The header owns its sealing and its MAC: [`HeaderFields::seal`] appends the HMAC computed
//! under the key schedule's header-MAC key, and [`ParsedHeader::verify`] checks it. The keys
//! module only derives.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::chunk::{Backend, ChunkCipher};
use super::context::{EncryptionContext, MAX_FIELD_BYTES, MAX_PAIRS};
use super::keys::{COMMITMENT_LEN, DataKey, MAC_LEN, MESSAGE_ID_LEN, MessageId, ObjectKeys};
use super::layout::{ChunkSize, Layout};
use super::{FORMAT_VERSION, FormatError, MAGIC, SUITE_AES256GCM_HKDF_SHA512};

/// Bytes before the variable part: magic .. commitment.
pub const FIXED_LEN: usize = 89;
/// Smallest possible header: fixed part, a 1-byte key id, a 1-byte wrapped key, no context, MAC.
pub const MIN_HEADER_LEN: usize = FIXED_LEN + 2 + 1 + 2 + 1 + 2 + MAC_LEN;
/// Largest header a reader accepts.
pub const MAX_HEADER_LEN: usize = 65536;
/// Bytes a reader needs to learn the header length.
pub const PREFIX_LEN: usize = 15;
pub const MAX_KEY_ID_BYTES: usize = 2048;
pub const MAX_WRAPPED_KEY_BYTES: usize = 6144;

/// What a header says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFields {
    pub chunk_size: ChunkSize,
    pub plaintext_len: u64,
    pub message_id: MessageId,
    /// The KMS key (ARN) that wrapped the data key.
    pub key_id: String,
    /// KMS CiphertextBlob of the data key.
    pub wrapped_key: Vec<u8>,
    pub context: EncryptionContext,
}

fn put_field(
    out: &mut Vec<u8>, bytes: &[u8], max: usize, what: &'static str,
) -> Result<(), FormatError> {
    if bytes.len() > max {
        return Err(FormatError::FieldTooLong(what));
    }
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

impl HeaderFields {
    /// Encodes these fields with the object's commitment and MAC under `keys`: the complete
    /// header bytes.
    pub fn seal(&self, keys: &ObjectKeys) -> Result<Vec<u8>, FormatError> {
        if self.message_id != keys.message_id() {
            return Err(FormatError::MalformedHeader(
                "message id differs from the one the keys were derived with",
            ));
        }
        let mut bytes = encode_unauthenticated(self, &keys.commitment())?;
        let mac = header_mac(&keys.header_mac_key(), &bytes);
        bytes.extend_from_slice(&mac);
        Ok(bytes)
    }
}

/// HMAC-SHA-256 over the header bytes before the MAC.
fn header_mac(mac_key: &[u8; MAC_LEN], authenticated: &[u8]) -> [u8; MAC_LEN] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(mac_key).expect("HMAC takes any key length");
    mac.update(authenticated);
    mac.finalize().into_bytes().into()
}

/// Constant-time check of a stored header MAC.
fn verify_mac(
    mac_key: &[u8; MAC_LEN], authenticated: &[u8], stored: &[u8; MAC_LEN],
) -> Result<(), FormatError> {
    if bool::from(header_mac(mac_key, authenticated).ct_eq(stored)) {
        Ok(())
    } else {
        Err(FormatError::HeaderMacMismatch)
    }
}

/// Every header byte before the MAC (the MAC is appended by [`HeaderFields::seal`]).
fn encode_unauthenticated(
    fields: &HeaderFields, commitment: &[u8; COMMITMENT_LEN],
) -> Result<Vec<u8>, FormatError> {
    if fields.key_id.is_empty() || fields.wrapped_key.is_empty() {
        return Err(FormatError::MalformedHeader(
            "key id and wrapped key must not be empty",
        ));
    }
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&SUITE_AES256GCM_HKDF_SHA512.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // header length, filled in below
    out.push(fields.chunk_size.log2());
    out.push(0); // flags
    out.extend_from_slice(&fields.plaintext_len.to_be_bytes());
    out.extend_from_slice(&fields.message_id.0);
    out.extend_from_slice(commitment);
    debug_assert_eq!(out.len(), FIXED_LEN);
    put_field(
        &mut out,
        fields.key_id.as_bytes(),
        MAX_KEY_ID_BYTES,
        "KMS key id",
    )?;
    put_field(
        &mut out,
        &fields.wrapped_key,
        MAX_WRAPPED_KEY_BYTES,
        "wrapped data key",
    )?;
    out.extend_from_slice(&(fields.context.len() as u16).to_be_bytes());
    for (k, v) in fields.context.iter() {
        put_field(&mut out, k.as_bytes(), MAX_FIELD_BYTES, "context key")?;
        put_field(&mut out, v.as_bytes(), MAX_FIELD_BYTES, "context value")?;
    }
    let total = out.len() + MAC_LEN;
    if total > MAX_HEADER_LEN {
        return Err(FormatError::FieldTooLong("header"));
    }
    out[11..15].copy_from_slice(&(total as u32).to_be_bytes());
    Ok(out)
}

/// A header as parsed from bytes: syntactically valid, not yet authenticated.
#[derive(Debug, Clone)]
pub struct ParsedHeader {
    pub fields: HeaderFields,
    pub commitment: [u8; COMMITMENT_LEN],
    pub mac: [u8; MAC_LEN],
    /// The header bytes before the MAC, kept to recompute it.
    authenticated: Vec<u8>,
}

/// A bounds-checked reader over the header bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(FormatError::MalformedHeader(
                "a field runs past the header length",
            ))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn field(
        &mut self, min: usize, max: usize, what: &'static str,
    ) -> Result<&'a [u8], FormatError> {
        let len = self.u16()? as usize;
        if len < min || len > max {
            return Err(FormatError::MalformedHeader(what));
        }
        self.take(len)
    }

    fn utf8(&mut self, min: usize, max: usize, what: &'static str) -> Result<String, FormatError> {
        let bytes = self.field(min, max, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| FormatError::MalformedHeader("a text field is not UTF-8"))
    }
}

impl ParsedHeader {
    /// Reads the header length from the first [`PREFIX_LEN`] bytes, checking magic, version and
    /// suite on the way, so a reader knows how much to fetch before parsing.
    pub fn header_len(prefix: &[u8]) -> Result<usize, FormatError> {
        if prefix.len() < PREFIX_LEN {
            // Compare what we have of the magic so a short non-s3seal object says so.
            let n = prefix.len().min(MAGIC.len());
            if prefix[..n] != MAGIC[..n] {
                return Err(FormatError::NotS3seal);
            }
            return Err(FormatError::Incomplete {
                needed: PREFIX_LEN,
                available: prefix.len(),
            });
        }
        if prefix[..8] != MAGIC {
            return Err(FormatError::NotS3seal);
        }
        if prefix[8] != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion(prefix[8]));
        }
        let suite = u16::from_be_bytes([prefix[9], prefix[10]]);
        if suite != SUITE_AES256GCM_HKDF_SHA512 {
            return Err(FormatError::UnsupportedSuite(suite));
        }
        let len = u32::from_be_bytes(prefix[11..15].try_into().expect("4 bytes")) as usize;
        if !(MIN_HEADER_LEN..=MAX_HEADER_LEN).contains(&len) {
            return Err(FormatError::MalformedHeader("header length out of range"));
        }
        Ok(len)
    }

    /// Parses the header at the start of `bytes` (which may hold more of the object).
    pub fn parse(bytes: &[u8]) -> Result<ParsedHeader, FormatError> {
        let header_len = Self::header_len(bytes)?;
        if bytes.len() < header_len {
            return Err(FormatError::Incomplete {
                needed: header_len,
                available: bytes.len(),
            });
        }
        let bytes = &bytes[..header_len];
        let mut cur = Cursor {
            bytes: &bytes[..header_len - MAC_LEN],
            pos: PREFIX_LEN,
        };
        let chunk_size = ChunkSize::from_log2(cur.take(1)?[0])?;
        let flags = cur.take(1)?[0];
        if flags != 0 {
            return Err(FormatError::UnknownFlags(flags));
        }
        let plaintext_len = u64::from_be_bytes(cur.take(8)?.try_into().expect("8 bytes"));
        let message_id = MessageId(cur.take(MESSAGE_ID_LEN)?.try_into().expect("32 bytes"));
        let commitment: [u8; COMMITMENT_LEN] =
            cur.take(COMMITMENT_LEN)?.try_into().expect("32 bytes");
        let key_id = cur.utf8(1, MAX_KEY_ID_BYTES, "KMS key id length out of range")?;
        let wrapped_key = cur
            .field(1, MAX_WRAPPED_KEY_BYTES, "wrapped key length out of range")?
            .to_vec();
        let pairs = cur.u16()? as usize;
        if pairs > MAX_PAIRS {
            return Err(FormatError::MalformedHeader("too many context pairs"));
        }
        let mut map = BTreeMap::new();
        let mut previous: Option<String> = None;
        for _ in 0..pairs {
            let k = cur.utf8(1, MAX_FIELD_BYTES, "context key length out of range")?;
            let v = cur.utf8(0, MAX_FIELD_BYTES, "context value length out of range")?;
            if previous
                .as_ref()
                .is_some_and(|p| p.as_bytes() >= k.as_bytes())
            {
                return Err(FormatError::MalformedHeader(
                    "context keys not strictly ascending",
                ));
            }
            previous = Some(k.clone());
            map.insert(k, v);
        }
        if cur.pos != cur.bytes.len() {
            return Err(FormatError::MalformedHeader(
                "bytes left over before the MAC",
            ));
        }
        let mac: [u8; MAC_LEN] = bytes[header_len - MAC_LEN..].try_into().expect("32 bytes");
        Ok(ParsedHeader {
            fields: HeaderFields {
                chunk_size,
                plaintext_len,
                message_id,
                key_id,
                wrapped_key,
                context: EncryptionContext::from_map(map)?,
            },
            commitment,
            mac,
            authenticated: bytes[..header_len - MAC_LEN].to_vec(),
        })
    }

    /// Total header length in bytes.
    pub fn len(&self) -> usize {
        self.authenticated.len() + MAC_LEN
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The object's geometry as the header claims it.
    pub fn layout(&self) -> Layout {
        Layout::new(
            self.len() as u64,
            self.fields.chunk_size,
            self.fields.plaintext_len,
        )
    }

    /// Checks the key commitment (constant time), then the header MAC, under `data_key`.
    pub fn verify(self, data_key: &DataKey) -> Result<VerifiedHeader, FormatError> {
        let keys = ObjectKeys::derive(data_key, self.fields.message_id);
        keys.check_commitment(&self.commitment)?;
        verify_mac(&keys.header_mac_key(), &self.authenticated, &self.mac)?;
        Ok(VerifiedHeader { header: self, keys })
    }
}

/// A header whose commitment and MAC verified: its fields can be trusted, and it holds the keys
/// to open the chunks.
#[derive(Debug)]
pub struct VerifiedHeader {
    header: ParsedHeader,
    keys: ObjectKeys,
}

impl VerifiedHeader {
    pub fn fields(&self) -> &HeaderFields {
        &self.header.fields
    }

    pub fn layout(&self) -> Layout {
        self.header.layout()
    }

    pub fn keys(&self) -> &ObjectKeys {
        &self.keys
    }

    pub fn chunk_cipher(&self, backend: Backend) -> ChunkCipher {
        ChunkCipher::new(&self.keys, self.header.fields.chunk_size, backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> HeaderFields {
        crate::testing::sample_fields()
    }

    fn sealed(dk: &DataKey) -> Vec<u8> {
        fields()
            .seal(&ObjectKeys::derive(dk, MessageId([7; 32])))
            .unwrap()
    }

    #[test]
    fn round_trip_and_verify() {
        let dk = DataKey::from_slice(&[3; 32]).unwrap();
        let bytes = sealed(&dk);
        assert_eq!(
            ParsedHeader::header_len(&bytes[..PREFIX_LEN]).unwrap(),
            bytes.len()
        );
        let parsed = ParsedHeader::parse(&bytes).unwrap();
        assert_eq!(parsed.fields, fields());
        assert_eq!(parsed.len(), bytes.len());
        let verified = parsed.verify(&dk).unwrap();
        assert_eq!(verified.fields().plaintext_len, 12345);
    }

    #[test]
    fn wrong_key_fails_at_commitment() {
        let bytes = sealed(&DataKey::from_slice(&[3; 32]).unwrap());
        let other = DataKey::from_slice(&[4; 32]).unwrap();
        let err = ParsedHeader::parse(&bytes)
            .unwrap()
            .verify(&other)
            .unwrap_err();
        assert_eq!(err, FormatError::CommitmentMismatch);
    }

    #[test]
    fn every_byte_of_the_header_is_authenticated() {
        let dk = DataKey::from_slice(&[3; 32]).unwrap();
        let bytes = sealed(&dk);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let outcome = ParsedHeader::parse(&bad).and_then(|p| p.verify(&dk));
            assert!(outcome.is_err(), "flip at byte {i} accepted");
        }
    }

    #[test]
    fn short_and_foreign_inputs() {
        assert_eq!(
            ParsedHeader::parse(b"hello world").unwrap_err(),
            FormatError::NotS3seal
        );
        assert_eq!(
            ParsedHeader::parse(b"").unwrap_err(),
            FormatError::Incomplete {
                needed: PREFIX_LEN,
                available: 0
            }
        );
        let bytes = sealed(&DataKey::from_slice(&[3; 32]).unwrap());
        assert!(matches!(
            ParsedHeader::parse(&bytes[..100]).unwrap_err(),
            FormatError::Incomplete { .. }
        ));
        let mut v2 = bytes.clone();
        v2[8] = 2;
        assert_eq!(
            ParsedHeader::parse(&v2).unwrap_err(),
            FormatError::UnsupportedVersion(2)
        );
    }
}

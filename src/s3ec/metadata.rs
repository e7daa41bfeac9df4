//! Where an S3 Encryption Client object keeps its content metadata, and reading it: recognising
//! the format version from the object's user metadata (undoing S3's RFC 2047 encoding),
//! deciding whether `KEY.instruction` must be read, parsing that instruction file, and merging
//! the two before `envelope.rs` validates them into an [`Envelope`].
//!
//! Pure: no I/O. Sources: the S3EC specification (`s3-encryption/data-format/content-metadata.md`,
//! `metadata-strategy.md`) and the clients that write these objects.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;

use super::envelope::{
    CEK_ALG, IV, KEY_V1, KEY_V2, MATDESC, TAG_LEN, V1V2_KEYS, V3_CONTEXT, V3_KEY, V3_KEYS,
    V3_MATDESC, V3_OBJECT_ONLY, WRAP_ALG, printable, validate,
};
/// What [`parse`] returns and refuses with.
pub use super::envelope::{Content, Envelope, MetadataError, MetadataLocation, S3ecFormat};

/// Key an instruction file may carry to mark itself as one (ignored).
pub const INSTRUCTION_MARKER: &str = "x-amz-crypto-instr-file";
/// Suffix of the instruction file beside an object.
pub const INSTRUCTION_SUFFIX: &str = ".instruction";

/// Lower-cased S3EC keys of `metadata` (object user metadata), with S3's RFC 2047 encoding of
/// non-ASCII values undone. Other keys are dropped.
fn s3ec_keys_of(
    metadata: &HashMap<String, String>,
) -> Result<BTreeMap<String, String>, MetadataError> {
    let mut out = BTreeMap::new();
    for (k, v) in metadata {
        let lower = k.to_ascii_lowercase();
        if V1V2_KEYS.contains(&lower.as_str()) || V3_KEYS.contains(&lower.as_str()) {
            let value = decode_rfc2047(v);
            if out.insert(lower.clone(), value).is_some() {
                return Err(MetadataError::Invalid(format!(
                    "{lower} appears twice (in different letter cases)"
                )));
            }
        }
    }
    Ok(out)
}

/// Which S3EC format the object's own metadata claims, if any. `None` means no S3EC key at all
/// (the object may still have its metadata in an instruction file: see
/// [`needs_instruction_file`]).
pub fn detect(metadata: &HashMap<String, String>) -> Option<S3ecFormat> {
    let has = |key: &str| metadata.keys().any(|k| k.eq_ignore_ascii_case(key));
    if V3_KEYS.iter().any(|k| has(k)) {
        Some(S3ecFormat::V3)
    } else if has(KEY_V2) || has(WRAP_ALG) || has(CEK_ALG) || has(TAG_LEN) {
        Some(S3ecFormat::V2)
    } else if has(KEY_V1) || has(IV) || has(MATDESC) {
        Some(S3ecFormat::V1)
    } else {
        None
    }
}

/// Whether the key material must come from `KEY.instruction`: v3 content keys without
/// `x-amz-3`, or (for v1/v2, whose instruction files hold everything) no S3EC key at all.
pub fn needs_instruction_file(metadata: &HashMap<String, String>) -> bool {
    let has = |key: &str| metadata.keys().any(|k| k.eq_ignore_ascii_case(key));
    let any = V1V2_KEYS.iter().chain(V3_KEYS.iter()).any(|k| has(k));
    if !any {
        return true;
    }
    V3_OBJECT_ONLY.iter().any(|k| has(k)) && !has(V3_KEY) && !has(KEY_V1) && !has(KEY_V2)
}

/// Parses an instruction file's body: one JSON object of S3EC keys to string values (a
/// context or material description may also be a JSON object).
fn parse_instruction(body: &[u8]) -> Result<BTreeMap<String, String>, MetadataError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| MetadataError::Invalid("the instruction file is not JSON".into()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(MetadataError::Invalid(
            "the instruction file is not a JSON object".into(),
        ));
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let lower = k.to_ascii_lowercase();
        if lower == INSTRUCTION_MARKER {
            continue;
        }
        if !V1V2_KEYS.contains(&lower.as_str()) && !V3_KEYS.contains(&lower.as_str()) {
            return Err(MetadataError::Invalid(format!(
                "the instruction file has a key that is not S3EC metadata: {}",
                printable(&k)
            )));
        }
        let text = match v {
            serde_json::Value::String(s) => s,
            v @ serde_json::Value::Object(_)
                if [MATDESC, V3_CONTEXT, V3_MATDESC].contains(&lower.as_str()) =>
            {
                v.to_string()
            }
            _ => {
                return Err(MetadataError::Invalid(format!(
                    "the instruction file's {lower} is not a string"
                )));
            }
        };
        if out.insert(lower.clone(), text).is_some() {
            return Err(MetadataError::Invalid(format!(
                "the instruction file has {lower} twice"
            )));
        }
    }
    Ok(out)
}

/// Validates an object's S3EC metadata (and its instruction file's body, when one was read)
/// into an [`Envelope`].
pub fn parse(
    object_metadata: &HashMap<String, String>, instruction: Option<&[u8]>,
) -> Result<Envelope, MetadataError> {
    let obj = s3ec_keys_of(object_metadata)?;
    let (merged, location) = match instruction {
        None => (obj, MetadataLocation::ObjectMetadata),
        Some(body) => {
            let instr = parse_instruction(body)?;
            let obj_v3_content = V3_OBJECT_ONLY.iter().any(|k| obj.contains_key(*k));
            if obj_v3_content {
                if let Some(k) = V3_OBJECT_ONLY.iter().find(|k| instr.contains_key(**k)) {
                    return Err(MetadataError::Invalid(format!(
                        "the instruction file holds {k}, which belongs in the object's metadata"
                    )));
                }
                if let Some(k) = instr.keys().find(|k| obj.contains_key(*k)) {
                    return Err(MetadataError::Invalid(format!(
                        "{k} is both in the object's metadata and in its instruction file"
                    )));
                }
            } else if let Some(k) = obj.keys().next() {
                return Err(MetadataError::Invalid(format!(
                    "{k} is in the object's metadata although its instruction file holds the v1/v2 metadata"
                )));
            }
            let mut merged = obj;
            merged.extend(instr);
            (merged, MetadataLocation::InstructionFile)
        }
    };
    validate(&merged, location)
}

/// Undoes S3's RFC 2047 encoding of user-metadata values that were not US-ASCII
/// (`=?UTF-8?B?...?=` or `=?UTF-8?Q?...?=`, possibly several words). Anything else is returned
/// unchanged.
pub fn decode_rfc2047(value: &str) -> String {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty()
        || !words
            .iter()
            .all(|w| w.starts_with("=?") && w.ends_with("?="))
    {
        return value.to_string();
    }
    let mut bytes = Vec::new();
    for word in words {
        let inner = &word[2..word.len() - 2];
        let mut parts = inner.splitn(3, '?');
        let (Some(charset), Some(enc), Some(text)) = (parts.next(), parts.next(), parts.next())
        else {
            return value.to_string();
        };
        if !charset.eq_ignore_ascii_case("utf-8") {
            return value.to_string();
        }
        match enc {
            "B" | "b" => match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(b) => bytes.extend(b),
                Err(_) => return value.to_string(),
            },
            "Q" | "q" => {
                let raw = text.as_bytes();
                let mut i = 0;
                while i < raw.len() {
                    match raw[i] {
                        b'_' => bytes.push(b' '),
                        b'=' => {
                            let hex = raw
                                .get(i + 1..i + 3)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u8::from_str_radix(h, 16).ok());
                            match hex {
                                Some(b) => {
                                    bytes.push(b);
                                    i += 2;
                                }
                                None => return value.to_string(),
                            }
                        }
                        c => bytes.push(c),
                    }
                    i += 1;
                }
            }
            _ => return value.to_string(),
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3ec::envelope::*;

    fn b64e(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn v2_meta() -> HashMap<String, String> {
        HashMap::from([
            (KEY_V2.into(), b64e(&[9u8; 184])),
            (IV.into(), b64e(&[1u8; 12])),
            (CEK_ALG.into(), V2_GCM.into()),
            (WRAP_ALG.into(), "kms+context".into()),
            (TAG_LEN.into(), "128".into()),
            (
                MATDESC.into(),
                r#"{"team":"ops","aws:x-amz-cek-alg":"AES/GCM/NoPadding"}"#.into(),
            ),
        ])
    }

    fn v3_meta() -> HashMap<String, String> {
        HashMap::from([
            (V3_CONTENT_CIPHER.into(), "115".into()),
            (V3_KEY.into(), b64e(&[9u8; 184])),
            (V3_WRAP_ALG.into(), "12".into()),
            (
                V3_CONTEXT.into(),
                r#"{"team":"ops","aws:x-amz-cek-alg":"115"}"#.into(),
            ),
            (V3_COMMITMENT.into(), b64e(&[2u8; 28])),
            (V3_MESSAGE_ID.into(), b64e(&[3u8; 28])),
        ])
    }

    #[test]
    fn valid_v2_and_v3() {
        let e = parse(&v2_meta(), None).unwrap();
        assert_eq!(e.format, S3ecFormat::V2);
        assert_eq!(e.content, Content::V2Gcm { iv: [1; 12] });
        assert_eq!(e.context.get("team").map(String::as_str), Some("ops"));
        assert_eq!(e.user_context().collect::<Vec<_>>(), vec![("team", "ops")]);
        let e = parse(&v3_meta(), None).unwrap();
        assert_eq!(e.format, S3ecFormat::V3);
        assert_eq!(
            e.content,
            Content::V3Committing {
                message_id: [3; 28],
                commitment: [2; 28]
            }
        );
        assert_eq!(detect(&v2_meta()), Some(S3ecFormat::V2));
        assert_eq!(detect(&v3_meta()), Some(S3ecFormat::V3));
        assert_eq!(detect(&HashMap::new()), None);
        // S3 may hand back keys in another case.
        let upper: HashMap<_, _> = v3_meta()
            .into_iter()
            .map(|(k, v)| (k.to_uppercase(), v))
            .collect();
        assert_eq!(parse(&upper, None).unwrap().format, S3ecFormat::V3);
    }

    #[test]
    fn mixed_versions_are_refused() {
        let mut m = v3_meta();
        m.insert(KEY_V2.into(), b64e(&[1; 10]));
        assert!(matches!(parse(&m, None), Err(MetadataError::Mixed(_))));
        let mut m = v2_meta();
        m.insert(KEY_V1.into(), b64e(&[1; 10]));
        assert!(matches!(parse(&m, None), Err(MetadataError::Mixed(_))));
        let mut m = v2_meta();
        m.insert(V3_COMMITMENT.into(), b64e(&[1; 28]));
        assert!(matches!(parse(&m, None), Err(MetadataError::Mixed(_))));
    }

    #[test]
    fn legacy_modes_are_refused_by_name() {
        let mut m = v2_meta();
        m.insert(CEK_ALG.into(), "AES/CBC/PKCS5Padding".into());
        let e = parse(&m, None).unwrap_err();
        assert!(matches!(e, MetadataError::Legacy(_)) && e.to_string().contains("AES/CBC"));
        let mut m = v2_meta();
        m.insert(WRAP_ALG.into(), "kms".into());
        let e = parse(&m, None).unwrap_err();
        assert!(matches!(e, MetadataError::Legacy(_)) && e.to_string().contains("`kms`"));
        let m = HashMap::from([
            (KEY_V1.into(), b64e(&[1; 32])),
            (IV.into(), b64e(&[1; 16])),
            (MATDESC.into(), "{}".into()),
        ]);
        let e = parse(&m, None).unwrap_err();
        assert!(matches!(e, MetadataError::Legacy(_)) && e.to_string().contains("v1"));
        let mut m = v3_meta();
        m.insert(V3_WRAP_ALG.into(), "02".into());
        assert!(matches!(
            parse(&m, None),
            Err(MetadataError::Unsupported(_))
        ));
    }

    #[test]
    fn malformed_values_are_refused() {
        type Base = fn() -> HashMap<String, String>;
        let cases: Vec<(Base, &str, &str)> = vec![
            (v2_meta, TAG_LEN, "96"),
            (v2_meta, IV, "AAAA"),
            (v2_meta, IV, "not base64!"),
            (v2_meta, MATDESC, "[]"),
            (v2_meta, MATDESC, r#"{"aws:x-amz-cek-alg":"115"}"#),
            (v2_meta, MATDESC, r#"{"team":"ops"}"#),
            (v2_meta, KEY_V2, ""),
            (v3_meta, V3_CONTENT_CIPHER, "116"),
            (v3_meta, V3_WRAP_ALG, "13"),
            (v3_meta, V3_COMMITMENT, "AAAA"),
            (v3_meta, V3_MESSAGE_ID, "AAAA"),
            (
                v3_meta,
                V3_CONTEXT,
                r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}"#,
            ),
            (v3_meta, V3_CONTEXT, r#"{"a":1}"#),
        ];
        for (base, key, value) in cases {
            let mut m = base();
            m.insert(key.into(), value.into());
            assert!(parse(&m, None).is_err(), "{key}={value} accepted");
        }
        for key in [
            V3_KEY,
            V3_COMMITMENT,
            V3_MESSAGE_ID,
            V3_CONTEXT,
            V3_WRAP_ALG,
        ] {
            let mut m = v3_meta();
            m.remove(key);
            if key == V3_KEY {
                assert!(needs_instruction_file(&m));
            }
            assert!(parse(&m, None).is_err(), "missing {key} accepted");
        }
    }

    #[test]
    fn v3_instruction_file() {
        let full = v3_meta();
        let obj: HashMap<String, String> = full
            .iter()
            .filter(|(k, _)| V3_OBJECT_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(needs_instruction_file(&obj));
        let instr: serde_json::Map<String, serde_json::Value> = full
            .iter()
            .filter(|(k, _)| !V3_OBJECT_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let body = serde_json::to_vec(&instr).unwrap();
        let e = parse(&obj, Some(&body)).unwrap();
        assert_eq!(e.location, MetadataLocation::InstructionFile);
        assert_eq!(e.format, S3ecFormat::V3);
        // The instruction file may not carry the object-only keys...
        let mut bad = instr.clone();
        bad.insert(V3_COMMITMENT.into(), full[V3_COMMITMENT].clone().into());
        assert!(parse(&obj, Some(&serde_json::to_vec(&bad).unwrap())).is_err());
        // ...nor v2 keys (a downgrade through the instruction file).
        let mut bad = instr.clone();
        bad.insert(KEY_V2.into(), full[V3_KEY].clone().into());
        assert!(matches!(
            parse(&obj, Some(&serde_json::to_vec(&bad).unwrap())),
            Err(MetadataError::Mixed(_))
        ));
        // ...nor unknown keys.
        let mut bad = instr;
        bad.insert("x-amz-zzz".into(), "1".into());
        assert!(parse(&obj, Some(&serde_json::to_vec(&bad).unwrap())).is_err());
        assert!(parse(&obj, Some(b"not json")).is_err());
    }

    #[test]
    fn v2_instruction_file_holds_everything() {
        let obj = HashMap::from([("other".to_string(), "x".to_string())]);
        assert!(needs_instruction_file(&obj));
        let body = serde_json::to_vec(&v2_meta()).unwrap();
        let e = parse(&obj, Some(&body)).unwrap();
        assert_eq!(e.format, S3ecFormat::V2);
        assert_eq!(e.location, MetadataLocation::InstructionFile);
        let mut with_iv = obj;
        with_iv.insert(IV.into(), b64e(&[1; 12]));
        assert!(parse(&with_iv, Some(&body)).is_err());
    }

    #[test]
    fn rfc2047_values_are_decoded() {
        assert_eq!(decode_rfc2047("=?UTF-8?B?w6l0w6k=?="), "été");
        assert_eq!(
            decode_rfc2047("=?UTF-8?Q?caf=C3=A9_au_lait?="),
            "café au lait"
        );
        assert_eq!(decode_rfc2047("plain"), "plain");
        assert_eq!(decode_rfc2047("=?UTF-8?B?***?="), "=?UTF-8?B?***?=");
        assert_eq!(decode_rfc2047("=?UTF-8?Q?bad=Z?="), "=?UTF-8?Q?bad=Z?=");
    }
}

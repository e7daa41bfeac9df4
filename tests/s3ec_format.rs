//! The public S3EC API without servers: a v3 and a v2 object are built here independently of
//! `src/s3ec` (HKDF written out with HMAC, one-shot AES-GCM from aws-lc-rs, metadata as the
//! specification lays it out) and must be recognised, validated and decrypted by the same
//! functions `get`, `inspect` and `verify` use.

use std::collections::HashMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine;
use hmac::{Hmac, Mac};
use s3seal::s3ec::gcm::GcmDecryptor;
use s3seal::s3ec::{self, Content, MetadataLocation, S3ecFormat, keys};
use sha2::Sha512;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut ext = Hmac::<Sha512>::new_from_slice(salt).unwrap();
    ext.update(ikm);
    let prk = ext.finalize().into_bytes();
    let mut exp = Hmac::<Sha512>::new_from_slice(&prk).unwrap();
    exp.update(info);
    exp.update(&[1]);
    exp.finalize().into_bytes()[..len].to_vec()
}

fn gcm_seal(key: &[u8], iv: [u8; 12], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut buf = plain.to_vec();
    k.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
        .unwrap();
    buf
}

/// Decrypts `body` in uneven pieces with the streaming decryptor.
fn stream_open(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let (ct, tag) = body.split_at(body.len() - 16);
    let mut d = GcmDecryptor::new(key, iv, aad);
    let mut out = Vec::new();
    for piece in ct.chunks(1000 + 7) {
        let mut p = piece.to_vec();
        d.update(&mut p);
        out.extend(p);
    }
    d.finish(tag.try_into().unwrap()).ok().map(|()| out)
}

#[test]
fn a_v3_object_built_from_the_specification_decrypts() {
    let data_key = [0x5au8; 32];
    let message_id = [0x11u8; 28];
    let plain: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    let content_key = hkdf_sha512(&message_id, &data_key, b"\x00\x73DERIVEKEY", 32);
    let commitment = hkdf_sha512(&message_id, &data_key, b"\x00\x73COMMITKEY", 28);
    let body = gcm_seal(&content_key, [1u8; 12], &[0x00, 0x73], &plain);
    let meta = HashMap::from([
        ("x-amz-c".to_string(), "115".to_string()),
        ("x-amz-3".into(), b64(b"opaque KMS ciphertext blob")),
        ("x-amz-w".into(), "12".into()),
        (
            "x-amz-t".into(),
            r#"{"dept":"finance","aws:x-amz-cek-alg":"115"}"#.into(),
        ),
        ("x-amz-d".into(), b64(&commitment)),
        ("x-amz-i".into(), b64(&message_id)),
        ("unrelated".into(), "kept".into()),
    ]);

    assert_eq!(s3ec::detect(&meta), Some(S3ecFormat::V3));
    assert!(!s3ec::needs_instruction_file(&meta));
    let envelope = s3ec::metadata::parse(&meta, None).unwrap();
    let d = s3ec::describe_envelope(&envelope, body.len() as u64);
    assert_eq!(d.format, S3ecFormat::V3);
    assert_eq!(d.metadata_location, MetadataLocation::ObjectMetadata);
    assert_eq!(d.plaintext_len, Some(plain.len() as u64));
    assert_eq!(d.context.get("dept").map(String::as_str), Some("finance"));
    assert_eq!(envelope.wrapped_key, b"opaque KMS ciphertext blob");

    let Content::V3Committing {
        message_id: mid,
        commitment: stored,
    } = envelope.content
    else {
        panic!("not v3 content");
    };
    let key = keys::derive_v3(&data_key, &mid, &stored).unwrap();
    // The derived key is the one the writer used: decrypting with the specified IV and AAD
    // gives the plaintext back.
    let mut derived = [0u8; 32];
    derived.copy_from_slice(&content_key);
    assert_eq!(
        stream_open(&derived, &keys::V3_IV, &keys::SUITE_V3_ID_BYTES, &body).unwrap(),
        plain
    );
    drop(key);
    // The wrong data key fails the commitment before any decryption.
    assert!(keys::derive_v3(&[0x5b; 32], &mid, &stored).is_err());
    // The v2 parameters (no AAD) do not open a v3 body.
    assert!(stream_open(&derived, &keys::V3_IV, &[], &body).is_none());
}

#[test]
fn a_v2_object_built_from_the_specification_decrypts() {
    let data_key = [0x33u8; 32];
    let iv = [0x44u8; 12];
    let plain = b"hello from the S3 Encryption Client v2 format".repeat(100);
    let body = gcm_seal(&data_key, iv, &[], &plain);
    let meta = HashMap::from([
        ("x-amz-key-v2".to_string(), b64(b"opaque KMS blob")),
        ("x-amz-iv".into(), b64(&iv)),
        ("x-amz-cek-alg".into(), "AES/GCM/NoPadding".into()),
        ("x-amz-wrap-alg".into(), "kms+context".into()),
        ("x-amz-tag-len".into(), "128".into()),
        (
            "x-amz-matdesc".into(),
            r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}"#.into(),
        ),
    ]);
    assert_eq!(s3ec::detect(&meta), Some(S3ecFormat::V2));
    let envelope = s3ec::metadata::parse(&meta, None).unwrap();
    assert_eq!(envelope.user_context().count(), 0);
    let Content::V2Gcm { iv: parsed_iv } = envelope.content else {
        panic!("not v2 content");
    };
    assert_eq!(
        stream_open(&data_key, &parsed_iv, &[], &body).unwrap(),
        plain
    );
    let mut flipped = body.clone();
    flipped[5] ^= 4;
    assert!(stream_open(&data_key, &parsed_iv, &[], &flipped).is_none());
}

#[test]
fn objects_without_s3ec_metadata_are_not_claimed() {
    let meta = HashMap::from([("content-owner".to_string(), "x".to_string())]);
    assert_eq!(s3ec::detect(&meta), None);
    assert!(matches!(
        s3ec::metadata::parse(&meta, None),
        Err(s3ec::MetadataError::NotS3ec)
    ));
}

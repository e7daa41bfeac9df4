//! Key material never shows in `Debug` output, error messages or panic messages: the data
//! key's bytes (raw, hex, base64, or as Rust prints a byte array) must not appear in anything a
//! log line, an `{:?}` or a panic could print. docs/SECURITY.md, "Key handling".

use base64::Engine;
use s3seal::format::{
    Backend, ChunkSize, DataKey, EncryptionContext, HeaderFields, MessageId, ObjectKeys,
    ParsedHeader,
};
use s3seal::kms::NewDataKey;

/// A distinctive key: every byte different, none zero.
fn key_bytes() -> [u8; 32] {
    std::array::from_fn(|i| 0xA0u8.wrapping_add(i as u8 * 7) | 1)
}

/// Every way the key could be spelled in text.
fn spellings(key: &[u8]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        hex::encode(key),
        hex::encode_upper(key),
        hex::encode(&key[..8]),
        b64.encode(key),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key),
        format!("{:?}", &key[..4]).trim_end_matches(']').to_string(),
        format!("{:x?}", &key[..4])
            .trim_end_matches(']')
            .to_string(),
        String::from_utf8_lossy(key).to_string(),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for s in spellings(&key_bytes()) {
        assert!(
            !text.contains(&s),
            "{what} shows key material ({s:.12}...): {text}"
        );
    }
}

fn fields(message_id: MessageId) -> HeaderFields {
    HeaderFields {
        chunk_size: ChunkSize::from_log2(16).unwrap(),
        plaintext_len: 10,
        message_id,
        key_id: "arn:aws:kms:us-east-1:123456789012:key/redaction".into(),
        wrapped_key: vec![7; 64],
        context: EncryptionContext::for_object("b", "k", &[]).unwrap(),
    }
}

#[test]
fn debug_of_key_types_is_redacted() {
    let key = DataKey::from_slice(&key_bytes()).unwrap();
    let dbg = format!("{key:?} {key:#?}");
    assert!(dbg.contains("redacted"), "{dbg}");
    assert_clean("DataKey", &dbg);

    let message_id = MessageId([3; 32]);
    let keys = ObjectKeys::derive(&key, message_id);
    assert_clean("ObjectKeys", &format!("{keys:?} {keys:#?}"));

    let new = NewDataKey {
        key: DataKey::from_slice(&key_bytes()).unwrap(),
        wrapped: vec![1, 2, 3],
        key_arn: "arn:aws:kms:us-east-1:123456789012:key/x".into(),
    };
    assert_clean("NewDataKey", &format!("{new:?} {new:#?}"));

    // A verified header holds the object's keys.
    let object = s3seal::format::seal_to_vec(&keys, &fields(message_id), b"0123456789").unwrap();
    let verified = ParsedHeader::parse(&object).unwrap().verify(&key).unwrap();
    let dbg = format!("{verified:?} {verified:#?}");
    assert_clean("VerifiedHeader", &dbg);
    // ... and so does what `open_from_slice` returns.
    let (opened, _) = s3seal::format::open_from_slice(&object, &key).unwrap();
    assert_clean("opened header", &format!("{opened:#?}"));
}

#[test]
fn errors_name_no_key_material() {
    let key = DataKey::from_slice(&key_bytes()).unwrap();
    let message_id = MessageId([4; 32]);
    let keys = ObjectKeys::derive(&key, message_id);
    let mut object =
        s3seal::format::seal_to_vec(&keys, &fields(message_id), b"0123456789").unwrap();
    let other = DataKey::from_slice(&[9; 32]).unwrap();
    let err = s3seal::format::open_from_slice(&object, &other).unwrap_err();
    assert_clean("commitment error", &format!("{err} {err:?}"));
    let last = object.len() - 1;
    object[last] ^= 1;
    let err = s3seal::format::open_from_slice(&object, &key).unwrap_err();
    assert_clean("chunk error", &format!("{err} {err:?}"));
    let err = s3seal::Error::from(err);
    assert_clean("s3seal error", &format!("{err} {err:?} {:?}", err.hint()));
    // A wrong-length key is refused without echoing it.
    let err = DataKey::from_slice(&key_bytes()[..31]).unwrap_err();
    assert_clean("key length error", &format!("{err} {err:?}"));
}

#[test]
fn a_panic_while_keys_are_live_prints_no_key() {
    let key = DataKey::from_slice(&key_bytes()).unwrap();
    let keys = ObjectKeys::derive(&key, MessageId([5; 32]));
    let cipher = s3seal::format::ChunkCipher::new(
        &keys,
        ChunkSize::from_log2(16).unwrap(),
        Backend::default(),
    );
    // Sealing more than a chunk is a programming error that panics.
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut too_big = vec![0u8; (1 << 16) + 1];
        cipher.seal_in_place(0, true, &mut too_big);
    }))
    .expect_err("sealing an oversized chunk must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(!message.is_empty());
    assert_clean("panic message", &message);
}

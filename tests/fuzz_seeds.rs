//! The fuzz targets' seed corpora (fuzz/corpus/): objects and headers sealed under the fixed
//! data key the targets use, so mutations get past the commitment and MAC checks into chunk
//! decryption. `cargo test --test fuzz_seeds -- --ignored` writes them (deterministically: fixed
//! message ids); the normal test checks that the committed seeds still open, so a format
//! change that would leave the fuzzers stuck at the header is noticed.

use std::path::PathBuf;

use s3seal::format::{
    ChunkSize, DataKey, EncryptionContext, HeaderFields, MessageId, ObjectKeys, ParsedHeader,
};

/// The key in fuzz/fuzz_targets/{header,chunk_open}.rs.
const SEED_KEY: [u8; 32] = [0x42; 32];

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// (name, object bytes) for a few shapes: empty, one byte, one short chunk, several chunks
/// with a partial last one, a user context pair, a long key.
fn seed_objects() -> Vec<(String, Vec<u8>)> {
    let key = DataKey::from_slice(&SEED_KEY).unwrap();
    let chunk = ChunkSize::from_log2(16).unwrap();
    /// (name, plaintext length, user context pairs, object key)
    type Shape<'a> = (&'a str, usize, &'a [(&'a str, &'a str)], &'a str);
    let long_key = "k/".repeat(200);
    let shapes: [Shape; 5] = [
        ("empty", 0, &[], "k"),
        ("one-byte", 1, &[], "a/b.txt"),
        ("short", 100, &[("purpose", "backup")], "backups/db.dump"),
        ("two-chunks", 65_536 + 17, &[], "x"),
        ("long-key", 10, &[("a", "b"), ("c", "")], &long_key),
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(i, (name, len, pairs, object_key))| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let message_id = MessageId([i as u8 + 1; 32]);
            let fields = HeaderFields {
                chunk_size: chunk,
                plaintext_len: *len as u64,
                message_id,
                key_id: "arn:aws:kms:us-east-1:123456789012:key/fuzz".into(),
                wrapped_key: vec![0xAB; 184],
                context: EncryptionContext::for_object("s3seal-test", object_key, &pairs).unwrap(),
            };
            let keys = ObjectKeys::derive(&key, message_id);
            let plain: Vec<u8> = (0..*len).map(|j| (j % 251) as u8).collect();
            let object = s3seal::format::seal_to_vec(&keys, &fields, &plain).unwrap();
            (name.to_string(), object)
        })
        .collect()
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand after a format change"]
fn write_fuzz_seeds() {
    let header_dir = corpus("header");
    let chunk_dir = corpus("chunk_open");
    std::fs::create_dir_all(&header_dir).unwrap();
    std::fs::create_dir_all(&chunk_dir).unwrap();
    for (name, object) in seed_objects() {
        let header_len = ParsedHeader::parse(&object).unwrap().len();
        std::fs::write(
            header_dir.join(format!("seed-{name}")),
            &object[..header_len],
        )
        .unwrap();
        if object.len() < 4096 {
            std::fs::write(chunk_dir.join(format!("seed-{name}")), &object).unwrap();
        }
    }
    let policy_dir = corpus("policy");
    std::fs::create_dir_all(&policy_dir).unwrap();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/posture");
    for entry in std::fs::read_dir(fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::copy(
                &path,
                policy_dir.join(format!(
                    "seed-{}",
                    path.file_name().unwrap().to_string_lossy()
                )),
            )
            .unwrap();
        }
    }
}

#[test]
fn committed_seeds_open_with_the_seed_key() {
    let key = DataKey::from_slice(&SEED_KEY).unwrap();
    let dir = corpus("chunk_open");
    let mut opened = 0;
    for (name, object) in seed_objects() {
        let path = dir.join(format!("seed-{name}"));
        if !path.exists() {
            continue; // too large to commit
        }
        let stored = std::fs::read(&path).unwrap();
        assert_eq!(
            stored, object,
            "{name}: committed seed is stale; regenerate"
        );
        s3seal::format::open_from_slice(&stored, &key).unwrap();
        opened += 1;
    }
    assert!(opened >= 3, "the chunk_open seed corpus is missing");
    for (name, object) in seed_objects() {
        let header = std::fs::read(corpus("header").join(format!("seed-{name}"))).unwrap();
        assert!(object.starts_with(&header), "{name}: header seed is stale");
        ParsedHeader::parse(&header).unwrap().verify(&key).unwrap();
    }
}

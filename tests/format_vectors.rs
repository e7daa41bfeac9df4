//! Conformance vectors (`tests/vectors/`) against the Rust implementation of format v1.
//!
//! Why this exists: the vectors pin what `docs/FORMAT.md` says, byte for byte (valid vectors)
//! and check by check (must-fail vectors, one per adversarial case). This test runs the reader
//! steps of FORMAT.md section 7 through the library's API and requires exactly the expected
//! plaintext or the expected error class; it also regenerates the vectors and requires identical
//! bytes, so neither the implementation nor the vectors can drift silently. The independent
//! Python decoder runs the same vectors (`tests/interop/run.sh`).

#[path = "../examples/gen_vectors.rs"]
mod gen_vectors;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use s3seal::format::{
    Backend, ChunkSize, DataKey, FormatError, Layout, MessageId, ObjectKeys, ParsedHeader,
    open_from_slice,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

/// The error classes of docs/FORMAT.md section 7.
const CLASSES: [&str; 10] = [
    "not_s3seal",
    "malformed_header",
    "unsupported_version",
    "unsupported_suite",
    "context",
    "kms",
    "commitment",
    "header_mac",
    "length",
    "chunk",
];

type Failure = (&'static str, Option<u64>);

struct Loaded {
    name: String,
    v: Value,
    object: Vec<u8>,
}

fn load_object(v: &Value) -> Vec<u8> {
    if let Some(h) = v.get("object_hex") {
        return hex::decode(h.as_str().expect("hex string")).expect("hex");
    }
    let mut out = Vec::new();
    for part in v["object_parts"].as_array().expect("object_parts") {
        if let Some(h) = part.get("hex") {
            out.extend(hex::decode(h.as_str().expect("hex")).expect("hex"));
        } else {
            let file = part["file"].as_str().expect("file");
            let bytes = std::fs::read(Path::new(VECTOR_DIR).join(file)).expect("part file");
            let (s, e) = (
                part["start"].as_u64().unwrap() as usize,
                part["end"].as_u64().unwrap() as usize,
            );
            out.extend_from_slice(&bytes[s..e]);
        }
    }
    out
}

fn load_all() -> Vec<Loaded> {
    let mut names: Vec<_> = std::fs::read_dir(VECTOR_DIR)
        .expect("tests/vectors exists")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("utf8 name")
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|file| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(Path::new(VECTOR_DIR).join(&file)).unwrap())
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
            let object = load_object(&v);
            Loaded {
                name: v["name"].as_str().expect("name").to_string(),
                v,
                object,
            }
        })
        .collect()
}

/// Maps the library's errors onto the classes of FORMAT.md section 7. Exhaustive on purpose: a
/// new error variant must be placed in a class here.
fn class_of(e: &FormatError) -> Failure {
    match e {
        FormatError::NotS3seal => ("not_s3seal", None),
        FormatError::UnsupportedVersion(_) => ("unsupported_version", None),
        FormatError::UnsupportedSuite(_) => ("unsupported_suite", None),
        FormatError::InvalidChunkSize(_)
        | FormatError::UnknownFlags(_)
        | FormatError::MalformedHeader(_)
        | FormatError::Incomplete { .. }
        | FormatError::InvalidContext(_)
        | FormatError::FieldTooLong(_) => ("malformed_header", None),
        FormatError::InvalidDataKey(_) => ("kms", None),
        FormatError::CommitmentMismatch => ("commitment", None),
        FormatError::HeaderMacMismatch => ("header_mac", None),
        FormatError::LengthMismatch { .. } | FormatError::LengthOverflow { .. } => ("length", None),
        FormatError::ChunkAuthentication { index } => ("chunk", Some(*index)),
    }
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_string(),
                        p[1].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Steps 1-7 of FORMAT.md section 7 through the library's API. Steps 2 and 3 (context policy,
/// KMS) are done here with the library's context helpers and a stand-in for KMS Decrypt that,
/// like KMS, only answers for the exact key id, wrapped key and context it was made with.
fn open_like_a_reader(v: &Value, object: &[u8]) -> Result<(ParsedHeader, Vec<u8>), Failure> {
    let parsed = ParsedHeader::parse(object).map_err(|e| class_of(&e))?;
    let ctx = &parsed.fields.context;
    ctx.check_reserved().map_err(|_| ("context", None))?;
    if let Some(loc) = v.get("read_from") {
        let want = (
            loc["bucket"].as_str().unwrap(),
            loc["key"].as_str().unwrap(),
        );
        if ctx.bound_location() != Some(want) {
            return Err(("context", None));
        }
    }
    if ctx.missing_from(&pairs(&v["caller_context"])).is_some() {
        return Err(("context", None));
    }
    if let Some(kms) = v.get("kms") {
        let header_ctx: BTreeMap<String, String> = ctx
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let bound_ctx: BTreeMap<String, String> = pairs(&kms["context"]).into_iter().collect();
        if parsed.fields.key_id != kms["key_id"].as_str().unwrap()
            || hex::encode(&parsed.fields.wrapped_key) != kms["wrapped_key_hex"].as_str().unwrap()
            || header_ctx != bound_ctx
        {
            return Err(("kms", None));
        }
    }
    let dk = DataKey::from_slice(&hex::decode(v["data_key_hex"].as_str().unwrap()).unwrap())
        .map_err(|e| class_of(&e))?;
    let (_verified, plaintext) = open_from_slice(object, &dk).map_err(|e| class_of(&e))?;
    Ok((parsed, plaintext))
}

fn check_vector(l: &Loaded) -> Result<(), String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| open_like_a_reader(&l.v, &l.object)))
        .map_err(|_| "the implementation panicked instead of returning an error".to_string())?;
    match (l.v.get("error").and_then(Value::as_str), outcome) {
        (None, Ok((_, pt))) => {
            let want_len = l.v["plaintext_len"].as_u64().unwrap();
            if pt.len() as u64 != want_len {
                return Err(format!(
                    "plaintext is {} bytes, expected {want_len}",
                    pt.len()
                ));
            }
            if hex::encode(Sha256::digest(&pt)) != l.v["plaintext_sha256"].as_str().unwrap() {
                return Err("plaintext differs (sha256)".into());
            }
            if let Some(h) = l.v.get("plaintext_hex")
                && hex::encode(&pt) != h.as_str().unwrap()
            {
                return Err("plaintext differs".into());
            }
            Ok(())
        }
        (None, Err(e)) => Err(format!("expected plaintext, got {e:?}")),
        (Some(want), Ok(_)) => Err(format!("expected error {want}, but the object opened")),
        (Some(want), Err((class, chunk))) => {
            let want_chunk = l.v.get("error_chunk").and_then(Value::as_u64);
            if class != want || (want_chunk.is_some() && chunk != want_chunk) {
                Err(format!(
                    "expected {want} {want_chunk:?}, got {class} {chunk:?}"
                ))
            } else {
                Ok(())
            }
        }
    }
}

#[test]
fn every_vector_gives_exactly_the_expected_result() {
    let all = load_all();
    assert!(
        all.len() >= 90,
        "only {} vectors found in {VECTOR_DIR}",
        all.len()
    );
    let failures: Vec<String> = all
        .iter()
        .filter_map(|l| check_vector(l).err().map(|e| format!("{}: {e}", l.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n  {}",
        failures.len(),
        all.len(),
        failures.join("\n  ")
    );
}

#[test]
fn must_fail_vectors_cover_every_error_class_and_case() {
    let all = load_all();
    let mut by_class: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &all {
        let name = l.name.as_str();
        match l.v.get("error").and_then(Value::as_str) {
            Some(c) => {
                assert!(
                    name.starts_with("fail-"),
                    "{name}: must-fail vectors are named fail-*"
                );
                assert!(CLASSES.contains(&c), "{name}: unknown class {c}");
                *by_class
                    .entry(CLASSES.iter().find(|x| **x == c).unwrap())
                    .or_default() += 1;
            }
            None => assert!(
                name.starts_with("valid-"),
                "{name}: valid vectors are named valid-*"
            ),
        }
    }
    for c in CLASSES {
        assert!(
            by_class.get(c).copied().unwrap_or(0) > 0,
            "no must-fail vector of class {c}"
        );
    }
    // The adversarial cases of docs/FORMAT.md §7 that apply to one object, by vector name.
    for case in [
        "fail-bit-flip-ciphertext",
        "fail-bit-flip-tag",
        "fail-plaintext-len-flipped",
        "fail-header-mac-flipped",
        "fail-chunks-swapped",
        "fail-chunk-duplicated-in-place",
        "fail-final-chunk-dropped",
        "fail-truncated-mid-chunk",
        "fail-bytes-appended",
        "fail-chunk-appended",
        "fail-non-final-chunk-marked-final",
        "fail-final-chunk-marked-non-final",
        "fail-chunk-from-same-data-key-other-message-id",
        "fail-chunk-from-other-data-key",
        "fail-header-from-other-object",
        "fail-magic",
        "fail-version-2",
        "fail-suite-2",
        "fail-flags-1",
        "fail-chunk-size-15",
        "fail-chunk-size-25",
        "fail-plaintext-len-plus-1-remaced",
        "fail-plaintext-len-minus-1-remaced",
        "fail-header-len-past-end",
        "fail-commitment-altered",
        "fail-wrapped-key-swapped",
        "fail-key-id-swapped",
        "fail-context-value-altered",
        "fail-context-value-altered-remaced",
        "fail-context-pair-added-remaced",
        "fail-context-pair-removed-remaced",
        "fail-relocated-key",
        "fail-relocated-bucket",
        "fail-plaintext-instead-of-object",
        "fail-wrong-data-key",
    ] {
        assert!(all.iter().any(|l| l.name == case), "missing vector {case}");
    }
    for case in [
        "valid-k16-len0",
        "valid-k16-len1",
        "valid-k16-len-c-minus-1",
        "valid-k16-len-c",
        "valid-k16-len-c-plus-1",
        "valid-k16-len-3c-plus-5",
        "valid-k16-len1-user-context",
    ] {
        assert!(all.iter().any(|l| l.name == case), "missing vector {case}");
    }
}

/// The committed files are exactly what the generator produces now: no drift, no stale files.
#[test]
fn regenerating_the_vectors_gives_identical_bytes() {
    let generated = gen_vectors::generate().files;
    let mut on_disk: Vec<String> = std::fs::read_dir(VECTOR_DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") || n.ends_with(".bin"))
        .collect();
    on_disk.sort();
    let expected: Vec<String> = generated.keys().cloned().collect();
    assert_eq!(
        on_disk, expected,
        "tests/vectors/ does not hold exactly the generated files: run `cargo run --example gen_vectors`"
    );
    for (name, bytes) in &generated {
        let disk = std::fs::read(Path::new(VECTOR_DIR).join(name)).unwrap();
        assert!(
            &disk == bytes,
            "{name} differs from what the generator writes now: the format or the generator \
             changed. If the change is intended, regenerate with `cargo run --example gen_vectors` \
             and say why in the commit."
        );
    }
}

#[test]
fn vector_directory_stays_small() {
    let total: u64 = std::fs::read_dir(VECTOR_DIR)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        total < 800 * 1024,
        "tests/vectors is {total} bytes; keep it well under 1 MiB"
    );
}

/// The key-schedule test values printed in docs/FORMAT.md section 4 (computed there
/// independently) are what the library derives, and the 3C+5 vector carries that commitment.
#[test]
fn documented_key_schedule_values_match() {
    let dk: Vec<u8> = (0x00..0x20).collect();
    let mid: [u8; 32] = std::array::from_fn(|i| 0x20 + i as u8);
    let keys = ObjectKeys::derive(&DataKey::from_slice(&dk).unwrap(), MessageId(mid));
    let commitment = hex::encode(keys.commitment());
    assert_eq!(
        commitment,
        "6e9f9aec2ed3cfc84eddb4f54a1dcf439ce027b93cb241f828897a1766f46ea8"
    );
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    assert!(
        spec.contains(&commitment),
        "docs/FORMAT.md no longer shows the commitment test value"
    );
    let big = load_all()
        .into_iter()
        .find(|l| l.name == "valid-k16-len-3c-plus-5")
        .unwrap();
    assert_eq!(hex::encode(&big.object[57..89]), commitment);
    assert_eq!(&big.object[25..57], &mid);
}

/// The annotated example of docs/FORMAT.md section 3.5 is the `valid-k16-len0` vector.
#[test]
fn annotated_example_in_the_spec_is_the_vector() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let v = load_all()
        .into_iter()
        .find(|l| l.name == "valid-k16-len0")
        .unwrap();
    let o = &v.object;
    assert_eq!(o.len(), 483);
    let h = u32::from_be_bytes(o[11..15].try_into().unwrap()) as usize;
    for (what, bytes) in [
        ("message id", &o[25..57]),
        ("commitment", &o[57..89]),
        ("header MAC", &o[h - 32..h]),
    ] {
        assert!(
            spec.contains(&hex::encode(bytes)),
            "FORMAT.md 3.5 shows another {what}"
        );
    }
    let tag: Vec<String> = o[h..].iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        spec.contains(&tag.join(" ")),
        "FORMAT.md 3.5 shows another chunk tag"
    );
}

/// The worked size example of docs/FORMAT.md section 6 (H = 458, k = 16).
#[test]
fn documented_sizes_match() {
    let k16 = ChunkSize::from_log2(16).unwrap();
    let c = 1u64 << 16;
    for (l, n, t) in [
        (0, 1, 474),
        (1, 1, 475),
        (c - 1, 1, 66009),
        (c, 1, 66010),
        (c + 1, 2, 66027),
        (3 * c + 5, 4, 197135),
    ] {
        let layout = Layout::new(458, k16, l);
        assert_eq!(
            (layout.chunk_count(), layout.ciphertext_len().unwrap()),
            (n, t),
            "L = {l}"
        );
    }
    assert_eq!(
        Layout::new(458, k16, c + 1).chunk_cipher_range(1).start,
        66010
    );
}

/// Range reads (FORMAT.md 6.1) on every valid vector: only the covering chunks are opened, from
/// the single ciphertext window a ranged GET would return, and give exactly the plaintext bytes.
#[test]
fn range_reads_of_valid_vectors_match_the_plaintext() {
    let mut checked = 0;
    for l in load_all().iter().filter(|l| l.v.get("error").is_none()) {
        let (_, plaintext) = open_like_a_reader(&l.v, &l.object).unwrap();
        let dk = DataKey::from_slice(&hex::decode(l.v["data_key_hex"].as_str().unwrap()).unwrap())
            .unwrap();
        let verified = ParsedHeader::parse(&l.object).unwrap().verify(&dk).unwrap();
        let layout = verified.layout();
        let cipher = verified.chunk_cipher(Backend::default());
        let len = plaintext.len() as u64;
        let c = layout.chunk_size().bytes();
        let mut ranges = vec![(0, len), (len / 2, len), (len.saturating_sub(1), len)];
        if len > c {
            ranges.extend([(c - 1, c + 1), (c, c + 1), (c - 1, len)]);
        }
        for (a, b) in ranges.into_iter().filter(|(a, b)| a < b) {
            let chunks = layout.chunks_covering(a..b);
            let window_range = layout.cipher_range_of_chunks(chunks.clone());
            let window = &l.object[window_range.start as usize..window_range.end as usize];
            let mut pt = Vec::new();
            for i in chunks.clone() {
                let r = layout.chunk_cipher_range(i);
                let mut buf = window[(r.start - window_range.start) as usize
                    ..(r.end - window_range.start) as usize]
                    .to_vec();
                let n = cipher
                    .open_in_place(i, layout.is_final(i), &mut buf)
                    .unwrap();
                pt.extend_from_slice(&buf[..n]);
            }
            let base = chunks.start * c;
            assert_eq!(
                &pt[(a - base) as usize..(b - base) as usize],
                &plaintext[a as usize..b as usize],
                "{} range {a}..{b}",
                l.name
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} ranges checked");
}

//! Header parsing and verification on hostile bytes: `header_len`, strict `parse`, the
//! encryption-context checks a reader does before KMS, and `verify` with a fixed data key (the
//! seed corpus holds headers sealed under that key, so mutations reach the MAC and commitment
//! checks). Nothing may panic, and whatever parses must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3seal::format::{DataKey, ParsedHeader};

/// The data key the seed corpus was sealed with (fuzz/README.md, tests/fuzz_seeds.rs).
const SEED_KEY: [u8; 32] = [0x42; 32];

fuzz_target!(|data: &[u8]| {
    let len = ParsedHeader::header_len(data);
    let Ok(parsed) = ParsedHeader::parse(data) else {
        return;
    };
    assert_eq!(
        len.ok(),
        Some(parsed.len()),
        "header_len disagrees with parse"
    );
    assert!(parsed.len() <= data.len());
    let context = &parsed.fields.context;
    if context.check_reserved().is_ok() {
        assert!(context.bound_location().is_some());
    }
    let _ = context.missing_from(&[("purpose".into(), "backup".into())]);
    let layout = parsed.layout();
    let _ = layout.check_object_len(data.len() as u64);
    let _ = layout.chunk_count();
    let _ = layout.ciphertext_len();
    let key = DataKey::from_slice(&SEED_KEY).unwrap();
    if let Ok(verified) = parsed.verify(&key) {
        // Verified headers must describe a layout whose arithmetic does not overflow.
        let layout = verified.layout();
        let n = layout.chunk_count();
        if n > 0 {
            let _ = layout.chunk_cipher_range(n - 1);
            let _ = layout.chunks_covering(0..layout.plaintext_len());
        }
    }
});

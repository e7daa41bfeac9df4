//! Opening whole objects and single chunks from hostile bytes with a fixed data key: the seed
//! corpus holds small objects sealed under that key, so mutations land in chunk bodies, tags,
//! lengths and the header. Nothing may panic, and anything that opens must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3seal::format::{Backend, ChunkSize, DataKey, MessageId, ObjectKeys};

const SEED_KEY: [u8; 32] = [0x42; 32];

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_slice(&SEED_KEY).unwrap();
    // The whole object, as `get` reads it (less KMS and the location binding).
    if let Ok((verified, plaintext)) = s3seal::format::open_from_slice(data, &key) {
        assert_eq!(plaintext.len() as u64, verified.layout().plaintext_len());
        // What opens must be exactly what sealing the plaintext again under the same header
        // gives.
        let again =
            s3seal::format::seal_to_vec(verified.keys(), verified.fields(), &plaintext).unwrap();
        assert_eq!(
            again, data,
            "an object opened but does not re-seal to the same bytes"
        );
    }
    // One chunk with a fuzzed index and final flag: first 9 bytes choose them.
    if data.len() >= 9 {
        let index = u64::from_be_bytes(data[..8].try_into().unwrap());
        let is_final = data[8] & 1 == 1;
        let chunk_size = ChunkSize::from_log2(16 + (data[8] >> 1) % 9).unwrap();
        let keys = ObjectKeys::derive(&key, MessageId([0x24; 32]));
        for backend in [Backend::default()] {
            let cipher = s3seal::format::ChunkCipher::new(&keys, chunk_size, backend);
            let mut sealed = data[9..].to_vec();
            if let Ok(n) = cipher.open_in_place(index, is_final, &mut sealed) {
                assert_eq!(n + 16, data.len() - 9);
            }
        }
    }
});

//! Generates the conformance vectors in `tests/vectors/` (run: `cargo run --example gen_vectors`).
//!
//! Why this exists: docs/FORMAT.md is the authority; these vectors pin the bytes the Rust
//! implementation writes (valid vectors) and the reader checks of section 7 (must-fail vectors,
//! one per adversarial case of the project notes that applies to a single object). Everything is
//! deterministic (fixed data keys and message ids), and `tests/format_vectors.rs` includes this
//! file to check that regenerating gives identical bytes, so the vectors cannot drift silently.
//!
//! Tampered headers are built by an encoder written in this example from docs/FORMAT.md
//! (section 3) with its own key schedule (hkdf/hmac crates), not by the library; for every valid
//! object it must reproduce the library's header byte for byte, which cross-checks both.
//! The vector schema is described in `tests/vectors/README.md`.
//!
//! Layout: [`schema`] (the JSON), [`objects`] (sealed objects and the independent encoder),
//! [`cases`] (one vector from pieces), and the must-fail families [`must_fail_chunks`],
//! [`must_fail_header`], [`must_fail_binding`]. The submodules name their files with `#[path]`
//! because `tests/format_vectors.rs` includes this file as a module.

#![allow(dead_code)]

#[path = "gen_vectors/cases.rs"]
mod cases;
#[path = "gen_vectors/must_fail_binding.rs"]
mod must_fail_binding;
#[path = "gen_vectors/must_fail_chunks.rs"]
mod must_fail_chunks;
#[path = "gen_vectors/must_fail_header.rs"]
mod must_fail_header;
#[path = "gen_vectors/objects.rs"]
mod objects;
#[path = "gen_vectors/schema.rs"]
mod schema;

use std::collections::BTreeMap;

pub use cases::Generated;
use cases::{Case, Expect};
use objects::{Bases, C16, ObjSpec, data_key, message_id, seal, user_pairs};

/// Where the vectors live.
pub const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

/// Builds every vector. Deterministic: same bytes on every run and machine.
pub fn generate() -> Generated {
    let mut g = Generated {
        files: BTreeMap::new(),
    };
    let dk_a = data_key(0x00);
    let dk_b = data_key(0x40);
    let spec = |dk, mid, k, len, user: bool, wrapped_seed| ObjSpec {
        dk,
        mid,
        k,
        len,
        user: if user { user_pairs() } else { Vec::new() },
        wrapped_seed,
    };

    // ---- valid vectors ---------------------------------------------------------------------
    let sizes: [(&str, usize, u8, bool); 10] = [
        ("valid-k16-len0", 0, 16, false),
        ("valid-k16-len1", 1, 16, false),
        ("valid-k16-len-c-minus-1", C16 - 1, 16, false),
        ("valid-k16-len-c", C16, 16, false),
        ("valid-k16-len-c-plus-1", C16 + 1, 16, false),
        ("valid-k16-len-3c-plus-5", 3 * C16 + 5, 16, false),
        ("valid-k16-len0-user-context", 0, 16, true),
        ("valid-k16-len1-user-context", 1, 16, true),
        ("valid-k20-len1000", 1000, 20, false),
        ("valid-k24-len1", 1, 24, true),
    ];
    let mut valid = BTreeMap::new();
    for (n, (name, len, k, user)) in sizes.iter().enumerate() {
        // Message id 0 (the documented key-schedule test values) for the 3C+5 object, the
        // base of most must-fail vectors; every other object has its own id.
        let mid = if *len == 3 * C16 + 5 {
            message_id(0)
        } else {
            message_id(n as u8 + 1)
        };
        let mut o = seal(spec(dk_a, mid, *k, *len, *user, 1));
        g.store_object(name, &mut o);
        let desc = format!(
            "A valid object: L = {len} at k = {k} ({} chunk(s)){}.",
            o.layout.chunk_count(),
            if *user {
                ", with user context pairs"
            } else {
                ""
            }
        );
        let case = Case::new(name, &desc, &o, Expect::Plaintext(o.plaintext.clone())).whole(&o);
        g.add(case);
        valid.insert(*name, o);
    }
    let caller_ok = Case::new(
        "valid-caller-context-matches",
        "The caller asks for a context pair that the header has with that value: accepted.",
        &valid["valid-k16-len1-user-context"],
        Expect::Plaintext(valid["valid-k16-len1-user-context"].plaintext.clone()),
    )
    .whole(&valid["valid-k16-len1-user-context"])
    .caller("project", "s3seal vectors");
    g.add(caller_ok);
    let no_kms = Case::new(
        "valid-data-key-given-directly",
        "No KMS binding: the data key is given directly (as a decoder without KMS would be).",
        &valid["valid-k16-len1"],
        Expect::Plaintext(valid["valid-k16-len1"].plaintext.clone()),
    )
    .whole(&valid["valid-k16-len1"])
    .no_kms();
    g.add(no_kms);

    // Other objects to splice from (not stored as vectors themselves).
    let bases = Bases {
        big: valid["valid-k16-len-3c-plus-5"].clone(),
        small: valid["valid-k16-len1"].clone(),
        small_user: valid["valid-k16-len1-user-context"].clone(),
        two: valid["valid-k16-len-c-plus-1"].clone(),
        same_dk_other_mid: seal(spec(dk_a, message_id(0x80), 16, 3 * C16 + 5, false, 1)),
        other_dk_other_mid: seal(spec(dk_b, message_id(0x81), 16, 3 * C16 + 5, false, 2)),
        other_dk_same_mid: seal(spec(dk_b, message_id(0), 16, 3 * C16 + 5, false, 3)),
        dk_a,
        dk_b,
    };
    assert_eq!(
        bases.other_dk_other_mid.header_len(),
        bases.big.header_len()
    );
    must_fail_chunks::add(&mut g, &bases);
    must_fail_header::add(&mut g, &bases);
    must_fail_binding::add(&mut g, &bases);
    g
}

/// Writes the vectors to `tests/vectors/`, removing stale generated files.
fn main() {
    let g = generate();
    let dir = std::path::Path::new(VECTOR_DIR);
    std::fs::create_dir_all(dir).expect("create tests/vectors");
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let generated = name.ends_with(".json") || name.ends_with(".bin");
        if generated && !g.files.contains_key(&name) {
            std::fs::remove_file(&path).expect("remove stale vector");
        }
    }
    let mut total = 0;
    for (name, bytes) in &g.files {
        std::fs::write(dir.join(name), bytes).expect("write vector");
        total += bytes.len();
    }
    let vectors = g.files.keys().filter(|n| n.ends_with(".json")).count();
    println!(
        "wrote {vectors} vectors ({} files, {total} bytes) to {}",
        g.files.len(),
        dir.display()
    );
}

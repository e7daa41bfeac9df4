//! Must-fail vectors about what binds an object to its keys and place: the encryption context
//! and location, the data key and the wrapped key, and bytes that are not an object at all or
//! end inside the header.

use super::cases::{Case, Expect, Generated, err, flip, put};
use super::objects::{BUCKET, Bases, OBJECT_KEY, RawHeader, fake_wrapped, remac, stale, stale_mac};

pub(crate) fn add(g: &mut Generated, b: &Bases) {
    let small = &b.small;
    let small_user = &b.small_user;
    let two = &b.two;
    let dk_a = b.dk_a;
    let dk_b = b.dk_b;

    // The encryption context and the location.
    let uh = small_user.header();
    let mut u = |name: &str, desc: &str, expect: Expect, header: Vec<u8>, no_kms: bool| {
        let mut case = Case::new(name, desc, small_user, expect)
            .bytes(&header)
            .body_of(small_user);
        if no_kms {
            case = case.no_kms();
        }
        g.add(case);
    };
    let value_at = |h: &[u8], needle: &[u8]| {
        h.windows(needle.len())
            .position(|w| w == needle)
            .expect("value in header")
    };
    let at = value_at(uh, b"finance");
    u(
        "fail-context-value-altered",
        "User pair value 'finance' changed to 'financf' (MAC not recomputed): KMS refuses the changed context.",
        err("kms"),
        put(uh, at, b"financf"),
        false,
    );
    u(
        "fail-context-value-altered-no-kms",
        "As above, with the data key given directly (no KMS): the header MAC catches it.",
        err("header_mac"),
        put(uh, at, b"financf"),
        true,
    );
    let mut h = small_user.raw_header();
    h.pairs
        .iter_mut()
        .find(|p| p.0 == b"department")
        .expect("pair")
        .1 = b"marketing".to_vec();
    u(
        "fail-context-value-altered-remaced",
        "User pair value changed and the header re-MACed with the right key: only KMS catches it.",
        err("kms"),
        remac(h, small_user),
        false,
    );
    let mut h = small_user.raw_header();
    h.pairs.push((b"zone".to_vec(), b"extra".to_vec()));
    u(
        "fail-context-pair-added-remaced",
        "A user pair added (re-MACed): KMS refuses.",
        err("kms"),
        remac(h.clone(), small_user),
        false,
    );
    u(
        "fail-context-pair-added-no-kms",
        "A user pair added, MAC not recomputed, data key given directly: the header MAC catches it.",
        err("header_mac"),
        stale(h, small_user),
        true,
    );
    let mut h = small_user.raw_header();
    h.pairs.retain(|(k, _)| k != b"project");
    u(
        "fail-context-pair-removed-remaced",
        "A user pair removed (re-MACed): KMS refuses.",
        err("kms"),
        remac(h.clone(), small_user),
        false,
    );
    u(
        "fail-context-pair-removed-no-kms",
        "A user pair removed, MAC not recomputed, data key given directly: the header MAC catches it.",
        err("header_mac"),
        stale(h, small_user),
        true,
    );
    let at_b = value_at(uh, BUCKET.as_bytes());
    u(
        "fail-context-bucket-altered",
        "Bound bucket name altered in the header: differs from where the object is read.",
        err("context"),
        flip(uh, at_b, 0x01),
        false,
    );

    let mut c = |name: &str, desc: &str, build: &dyn Fn(Case) -> Case| {
        let case = build(Case::new(name, desc, small_user, err("context")).whole(small_user));
        g.add(case);
    };
    c(
        "fail-relocated-key",
        "Object read from another key than the one bound in its context (copied).",
        &|c| c.read_from(BUCKET, "vectors/copied.bin"),
    );
    c(
        "fail-relocated-bucket",
        "Object read from another bucket than the bound one.",
        &|c| c.read_from("other-bucket", OBJECT_KEY),
    );
    c(
        "fail-caller-context-mismatch",
        "The caller requires project=other; the header says otherwise.",
        &|c| c.caller("project", "other"),
    );
    c(
        "fail-caller-context-missing",
        "The caller requires a pair the header does not have.",
        &|c| c.caller("owner", "alice"),
    );

    // The data key and the wrapped key.
    let case = Case::new("fail-wrong-data-key", "Opened with another data key (given directly): the commitment check fails before any chunk.", two, err("commitment"))
        .whole(two)
        .no_kms()
        .data_key(&dk_b);
    g.add(case);
    let mut binding = two.binding();
    binding.wrapped_key_hex = hex::encode(fake_wrapped(2));
    let case = Case::new(
        "fail-wrapped-key-swapped",
        "Wrapped key replaced by another valid one (same KMS key and context, another data key): KMS returns that key, the commitment check fails.",
        two,
        err("commitment"),
    )
    .bytes(&RawHeader { wrapped: fake_wrapped(2), ..two.raw_header() }.encode(&stale_mac(two)))
    .body_of(two)
    .kms(binding)
    .data_key(&dk_b);
    g.add(case);
    let case = Case::new(
        "fail-kms-returns-short-key",
        "KMS returns a 31-byte data key.",
        small,
        err("kms"),
    )
    .whole(small)
    .data_key(&dk_a[..31]);
    g.add(case);

    // Not an object / truncated header.
    let sh = small.header();
    let mut raw = |name: &str, desc: &str, expect: Expect, bytes: &[u8]| {
        let case = Case::new(name, desc, small, expect).bytes(bytes);
        g.add(case);
    };
    raw(
        "fail-plaintext-instead-of-object",
        "The object was replaced by plaintext.",
        err("not_s3seal"),
        b"hello, this is not an s3seal object\n",
    );
    raw(
        "fail-empty-object",
        "A zero-byte object.",
        err("malformed_header"),
        b"",
    );
    raw(
        "fail-magic-only",
        "Only the 8 magic bytes.",
        err("malformed_header"),
        &sh[..8],
    );
    raw(
        "fail-header-truncated",
        "The object ends inside the header (100 bytes).",
        err("malformed_header"),
        &sh[..100],
    );
    raw(
        "fail-header-only",
        "The header without any chunk.",
        err("length"),
        sh,
    );
}

//! Regression tests, each named after the hole it pins (ripgrep's `tests/regression.rs`
//! style): the trust-boundary findings of the security review, reproduced against the local
//! servers over TLS. Grouped by subject in `tests/regression/`.

mod common;

#[path = "regression/keys.rs"]
mod keys;
#[path = "regression/transport.rs"]
mod transport;

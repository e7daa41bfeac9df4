//! What crosses the wire and the terminal: HTTPS for every client, hostile servers and bytes,
//! signals and leftovers, options that must not be ignored, partial output on stdout.

#[allow(unused_imports)]
use super::common::*;

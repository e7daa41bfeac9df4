//! The reader's checks, in the order `docs/FORMAT.md` gives them: the header's claims that
//! need no key (reserved context, location binding, the caller's expected pairs, the pinned
//! KMS keys) before any KMS call, then every chunk opened in place and authenticated.

use std::ops::Range;

use rayon::prelude::*;

use super::DownloadRequest;
use crate::error::{Error, Result};
use crate::format::{ChunkCipher, FormatError, Layout, ParsedHeader, TAG_LEN};
use crate::location::ObjectLocation;

/// Checks the header's claims that need no key: reserved context, location binding, the
/// caller's expected pairs, the pinned KMS keys.
pub fn check_binding(
    parsed: &ParsedHeader, read_from: &ObjectLocation, request: &DownloadRequest,
) -> Result<()> {
    let context = &parsed.fields.context;
    context.check_reserved()?;
    let (bucket, key) = context.bound_location().expect("checked above");
    if !request.allow_relocated && (bucket != read_from.bucket || key != read_from.key) {
        return Err(Error::integrity(
            format!(
                "the object at {read_from} was written for s3://{bucket}/{key}: it was copied or moved"
            ),
            Some("if the move was deliberate, pass --allow-relocated".into()),
        ));
    }
    if let Some(key) = context.missing_from(&request.expected_context) {
        return Err(Error::integrity(
            format!("the object's encryption context does not have the --context pair for {key:?}"),
            Some("the object was written with a different context; check --context".into()),
        ));
    }
    request.pins.check(&parsed.fields.key_id)
}

/// The chunks `chunks` of one fetched range of `fetched` bytes: each one's index, plaintext
/// start in the object and plaintext length, in order. Fails when the range is too short for
/// them (the object is shorter than its header says).
fn chunks_in_range(
    layout: &Layout, chunks: Range<u64>, fetched: usize,
) -> Result<Vec<(u64, u64, usize)>, FormatError> {
    let mut found = Vec::with_capacity((chunks.end - chunks.start) as usize);
    let mut left = fetched;
    for index in chunks {
        let plain = layout.chunk_plain_range(index);
        let n = (plain.end - plain.start) as usize;
        let sealed_len = n + TAG_LEN;
        if sealed_len > left {
            return Err(FormatError::LengthMismatch {
                expected: layout.ciphertext_len()?,
                actual: layout.ciphertext_len()? - (sealed_len - left) as u64,
            });
        }
        left -= sealed_len;
        found.push((index, plain.start, n));
    }
    debug_assert_eq!(left, 0);
    Ok(found)
}

/// Opens the chunks `chunks` of one fetched range in place (in parallel on the CPU pool: call
/// it from there) and returns where the wanted plaintext now sits in `buf`: one slice per
/// chunk, in order, with the plaintext offset of its first byte. A failure names the first
/// chunk that did not verify.
pub(crate) fn open_unit(
    cipher: &ChunkCipher, layout: &Layout, chunks: Range<u64>, buf: &mut [u8], want: &Range<u64>,
) -> Result<Vec<(u64, Range<usize>)>, FormatError> {
    let found = chunks_in_range(layout, chunks, buf.len())?;
    let mut pieces = Vec::with_capacity(found.len());
    let mut rest = buf;
    let mut offset = 0usize;
    for (index, plain_start, n) in found {
        let (this, tail) = std::mem::take(&mut rest).split_at_mut(n + TAG_LEN);
        pieces.push((index, plain_start, offset, this));
        offset += n + TAG_LEN;
        rest = tail;
    }
    let opened: Vec<Result<(u64, Range<usize>), FormatError>> = pieces
        .into_par_iter()
        .map(|(index, plain_start, offset, sealed)| {
            let n = cipher.open_in_place(index, layout.is_final(index), sealed)?;
            // Keep only the wanted plaintext bytes of this chunk.
            let from = want.start.saturating_sub(plain_start).min(n as u64) as usize;
            let to = (want.end.saturating_sub(plain_start).min(n as u64) as usize).max(from);
            Ok((plain_start + from as u64, offset + from..offset + to))
        })
        .collect();
    opened.into_iter().collect()
}

/// Opens the chunks `chunks` of one fetched range from `sealed` into `out` (in parallel on the
/// CPU pool: call it from there), leaving `sealed` as it was. `out` then holds the range's
/// plaintext, in order, from its first byte, and must have room for all of it. A failure
/// names the first chunk that did not verify, and `out` must not be used.
pub(crate) fn open_unit_into(
    cipher: &ChunkCipher, layout: &Layout, chunks: Range<u64>, sealed: &[u8], out: &mut [u8],
) -> Result<(), FormatError> {
    let found = chunks_in_range(layout, chunks, sealed.len())?;
    let mut jobs = Vec::with_capacity(found.len());
    let (mut rest_in, mut rest_out) = (sealed, out);
    for (index, _, n) in found {
        let (this_in, tail_in) = rest_in.split_at(n + TAG_LEN);
        let (this_out, tail_out) = std::mem::take(&mut rest_out).split_at_mut(n);
        jobs.push((index, this_in, this_out));
        rest_in = tail_in;
        rest_out = tail_out;
    }
    let opened: Vec<Result<usize, FormatError>> = jobs
        .into_par_iter()
        .map(|(index, sealed, out)| cipher.open_into(index, layout.is_final(index), sealed, out))
        .collect();
    opened.into_iter().try_for_each(|r| r.map(drop))
}

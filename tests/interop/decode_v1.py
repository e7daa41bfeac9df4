#!/usr/bin/env python3
"""Independent decoder for s3seal format v1, written from docs/FORMAT.md only.

Why this exists: a second implementation, in another language and written from the
specification rather than from the Rust code, proves the specification is complete and catches
bugs that a single implementation would share with its own tests. It uses only the Python
`cryptography` package (HMAC, SHA-256/512, AES-GCM). It never talks to KMS: the caller supplies
the 32-byte data key, or an `unwrap` callable that stands in for KMS Decrypt.

CLI:  decode_v1.py OBJECT_FILE DATA_KEY_HEX [--bucket B --key K] [--context K=V ...]
                   [--range A-B] [--out FILE]
Prints the plaintext (or writes --out); on failure prints "error: CLASS: detail" to stderr and
exits 3. CLASS is one of the names of docs/FORMAT.md section 7.
"""

import argparse
import hmac as _hmac
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# --- constants, FORMAT.md sections 3 and 4 --------------------------------------------------
MAGIC = bytes.fromhex("8953335345414c0a")
VERSION = 1
SUITE = 0x0001
FIXED_LEN = 89
PREFIX_LEN = 15  # magic, version, suite, header length
MIN_HEADER_LEN = 129
MAX_HEADER_LEN = 65536
MIN_K, MAX_K = 16, 24
MAC_LEN = 32
TAG_LEN = 16
MAX_KEY_ID_LEN = 2048
MAX_WRAPPED_LEN = 6144
MAX_PAIRS = 256
MAX_CTX_KEY_LEN = 2048
MAX_CTX_VALUE_LEN = 2048
SUITE_BYTES = SUITE.to_bytes(2, "big")
LABEL_COMMIT = b"s3seal/v1 commit" + SUITE_BYTES
LABEL_MAC = b"s3seal/v1 header-mac" + SUITE_BYTES
LABEL_CONTENT = b"s3seal/v1 content" + SUITE_BYTES
RESERVED_FORMAT, RESERVED_BUCKET, RESERVED_KEY = "s3seal:format", "s3seal:bucket", "s3seal:key"
RESERVED_KEYS = (RESERVED_BUCKET, RESERVED_FORMAT, RESERVED_KEY)

ERROR_CLASSES = (
    "not_s3seal", "malformed_header", "unsupported_version", "unsupported_suite",
    "context", "kms", "commitment", "header_mac", "length", "chunk",
)


class DecodeError(Exception):
    """A named failure; `cls` is one of ERROR_CLASSES, `chunk` the failing chunk index."""

    def __init__(self, cls, detail, chunk=None):
        assert cls in ERROR_CLASSES, cls
        super().__init__(f"{cls}: {detail}")
        self.cls = cls
        self.chunk = chunk


class Header:
    """The parsed (not yet verified) header."""

    def __init__(self):
        self.h = 0            # header length H
        self.k = 0            # chunk size exponent
        self.length = 0       # plaintext length L
        self.message_id = b""
        self.commitment = b""
        self.key_id = ""
        self.wrapped_key = b""
        self.context = []     # list of (key, value) str pairs in header order
        self.mac = b""
        self.raw = b""        # header bytes [0, H)


# --- step 1: parse (FORMAT.md 7.1) --------------------------------------------------------
def _utf8(b, what):
    try:
        return b.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise DecodeError("malformed_header", f"{what} is not UTF-8") from None


def parse_header(obj_prefix, object_len):
    """Parse the header from the first bytes of the object; object_len is the whole length."""
    b = obj_prefix
    n = min(len(b), len(MAGIC))
    if b[:n] != MAGIC[:n]:
        raise DecodeError("not_s3seal", "magic bytes missing")
    if len(b) < PREFIX_LEN:
        raise DecodeError("malformed_header", f"object of {len(b)} bytes is shorter than {PREFIX_LEN}")
    if b[8] != VERSION:
        raise DecodeError("unsupported_version", f"version {b[8]}")
    suite = int.from_bytes(b[9:11], "big")
    if suite != SUITE:
        raise DecodeError("unsupported_suite", f"suite {suite:#06x}")
    hdr = Header()
    hdr.h = int.from_bytes(b[11:15], "big")
    if not (MIN_HEADER_LEN <= hdr.h <= MAX_HEADER_LEN):
        raise DecodeError("malformed_header", f"header length {hdr.h} out of range")
    if hdr.h > object_len or hdr.h > len(b):
        raise DecodeError("malformed_header", f"header length {hdr.h} past the end of the object")
    hdr.k = b[15]
    if not (MIN_K <= hdr.k <= MAX_K):
        raise DecodeError("malformed_header", f"chunk size exponent {hdr.k} out of range")
    if b[16] != 0:
        raise DecodeError("malformed_header", f"flags {b[16]:#04x} not zero")
    hdr.length = int.from_bytes(b[17:25], "big")
    hdr.message_id = bytes(b[25:57])
    hdr.commitment = bytes(b[57:89])

    end = hdr.h - MAC_LEN  # the variable part must end exactly here
    pos = FIXED_LEN

    def take(n, what):
        nonlocal pos
        if pos + n > end:
            raise DecodeError("malformed_header", f"{what} runs past the header length")
        out = bytes(b[pos:pos + n])
        pos += n
        return out

    def u16(what):
        return int.from_bytes(take(2, what), "big")

    a = u16("key id length")
    if not (1 <= a <= MAX_KEY_ID_LEN):
        raise DecodeError("malformed_header", f"key id length {a} out of range")
    hdr.key_id = _utf8(take(a, "key id"), "key id")
    w = u16("wrapped key length")
    if not (1 <= w <= MAX_WRAPPED_LEN):
        raise DecodeError("malformed_header", f"wrapped key length {w} out of range")
    hdr.wrapped_key = take(w, "wrapped key")
    n_pairs = u16("pair count")
    if n_pairs > MAX_PAIRS:
        raise DecodeError("malformed_header", f"{n_pairs} context pairs, more than {MAX_PAIRS}")
    prev = None
    for _ in range(n_pairs):
        kl = u16("context key length")
        if not (1 <= kl <= MAX_CTX_KEY_LEN):
            raise DecodeError("malformed_header", f"context key length {kl} out of range")
        kb = take(kl, "context key")
        key = _utf8(kb, "context key")
        vl = u16("context value length")
        if vl > MAX_CTX_VALUE_LEN:
            raise DecodeError("malformed_header", f"context value length {vl} out of range")
        value = _utf8(take(vl, "context value"), "context value")
        if prev is not None and not (prev < kb):
            raise DecodeError("malformed_header", "context keys not strictly ascending")
        prev = kb
        hdr.context.append((key, value))
    if pos != end:
        raise DecodeError("malformed_header", f"{end - pos} unparsed bytes before the header MAC")
    hdr.mac = bytes(b[end:hdr.h])
    hdr.raw = bytes(b[:hdr.h])
    return hdr


# --- step 2: context policy (FORMAT.md 7.2) -----------------------------------------------
def check_context(hdr, location=None, caller_context=(), allow_relocated=False):
    ctx = dict(hdr.context)
    for key in RESERVED_KEYS:
        if key not in ctx:
            raise DecodeError("context", f"reserved pair {key} missing")
    if ctx[RESERVED_FORMAT] != "1":
        raise DecodeError("context", f"{RESERVED_FORMAT} is {ctx[RESERVED_FORMAT]!r}, not '1'")
    if location is not None and not allow_relocated:
        bucket, key = location
        if ctx[RESERVED_BUCKET] != bucket or ctx[RESERVED_KEY] != key:
            raise DecodeError(
                "context",
                f"object was written to s3://{ctx[RESERVED_BUCKET]}/{ctx[RESERVED_KEY]}, "
                f"read from s3://{bucket}/{key}",
            )
    for key, value in caller_context:
        if ctx.get(key) != value:
            raise DecodeError("context", f"caller context pair {key}={value} not in the header")


# --- key schedule (FORMAT.md 4) -----------------------------------------------------------
def hkdf_extract(salt, ikm):
    h = c_hmac.HMAC(salt, hashes.SHA512())
    h.update(ikm)
    return h.finalize()


def hkdf_expand(prk, info, length=32):
    return HKDFExpand(algorithm=hashes.SHA512(), length=length, info=info).derive(prk)


class KeySchedule:
    def __init__(self, data_key, message_id, k):
        if len(data_key) != 32:
            raise DecodeError("kms", f"data key is {len(data_key)} bytes, not 32")
        self.prk = hkdf_extract(message_id, data_key)
        self.k = k
        self.commitment = hkdf_expand(self.prk, LABEL_COMMIT)
        self.k_mac = hkdf_expand(self.prk, LABEL_MAC)
        self._content = {}

    def content_key(self, epoch):
        if epoch not in self._content:
            info = LABEL_CONTENT + bytes([self.k]) + epoch.to_bytes(8, "big")
            self._content[epoch] = AESGCM(hkdf_expand(self.prk, info))
        return self._content[epoch]


def chunk_count(length, k):
    c = 1 << k
    return max(1, -(-length // c))


def total_length(h, length, k):
    return h + length + TAG_LEN * chunk_count(length, k)  # Python ints: no overflow to check


def chunk_span(hdr, i):
    """(offset, wire length) of chunk i (FORMAT.md 6)."""
    c = 1 << hdr.k
    n = chunk_count(hdr.length, hdr.k)
    pt_len = c if i < n - 1 else hdr.length - (n - 1) * c
    return hdr.h + i * (c + TAG_LEN), pt_len + TAG_LEN


def nonce(i, final):
    return b"\x00\x00\x00" + i.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def open_chunk(ks, hdr, i, sealed):
    n = chunk_count(hdr.length, hdr.k)
    epoch = i >> (36 - hdr.k)
    try:
        return ks.content_key(epoch).decrypt(nonce(i, i == n - 1), bytes(sealed), b"")
    except InvalidTag:
        raise DecodeError("chunk", f"chunk {i} failed authentication", chunk=i) from None


# --- steps 1-6: verify the header ---------------------------------------------------------
def verify_header(obj, unwrap, location=None, caller_context=(), allow_relocated=False):
    """Run FORMAT.md 7 steps 1-6 on the whole object; return (header, key schedule)."""
    hdr = parse_header(obj[:MAX_HEADER_LEN], len(obj))
    check_context(hdr, location, caller_context, allow_relocated)
    dk = unwrap(hdr.key_id, hdr.wrapped_key, list(hdr.context))
    ks = KeySchedule(dk, hdr.message_id, hdr.k)
    if not _hmac.compare_digest(ks.commitment, hdr.commitment):
        raise DecodeError("commitment", "key commitment mismatch: wrong data key")
    mac = c_hmac.HMAC(ks.k_mac, hashes.SHA256())
    mac.update(hdr.raw[:-MAC_LEN])
    try:
        mac.verify(hdr.mac)  # constant-time comparison
    except Exception:
        raise DecodeError("header_mac", "header MAC mismatch: header altered") from None
    expected = total_length(hdr.h, hdr.length, hdr.k)
    if len(obj) != expected:
        raise DecodeError("length", f"object is {len(obj)} bytes, header says {expected}")
    return hdr, ks


def fixed_key(data_key):
    """An `unwrap` that ignores the header and returns a known data key."""
    return lambda _key_id, _wrapped, _context: data_key


def decode(obj, unwrap, location=None, caller_context=(), allow_relocated=False):
    """Return the plaintext of a whole object, or raise DecodeError."""
    hdr, ks = verify_header(obj, unwrap, location, caller_context, allow_relocated)
    out = []
    for i in range(chunk_count(hdr.length, hdr.k)):
        off, ln = chunk_span(hdr, i)
        out.append(open_chunk(ks, hdr, i, obj[off:off + ln]))
    return b"".join(out)


def decode_range(obj, unwrap, a, b, **kw):
    """Plaintext bytes [a, b] (inclusive), opening only the covering chunks (FORMAT.md 6.1).

    `obj` is still the whole object here (the verifier needs its length), but only the
    header and the chunks first..last are read.
    """
    hdr, ks = verify_header(obj, unwrap, **kw)
    if a >= hdr.length or a > b:
        raise ValueError("range not satisfiable")
    b = min(b, hdr.length - 1)
    first, last = a >> hdr.k, b >> hdr.k
    start, _ = chunk_span(hdr, first)
    off_last, len_last = chunk_span(hdr, last)
    window = obj[start:off_last + len_last]  # what one ranged GET would return
    pts = []
    for i in range(first, last + 1):
        off, ln = chunk_span(hdr, i)
        pts.append(open_chunk(ks, hdr, i, window[off - start:off - start + ln]))
    pt = b"".join(pts)
    base = first << hdr.k
    return pt[a - base:b - base + 1]


def main(argv=None):
    p = argparse.ArgumentParser(description="Decode an s3seal v1 object given its data key.")
    p.add_argument("object_file")
    p.add_argument("data_key_hex")
    p.add_argument("--bucket")
    p.add_argument("--key")
    p.add_argument("--context", action="append", default=[], metavar="K=V")
    p.add_argument("--range", metavar="A-B")
    p.add_argument("--out")
    args = p.parse_args(argv)
    with open(args.object_file, "rb") as f:
        obj = f.read()
    unwrap = fixed_key(bytes.fromhex(args.data_key_hex))
    location = (args.bucket, args.key) if args.bucket is not None else None
    caller = [tuple(kv.split("=", 1)) for kv in args.context]
    try:
        if args.range:
            a, b = (int(x) for x in args.range.split("-", 1))
            pt = decode_range(obj, unwrap, a, b, location=location, caller_context=caller)
        else:
            pt = decode(obj, unwrap, location=location, caller_context=caller)
    except DecodeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    if args.out:
        with open(args.out, "wb") as f:
            f.write(pt)
    else:
        sys.stdout.buffer.write(pt)
    return 0


if __name__ == "__main__":
    sys.exit(main())

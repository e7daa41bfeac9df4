//! `--json`: exactly one JSON document on stdout per single-object command, for applications
//! that shell out to s3seal, with the field names documented in `docs/JSON.md` (stable: fields
//! may be added, never renamed or removed). Human-readable output stays on stderr. A failure
//! is a document too (`"ok": false` with the error's class, message, hint and exit code), so a
//! caller always has one document to parse.

use std::path::Path;
use std::time::Instant;

use s3seal::Error;
use s3seal::ops::open::Opened;
use serde_json::{Value, json};

/// The output options every single-object command shares.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct OutputArgs {
    /// Print one JSON document on stdout (docs/JSON.md), also on failure; over many objects
    /// (--recursive, sync, --manifest) one JSON line per object and a summary line
    #[arg(long)]
    pub json: bool,
    /// No progress bar or summary
    #[arg(short, long)]
    pub quiet: bool,
}

/// Version of the documents' shape (docs/JSON.md).
pub const SCHEMA: u32 = 1;

/// Prints the success document of `command`: `fields` plus the common ones.
pub fn emit(command: &str, started: Instant, fields: Value) {
    let mut doc = json!({
        "schema": SCHEMA,
        "command": command,
        "ok": true,
        "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    if let (Some(doc), Value::Object(fields)) = (doc.as_object_mut(), fields) {
        doc.extend(fields);
    }
    println!(
        "{}",
        serde_json::to_string(&doc).expect("JSON values serialize")
    );
}

/// The failure document of `command`.
/// `fields` with the envelope every document carries (`schema`, `command`, `ok`), for the
/// commands whose documents are built elsewhere (inspect, presign, posture).
pub fn enveloped(command: &str, ok: bool, fields: Value) -> Value {
    let mut doc = json!({
        "schema": SCHEMA,
        "command": command,
        "ok": ok,
    });
    if let (Some(doc), Value::Object(fields)) = (doc.as_object_mut(), fields) {
        doc.extend(fields);
    }
    doc
}

pub fn failure(command: &str, err: &Error, exit_code: u8) -> Value {
    let class = match err.class() {
        s3seal::ErrorClass::Runtime => "runtime",
        s3seal::ErrorClass::Usage => "usage",
        s3seal::ErrorClass::Integrity => "integrity",
        s3seal::ErrorClass::Posture => "posture",
        s3seal::ErrorClass::Interrupted => "interrupted",
    };
    json!({
        "schema": SCHEMA,
        "command": command,
        "ok": false,
        "error": {
            "class": class,
            "message": err.to_string(),
            "hint": err.hint(),
            "exit_code": exit_code,
        },
    })
}

/// The fields of an object read by `get` or `verify`, whichever reader served it.
pub fn opened(source: &str, opened: &Opened) -> Value {
    let path =
        |d: &Option<std::path::PathBuf>| d.as_deref().map(Path::display).map(|p| p.to_string());
    match opened {
        Opened::S3seal(o) => json!({
            "source": source,
            "format": "s3seal",
            "bound_to_location": true,
            "destination": path(&o.destination),
            "plaintext_bytes": o.plaintext_len,
            "bytes_written": o.bytes_written,
            "chunks_verified": o.chunks_verified,
            "kms_key_arn": o.kms_key_arn,
        }),
        Opened::S3ec(o) => json!({
            "source": source,
            "format": o.format.to_string(),
            "bound_to_location": false,
            "destination": path(&o.destination),
            "plaintext_bytes": o.plaintext_len,
            "bytes_written": o.bytes_written,
            "chunks_verified": Value::Null,
            "kms_key_arn": o.kms_key_arn,
        }),
    }
}

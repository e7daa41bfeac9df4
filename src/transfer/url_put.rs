//! Seal a source and upload it through a presigned PUT URL, in one streamed request (so at
//! most 5 GiB stored: a presigned URL allows one PutObject, not a multipart upload). The
//! envelope and the source are set up as for `put` ([`NewEnvelope`], [`Source`]); the object
//! is bound to the bucket and key the URL addresses. A file is streamed (read, sealed and sent
//! chunk by chunk) and checked against changes; a stream is read into memory first, since the
//! header holds its length.

use std::io::Read;
use std::time::SystemTime;

use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

use super::envelope::{NewEnvelope, context_for};
use super::source::{ChunkReader, FileCheck, Source};
use crate::aws::AwsSettings;
use crate::error::{Error, Result};
use crate::format::{ChunkCipher, ChunkSize, Layout, TAG_LEN};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::presign::{ParsedUrl, UrlClient, redact_url, url_error, xml_error};
use crate::store::ChannelBody;

/// S3's limit for a single PutObject, hence for an upload through a presigned PUT URL.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// How to seal and upload through a presigned PUT URL.
#[derive(Debug, Clone)]
pub struct UrlPutRequest {
    /// KMS key for the envelope (id, ARN or alias).
    pub kms_key_id: String,
    /// The SSE-KMS key id the URL was presigned with (sent only if the URL signed that header).
    pub sse_kms_key_id: String,
    pub context: Vec<(String, String)>,
    pub chunk_size: ChunkSize,
}

/// What was stored through the URL.
#[derive(Debug, Clone)]
pub struct UrlPutOutcome {
    pub location: ObjectLocation,
    pub plaintext_len: u64,
    pub ciphertext_len: u64,
    pub kms_key_arn: String,
}

fn too_big(len: u64) -> Error {
    Error::usage_hint(
        format!(
            "{len} bytes of plaintext is more than one PUT can store (5 GiB with the s3seal header and tags)"
        ),
        "upload large objects with `s3seal put SRC s3://BUCKET/KEY` (multipart) instead of a presigned URL",
    )
}

/// The source as a reader of known length (a stream is read into memory, up to the limit).
fn sized_source(source: Source) -> Result<(Box<dyn Read + Send>, u64, Option<FileCheck>)> {
    let opened = source.open()?;
    if let Some(len) = opened.known_len {
        return Ok((opened.reader, len, opened.file_check));
    }
    let mut buf = Vec::new();
    opened
        .reader
        .take(MAX_SINGLE_PUT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::runtime(format!("reading the source failed: {e}")))?;
    let len = buf.len() as u64;
    Ok((Box::new(std::io::Cursor::new(buf)), len, None))
}

/// Reads, checks and seals every chunk, sending each down `tx`; the header goes first.
fn produce(
    reader: Box<dyn Read + Send>, header: Vec<u8>, layout: Layout, cipher: ChunkCipher,
    file_check: Option<FileCheck>,
    tx: tokio::sync::mpsc::Sender<std::result::Result<Bytes, std::io::Error>>,
) -> std::result::Result<(), String> {
    let mut reader = ChunkReader::new(reader);
    // An error is sent down the body too (the PUT then fails, so nothing is stored).
    let fail = |msg: String| {
        let _ = tx.blocking_send(Err(std::io::Error::other(msg.clone())));
        Err::<(), String>(msg)
    };
    if tx.blocking_send(Ok(Bytes::from(header))).is_err() {
        return Ok(());
    }
    for index in 0..layout.chunk_count() {
        let plain = layout.chunk_plain_range(index);
        let len = (plain.end - plain.start) as usize;
        let mut buf = vec![0u8; len + TAG_LEN];
        match reader.fill(&mut buf[..len]) {
            Ok(n) if n == len => {}
            Ok(_) => return fail(changed(&file_check)),
            Err(e) => return fail(format!("reading the source failed: {e}")),
        }
        let is_final = layout.is_final(index);
        // The source must end exactly here, unchanged.
        if is_final
            && (!reader.at_end().unwrap_or(false)
                || file_check.as_ref().is_some_and(FileCheck::changed))
        {
            return fail(changed(&file_check));
        }
        let (data, tag) = buf.split_at_mut(len);
        tag.copy_from_slice(&cipher.seal_in_place(index, is_final, data));
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn changed(file_check: &Option<FileCheck>) -> String {
    let name = file_check
        .as_ref()
        .map(|c| c.path.display().to_string())
        .unwrap_or_else(|| "the source".into());
    format!("{name} changed while it was being uploaded; nothing was stored")
}

/// The headers of the PUT: exactly those the URL's signature expects.
fn put_headers(parsed: &ParsedUrl, total: u64, sse_kms_key_id: &str) -> Vec<(String, String)> {
    let mut headers = vec![("content-length".to_string(), total.to_string())];
    let signed = parsed.signed_headers();
    if signed.iter().any(|h| h == "x-amz-server-side-encryption") {
        headers.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
    }
    if signed
        .iter()
        .any(|h| h == "x-amz-server-side-encryption-aws-kms-key-id")
    {
        headers.push((
            "x-amz-server-side-encryption-aws-kms-key-id".into(),
            sse_kms_key_id.to_string(),
        ));
    }
    // Keep whatever the signer fixed for content-type: we cannot know it, so do not send ours.
    if !signed.iter().any(|h| h == "content-type") {
        headers.push(("content-type".into(), "application/octet-stream".into()));
    }
    headers
}

/// Refuses a URL whose signature does not cover `x-amz-server-side-encryption`: the upload
/// would be stored without SSE-KMS (whatever header we add, the signer did not ask for it).
pub fn require_signed_sse(parsed: &ParsedUrl, redacted: &str) -> Result<()> {
    if parsed
        .signed_headers()
        .iter()
        .any(|h| h == "x-amz-server-side-encryption")
    {
        return Ok(());
    }
    Err(Error::usage_hint(
        format!(
            "the presigned URL {redacted} does not sign x-amz-server-side-encryption: the object would be stored without SSE-KMS"
        ),
        "create the URL with `s3seal presign --put s3://BUCKET/KEY --kms-key-id ID`, which signs SSE-KMS",
    ))
}

/// The error for a PUT that never got an answer.
fn send_error(redacted: &str, e: &str) -> Error {
    let lower = e.to_ascii_lowercase();
    let hint = if lower.contains("broken pipe")
        || lower.contains("connection reset")
        || lower.contains("writing a body")
    {
        "the server closed the connection during the upload, which is how S3 refuses a PUT it will not accept: check that the URL came from `s3seal presign --put`, is unaltered, and that --kms-key-id (or --sse-kms-key-id) is exactly the key id it was presigned with"
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        "the server's certificate is not trusted; for a private CA pass --ca-bundle FILE or set AWS_CA_BUNDLE"
    } else {
        "check the network and the URL's host; try again"
    };
    Error::runtime_hint(format!("PUT {redacted} failed: {e}"), hint)
}

/// Encrypts `source` and uploads it with one PUT through the presigned `url`.
pub async fn put_to_url(
    url: &str, settings: &AwsSettings, keyring: &impl Keyring, source: Source,
    request: &UrlPutRequest,
) -> Result<UrlPutOutcome> {
    let parsed = ParsedUrl::parse(url)?;
    let location = parsed.location()?;
    let redacted = redact_url(url);
    require_signed_sse(&parsed, &redacted)?;
    // A refused PUT is often seen only as a connection closed mid-body, so say "expired"
    // before sending anything when the URL says so.
    if parsed.expires_at().is_some_and(|t| t <= SystemTime::now()) {
        return Err(Error::runtime_hint(
            format!("the presigned URL {redacted} has expired"),
            "ask for a new one: `s3seal presign --put s3://BUCKET/KEY --kms-key-id ID`",
        ));
    }
    let client = UrlClient::new(settings)?;
    let (reader, plain_len, file_check) = sized_source(source)?;
    if plain_len > MAX_SINGLE_PUT_BYTES {
        return Err(too_big(plain_len));
    }
    let context = context_for(&location, &request.context)?;
    let mut envelope =
        NewEnvelope::generate(keyring, &request.kms_key_id, context, request.chunk_size).await?;
    let header = envelope.seal_header(plain_len)?;
    let layout = Layout::new(header.len() as u64, request.chunk_size, plain_len);
    let total = layout.ciphertext_len()?;
    if total > MAX_SINGLE_PUT_BYTES {
        return Err(too_big(plain_len));
    }
    let cipher = envelope.cipher();
    let key_arn = envelope.key_arn.clone();
    drop(envelope);

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let producer = tokio::task::spawn_blocking(move || {
        produce(reader, header, layout, cipher, file_check, tx)
    });
    let headers = put_headers(&parsed, total, &request.sse_kms_key_id);
    let body = SdkBody::from_body_1_x(ChannelBody::new(rx, total));
    let sent = client.send("PUT", url, &headers, body).await;
    if let Err(e) = producer.await.expect("sealing task panicked") {
        return Err(Error::runtime_hint(
            e,
            "upload a stable copy (a snapshot) of the file",
        ));
    }
    let response = sent.map_err(|e| send_error(&redacted, &e))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = crate::presign::collect_error_body(response.into_body()).await;
        let err = url_error(status, &body, &parsed, &redacted, &location);
        let (code, _) = xml_error(&body);
        if code == "SignatureDoesNotMatch" {
            return Err(Error::runtime_hint(
                err.to_string(),
                "the URL must come from `s3seal presign --put`, and --kms-key-id / --sse-kms-key-id must be exactly the key id it was presigned with",
            ));
        }
        return Err(err);
    }
    Ok(UrlPutOutcome {
        location,
        plaintext_len: plain_len,
        ciphertext_len: total,
        kms_key_arn: key_arn,
    })
}

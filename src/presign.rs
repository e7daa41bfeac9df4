//! Presigned URLs for s3seal objects. A presigned URL only ever reaches ciphertext, so handing
//! one out leaks nothing without KMS access; whoever may use the KMS key decrypts straight from
//! it. This module:
//! - presigns GET and PUT URLs with the SDK (SigV4, at most 7 days; a PUT URL has the SSE-KMS
//!   headers signed in),
//! - parses which bucket and key a URL addresses (path-style and virtual-hosted), so the
//!   header's bucket/key binding is checked as for `s3://` reads,
//! - reads byte ranges of the object behind an https URL ([`UrlObject`], a
//!   [`RangeReader`](crate::transfer::download::RangeReader)), so `get URL` runs the same
//!   parallel, verifying download pipeline,
//! - seals a source and uploads it through a presigned PUT URL in one streamed request.
//!
//! HTTPS only, with `--ca-bundle` / `AWS_CA_BUNDLE` honoured. The URL's query (signature and
//! credential scope) never appears in an error message: it is a bearer capability.

use std::io::Read;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_http_client::{Connector, tls};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;

use crate::aws::{
    Aws, AwsSettings, ca_bundle_path, error_chain, require_https, tls_context_with_ca,
};
use crate::error::{Error, Result};
use crate::format::{
    ChunkSize, EncryptionContext, HeaderFields, Layout, MessageId, ObjectKeys, TAG_LEN,
};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::transfer::download::{RangeData, RangeReader};
use crate::transfer::s3_error;

/// SigV4 presigned URLs live at most 7 days.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default lifetime of a presigned URL.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// S3's limit for a single PutObject, hence for an upload through a presigned PUT URL.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

const ATTEMPTS: u32 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one ranged GET, response and body.
const RANGE_TIMEOUT: Duration = Duration::from_secs(300);

/// Parses a lifetime like `90s`, `15m`, `12h`, `7d` (a bare number is seconds). Zero and more
/// than 7 days are refused.
pub fn parse_expiry(text: &str) -> Result<Duration> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let bad = || {
        Error::usage_hint(
            format!("--expires {text:?} is not a duration"),
            "write durations like 90s, 15m, 12h or 7d",
        )
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    if secs == 0 {
        return Err(Error::usage("--expires must be longer than 0 seconds"));
    }
    if secs > MAX_EXPIRY.as_secs() {
        return Err(Error::usage_hint(
            format!(
                "--expires {text} is more than 7 days, the longest SigV4 allows for a presigned URL"
            ),
            "use at most 7d (604800s); share a new URL when it runs out",
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// A presigned request: the URL and the headers a client must send with it.
#[derive(Debug, Clone)]
pub struct Presigned {
    pub method: String,
    pub url: String,
    /// Headers signed into the URL (besides `host`): a client must send exactly these.
    pub headers: Vec<(String, String)>,
    pub location: ObjectLocation,
    pub expires_in: Duration,
    pub expires_at: SystemTime,
}

fn presigning_config(expires: Duration) -> Result<PresigningConfig> {
    if expires > MAX_EXPIRY || expires.is_zero() {
        return Err(Error::usage(
            "a presigned URL must expire within 1 second to 7 days",
        ));
    }
    PresigningConfig::expires_in(expires)
        .map_err(|e| Error::usage(format!("cannot presign: {}", error_chain(&e))))
}

fn finish_presigned(
    request: aws_sdk_s3::presigning::PresignedRequest,
    location: &ObjectLocation,
    expires: Duration,
) -> Result<Presigned> {
    let url = request.uri().to_string();
    require_https(&redact_url(&url), "the presigned URL")?;
    let headers = request
        .headers()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The URL's own clock (X-Amz-Date + X-Amz-Expires) is what the server checks.
    let expires_at = ParsedUrl::parse(&url)
        .ok()
        .and_then(|u| u.expires_at())
        .unwrap_or_else(|| SystemTime::now() + expires);
    Ok(Presigned {
        method: request.method().to_string(),
        url,
        headers,
        location: location.clone(),
        expires_in: expires,
        expires_at,
    })
}

/// A GET URL for `location`, valid for `expires`. No request is sent; the URL carries the
/// caller's credentials' authority, so it works only as long as they do.
pub async fn presign_get(
    aws: &Aws,
    location: &ObjectLocation,
    expires: Duration,
) -> Result<Presigned> {
    let config = presigning_config(expires)?;
    let request = aws
        .s3
        .get_object()
        .bucket(&location.bucket)
        .key(&location.key)
        .presigned(config)
        .await
        .map_err(|e| s3_error("GetObject (presign)", location, e))?;
    finish_presigned(request, location, expires)
}

/// A PUT URL for `location` with `x-amz-server-side-encryption: aws:kms` and the SSE-KMS key
/// id signed in, so whoever uploads through it must ask S3 for SSE-KMS with that key.
pub async fn presign_put(
    aws: &Aws,
    location: &ObjectLocation,
    sse_kms_key_id: &str,
    expires: Duration,
) -> Result<Presigned> {
    let config = presigning_config(expires)?;
    let request = aws
        .s3
        .put_object()
        .bucket(&location.bucket)
        .key(&location.key)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(sse_kms_key_id)
        .presigned(config)
        .await
        .map_err(|e| s3_error("PutObject (presign)", location, e))?;
    finish_presigned(request, location, expires)
}

/// Whether `text` looks like a URL rather than an `s3://` URI or a path.
pub fn is_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The URL without its query: safe to print (the query holds the signature).
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?<signature redacted>"),
        None => url.to_string(),
    }
}

fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::usage("the URL has a malformed %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::usage("the URL's path is not UTF-8"))
}

/// The pieces of an https URL s3seal cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// Host without port.
    pub host: String,
    /// Path as written (still %-encoded), starting with `/`.
    pub path: String,
    /// Query pairs, %-decoded.
    pub query: Vec<(String, String)>,
}

impl ParsedUrl {
    /// Parses an `https://` URL; plain HTTP and anything else is refused.
    pub fn parse(url: &str) -> Result<ParsedUrl> {
        let redacted = redact_url(url);
        if url.to_ascii_lowercase().starts_with("http://") {
            return Err(Error::usage_hint(
                format!("refusing plain-HTTP URL {redacted}: s3seal only talks HTTPS"),
                "presigned URLs for s3seal objects must be https:// URLs",
            ));
        }
        let rest = url
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..])
            .ok_or_else(|| Error::usage(format!("{redacted} is not an https:// URL")))?;
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let before_query = before_query.split('#').next().unwrap_or("");
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i..]),
            None => (before_query, "/"),
        };
        if authority.contains('@') {
            return Err(Error::usage(format!(
                "{redacted}: user information in URLs is not supported"
            )));
        }
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or("").to_string()
        } else {
            authority.split(':').next().unwrap_or("").to_string()
        };
        if host.is_empty() {
            return Err(Error::usage(format!("{redacted} names no host")));
        }
        let mut pairs = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(ParsedUrl {
            host,
            path: path.to_string(),
            query: pairs,
        })
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers the signature covers (`X-Amz-SignedHeaders`), lower case.
    pub fn signed_headers(&self) -> Vec<String> {
        self.query_value("X-Amz-SignedHeaders")
            .map(|v| {
                v.split(';')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// When the URL stops working, if it is a SigV4 presigned URL.
    pub fn expires_at(&self) -> Option<SystemTime> {
        let date = self.query_value("X-Amz-Date")?;
        let secs: u64 = self.query_value("X-Amz-Expires")?.parse().ok()?;
        let start = aws_smithy_types::DateTime::from_str(
            date,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()
        .or_else(|| parse_amz_date(date))?;
        let start = SystemTime::try_from(start).ok()?;
        Some(start + Duration::from_secs(secs))
    }

    /// The bucket and key the URL addresses. Virtual-hosted (`BUCKET.s3[.-]REGION.amazonaws.com`)
    /// when the host is an AWS S3 host with a bucket label; path-style (`HOST/BUCKET/KEY`)
    /// otherwise, which is what every S3-compatible custom endpoint uses.
    pub fn location(&self) -> Result<ObjectLocation> {
        let path = self.path.strip_prefix('/').unwrap_or(&self.path);
        let (bucket, key) = match virtual_hosted_bucket(&self.host) {
            Some(bucket) => (bucket, percent_decode(path)?),
            None => {
                let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
                (percent_decode(bucket)?, percent_decode(key)?)
            }
        };
        if bucket.is_empty() || key.is_empty() {
            return Err(Error::usage_hint(
                "the URL does not address an object (no bucket or no key in it)",
                "use a URL from `s3seal presign s3://BUCKET/KEY`",
            ));
        }
        Ok(ObjectLocation { bucket, key })
    }
}

/// `20240102T030405Z` (the SigV4 `X-Amz-Date` form).
fn parse_amz_date(text: &str) -> Option<aws_smithy_types::DateTime> {
    if text.len() != 16 || !text.ends_with('Z') || text.as_bytes()[8] != b'T' {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    aws_smithy_types::DateTime::from_str(&iso, aws_smithy_types::date_time::Format::DateTime).ok()
}

fn virtual_hosted_bucket(host: &str) -> Option<String> {
    let lower = host.to_ascii_lowercase();
    if !(lower.ends_with(".amazonaws.com") || lower.ends_with(".amazonaws.com.cn")) {
        return None;
    }
    let at = [lower.rfind(".s3."), lower.rfind(".s3-")]
        .into_iter()
        .flatten()
        .max()?;
    (at > 0).then(|| host[..at].to_string())
}

/// Builds the HTTPS connector for URL requests: the SDK's own rustls stack, trusting the
/// `--ca-bundle` / `AWS_CA_BUNDLE` file when one is given, the system roots otherwise.
#[derive(Debug)]
pub struct UrlClient {
    connector: Connector,
}

impl UrlClient {
    pub fn new(settings: &AwsSettings) -> Result<Self> {
        let mut builder = Connector::builder()
            .connector_settings(
                HttpConnectorSettings::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ));
        if let Some(path) = ca_bundle_path(settings) {
            builder = builder.tls_context(tls_context_with_ca(&path)?);
        }
        Ok(UrlClient {
            connector: builder.build(),
        })
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: SdkBody,
    ) -> std::result::Result<HttpResponse, String> {
        let mut request = HttpRequest::new(body);
        request
            .set_method(method)
            .map_err(|e| format!("bad method: {e}"))?;
        request
            .set_uri(url)
            .map_err(|_| "the URL is not a valid request URI".to_string())?;
        for (k, v) in headers {
            request
                .headers_mut()
                .try_insert(k.clone(), v.clone())
                .map_err(|e| format!("bad header {k}: {e}"))?;
        }
        self.connector
            .call(request)
            .await
            .map_err(|e| error_chain(&e))
    }
}

/// Code and message of an S3 XML error body.
fn xml_error(body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    let field = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        text.find(&open)
            .and_then(|s| {
                let rest = &text[s + open.len()..];
                rest.find(&close).map(|e| rest[..e].trim().to_string())
            })
            .unwrap_or_default()
    };
    (field("Code"), field("Message"))
}

async fn collect(body: SdkBody) -> std::result::Result<Bytes, String> {
    ByteStream::new(body)
        .collect()
        .await
        .map(|b| b.into_bytes())
        .map_err(|e| error_chain(&e))
}

/// Turns a refusal by the server behind a URL into a clear error.
fn url_error(
    status: u16,
    body: &[u8],
    url: &ParsedUrl,
    redacted: &str,
    location: &ObjectLocation,
) -> Error {
    let (code, message) = xml_error(body);
    let detail = match (code.is_empty(), message.is_empty()) {
        (true, _) => format!("HTTP {status}"),
        (false, true) => format!("HTTP {status} {code}"),
        (false, false) => format!("HTTP {status} {code}: {message}"),
    };
    let expired = message.to_ascii_lowercase().contains("expired")
        || url.expires_at().is_some_and(|t| t <= SystemTime::now());
    match (status, code.as_str()) {
        (403, _) if expired => Error::runtime_hint(
            format!("the presigned URL has expired ({detail})"),
            "ask for a new URL: `s3seal presign s3://BUCKET/KEY --expires 1h`",
        ),
        (_, "SignatureDoesNotMatch") | (_, "AuthorizationQueryParametersError") => {
            Error::runtime_hint(
                format!(
                    "S3 refused the presigned URL {redacted}: its signature does not match ({detail})"
                ),
                "the URL was altered or cut short, or was signed for another method or headers; use it exactly as `s3seal presign` printed it",
            )
        }
        (403, _) => Error::runtime_hint(
            format!("access denied by S3 for the presigned URL {redacted} ({detail})"),
            "the URL's signer may lack s3:GetObject/s3:PutObject, its credentials may have expired, or the URL was altered",
        ),
        (404, _) => Error::runtime_hint(
            format!("object {location} does not exist ({detail})"),
            "the object behind the URL was deleted or never written",
        ),
        (412, _) => Error::runtime_hint(
            format!("{location} changed while it was being read ({detail})"),
            "the object was overwritten during the download; run the command again",
        ),
        _ => Error::runtime(format!("request to {redacted} failed: {detail}")),
    }
}

/// The object behind a presigned GET URL, read with ranged GETs (the `Range` and `If-Match`
/// headers are not part of a presigned signature, so one URL serves every range).
#[derive(Debug)]
pub struct UrlObject {
    client: UrlClient,
    url: String,
    parsed: ParsedUrl,
    location: ObjectLocation,
}

impl UrlObject {
    /// Checks the URL (https, addresses an object) and prepares the client.
    pub fn new(url: &str, settings: &AwsSettings) -> Result<Self> {
        let parsed = ParsedUrl::parse(url)?;
        let location = parsed.location()?;
        Ok(UrlObject {
            client: UrlClient::new(settings)?,
            url: url.to_string(),
            parsed,
            location,
        })
    }

    fn redacted(&self) -> String {
        redact_url(&self.url)
    }
}

fn header_total(response: &HttpResponse) -> Option<u64> {
    let range = response.headers().get("content-range")?;
    range.rsplit_once('/')?.1.trim().parse().ok()
}

impl RangeReader for UrlObject {
    async fn read_range(&self, range: Range<u64>, if_match: Option<&str>) -> Result<RangeData> {
        let mut headers = vec![(
            "range".to_string(),
            format!("bytes={}-{}", range.start, range.end.saturating_sub(1)),
        )];
        if let Some(etag) = if_match {
            headers.push(("if-match".to_string(), etag.to_string()));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::time::timeout(RANGE_TIMEOUT, async {
                let response = self
                    .client
                    .send("GET", &self.url, &headers, SdkBody::empty())
                    .await?;
                let status = response.status().as_u16();
                let total = header_total(&response);
                let etag = response.headers().get("etag").map(str::to_string);
                let metadata = response
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| {
                        k.strip_prefix("x-amz-meta-")
                            .map(|m| (m.to_string(), v.to_string()))
                    })
                    .collect();
                let body = collect(response.into_body()).await?;
                Ok::<_, String>((status, total, etag, metadata, body))
            })
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()));
            let (status, total, etag, metadata, body) = match result {
                Ok(v) => v,
                Err(e) if attempt < ATTEMPTS && !e.contains("certificate") => {
                    tracing::debug!(attempt, error = %e, "retrying ranged GET on the URL");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    continue;
                }
                Err(e) => {
                    let hint = if e.to_ascii_lowercase().contains("certificate")
                        || e.to_ascii_lowercase().contains("unknownissuer")
                    {
                        "the server's certificate is not trusted; for a private CA pass --ca-bundle FILE or set AWS_CA_BUNDLE"
                    } else {
                        "check the network and the URL's host; try again"
                    };
                    return Err(Error::runtime_hint(
                        format!("GET {} failed: {e}", self.redacted()),
                        hint,
                    ));
                }
            };
            match status {
                206 => {
                    return Ok(RangeData {
                        total: total.unwrap_or(body.len() as u64),
                        bytes: body,
                        etag,
                        metadata,
                    });
                }
                200 => {
                    // The server ignored Range and sent the whole object.
                    let total = body.len() as u64;
                    let end = (range.end as usize).min(body.len());
                    let start = (range.start as usize).min(end);
                    return Ok(RangeData {
                        bytes: body.slice(start..end),
                        total,
                        etag,
                        metadata,
                    });
                }
                // Only an empty object has no byte 0: it cannot be an s3seal object.
                416 => return Err(crate::format::FormatError::NotS3seal.into()),
                500..=599 if attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                _ => {
                    return Err(url_error(
                        status,
                        &body,
                        &self.parsed,
                        &self.redacted(),
                        &self.location,
                    ));
                }
            }
        }
    }

    fn location(&self) -> &ObjectLocation {
        &self.location
    }
}

/// What `put_to_url` encrypts.
pub enum UrlPutSource {
    /// A regular file: streamed, and refused if it changes during the upload.
    File(PathBuf),
    /// A stream (stdin): read into memory first, since the header holds its length.
    Stream(Box<dyn Read + Send>),
}

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

/// A request body fed by the sealing task, chunk by chunk, with its exact length announced.
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<std::result::Result<Bytes, std::io::Error>>,
    len: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(http_body::Frame::data)))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

/// Encrypts `source` and uploads it with one PUT through the presigned `url` (so at most
/// 5 GiB stored). A file is streamed (read, sealed and sent chunk by chunk) and checked
/// against changes; stdin is read into memory first (its length must be in the header).
/// The object is bound to the bucket and key the URL addresses.
pub async fn put_to_url(
    url: &str,
    settings: &AwsSettings,
    keyring: &impl Keyring,
    source: UrlPutSource,
    request: &UrlPutRequest,
) -> Result<UrlPutOutcome> {
    let parsed = ParsedUrl::parse(url)?;
    let location = parsed.location()?;
    let redacted = redact_url(url);
    // A refused PUT is often seen only as a connection closed mid-body, so say "expired"
    // before sending anything when the URL says so.
    if parsed.expires_at().is_some_and(|t| t <= SystemTime::now()) {
        return Err(Error::runtime_hint(
            format!("the presigned URL {redacted} has expired"),
            "ask for a new one: `s3seal presign --put s3://BUCKET/KEY --kms-key-id ID`",
        ));
    }
    let client = UrlClient::new(settings)?;
    let too_big = |len: u64| {
        Error::usage_hint(
            format!(
                "{len} bytes of plaintext is more than one PUT can store (5 GiB with the s3seal header and tags)"
            ),
            "upload large objects with `s3seal put SRC s3://BUCKET/KEY` (multipart) instead of a presigned URL",
        )
    };
    // The source, its length, and (for a file) what to check at the end.
    let (reader, plain_len, file_check): (Box<dyn Read + Send>, u64, Option<(PathBuf, _)>) =
        match source {
            UrlPutSource::File(path) => {
                let meta = std::fs::metadata(&path)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                if !meta.is_file() {
                    return Err(Error::usage(format!(
                        "{} is not a regular file",
                        path.display()
                    )));
                }
                let file = std::fs::File::open(&path)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                let identity = (meta.len(), meta.modified().ok());
                (Box::new(file), meta.len(), Some((path, identity)))
            }
            UrlPutSource::Stream(mut stream) => {
                let mut buf = Vec::new();
                (&mut stream)
                    .take(MAX_SINGLE_PUT_BYTES + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::runtime(format!("reading the source failed: {e}")))?;
                let len = buf.len() as u64;
                if len > MAX_SINGLE_PUT_BYTES {
                    return Err(too_big(len));
                }
                (Box::new(std::io::Cursor::new(buf)), len, None)
            }
        };
    if plain_len > MAX_SINGLE_PUT_BYTES {
        return Err(too_big(plain_len));
    }
    let context = EncryptionContext::for_object(&location.bucket, &location.key, &request.context)
        .map_err(|e| Error::usage(e.to_string()))?;
    let new_key = keyring.generate(&request.kms_key_id, &context).await?;
    let message_id = MessageId::random();
    let keys = ObjectKeys::derive(&new_key.key, message_id);
    drop(new_key.key);
    let fields = HeaderFields {
        chunk_size: request.chunk_size,
        plaintext_len: plain_len,
        message_id,
        key_id: new_key.key_arn.clone(),
        wrapped_key: new_key.wrapped,
        context,
    };
    let header = fields.seal(&keys)?;
    let layout = Layout::new(header.len() as u64, request.chunk_size, plain_len);
    let total = layout.ciphertext_len();
    if total > MAX_SINGLE_PUT_BYTES {
        return Err(too_big(plain_len));
    }
    let cipher = crate::format::ChunkCipher::new(
        &keys,
        request.chunk_size,
        crate::format::Backend::default(),
    );
    drop(keys);

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    // Read and seal on a blocking thread; an error is sent down the body (the PUT then fails,
    // so nothing is stored) and also returned from the task.
    let producer = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let fail = |tx: &tokio::sync::mpsc::Sender<_>, msg: String| {
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
            if let Err(e) = reader.read_exact(&mut buf[..len]) {
                return fail(&tx, format!("reading the source failed: {e}"));
            }
            if layout.is_final(index) {
                // The source must end exactly here, unchanged.
                let mut one = [0u8; 1];
                let grew = matches!(reader.read(&mut one), Ok(n) if n > 0);
                let changed = file_check.as_ref().is_some_and(|(path, before)| {
                    let now = std::fs::metadata(path)
                        .ok()
                        .map(|m| (m.len(), m.modified().ok()));
                    now.as_ref() != Some(before)
                });
                if grew || changed {
                    let name = file_check
                        .as_ref()
                        .map(|(p, _)| p.display().to_string())
                        .unwrap_or_else(|| "the source".into());
                    return fail(
                        &tx,
                        format!("{name} changed while it was being uploaded; nothing was stored"),
                    );
                }
            }
            let (data, tag) = buf.split_at_mut(len);
            tag.copy_from_slice(&cipher.seal_in_place(index, layout.is_final(index), data));
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return Ok(());
            }
        }
        Ok(())
    });

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
            request.sse_kms_key_id.clone(),
        ));
    }
    headers.push(("content-type".into(), "application/octet-stream".into()));
    if signed.iter().any(|h| h == "content-type") {
        // Keep whatever the signer fixed: we cannot know it, so do not send ours.
        headers.retain(|(k, _)| k != "content-type");
    }
    let body = SdkBody::from_body_1_x(ChannelBody { rx, len: total });
    let sent = client.send("PUT", url, &headers, body).await;
    let produced = producer.await.expect("sealing task panicked");
    if let Err(e) = produced {
        return Err(Error::runtime_hint(
            e,
            "upload a stable copy (a snapshot) of the file",
        ));
    }
    let response = sent.map_err(|e| {
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
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = collect(response.into_body()).await.unwrap_or_default();
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
        kms_key_arn: fields.key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_durations() {
        assert_eq!(parse_expiry("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_expiry("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_expiry("12h").unwrap(), Duration::from_secs(43200));
        assert_eq!(parse_expiry("7d").unwrap(), MAX_EXPIRY);
        assert_eq!(parse_expiry("604800").unwrap(), MAX_EXPIRY);
        let err = parse_expiry("8d").unwrap_err();
        assert!(err.to_string().contains("7 days"), "{err}");
        assert!(parse_expiry("604801s").is_err());
        assert!(parse_expiry("0s").is_err());
        assert!(parse_expiry("15 parsecs").is_err());
        assert!(parse_expiry("m").is_err());
    }

    #[test]
    fn path_style_and_virtual_hosted_urls() {
        let u = ParsedUrl::parse(
            "https://127.0.0.1:9000/bkt/dir/a%20b%2Bc.txt?X-Amz-Signature=abc&X-Amz-SignedHeaders=host%3Bx-amz-server-side-encryption",
        )
        .unwrap();
        assert_eq!(
            u.location().unwrap(),
            ObjectLocation {
                bucket: "bkt".into(),
                key: "dir/a b+c.txt".into()
            }
        );
        assert_eq!(u.signed_headers(), ["host", "x-amz-server-side-encryption"]);
        for (url, bucket) in [
            (
                "https://my.bucket.s3.us-east-1.amazonaws.com/k/x",
                "my.bucket",
            ),
            ("https://bkt.s3.amazonaws.com/k/x", "bkt"),
            ("https://bkt.s3-us-west-2.amazonaws.com/k/x", "bkt"),
            (
                "https://bkt.s3.dualstack.eu-west-1.amazonaws.com/k/x",
                "bkt",
            ),
        ] {
            let loc = ParsedUrl::parse(url).unwrap().location().unwrap();
            assert_eq!(
                (loc.bucket.as_str(), loc.key.as_str()),
                (bucket, "k/x"),
                "{url}"
            );
        }
        for url in [
            "https://s3.us-east-1.amazonaws.com/bkt/k/x",
            "https://s3.amazonaws.com/bkt/k/x",
        ] {
            let loc = ParsedUrl::parse(url).unwrap().location().unwrap();
            assert_eq!(
                (loc.bucket.as_str(), loc.key.as_str()),
                ("bkt", "k/x"),
                "{url}"
            );
        }
        assert!(
            ParsedUrl::parse("https://h/bkt")
                .unwrap()
                .location()
                .is_err()
        );
        assert!(ParsedUrl::parse("http://h/b/k").is_err());
        assert!(ParsedUrl::parse("ftp://h/b/k").is_err());
        assert!(ParsedUrl::parse("https://u:p@h/b/k").is_err());
    }

    #[test]
    fn redaction_hides_the_signature() {
        let r = redact_url("https://h/b/k?X-Amz-Signature=secret");
        assert!(!r.contains("secret"), "{r}");
        assert!(r.starts_with("https://h/b/k?"));
    }

    #[test]
    fn expiry_from_the_url() {
        let u =
            ParsedUrl::parse("https://h/b/k?X-Amz-Date=20200102T030405Z&X-Amz-Expires=60").unwrap();
        let at = u.expires_at().unwrap();
        let expect = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_245 + 60);
        assert_eq!(at, expect);
    }

    #[test]
    fn xml_errors() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(
            xml_error(body),
            ("AccessDenied".into(), "Request has expired".into())
        );
        assert_eq!(xml_error(b""), (String::new(), String::new()));
    }
}

//! Presigned URLs for s3seal objects. A presigned URL only ever reaches ciphertext, so handing
//! one out leaks nothing without KMS access; whoever may use the KMS key decrypts straight from
//! it. This module:
//! - presigns GET and PUT URLs (SigV4, at most 7 days; a PUT URL has the SSE-KMS headers
//!   signed in; the requests are built by [`SdkStore`]),
//! - `url`: which bucket and key a URL addresses (path-style and virtual-hosted), so the
//!   header's bucket/key binding is checked as for `s3://` reads,
//! - `client`: the HTTPS client for URL requests and the errors of the server behind them,
//! - `reader`: [`UrlObject`], the object behind a URL as a
//!   [`RangeReader`](crate::transfer::download::RangeReader), so `get URL` runs the same
//!   parallel, verifying download pipeline.
//!
//! Sealing a source and uploading it through a presigned PUT URL is a pipeline beside the
//! others: [`crate::transfer::url_put`].
//!
//! HTTPS only, with `--ca-bundle` / `AWS_CA_BUNDLE` honoured. The URL's query (signature and
//! credential scope) never appears in an error message: it is a bearer capability.

mod client;
mod reader;
mod url;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;

use crate::aws::{error_chain, require_https};
use crate::error::{Error, Result};
use crate::location::ObjectLocation;
use crate::store::SdkStore;

pub(crate) use client::{UrlClient, collect_error_body, url_error, xml_error};
pub use reader::UrlObject;
pub use url::{ParsedUrl, is_url, redact_url};

/// SigV4 presigned URLs live at most 7 days.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default lifetime of a presigned URL.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(15 * 60);

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
    request: aws_sdk_s3::presigning::PresignedRequest, location: &ObjectLocation, expires: Duration,
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
    store: &SdkStore, location: &ObjectLocation, expires: Duration,
) -> Result<Presigned> {
    let request = store
        .presign_get(location, presigning_config(expires)?)
        .await?;
    finish_presigned(request, location, expires)
}

/// A PUT URL for `location` with `x-amz-server-side-encryption: aws:kms` and the SSE-KMS key
/// id signed in, so whoever uploads through it must ask S3 for SSE-KMS with that key.
pub async fn presign_put(
    store: &SdkStore, location: &ObjectLocation, sse_kms_key_id: &str, expires: Duration,
) -> Result<Presigned> {
    let request = store
        .presign_put(location, sse_kms_key_id, presigning_config(expires)?)
        .await?;
    finish_presigned(request, location, expires)
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
}

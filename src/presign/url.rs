//! What a presigned (or any https) URL addresses: parsing without trusting it (https only, no
//! user information), the bucket and key it names (path-style, or virtual-hosted for AWS
//! hosts, %-decoded), the headers its signature covers, and when it expires. The query holds
//! a bearer capability (the signature), so [`redact_url`] is what may be printed.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::location::ObjectLocation;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! [`UrlObject`]: the object behind a presigned GET URL as a
//! [`RangeReader`], so `get URL` and `verify URL` run the same parallel, verifying download
//! pipeline as `s3://` objects. The `Range` and `If-Match` headers are not part of a presigned
//! signature, so one URL serves every range. The body is streamed into the caller's buffer and
//! never kept past the range asked for, whatever the server sends (a server that ignores
//! `Range` and answers 200 with the whole object costs no more memory than the range).

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use super::client::{UrlClient, collect_error_body, url_error};
use super::url::{ParsedUrl, redact_url};
use crate::aws::{AwsSettings, error_chain};
use crate::error::{Error, Result};
use crate::format::FormatError;
use crate::location::ObjectLocation;
use crate::store::{RANGE_ATTEMPTS, RangeMeta, backoff};
use crate::transfer::download::RangeReader;

/// Time allowed for one ranged GET, response and body.
const RANGE_TIMEOUT: Duration = Duration::from_secs(300);

/// The object behind a presigned GET URL.
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

    /// One attempt: status, metadata, and the body (streamed into `buf`) on success.
    async fn attempt(
        &self, headers: &[(String, String)], range: &Range<u64>, buf: &mut Vec<u8>,
    ) -> std::result::Result<(u16, RangeMeta, Option<bytes::Bytes>), String> {
        let response = self
            .client
            .send("GET", &self.url, headers, SdkBody::empty())
            .await?;
        let status = response.status().as_u16();
        let meta = RangeMeta {
            total: header_total(&response).unwrap_or(0),
            etag: response.headers().get("etag").map(str::to_string),
            metadata: response
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("x-amz-meta-")
                        .map(|m| (m.to_string(), v.to_string()))
                })
                .collect::<HashMap<_, _>>(),
        };
        if !matches!(status, 200 | 206) {
            return Ok((
                status,
                meta,
                Some(collect_error_body(response.into_body()).await),
            ));
        }
        // 200: the server ignored Range and sends the whole object; skip to ours.
        let mut skip = if status == 200 { range.start } else { 0 };
        let content_length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let want = range.end.saturating_sub(range.start) as usize;
        buf.clear();
        buf.reserve(want);
        let mut body = ByteStream::new(response.into_body());
        while buf.len() < want {
            let Some(frame) = body.try_next().await.map_err(|e| error_chain(&e))? else {
                break;
            };
            let s = (skip as usize).min(frame.len());
            skip -= s as u64;
            let frame = &frame[s..];
            let room = want - buf.len();
            buf.extend_from_slice(&frame[..frame.len().min(room)]);
        }
        let total = match status {
            200 => content_length.unwrap_or(range.start + buf.len() as u64),
            _ if meta.total == 0 => buf.len() as u64,
            _ => meta.total,
        };
        Ok((status, RangeMeta { total, ..meta }, None))
    }
}

fn header_total(response: &HttpResponse) -> Option<u64> {
    let range = response.headers().get("content-range")?;
    range.rsplit_once('/')?.1.trim().parse().ok()
}

impl RangeReader for UrlObject {
    async fn read_range(
        &self, range: Range<u64>, if_match: Option<&str>, buf: &mut Vec<u8>,
    ) -> Result<RangeMeta> {
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
            let result = tokio::time::timeout(RANGE_TIMEOUT, self.attempt(&headers, &range, buf))
                .await
                .unwrap_or_else(|_| Err("timed out".to_string()));
            let (status, meta, error_body) = match result {
                Ok(v) => v,
                Err(e) if attempt < RANGE_ATTEMPTS && !e.contains("certificate") => {
                    tracing::debug!(attempt, error = %e, "retrying ranged GET on the URL");
                    backoff(attempt).await;
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
                200 | 206 => return Ok(meta),
                // Only an empty object has no byte 0: it cannot be an s3seal object.
                416 => return Err(FormatError::NotS3seal.into()),
                500..=599 if attempt < RANGE_ATTEMPTS => {
                    backoff(attempt).await;
                }
                _ => {
                    return Err(url_error(
                        status,
                        &error_body.unwrap_or_default(),
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

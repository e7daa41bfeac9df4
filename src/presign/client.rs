//! The HTTPS client for requests to presigned URLs (no SDK operation applies: the URL is the
//! request). It uses the SDK's own rustls connector, trusting `--ca-bundle` / `AWS_CA_BUNDLE`
//! when given; plain HTTP never gets this far ([`super::ParsedUrl::parse`] refuses it). Also
//! here: turning a refusal by the server behind a URL into a clear error, without ever
//! printing the URL's signature.

use std::time::{Duration, SystemTime};

use aws_smithy_http_client::{Connector, tls};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;

use super::url::ParsedUrl;
use crate::aws::{AwsSettings, ca_bundle_path, error_chain, tls_context_with_ca};
use crate::error::{Error, Result};
use crate::location::ObjectLocation;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of an error body read (S3's XML errors are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;

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

    pub(crate) async fn send(
        &self, method: &str, url: &str, headers: &[(String, String)], body: SdkBody,
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
pub(crate) fn xml_error(body: &[u8]) -> (String, String) {
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

/// Reads an error body, at most [`MAX_ERROR_BODY`] bytes of it.
pub(crate) async fn collect_error_body(body: SdkBody) -> Bytes {
    let mut stream = ByteStream::new(body);
    let mut out = Vec::new();
    while out.len() < MAX_ERROR_BODY {
        match stream.try_next().await {
            Ok(Some(frame)) => {
                let room = MAX_ERROR_BODY - out.len();
                out.extend_from_slice(&frame[..frame.len().min(room)]);
            }
            _ => break,
        }
    }
    Bytes::from(out)
}

/// Turns a refusal by the server behind a URL into a clear error.
pub(crate) fn url_error(
    status: u16, body: &[u8], url: &ParsedUrl, redacted: &str, location: &ObjectLocation,
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! "HTTPS only", for every client and every credential provider: every configured endpoint
//! (`--endpoint-url`, every `AWS_ENDPOINT_URL*` variable, every `endpoint_url` in the shared
//! config and credentials files, `services` sections included) is checked before the first
//! request, and two guards stand behind that check:
//! - [`HttpsOnlyClient`], the one HTTP client every AWS client and every credential provider
//!   (AssumeRole via `source_profile`, web identity, SSO) is built on, refuses to open a plain
//!   HTTP connection, except to the instance-metadata and container-credential endpoints,
//!   which are link-local (or loopback) by design and documented in docs/SECURITY.md;
//! - [`HttpsOnly`], an interceptor on every SDK client (S3, KMS, STS, S3 Control), refuses
//!   any request whose URI is not https, whatever resolved it.

use std::path::{Path, PathBuf};

use aws_sdk_s3::config::{Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::config_bag::ConfigBag;

use crate::error::{Error, Result};

/// Refuses anything but an `https://` URL, naming where it came from.
pub fn require_https(url: &str, source: &str) -> Result<()> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    if lower.starts_with("http://") {
        return Err(Error::usage_hint(
            format!("refusing plain-HTTP endpoint {url} (from {source}): s3seal only talks HTTPS"),
            "use an https:// endpoint; for a private endpoint with its own CA, pass --ca-bundle FILE or set AWS_CA_BUNDLE",
        ));
    }
    Err(Error::usage_hint(
        format!("endpoint {url:?} (from {source}) is not an https:// URL"),
        "write endpoints as https://HOST[:PORT]",
    ))
}

/// Checks every endpoint the AWS configuration could send a request to: every non-empty
/// `AWS_ENDPOINT_URL*` variable (`_S3`, `_KMS`, `_STS`, `_S3_CONTROL`, ...), and every
/// `endpoint_url` in the shared config and credentials files (any profile, any `services`
/// section), before anything is loaded or sent.
pub fn check_configured_endpoints() -> Result<()> {
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| k.starts_with("AWS_ENDPOINT_URL") && !v.trim().is_empty())
        .collect();
    vars.sort();
    for (name, url) in &vars {
        require_https(url, name)?;
    }
    for path in config_files() {
        // A missing or unreadable file is the SDK's business (it ignores a missing one).
        if let Ok(text) = std::fs::read_to_string(&path) {
            check_config_text(&text, &path)?;
        }
    }
    Ok(())
}

/// The shared config and credentials files, where the SDK looks for them.
fn config_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let pick = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    [
        pick("AWS_CONFIG_FILE", "config"),
        pick("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every `endpoint_url = ...` in an INI-style AWS config file, top-level or nested under a
/// service (`s3 =` then an indented `endpoint_url = ...`), must be https.
fn check_config_text(text: &str, path: &Path) -> Result<()> {
    let mut section = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.starts_with('[') {
            section = trimmed.to_string();
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("endpoint_url") {
            let value = value.split(" #").next().unwrap_or(value).trim();
            require_https(
                value,
                &format!("endpoint_url in {} {section}", path.display()),
            )?;
        }
    }
    Ok(())
}

/// The one HTTP client under every AWS client and credential provider: refuses plain HTTP
/// except to the instance-metadata and container-credential endpoints.
#[derive(Debug, Clone)]
pub struct HttpsOnlyClient {
    inner: SharedHttpClient,
}

impl HttpsOnlyClient {
    pub fn wrap(inner: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(HttpsOnlyClient { inner })
    }
}

impl HttpClient for HttpsOnlyClient {
    fn http_connector(
        &self, settings: &HttpConnectorSettings, components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(HttpsOnlyConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct HttpsOnlyConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for HttpsOnlyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let uri = request.uri().to_string();
        if transport_allowed(&uri) {
            self.inner.call(request)
        } else {
            HttpConnectorFuture::ready(Err(ConnectorError::user(
                format!("refusing to send a request over plain HTTP to {uri}").into(),
            )))
        }
    }
}

/// Plain-HTTP hosts that are allowed: EC2 instance metadata (IMDS) and the ECS / EKS Pod
/// Identity container-credential endpoints, all link-local.
const LINK_LOCAL_CREDENTIAL_HOSTS: [&str; 5] = [
    "169.254.169.254",
    "[fd00:ec2::254]",
    "169.254.170.2",
    "169.254.170.23",
    "[fd00:ec2::23]",
];

/// The host (with brackets for IPv6, without port) of an `http://` URI.
fn http_host(uri: &str) -> Option<String> {
    let rest = uri
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("http://"))
        .map(|_| &uri[7..])?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    Some(host.to_ascii_lowercase())
}

/// Whether a request to `uri` may be sent: https always; http only to the link-local
/// credential endpoints, or to the loopback host `AWS_CONTAINER_CREDENTIALS_FULL_URI` names
/// (the container-credential provider accepts only loopback or link-local hosts there).
fn transport_allowed(uri: &str) -> bool {
    if uri
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
    {
        return true;
    }
    let Some(host) = http_host(uri) else {
        return false;
    };
    if LINK_LOCAL_CREDENTIAL_HOSTS.contains(&host.as_str()) {
        return true;
    }
    let container_host = std::env::var("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .ok()
        .and_then(|full| http_host(&full));
    container_host.is_some_and(|h| h == host && is_loopback(&h))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses to send any request over plain HTTP, whatever configured the endpoint (a resolver
/// rule, a variable or setting nobody checked): on every SDK client s3seal builds.
#[derive(Debug, Clone, Copy)]
pub struct HttpsOnly;

impl Intercept for HttpsOnly {
    fn name(&self) -> &'static str {
        "s3seal::HttpsOnly"
    }

    fn read_before_transmit(
        &self, context: &BeforeTransmitInterceptorContextRef<'_>, _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let uri = context.request().uri();
        if uri.to_ascii_lowercase().starts_with("https://") {
            Ok(())
        } else {
            Err(format!("refusing to send a request over plain HTTP to {uri}").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_url_in_a_config_file_is_checked() {
        let path = Path::new("config");
        let ok = "[default]\nregion = us-east-1\nendpoint_url = https://a.example\n\
                  [services local]\ns3 =\n  endpoint_url = https://b.example\n";
        assert!(check_config_text(ok, path).is_ok());
        let nested = "[default]\nservices = local\n[services local]\nsts =\n  endpoint_url = http://127.0.0.1:9\n";
        let err = check_config_text(nested, path).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        assert!(err.to_string().contains("[services local]"), "{err}");
        let top = "[profile x]\nendpoint_url=http://h\n";
        assert!(check_config_text(top, path).is_err());
        assert!(check_config_text("# endpoint_url = http://h\n", path).is_ok());
    }

    #[test]
    fn only_credential_endpoints_may_use_plain_http() {
        assert!(transport_allowed("https://s3.amazonaws.com/b"));
        assert!(transport_allowed("HTTPS://s3.amazonaws.com/b"));
        assert!(transport_allowed("http://169.254.169.254/latest/api/token"));
        assert!(transport_allowed("http://[fd00:ec2::254]/latest/api/token"));
        assert!(transport_allowed("http://169.254.170.2/v2/credentials/x"));
        assert!(!transport_allowed("http://127.0.0.1:9000/"));
        assert!(!transport_allowed("http://sts.amazonaws.com/"));
        assert!(!transport_allowed("http://169.254.169.254.evil.example/"));
        assert!(!transport_allowed("ftp://x/"));
        assert_eq!(http_host("http://u@[::1]:80/x"), Some("[::1]".into()));
    }
}

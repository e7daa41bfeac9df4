//! Building AWS clients the way AWS tools behave: the standard credential chain and profiles,
//! regions, `--endpoint-url` and the `AWS_ENDPOINT_URL*` variables, and `--ca-bundle` /
//! `AWS_CA_BUNDLE` (which the Rust SDK does not read by itself). HTTPS is the only transport
//! ([`https`]): every configured endpoint is checked up front, every client and credential
//! provider runs on one HTTPS-only HTTP client, and every SDK client carries an interceptor
//! that refuses any request that would still leave over plain HTTP.
//!
//! Also here: turning SDK errors into [`Error`]s with a cause and a hint.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{Error, Result};

mod https;
pub use https::{HttpsOnly, HttpsOnlyClient, check_configured_endpoints, require_https};

/// Connection settings from the command line (each falls back to the usual AWS variables).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Endpoint for both S3 and KMS (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_KMS` still win
    /// for their own service when this is not given).
    pub endpoint_url: Option<String>,
    /// PEM file of CA certificates that replaces the system roots (as in the AWS CLI).
    pub ca_bundle: Option<PathBuf>,
    pub region: Option<String>,
    pub profile: Option<String>,
}

/// The clients s3seal talks to.
#[derive(Clone, Debug)]
pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub config: SdkConfig,
}

const ENDPOINT_VARS: [&str; 3] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_KMS",
];

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Default for [`READ_TIMEOUT_VAR`]: how long a request may wait for the first byte of its
/// answer. It counts from the start of the request, so for UploadPart it includes sending the
/// part: generous enough for 8 parts of 8 MiB in flight over a slow uplink.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Seconds to wait for an answer before the attempt fails and is retried (0: never give up).
/// Without it a server that accepts a request and then goes silent hangs s3seal for ever: the
/// SDK's stalled-stream protection only watches bodies that are moving.
pub const READ_TIMEOUT_VAR: &str = "S3SEAL_READ_TIMEOUT";

/// The timeouts s3seal adds to the SDK's defaults (which keep the 3.1 s connect timeout).
pub fn timeout_config() -> Result<TimeoutConfig> {
    let read = match env_nonempty(READ_TIMEOUT_VAR) {
        None => Some(DEFAULT_READ_TIMEOUT),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(0.0) => None,
            Ok(secs) if secs.is_finite() && secs > 0.0 => Some(Duration::from_secs_f64(secs)),
            _ => {
                return Err(Error::usage(format!(
                    "{READ_TIMEOUT_VAR}={v:?} is not a number of seconds"
                )));
            }
        },
    };
    let mut builder = TimeoutConfig::builder();
    if let Some(read) = read {
        builder = builder.read_timeout(read);
    }
    Ok(builder.build())
}

/// The CA bundle to use, if any: `--ca-bundle`, else `AWS_CA_BUNDLE`.
pub fn ca_bundle_path(settings: &AwsSettings) -> Option<PathBuf> {
    settings
        .ca_bundle
        .clone()
        .or_else(|| env_nonempty("AWS_CA_BUNDLE").map(PathBuf::from))
}

/// A TLS context trusting exactly the certificates in the PEM file `path` (as the AWS CLI
/// treats a CA bundle: it replaces the system roots).
pub fn tls_context_with_ca(path: &std::path::Path) -> Result<tls::TlsContext> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::usage_hint(
            format!("cannot read CA bundle {}: {e}", path.display()),
            "--ca-bundle / AWS_CA_BUNDLE must name a PEM file of CA certificates",
        )
    })?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(Error::usage(format!(
            "CA bundle {} holds no PEM certificate",
            path.display()
        )));
    }
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem);
    tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| Error::usage(format!("CA bundle {}: {e}", path.display())))
}

/// The HTTPS client of every AWS client and credential provider: the SDK's rustls stack,
/// trusting the CA bundle when one is given, wrapped so that it refuses plain HTTP.
pub fn https_only_client(
    settings: &AwsSettings,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    let base = match ca_bundle_path(settings) {
        Some(path) => https_client_with_ca(&path)?,
        None => aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https(),
    };
    Ok(HttpsOnlyClient::wrap(base))
}

/// An HTTPS client trusting exactly the certificates in `path`.
pub fn https_client_with_ca(
    path: &std::path::Path,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    let context = tls_context_with_ca(path)?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}

/// Whether S3 requests go to a custom endpoint (then path-style addressing is used, since
/// `BUCKET.127.0.0.1` cannot resolve).
fn s3_has_custom_endpoint(settings: &AwsSettings, config: &SdkConfig) -> bool {
    settings.endpoint_url.is_some()
        || env_nonempty("AWS_ENDPOINT_URL_S3").is_some()
        || config.endpoint_url().is_some()
}

/// A profile named with `--profile` or `AWS_PROFILE` must exist, as the AWS CLI requires: the
/// SDK alone would go on with whatever else the credential chain finds (environment keys, an
/// instance role), which is not what was asked for.
async fn require_profile(name: &str) -> Result<()> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &EnvConfigFiles::default(),
        Some(name.to_string().into()),
    )
    .await
    .map_err(|e| {
        Error::usage_hint(
            format!("the AWS config files cannot be read: {}", error_chain(&e)),
            "fix the file named above (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, ~/.aws)",
        )
    })?;
    if profiles.get_profile(name).is_none() {
        return Err(Error::usage_hint(
            format!(
                "the AWS profile {name:?} (--profile or AWS_PROFILE) is not in the shared config or credentials file"
            ),
            "check the name (`aws configure list-profiles`), or where AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE point",
        ));
    }
    Ok(())
}

/// Loads configuration and builds the S3 and KMS clients.
pub async fn connect(settings: &AwsSettings) -> Result<Aws> {
    if let Some(url) = &settings.endpoint_url {
        require_https(url, "--endpoint-url")?;
    }
    // Every AWS_ENDPOINT_URL* variable and every endpoint_url of the config files, before
    // the loader (whose credential providers may already send requests) runs.
    check_configured_endpoints()?;
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeout_config()?);
    if let Some(profile) = &settings.profile {
        require_profile(profile).await?;
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader = loader.http_client(https_only_client(settings)?);
    let mut config = loader.load().await;
    if let Some(url) = config.endpoint_url() {
        require_https(url, "the AWS configuration")?;
    }
    if config.region().is_none() {
        let custom = settings.endpoint_url.is_some()
            || ENDPOINT_VARS.iter().any(|v| env_nonempty(v).is_some());
        if !custom {
            return Err(Error::usage_hint(
                "no AWS region configured",
                "pass --region REGION, or set AWS_REGION or a region in your AWS profile",
            ));
        }
        // A custom endpoint without a region: sign for us-east-1, as most S3-compatible
        // servers expect.
        config = config
            .into_builder()
            .region(Region::new("us-east-1"))
            .build();
    }
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(s3_has_custom_endpoint(settings, &config))
        .interceptor(HttpsOnly)
        .build();
    let kms_config = aws_sdk_kms::config::Builder::from(&config)
        .interceptor(HttpsOnly)
        .build();
    Ok(Aws {
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        kms: aws_sdk_kms::Client::from_conf(kms_config),
        config,
    })
}

/// The text of an error and all its sources, for matching and for messages.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// A failure that never reached the service (no credentials, TLS, connection, timeout), turned
/// into a clear error; `None` for errors the service answered, which callers map by code.
pub(crate) fn transport_error<E, R>(operation: &str, err: &SdkError<E, R>) -> Option<Error>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if matches!(err, SdkError::ServiceError(_)) {
        return None;
    }
    let chain = error_chain(err);
    let lower = chain.to_ascii_lowercase();
    // Timeouts and broken connections may cure themselves; the rest will fail the same way.
    let mut retryable = false;
    let (message, hint) = if lower.contains("refusing to send a request over plain http") {
        (
            format!("{operation}: {chain}"),
            "s3seal only talks HTTPS; use an https:// endpoint".to_string(),
        )
    } else if lower.contains("credentials") && !lower.contains("invalid") {
        (
            format!("{operation}: no AWS credentials found"),
            "configure credentials as for the AWS CLI: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, SSO, or an instance role".to_string(),
        )
    } else if lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("tls")
    {
        (
            format!("{operation}: TLS failure: {chain}"),
            "the server's certificate is not trusted; for a private CA pass --ca-bundle FILE or set AWS_CA_BUNDLE".to_string(),
        )
    } else if matches!(err, SdkError::TimeoutError(_))
        || lower.contains("timed out")
        || lower.contains("timeout")
    {
        retryable = true;
        (
            format!("{operation}: timed out: {chain}"),
            "check the network and the endpoint; try again".to_string(),
        )
    } else {
        retryable = true;
        (
            format!("{operation}: {chain}"),
            "check the endpoint, network and credentials; try again".to_string(),
        )
    };
    Some(if retryable {
        Error::unavailable(message, hint)
    } else {
        Error::runtime_hint(message, hint)
    })
}

/// Error code of a service error, and a detail for messages: `Code: message`, or the code
/// alone when the service sent no message.
/// Without a code (an answer that could not be read, such as a listing whose XML does not
/// parse), the detail is the error's own chain, which says why.
pub(crate) fn service_error_parts<E, R>(err: &SdkError<E, R>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let Some(code) = err.code().map(str::to_string) else {
        return (
            "Unknown".to_string(),
            format!("the answer could not be read: {}", error_chain(err)),
        );
    };
    let detail = match err.message() {
        Some(message) if !message.is_empty() => format!("{code}: {message}"),
        _ => code.clone(),
    };
    (code, detail)
}

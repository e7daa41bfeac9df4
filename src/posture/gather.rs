//! Reading a bucket's configuration from S3 into [`BucketFacts`].
//!
//! Every setting is a separate read, so one refused permission costs one fact, never the
//! whole check (cloud-custodian #6678 is the opposite). A 403 becomes
//! [`Fact::Unknown`] naming the IAM action that was needed; S3's "not configured" errors
//! (NoSuchBucketPolicy, NoSuchPublicAccessBlockConfiguration, ...) become [`Fact::Absent`].
//! When an owner is expected, every bucket-level call carries `ExpectedBucketOwner`.
//! The account-level Block Public Access setting comes from S3 Control, whose endpoint puts
//! the account id in the host name; against a custom endpoint (a local test server) that
//! host does not resolve, so [`AccountClients::from_conf`] keeps the endpoint as given.

use super::PostureOptions;
use super::facts::{
    Acl, BucketFacts, EncryptionRule, Fact, Grant, Grantee, Logging, ObjectLock, OwnerFacts, Probe,
    PublicAccessBlock, Unreadable, Versioning,
};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;

/// The clients for account-level facts: S3 Control (account Block Public Access) and STS
/// (the caller's account).
#[derive(Debug, Clone)]
pub struct AccountClients {
    /// S3 Control, for `GetPublicAccessBlock` of the account.
    pub s3control: aws_sdk_s3control::Client,
    /// STS, for `GetCallerIdentity`.
    pub sts: aws_sdk_sts::Client,
}

/// Endpoint resolver for S3 Control that uses a custom endpoint URL as it is, without the
/// `{account-id}.` host prefix the standard rules add (which does not resolve for
/// `127.0.0.1` or `localhost`). Without a custom endpoint it defers to the standard rules.
#[derive(Debug, Default)]
pub struct S3ControlCustomEndpoint {
    standard: aws_sdk_s3control::config::endpoint::DefaultResolver,
}

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for S3ControlCustomEndpoint {
    fn resolve_endpoint<'a>(
        &'a self, params: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
        match params.endpoint() {
            Some(url) => aws_sdk_s3control::config::endpoint::EndpointFuture::ready(Ok(
                aws_sdk_s3control::config::endpoint::Endpoint::builder()
                    .url(url.to_string())
                    .build(),
            )),
            None => self.standard.resolve_endpoint(params),
        }
    }
}

impl AccountClients {
    /// Builds both clients from the shared SDK configuration. With a custom endpoint URL
    /// (`--endpoint-url`, `AWS_ENDPOINT_URL`), S3 Control uses it without the account-id host
    /// prefix.
    pub fn from_conf(sdk: &aws_config::SdkConfig) -> AccountClients {
        let mut control = aws_sdk_s3control::config::Builder::from(sdk);
        if sdk.endpoint_url().is_some() {
            control = control.endpoint_resolver(S3ControlCustomEndpoint::default());
        }
        let sts = aws_sdk_sts::config::Builder::from(sdk).interceptor(crate::aws::HttpsOnly);
        AccountClients {
            s3control: aws_sdk_s3control::Client::from_conf(
                control.interceptor(crate::aws::HttpsOnly).build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
        }
    }
}

/// How one failed call is read.
enum Failure {
    /// 403.
    Denied(String),
    /// The bucket does not exist.
    NoSuchBucket,
    /// The setting is not configured.
    Absent,
    /// Anything else.
    Other(String),
}

fn classify<E>(err: &SdkError<E, HttpResponse>, absent_codes: &[&str]) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().map(str::to_string);
    let status = err.raw_response().map(|r| r.status().as_u16());
    match (code.as_deref(), status) {
        (Some(c), _) if absent_codes.contains(&c) => Failure::Absent,
        (Some("NoSuchBucket"), _) => Failure::NoSuchBucket,
        (Some("AccessDenied") | Some("AccessDeniedException") | Some("AllAccessDisabled"), _)
        | (_, Some(403)) => Failure::Denied(code.unwrap_or_else(|| "AccessDenied".into())),
        (None, Some(404)) => Failure::NoSuchBucket,
        (Some(c), _) => Failure::Other(match err.message() {
            Some(m) if !m.is_empty() => format!("{c}: {m}"),
            _ => c.to_string(),
        }),
        (None, _) => Failure::Other(DisplayErrorContext(err).to_string()),
    }
}

/// Turns the result of one read into a fact.
fn to_fact<O, E, T>(
    result: Result<O, SdkError<E, HttpResponse>>, permission: &str, absent_codes: &[&str],
    convert: impl FnOnce(O) -> Fact<T>,
) -> Fact<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(output) => convert(output),
        Err(err) => {
            let failure = classify(&err, absent_codes);
            tracing::debug!(permission, error = %DisplayErrorContext(&err), "posture read failed");
            let (access_denied, error) = match failure {
                Failure::Absent => return Fact::Absent,
                Failure::Denied(code) => (true, code),
                Failure::NoSuchBucket => (false, "NoSuchBucket".to_string()),
                Failure::Other(e) => (false, e),
            };
            Fact::Unknown(Unreadable {
                permission: permission.to_string(),
                access_denied,
                error,
            })
        }
    }
}

fn probe_of<O, E>(result: &Result<O, SdkError<E, HttpResponse>>) -> Probe
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Probe::Ok,
        Err(err) => match classify(err, &[]) {
            Failure::Denied(_) => Probe::AccessDenied,
            Failure::NoSuchBucket => Probe::NotFound,
            Failure::Absent => Probe::Ok,
            Failure::Other(e) => Probe::Error(e),
        },
    }
}

/// `GetBucketLocation`'s answer as a region name.
fn region_of(
    output: &aws_sdk_s3::operation::get_bucket_location::GetBucketLocationOutput,
) -> String {
    match output.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(other) => other.to_string(),
    }
}

/// The four settings of an S3 or S3 Control `PublicAccessBlockConfiguration` (two SDK types
/// with the same accessors); a missing configuration or setting is off.
macro_rules! pab_of {
    ($config:expr) => {
        match $config {
            None => PublicAccessBlock::default(),
            Some(c) => PublicAccessBlock {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            },
        }
    };
}

/// The caller's account id (STS GetCallerIdentity needs no permission).
pub async fn caller_account(sts: &aws_sdk_sts::Client) -> Option<String> {
    match sts.get_caller_identity().send().await {
        Ok(out) => out.account().map(str::to_string),
        Err(err) => {
            tracing::debug!(error = %DisplayErrorContext(&err), "GetCallerIdentity failed");
            None
        }
    }
}

/// The bucket's Object Lock configuration as a fact (absent when none is configured). The one
/// reading of it: the posture rules use it, and so do uploads that ask for retention or a legal
/// hold (they need the bucket to have Object Lock enabled).
pub async fn object_lock(
    s3: &aws_sdk_s3::Client, bucket: &str, expected_owner: Option<String>,
) -> Fact<ObjectLock> {
    let result = s3
        .get_object_lock_configuration()
        .bucket(bucket)
        .set_expected_bucket_owner(expected_owner)
        .send()
        .await;
    to_fact(
        result,
        "s3:GetBucketObjectLockConfiguration",
        &["ObjectLockConfigurationNotFoundError"],
        |o| match o.object_lock_configuration() {
            None => Fact::Absent,
            Some(c) => {
                let retention = c.rule().and_then(|r| r.default_retention());
                Fact::Present(ObjectLock {
                    enabled: c.object_lock_enabled().map(|e| e.as_str()) == Some("Enabled"),
                    default_mode: retention
                        .and_then(|d| d.mode())
                        .map(|m| m.as_str().to_string()),
                    default_days: retention.and_then(|d| d.days()),
                    default_years: retention.and_then(|d| d.years()),
                })
            }
        },
    )
}

/// Reads everything the posture rules need about `bucket`. Never fails: what cannot be read
/// becomes an unknown fact. `account` gives the account-level Block Public Access setting
/// and the caller's account; without it both stay unknown.
pub async fn gather(
    s3: &aws_sdk_s3::Client, account: Option<&AccountClients>, bucket: &str, opts: &PostureOptions,
) -> BucketFacts {
    let expected = opts.expected_owner.clone();
    let caller = match account {
        Some(a) => caller_account(&a.sts).await,
        None => None,
    };

    let location = |owner: Option<String>| {
        s3.get_bucket_location()
            .bucket(bucket)
            .set_expected_bucket_owner(owner)
            .send()
    };
    let probe_plain = location(None).await;
    let probe_expected = match &expected {
        Some(e) => Some(location(Some(e.clone())).await),
        None => None,
    };
    let probe_caller = match (&expected, &caller) {
        (None, Some(c)) => Some(location(Some(c.clone())).await),
        _ => None,
    };
    let region = probe_expected
        .as_ref()
        .unwrap_or(&probe_plain)
        .as_ref()
        .ok()
        .map(region_of);
    let owner = OwnerFacts {
        expected_owner: expected.clone(),
        caller_account: caller.clone(),
        probe_plain: Some(probe_of(&probe_plain)),
        probe_expected: probe_expected.as_ref().map(probe_of),
        probe_caller: probe_caller.as_ref().map(probe_of),
    };

    // One bucket-level read, carrying ExpectedBucketOwner when an owner is expected.
    macro_rules! read {
        ($operation:ident) => {
            s3.$operation()
                .bucket(bucket)
                .set_expected_bucket_owner(expected.clone())
                .send()
        };
    }
    let (pab, policy, status, acl, ownership, encryption, versioning, lock, logging) = tokio::join!(
        read!(get_public_access_block),
        read!(get_bucket_policy),
        read!(get_bucket_policy_status),
        read!(get_bucket_acl),
        read!(get_bucket_ownership_controls),
        read!(get_bucket_encryption),
        read!(get_bucket_versioning),
        object_lock(s3, bucket, expected.clone()),
        read!(get_bucket_logging),
    );

    let account_id = expected.clone().or(caller.clone());
    let account_public_access_block = match (account, account_id) {
        (Some(a), Some(id)) => to_fact(
            a.s3control
                .get_public_access_block()
                .account_id(id)
                .send()
                .await,
            PERMISSION_ACCOUNT_PAB,
            &["NoSuchPublicAccessBlockConfiguration"],
            |o| Fact::Present(pab_of!(o.public_access_block_configuration())),
        ),
        (_, id) => Fact::Unknown(Unreadable {
            permission: PERMISSION_ACCOUNT_PAB.to_string(),
            access_denied: false,
            error: if id.is_none() && account.is_some() {
                "the account id is unknown (STS GetCallerIdentity failed and no \
                 --expected-owner was given)"
                    .to_string()
            } else {
                "the account-level setting was not read (no S3 Control client)".to_string()
            },
        }),
    };

    BucketFacts {
        bucket: bucket.to_string(),
        region,
        owner,
        bucket_public_access_block: to_fact(
            pab,
            "s3:GetBucketPublicAccessBlock",
            &["NoSuchPublicAccessBlockConfiguration"],
            |o| Fact::Present(pab_of!(o.public_access_block_configuration())),
        ),
        account_public_access_block,
        policy: to_fact(
            policy,
            "s3:GetBucketPolicy",
            &["NoSuchBucketPolicy"],
            |o| match o.policy() {
                Some(p) if !p.trim().is_empty() => Fact::Present(p.to_string()),
                _ => Fact::Absent,
            },
        ),
        policy_status: to_fact(
            status,
            "s3:GetBucketPolicyStatus",
            &["NoSuchBucketPolicy"],
            |o| match o.policy_status().and_then(|s| s.is_public()) {
                Some(p) => Fact::Present(p),
                None => Fact::Present(false),
            },
        ),
        acl: to_fact(acl, "s3:GetBucketAcl", &[], |o| {
            Fact::Present(Acl {
                owner_id: o.owner().and_then(|w| w.id()).map(str::to_string),
                grants: o.grants().iter().filter_map(grant_of).collect(),
            })
        }),
        ownership: to_fact(
            ownership,
            "s3:GetBucketOwnershipControls",
            &["OwnershipControlsNotFoundError"],
            |o| match o
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_string())
            {
                Some(v) => Fact::Present(v),
                None => Fact::Absent,
            },
        ),
        encryption: to_fact(
            encryption,
            "s3:GetEncryptionConfiguration",
            &["ServerSideEncryptionConfigurationNotFoundError"],
            |o| match o.server_side_encryption_configuration() {
                None => Fact::Absent,
                Some(c) => Fact::Present(
                    c.rules()
                        .iter()
                        .filter_map(|r| {
                            r.apply_server_side_encryption_by_default()
                                .map(|d| EncryptionRule {
                                    algorithm: d.sse_algorithm().as_str().to_string(),
                                    kms_key_id: d.kms_master_key_id().map(str::to_string),
                                    bucket_key_enabled: r.bucket_key_enabled(),
                                })
                        })
                        .collect(),
                ),
            },
        ),
        versioning: to_fact(versioning, "s3:GetBucketVersioning", &[], |o| {
            Fact::Present(Versioning {
                status: o.status().map(|s| s.as_str().to_string()),
                mfa_delete: o.mfa_delete().map(|s| s.as_str().to_string()),
            })
        }),
        object_lock: lock,
        logging: to_fact(logging, "s3:GetBucketLogging", &[], |o| {
            match o.logging_enabled() {
                Some(l) if !l.target_bucket().is_empty() => Fact::Present(Logging {
                    target_bucket: l.target_bucket().to_string(),
                    target_prefix: l.target_prefix().to_string(),
                }),
                _ => Fact::Absent,
            }
        }),
    }
}

/// The IAM action for the account-level Block Public Access read.
pub const PERMISSION_ACCOUNT_PAB: &str = "s3:GetAccountPublicAccessBlock";

fn grant_of(g: &aws_sdk_s3::types::Grant) -> Option<Grant> {
    let grantee = g.grantee()?;
    let permission = g
        .permission()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let grantee = if let Some(uri) = grantee.uri() {
        Grantee::Group {
            uri: uri.to_string(),
        }
    } else if let Some(id) = grantee.id() {
        Grantee::CanonicalUser {
            id: id.to_string(),
            display_name: grantee.display_name().map(str::to_string),
        }
    } else if let Some(email) = grantee.email_address() {
        Grantee::Email {
            address: email.to_string(),
        }
    } else {
        return None;
    };
    Some(Grant {
        grantee,
        permission,
    })
}

//! End-to-end posture tests against moto over TLS: real configurations applied through the
//! AWS SDK, then `posture::check` and its findings. Configured by the variables that
//! `scripts/local-aws.sh start` writes to `.local-aws/env` (run everything with
//! `scripts/test.sh`). Each test makes its own uniquely named buckets.
//!
//! moto ignores `ExpectedBucketOwner`, never evaluates policy conditions and does not return
//! MFADelete; those decisions are covered by `tests/posture_rules.rs`.

use aws_sdk_s3::types::{
    BucketCannedAcl, BucketLoggingStatus, BucketVersioningStatus, LoggingEnabled, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use aws_smithy_http_client::tls;
use s3seal::posture::{
    self, AccountClients, BucketFacts, CheckId, Fact, PostureOptions, Report, Severity, Status,
    Verdict,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// moto's default account.
const MOTO_ACCOUNT: &str = "123456789012";

/// The account-level Block Public Access setting is shared by every bucket of the moto
/// account: the test that changes it runs alone (write lock), the others take a read lock.
static ACCOUNT_SETTING: RwLock<()> = RwLock::const_new(());

struct TestEnv {
    endpoint: String,
    ca: PathBuf,
    kms_key_arn: Option<String>,
    venv: Option<PathBuf>,
}

fn test_env() -> TestEnv {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(ca)) = (
        get("S3SEAL_TEST_MOTO_ENDPOINT"),
        get("S3SEAL_TEST_CA").or_else(|| get("AWS_CA_BUNDLE")),
    ) else {
        panic!(
            "S3SEAL_TEST_MOTO_ENDPOINT and S3SEAL_TEST_CA are not set: the posture end-to-end \
             tests need the local moto server. Run scripts/test.sh, or \
             `bash scripts/local-aws.sh start && . .local-aws/env` before cargo test."
        );
    };
    TestEnv {
        endpoint,
        ca: PathBuf::from(ca),
        kms_key_arn: get("S3SEAL_TEST_KMS_KEY_ARN"),
        venv: get("S3SEAL_TEST_VENV").map(PathBuf::from),
    }
}

fn https_client(ca: &Path) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem);
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("TLS context from the test CA");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
}

async fn sdk_config(endpoint: &str, ca: &Path, key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            key,
            secret,
            None,
            None,
            "posture-e2e",
        ))
        .http_client(https_client(ca))
        .load()
        .await
}

struct Clients {
    s3: aws_sdk_s3::Client,
    account: AccountClients,
}

fn clients(sdk: &aws_config::SdkConfig) -> Clients {
    let s3_conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3_conf),
        account: AccountClients::from_conf(sdk),
    }
}

async fn moto() -> (TestEnv, Clients) {
    let env = test_env();
    let sdk = sdk_config(&env.endpoint, &env.ca, "test", "test").await;
    let c = clients(&sdk);
    (env, c)
}

fn unique_bucket(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "posture-{tag}-{}-{}-{}",
        std::process::id(),
        nanos % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn create_bucket(c: &Clients, tag: &str) -> String {
    let bucket = unique_bucket(tag);
    c.s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {bucket}: {e:?}"));
    bucket
}

fn opts() -> PostureOptions {
    PostureOptions {
        expected_owner: Some(MOTO_ACCOUNT.into()),
        trusted_accounts: Vec::new(),
    }
}

async fn check(c: &Clients, bucket: &str, opts: &PostureOptions) -> (BucketFacts, Report) {
    let facts = posture::gather(&c.s3, Some(&c.account), bucket, opts).await;
    let report = posture::evaluate(&facts, opts);
    (facts, report)
}

#[track_caller]
fn expect(r: &Report, check: CheckId, status: Status, severity: Severity) {
    let f = r.finding(check).expect("finding");
    assert_eq!(
        (f.status, f.severity),
        (status, severity),
        "{check}: {}\n{}",
        f.one_line(),
        r.render_text()
    );
}

async fn put_policy(c: &Clients, bucket: &str, policy: serde_json::Value) {
    c.s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put policy on {bucket}: {e:?}"));
}

fn public_read(bucket: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")
        }]
    })
}

fn pab(ignore_acls: bool, restrict: bool, all: bool) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(all)
        .ignore_public_acls(all || ignore_acls)
        .block_public_policy(all)
        .restrict_public_buckets(all || restrict)
        .build()
}

#[tokio::test]
async fn fresh_bucket_every_read_succeeds_and_absent_settings_are_facts() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (_env, c) = moto().await;
    let bucket = create_bucket(&c, "fresh").await;
    let (facts, r) = check(&c, &bucket, &opts()).await;

    // Every read worked, including S3 Control at the custom endpoint and STS.
    assert_eq!(facts.owner.caller_account.as_deref(), Some(MOTO_ACCOUNT));
    for (name, known) in [
        ("bucket PAB", facts.bucket_public_access_block.is_known()),
        ("account PAB", facts.account_public_access_block.is_known()),
        ("policy", facts.policy.is_known()),
        ("policy status", facts.policy_status.is_known()),
        ("acl", facts.acl.is_known()),
        ("ownership", facts.ownership.is_known()),
        ("encryption", facts.encryption.is_known()),
        ("versioning", facts.versioning.is_known()),
        ("object lock", facts.object_lock.is_known()),
        ("logging", facts.logging.is_known()),
    ] {
        assert!(known, "{name} unreadable: {facts:#?}");
    }
    assert_eq!(facts.policy, Fact::Absent);
    assert_eq!(facts.bucket_public_access_block, Fact::Absent);
    assert_eq!(facts.object_lock, Fact::Absent);
    assert_eq!(facts.logging, Fact::Absent);
    assert_eq!(facts.region.as_deref(), Some("us-east-1"));

    expect(&r, CheckId::Owner, Status::Pass, Severity::Block);
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    expect(&r, CheckId::AclPublic, Status::Pass, Severity::Block);
    expect(&r, CheckId::AclDisabled, Status::Fail, Severity::Warn);
    expect(&r, CheckId::HttpsOnly, Status::Fail, Severity::Warn);
    expect(&r, CheckId::Versioning, Status::Fail, Severity::Warn);
    expect(&r, CheckId::ObjectLock, Status::Fail, Severity::Info);
    expect(&r, CheckId::AccessLogging, Status::Fail, Severity::Info);
    assert_eq!(r.verdict(), Verdict::Warn, "{}", r.render_text());
    assert_eq!(r.to_json()["verdict"], "warn");
}

#[tokio::test]
async fn public_policy_blocks_and_bucket_restrict_public_buckets_neutralizes() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (_env, c) = moto().await;
    let bucket = create_bucket(&c, "public").await;
    put_policy(&c, &bucket, public_read(&bucket)).await;

    let (facts, r) = check(&c, &bucket, &opts()).await;
    assert!(matches!(facts.policy, Fact::Present(_)));
    expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    // moto's own GetBucketPolicyStatus agrees.
    assert_eq!(facts.policy_status, Fact::Present(true));
    expect(&r, CheckId::PolicyStatus, Status::Fail, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Block);
    // exit code 4: tested with the binary below

    c.s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(pab(false, true, false))
        .send()
        .await
        .expect("put bucket public access block");
    let (_, r) = check(&c, &bucket, &opts()).await;
    expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Warn);
    let f = r.finding(CheckId::PolicyPublic).unwrap();
    assert!(f.summary.contains("bucket level"), "{}", f.summary);
}

#[tokio::test]
async fn account_level_restrict_public_buckets_neutralizes() {
    let _alone = ACCOUNT_SETTING.write().await;
    let (_env, c) = moto().await;
    let bucket = create_bucket(&c, "account").await;
    put_policy(&c, &bucket, public_read(&bucket)).await;

    let control = &c.account.s3control;
    control
        .put_public_access_block()
        .account_id(MOTO_ACCOUNT)
        .public_access_block_configuration(
            aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .expect("put account public access block");
    let (facts, r) = check(&c, &bucket, &opts()).await;
    // Restore before asserting, so a failure leaves moto as it was.
    control
        .delete_public_access_block()
        .account_id(MOTO_ACCOUNT)
        .send()
        .await
        .expect("delete account public access block");

    assert!(
        matches!(&facts.account_public_access_block, Fact::Present(p) if p.restrict_public_buckets),
        "{:?}",
        facts.account_public_access_block
    );
    expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Warn);
    let f = r.finding(CheckId::PolicyPublic).unwrap();
    assert!(f.summary.contains("account level"), "{}", f.summary);
    assert!(f.summary.contains("one setting away"), "{}", f.summary);
}

#[tokio::test]
async fn wide_source_ip_blocks_although_aws_calls_it_not_public() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (_env, c) = moto().await;
    let bucket = create_bucket(&c, "cidr").await;
    put_policy(
        &c,
        &bucket,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:GetObject"],
                "Resource": format!("arn:aws:s3:::{bucket}/*"),
                "Condition": {"IpAddress": {"aws:SourceIp": ["0.0.0.0/1"]}}
            }
        }),
    )
    .await;
    // Block Public Access does not help: AWS does not call this policy public.
    c.s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(pab(false, false, true))
        .send()
        .await
        .expect("put bucket public access block");
    let (_, r) = check(&c, &bucket, &opts()).await;
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    expect(&r, CheckId::PolicyWideCidr, Status::Fail, Severity::Block);
    expect(&r, CheckId::PublicAccessBlock, Status::Pass, Severity::Warn);
    assert_eq!(r.verdict(), Verdict::Block);
}

#[tokio::test]
async fn public_acl_blocks_and_ignore_public_acls_neutralizes() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (_env, c) = moto().await;
    let bucket = create_bucket(&c, "acl").await;
    c.s3.put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .expect("put public-read ACL");
    let (facts, r) = check(&c, &bucket, &opts()).await;
    expect(&r, CheckId::AclPublic, Status::Fail, Severity::Block);
    let f = r.finding(CheckId::AclPublic).unwrap();
    assert_eq!(
        f.evidence["public_grants"][0]["grantee"],
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "{facts:?}"
    );
    assert_eq!(r.verdict(), Verdict::Block);

    c.s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(pab(true, false, false))
        .send()
        .await
        .expect("put bucket public access block");
    let (_, r) = check(&c, &bucket, &opts()).await;
    let f = r.finding(CheckId::AclPublic).unwrap();
    // Either moto hides the ignored grant (as S3 does) or s3seal reports it neutralized.
    assert!(
        (f.status, f.severity) == (Status::Fail, Severity::Warn)
            || (f.status, f.severity) == (Status::Pass, Severity::Block),
        "{}",
        f.one_line()
    );
    assert_ne!(r.verdict(), Verdict::Block, "{}", r.render_text());
}

#[tokio::test]
async fn cross_account_write_blocks_unless_trusted() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (_env, c) = moto().await;
    let bucket = create_bucket(&c, "cross").await;
    put_policy(
        &c,
        &bucket,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": format!("arn:aws:s3:::{bucket}/*")
            }]
        }),
    )
    .await;
    let (_, r) = check(&c, &bucket, &opts()).await;
    expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Block);
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);

    let trusted = PostureOptions {
        trusted_accounts: vec!["444455556666".into()],
        ..opts()
    };
    let (_, r) = check(&c, &bucket, &trusted).await;
    expect(&r, CheckId::CrossAccount, Status::Pass, Severity::Block);

    // Without --expected-owner the owner is learned from STS and a probe.
    let (facts, r) = check(&c, &bucket, &PostureOptions::default()).await;
    assert_eq!(facts.owner.probe_caller, Some(posture::facts::Probe::Ok));
    expect(&r, CheckId::Owner, Status::Pass, Severity::Info);
    expect(&r, CheckId::CrossAccount, Status::Fail, Severity::Block);
}

#[tokio::test]
async fn hardened_bucket_is_ok() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (env, c) = moto().await;
    let bucket = unique_bucket("hardened");
    c.s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create bucket with Object Lock");
    let logs = create_bucket(&c, "logs").await;
    c.s3.put_bucket_acl()
        .bucket(&logs)
        .acl(BucketCannedAcl::from("log-delivery-write"))
        .send()
        .await
        .expect("log bucket ACL");

    let arn = format!("arn:aws:s3:::{bucket}");
    put_policy(
        &c,
        &bucket,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "HttpsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [arn, format!("{arn}/*")],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Sid": "KmsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                 "Resource": format!("{arn}/*"),
                 "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
                {"Sid": "App", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{MOTO_ACCOUNT}:role/app")},
                 "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("{arn}/*")}
            ]
        }),
    )
    .await;
    c.s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(pab(false, false, true))
        .send()
        .await
        .expect("public access block");
    c.s3.put_bucket_ownership_controls()
        .bucket(&bucket)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("ownership controls");
    let key = env.kms_key_arn.clone().unwrap_or_else(|| {
        format!("arn:aws:kms:us-east-1:{MOTO_ACCOUNT}:key/00000000-0000-0000-0000-000000000000")
    });
    c.s3.put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(&key)
                                .build()
                                .unwrap(),
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("default encryption");
    c.s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    c.s3.put_bucket_logging()
        .bucket(&bucket)
        .bucket_logging_status(
            BucketLoggingStatus::builder()
                .logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket(&logs)
                        .target_prefix(format!("{bucket}/"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("logging");

    let (facts, r) = check(&c, &bucket, &opts()).await;
    for check in [
        CheckId::Owner,
        CheckId::PublicAccessBlock,
        CheckId::PolicyPublic,
        CheckId::PolicyWideCidr,
        CheckId::PolicyStatus,
        CheckId::AclPublic,
        CheckId::AclDisabled,
        CheckId::HttpsOnly,
        CheckId::CrossAccount,
        CheckId::DefaultEncryption,
        CheckId::SseKmsRequired,
        CheckId::ObjectLock,
        CheckId::AccessLogging,
    ] {
        let f = r.finding(check).unwrap();
        assert_eq!(f.status, Status::Pass, "{}\n{facts:#?}", f.one_line());
    }
    // moto does not return MFADelete: versioning on, MFA delete unknown to moto = info.
    expect(&r, CheckId::Versioning, Status::Fail, Severity::Info);
    assert_eq!(r.verdict(), Verdict::Ok, "{}", r.render_text());
    // exit code 0: tested with the binary below
    let text = r.render_text();
    assert!(text.contains(&format!("s3://{logs}/{bucket}/")), "{text}");
    assert!(text.contains(&key), "{text}");
}

#[tokio::test]
async fn missing_bucket_blocks() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (_env, c) = moto().await;
    let bucket = unique_bucket("missing");
    let (facts, r) = check(&c, &bucket, &opts()).await;
    expect(&r, CheckId::Owner, Status::Fail, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Block);
    // Every read failed with NoSuchBucket: unknown, no permission named.
    assert_eq!(facts.policy.unreadable().unwrap().error, "NoSuchBucket");
    expect(&r, CheckId::PolicyPublic, Status::Unknown, Severity::Block);
    assert_eq!(
        r.finding(CheckId::PolicyPublic).unwrap().missing_permission,
        None
    );
}

/// A moto process of this test only, killed when dropped.
struct PrivateMoto {
    child: Child,
    endpoint: String,
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_private_moto(env: &TestEnv, no_auth_requests: u32) -> PrivateMoto {
    let venv = env
        .venv
        .clone()
        .expect("S3SEAL_TEST_VENV is not set: run scripts/test.sh");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tls_dir = env.ca.parent().expect("CA directory").to_path_buf();
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("posture-moto-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("moto log");
    let child = Command::new(venv.join("bin/python"))
        .arg(root.join("scripts/moto_launcher.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .arg("-c")
        .arg(tls_dir.join("server.pem"))
        .arg("-k")
        .arg(tls_dir.join("server.key"))
        .env("INITIAL_NO_AUTH_ACTION_COUNT", no_auth_requests.to_string())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start moto");
    let mut moto = PrivateMoto {
        child,
        endpoint: format!("https://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = moto.child.try_wait() {
            panic!("private moto exited ({status}); see {}", log_path.display());
        }
        assert!(
            Instant::now() < deadline,
            "private moto did not start; see {}",
            log_path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

#[tokio::test]
async fn access_denied_is_unknown_and_names_the_permission() {
    let env = test_env();
    let moto = start_private_moto(&env, 8);
    let bucket = unique_bucket("denied");
    let setup = Command::new(env.venv.clone().unwrap().join("bin/python"))
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/posture/moto_denied_setup.py"),
        )
        .arg(&moto.endpoint)
        .arg(&env.ca)
        .arg(&bucket)
        .output()
        .expect("run moto_denied_setup.py");
    assert!(
        setup.status.success(),
        "setup failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let key: serde_json::Value = serde_json::from_slice(&setup.stdout).expect("key JSON");
    let sdk = sdk_config(
        &moto.endpoint,
        &env.ca,
        key["access_key_id"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    )
    .await;
    let c = clients(&sdk);
    let (facts, r) = check(&c, &bucket, &opts()).await;

    // The bucket has a public policy; the reader cannot see it: unknown, never pass.
    let unreadable = facts
        .policy
        .unreadable()
        .expect("policy must be unreadable");
    assert!(unreadable.access_denied, "{unreadable:?}");
    assert_eq!(unreadable.permission, "s3:GetBucketPolicy");
    for check in [
        CheckId::PolicyPublic,
        CheckId::PolicyWideCidr,
        CheckId::CrossAccount,
    ] {
        let f = r.finding(check).unwrap();
        assert_eq!(f.status, Status::Unknown, "{}", f.one_line());
        assert_eq!(f.severity, Severity::Block);
        assert_eq!(f.missing_permission.as_deref(), Some("s3:GetBucketPolicy"));
    }
    // Other reads went on with the same identity.
    assert!(facts.acl.is_known(), "{:?}", facts.acl);
    assert!(facts.versioning.is_known(), "{:?}", facts.versioning);
    expect(&r, CheckId::AclPublic, Status::Pass, Severity::Block);
    // moto's own status still says public: the verdict is block, never ok.
    assert_ne!(r.verdict(), Verdict::Ok);
    let json = r.to_json();
    let public = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "policy-public")
        .unwrap();
    assert_eq!(public["status"], "unknown");
    assert_eq!(public["missing_permission"], "s3:GetBucketPolicy");
    drop(moto);
}

//! End-to-end posture tests against moto over TLS: real configurations applied through the
//! AWS SDK, then `posture::gather` + `posture::evaluate` and their findings, and the real
//! `s3seal posture` binary with its exit codes (4 block, 5 warn, 6 unknown against the
//! s3s-based server, which does not implement the bucket-configuration reads). Configured by
//! the variables that `scripts/local-aws.sh start` writes to `.local-aws/env` (run
//! everything with `scripts/test.sh`). Each test makes its own uniquely named buckets; the
//! clients are the library's own (`s3seal::aws::connect`).
//!
//! moto ignores `ExpectedBucketOwner`, never evaluates policy conditions and does not return
//! MFADelete; those decisions are covered by `tests/posture_rules.rs`.

mod common;

use aws_sdk_s3::types::{
    BucketCannedAcl, BucketLoggingStatus, BucketVersioningStatus, LoggingEnabled, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use common::{Target, env, s3seal};
use s3seal::aws::AwsSettings;
use s3seal::posture::{
    self, AccountClients, BucketFacts, CheckId, Fact, Finding, PostureOptions, Report, Severity,
    Status, Verdict,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// moto's default account.
const MOTO_ACCOUNT: &str = "123456789012";

/// The account-level Block Public Access setting is shared by every bucket of the moto
/// account: the test that changes it runs alone (write lock), the others take a read lock.
static ACCOUNT_SETTING: RwLock<()> = RwLock::const_new(());

/// The Python of the local servers' virtualenv (for a private moto and its setup script).
fn venv_python() -> PathBuf {
    let venv = std::env::var("S3SEAL_TEST_VENV")
        .expect("S3SEAL_TEST_VENV is not set: run scripts/test.sh");
    PathBuf::from(venv).join("bin/python")
}

struct Clients {
    s3: aws_sdk_s3::Client,
    account: AccountClients,
}

/// The library's clients for `endpoint`, trusting the test CA, signing with this key.
async fn clients(endpoint: &str, key: &str, secret: &str) -> Clients {
    let aws = s3seal::aws::connect(&AwsSettings {
        endpoint_url: Some(endpoint.to_string()),
        ca_bundle: Some(env().ca.clone()),
        region: Some("us-east-1".into()),
        profile: None,
    })
    .await
    .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    let creds = aws_credential_types::Credentials::new(key, secret, None, None, "posture-e2e");
    let s3_conf = aws
        .s3
        .config()
        .to_builder()
        .credentials_provider(creds.clone());
    let sdk = aws
        .config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .build();
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3_conf.build()),
        account: AccountClients::from_conf(&sdk),
    }
}

async fn moto() -> Clients {
    clients(&env().moto, "test", "test").await
}

/// moto's clients and a new bucket named after `tag`.
async fn fresh(tag: &str) -> (Clients, String) {
    let c = moto().await;
    let bucket = create_bucket(&c, tag).await;
    (c, bucket)
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
fn expect(r: &Report, check: CheckId, status: Status, severity: Severity) -> &Finding {
    let f = r.finding(check).expect("finding");
    let text = r.render_text();
    assert_eq!(
        (f.status, f.severity),
        (status, severity),
        "{check}: {}\n{text}",
        f.one_line()
    );
    f
}

/// Sends one bucket-configuration request, `configure!(c, bucket, operation.setting(value))`;
/// a refusal fails the test, naming the operation.
macro_rules! configure {
    ($c:expr, $bucket:expr, $operation:ident . $setting:ident($value:expr)) => {
        $c.s3
            .$operation()
            .bucket($bucket)
            .$setting($value)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} on {}: {e:?}", stringify!($operation), $bucket))
    };
}

async fn put_policy(c: &Clients, bucket: &str, policy: Value) {
    configure!(c, bucket, put_bucket_policy.policy(policy.to_string()));
}

fn public_read(bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")
        }]
    })
}

/// Sets the bucket's Block Public Access: `all` four settings, or only IgnorePublicAcls
/// (`ignore_acls`) and RestrictPublicBuckets (`restrict`).
async fn put_pab(c: &Clients, bucket: &str, ignore_acls: bool, restrict: bool, all: bool) {
    let config = PublicAccessBlockConfiguration::builder()
        .block_public_acls(all)
        .ignore_public_acls(all || ignore_acls)
        .block_public_policy(all)
        .restrict_public_buckets(all || restrict)
        .build();
    configure!(
        c,
        bucket,
        put_public_access_block.public_access_block_configuration(config)
    );
}

async fn put_acl(c: &Clients, bucket: &str, acl: BucketCannedAcl) {
    configure!(c, bucket, put_bucket_acl.acl(acl));
}

/// Runs `s3seal posture s3://BUCKET --json` against `target`; checks the exit code and the
/// verdict and exit code of the JSON document, and returns the document.
fn posture_json(target: Target, bucket: &str, code: i32, verdict: &str) -> Value {
    let out = s3seal(target)
        .args(["posture", &format!("s3://{bucket}"), "--json"])
        .assert()
        .code(code);
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("one JSON document");
    assert_eq!(doc["bucket"], bucket);
    assert_eq!(doc["verdict"], verdict, "{doc:#}");
    assert_eq!(doc["exit_code"], code);
    doc
}

#[tokio::test]
async fn fresh_bucket_every_read_succeeds_and_absent_settings_are_facts() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (c, bucket) = fresh("fresh").await;
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

    for (check, status, severity) in [
        (CheckId::Owner, Status::Pass, Severity::Block),
        (CheckId::PolicyPublic, Status::Pass, Severity::Block),
        (CheckId::AclPublic, Status::Pass, Severity::Block),
        (CheckId::AclDisabled, Status::Fail, Severity::Warn),
        (CheckId::HttpsOnly, Status::Fail, Severity::Warn),
        (CheckId::Versioning, Status::Fail, Severity::Warn),
        (CheckId::ObjectLock, Status::Fail, Severity::Info),
        (CheckId::AccessLogging, Status::Fail, Severity::Info),
    ] {
        expect(&r, check, status, severity);
    }
    assert_eq!(r.verdict(), Verdict::Warn, "{}", r.render_text());
    assert_eq!(r.to_json()["verdict"], "warn");
}

/// Runs `s3seal posture` on `bucket` with and without `--json`: it exits `code`, the
/// document says `verdict` and `check` has `status`, and the text says the verdict.
fn cli_verdict(target: Target, bucket: &str, code: i32, verdict: &str, check: &str, status: &str) {
    let doc = posture_json(target, bucket, code, verdict);
    let findings = doc["findings"].as_array().unwrap();
    let finding = findings.iter().find(|f| f["check"] == check).unwrap();
    assert_eq!(finding["status"], status, "{finding:#}");
    let heading = format!("verdict {}", verdict.to_uppercase());
    s3seal(target)
        .args(["posture", &format!("s3://{bucket}")])
        .assert()
        .code(code)
        .stdout(predicates::str::contains(heading));
}

#[tokio::test]
async fn cli_exits_5_for_a_warn_verdict() {
    let _shared = ACCOUNT_SETTING.read().await;
    // A bucket without versioning, Block Public Access or HTTPS enforcement, and nothing
    // public: warn.
    let (_, bucket) = fresh("cli-warn").await;
    cli_verdict(Target::Moto, &bucket, 5, "warn", "versioning", "fail");
}

#[test]
fn cli_exits_6_for_an_unknown_verdict() {
    // The s3s-based server does not implement the bucket-configuration reads: every check on
    // them is unknown, never pass, and the verdict is unknown.
    let bucket = &env().bucket;
    cli_verdict(
        Target::S3s,
        bucket,
        6,
        "unknown",
        "policy-public",
        "unknown",
    );
}

#[tokio::test]
async fn public_policy_blocks_and_bucket_restrict_public_buckets_neutralizes() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (c, bucket) = fresh("public").await;
    put_policy(&c, &bucket, public_read(&bucket)).await;

    let (facts, r) = check(&c, &bucket, &opts()).await;
    assert!(matches!(facts.policy, Fact::Present(_)));
    expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Block);
    // moto's own GetBucketPolicyStatus agrees.
    assert_eq!(facts.policy_status, Fact::Present(true));
    expect(&r, CheckId::PolicyStatus, Status::Fail, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Block);
    // The binary exits 4 for it.
    posture_json(Target::Moto, &bucket, 4, "block");

    put_pab(&c, &bucket, false, true, false).await;
    let (_, r) = check(&c, &bucket, &opts()).await;
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Warn);
    assert!(f.summary.contains("bucket level"), "{}", f.summary);
}

#[tokio::test]
async fn account_level_restrict_public_buckets_neutralizes() {
    let _alone = ACCOUNT_SETTING.write().await;
    let (c, bucket) = fresh("account").await;
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
    let f = expect(&r, CheckId::PolicyPublic, Status::Fail, Severity::Warn);
    assert!(f.summary.contains("account level"), "{}", f.summary);
    assert!(f.summary.contains("one setting away"), "{}", f.summary);
}

#[tokio::test]
async fn wide_source_ip_blocks_although_aws_calls_it_not_public() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (c, bucket) = fresh("cidr").await;
    let statement = json!({
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:GetObject"],
        "Resource": format!("arn:aws:s3:::{bucket}/*"),
        "Condition": {"IpAddress": {"aws:SourceIp": ["0.0.0.0/1"]}}
    });
    put_policy(
        &c,
        &bucket,
        json!({"Version": "2012-10-17", "Statement": statement}),
    )
    .await;
    // Block Public Access does not help: AWS does not call this policy public.
    put_pab(&c, &bucket, false, false, true).await;
    let (_, r) = check(&c, &bucket, &opts()).await;
    expect(&r, CheckId::PolicyPublic, Status::Pass, Severity::Block);
    expect(&r, CheckId::PolicyWideCidr, Status::Fail, Severity::Block);
    expect(&r, CheckId::PublicAccessBlock, Status::Pass, Severity::Warn);
    assert_eq!(r.verdict(), Verdict::Block);
}

#[tokio::test]
async fn public_acl_blocks_and_ignore_public_acls_neutralizes() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (c, bucket) = fresh("acl").await;
    put_acl(&c, &bucket, BucketCannedAcl::PublicRead).await;
    let (facts, r) = check(&c, &bucket, &opts()).await;
    let f = expect(&r, CheckId::AclPublic, Status::Fail, Severity::Block);
    assert_eq!(
        f.evidence["public_grants"][0]["grantee"],
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "{facts:?}"
    );
    assert_eq!(r.verdict(), Verdict::Block);

    put_pab(&c, &bucket, true, false, false).await;
    let (_, r) = check(&c, &bucket, &opts()).await;
    let f = r.finding(CheckId::AclPublic).unwrap();
    // Either moto hides the ignored grant (as S3 does) or s3seal reports it neutralized.
    let got = (f.status, f.severity);
    assert!(
        got == (Status::Fail, Severity::Warn) || got == (Status::Pass, Severity::Block),
        "{}",
        f.one_line()
    );
    assert_ne!(r.verdict(), Verdict::Block, "{}", r.render_text());
}

#[tokio::test]
async fn cross_account_write_blocks_unless_trusted() {
    let _shared = ACCOUNT_SETTING.read().await;
    let (c, bucket) = fresh("cross").await;
    let statement = json!({
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": format!("arn:aws:s3:::{bucket}/*")
    });
    put_policy(
        &c,
        &bucket,
        json!({"Version": "2012-10-17", "Statement": [statement]}),
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

/// Configures `bucket` (made with Object Lock) as a hardened bucket: HTTPS and KMS required
/// by policy, Block Public Access, ACLs disabled, default SSE-KMS with `key`, versioning and
/// access logs to `logs`.
async fn harden(c: &Clients, bucket: &str, logs: &str, key: &str) {
    let arn = format!("arn:aws:s3:::{bucket}");
    let statements = json!([
        {"Sid": "HttpsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [arn, format!("{arn}/*")],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "KmsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": format!("{arn}/*"),
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
        {"Sid": "App", "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{MOTO_ACCOUNT}:role/app")},
         "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("{arn}/*")}
    ]);
    put_policy(
        c,
        bucket,
        json!({"Version": "2012-10-17", "Statement": statements}),
    )
    .await;
    put_pab(c, bucket, false, false, true).await;
    let enforced = OwnershipControlsRule::builder()
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .build()
        .unwrap();
    let ownership = OwnershipControls::builder()
        .rules(enforced)
        .build()
        .unwrap();
    configure!(
        c,
        bucket,
        put_bucket_ownership_controls.ownership_controls(ownership)
    );
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(key)
        .build()
        .unwrap();
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .bucket_key_enabled(true)
        .build();
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .unwrap();
    configure!(
        c,
        bucket,
        put_bucket_encryption.server_side_encryption_configuration(encryption)
    );
    let enabled = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    configure!(
        c,
        bucket,
        put_bucket_versioning.versioning_configuration(enabled)
    );
    let target = LoggingEnabled::builder()
        .target_bucket(logs)
        .target_prefix(format!("{bucket}/"))
        .build()
        .unwrap();
    let logging = BucketLoggingStatus::builder()
        .logging_enabled(target)
        .build();
    configure!(c, bucket, put_bucket_logging.bucket_logging_status(logging));
}

#[tokio::test]
async fn hardened_bucket_is_ok() {
    let _shared = ACCOUNT_SETTING.read().await;
    let c = moto().await;
    let bucket = unique_bucket("hardened");
    c.s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create bucket with Object Lock");
    let logs = create_bucket(&c, "logs").await;
    put_acl(&c, &logs, BucketCannedAcl::from("log-delivery-write")).await;
    let key = env().kms_arn.clone();
    harden(&c, &bucket, &logs, &key).await;

    let (facts, r) = check(&c, &bucket, &opts()).await;
    // moto does not return MFADelete: versioning on, MFA delete unknown to moto = info.
    for check in CheckId::ALL
        .into_iter()
        .filter(|c| *c != CheckId::Versioning)
    {
        let f = r.finding(check).unwrap();
        assert_eq!(f.status, Status::Pass, "{}\n{facts:#?}", f.one_line());
    }
    expect(&r, CheckId::Versioning, Status::Fail, Severity::Info);
    assert_eq!(r.verdict(), Verdict::Ok, "{}", r.render_text());
    let text = r.render_text();
    assert!(text.contains(&format!("s3://{logs}/{bucket}/")), "{text}");
    assert!(text.contains(&key), "{text}");
    // The binary exits 0 for it.
    posture_json(Target::Moto, &bucket, 0, "ok");
}

#[tokio::test]
async fn missing_bucket_blocks() {
    let _shared = ACCOUNT_SETTING.read().await;
    let c = moto().await;
    let bucket = unique_bucket("missing");
    let (facts, r) = check(&c, &bucket, &opts()).await;
    expect(&r, CheckId::Owner, Status::Fail, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Block);
    // Every read failed with NoSuchBucket: unknown, no permission named.
    assert_eq!(facts.policy.unreadable().unwrap().error, "NoSuchBucket");
    let f = expect(&r, CheckId::PolicyPublic, Status::Unknown, Severity::Block);
    assert_eq!(f.missing_permission, None);
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

fn start_private_moto(no_auth_requests: u32) -> PrivateMoto {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tls_dir = env().ca.parent().expect("CA directory").to_path_buf();
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("posture-moto-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("moto log");
    let child = Command::new(venv_python())
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
        let log = log_path.display();
        assert!(
            Instant::now() < deadline,
            "private moto did not start; see {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

#[tokio::test]
async fn access_denied_is_unknown_and_names_the_permission() {
    let moto = start_private_moto(8);
    let bucket = unique_bucket("denied");
    let setup = Command::new(venv_python())
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/posture/moto_denied_setup.py"),
        )
        .arg(&moto.endpoint)
        .arg(&env().ca)
        .arg(&bucket)
        .output()
        .expect("run moto_denied_setup.py");
    let stderr = String::from_utf8_lossy(&setup.stderr);
    assert!(setup.status.success(), "setup failed: {stderr}");
    let key: Value = serde_json::from_slice(&setup.stdout).expect("key JSON");
    let (id, secret) = (key["access_key_id"].as_str(), key["secret"].as_str());
    let c = clients(&moto.endpoint, id.unwrap(), secret.unwrap()).await;
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
        let f = expect(&r, check, Status::Unknown, Severity::Block);
        assert_eq!(f.missing_permission.as_deref(), Some("s3:GetBucketPolicy"));
    }
    // Other reads went on with the same identity.
    assert!(facts.acl.is_known(), "{:?}", facts.acl);
    assert!(facts.versioning.is_known(), "{:?}", facts.versioning);
    expect(&r, CheckId::AclPublic, Status::Pass, Severity::Block);
    // moto's own status still says public: the verdict is block.
    expect(&r, CheckId::PolicyStatus, Status::Fail, Severity::Block);
    assert_eq!(r.verdict(), Verdict::Block, "{}", r.render_text());
    let json = r.to_json();
    let findings = json["findings"].as_array().unwrap();
    let public = findings.iter().find(|f| f["check"] == "policy-public");
    assert_eq!(public.unwrap()["status"], "unknown");
    assert_eq!(public.unwrap()["missing_permission"], "s3:GetBucketPolicy");
    drop(moto);
}

//! What S3 really stored, asked directly with SDK clients that the library's own client code
//! builds (`s3seal::aws::connect`, the same TLS setup and CA bundle as the binary): raw bytes,
//! metadata, HEAD, open multipart uploads; and the raw writes that tamper with an object.
//!
//! [`Store`] is synchronous (it owns a runtime), so a test reads as a list of steps; the clients
//! are in `store.aws` for the rest (KMS calls, the library's upload) through
//! [`Store::block_on`].

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_s3::config::Intercept;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::MultipartUpload;

use super::env;

/// SDK clients for moto (S3 and KMS).
pub async fn moto_aws() -> s3seal::aws::Aws {
    let e = env();
    s3seal::aws::connect(&s3seal::aws::AwsSettings {
        endpoint_url: Some(e.moto.clone()),
        ca_bundle: Some(e.ca.clone()),
        region: Some("us-east-1".into()),
        profile: None,
    })
    .await
    .expect("connect to moto")
}

/// SDK clients with S3 on the s3s-based server (its own credentials) and KMS on moto: the moto
/// clients, re-pointed, so the TLS setup is still the library's.
pub async fn s3s_aws() -> s3seal::aws::Aws {
    let e = env();
    let mut aws = moto_aws().await;
    let config = aws
        .s3
        .config()
        .to_builder()
        .endpoint_url(&e.s3s)
        .credentials_provider(aws_credential_types::Credentials::new(
            &e.s3s_access_key,
            &e.s3s_secret_key,
            None,
            None,
            "s3seal-tests",
        ))
        .build();
    aws.s3 = aws_sdk_s3::Client::from_conf(config);
    aws
}

/// The same clients, with `interceptor` watching every S3 request.
pub fn with_interceptor(
    mut aws: s3seal::aws::Aws, interceptor: impl Intercept + 'static,
) -> s3seal::aws::Aws {
    let config = aws
        .s3
        .config()
        .to_builder()
        .interceptor(interceptor)
        .build();
    aws.s3 = aws_sdk_s3::Client::from_conf(config);
    aws
}

/// The test bucket.
fn bucket() -> &'static str {
    &env().bucket
}

/// A server's S3 (and KMS), asked synchronously.
pub struct Store {
    rt: tokio::runtime::Runtime,
    pub aws: s3seal::aws::Aws,
}

impl Store {
    /// moto, where most tests store their objects.
    pub fn moto() -> Store {
        let rt = super::rt();
        let aws = rt.block_on(moto_aws());
        Store { rt, aws }
    }

    /// The s3s-based server (which checks SigV4 and checksums).
    pub fn s3s() -> Store {
        let rt = super::rt();
        let aws = rt.block_on(s3s_aws());
        Store { rt, aws }
    }

    /// Runs the async part of a test (use `self.aws` inside).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Creates `bucket` with Object Lock enabled (an existing one is left as it is).
    pub fn create_object_lock_bucket(&self, bucket: &str) {
        let _ = self.rt.block_on(
            self.aws
                .s3
                .create_bucket()
                .bucket(bucket)
                .object_lock_enabled_for_bucket(true)
                .send(),
        );
    }

    /// The stored bytes of `key`, as S3 has them.
    pub fn get_raw(&self, key: &str) -> Vec<u8> {
        self.rt.block_on(async {
            let out = self.aws.s3.get_object().bucket(bucket()).key(key).send();
            let body = out.await.expect("raw GetObject").body.collect().await;
            body.expect("body").to_vec()
        })
    }

    /// Stores `bytes` at `key` with a plain PutObject.
    pub fn put_raw(&self, key: &str, bytes: Vec<u8>) {
        self.put_with_metadata(key, bytes, HashMap::new());
    }

    /// Stores `body` with user `metadata` at `key` (a plain PutObject).
    pub fn put_with_metadata(&self, key: &str, body: Vec<u8>, metadata: HashMap<String, String>) {
        let put = self.aws.s3.put_object().bucket(bucket()).key(key);
        let put = put.body(body.into()).set_metadata(Some(metadata));
        self.rt.block_on(put.send()).expect("raw PutObject");
    }

    /// Rewrites the stored bytes of `key` through `f`; returns what was stored.
    pub fn tamper(&self, key: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut stored = self.get_raw(key);
        f(&mut stored);
        self.put_raw(key, stored.clone());
        stored
    }

    /// HEAD of `key` (`None`: no object, or HeadObject failed).
    pub fn head(&self, key: &str) -> Option<HeadObjectOutput> {
        let head = self.aws.s3.head_object().bucket(bucket()).key(key);
        self.rt.block_on(head.send()).ok()
    }

    /// Whether there is an object at `key`.
    pub fn exists(&self, key: &str) -> bool {
        self.head(key).is_some()
    }

    /// The user metadata of `key`.
    pub fn metadata(&self, key: &str) -> HashMap<String, String> {
        let head = self.head(key).expect("HeadObject");
        head.metadata().cloned().unwrap_or_default()
    }

    /// Multipart uploads still open under `key` (a prefix) in `bucket`.
    pub fn uploads_in(&self, bucket: &str, key: &str) -> Vec<MultipartUpload> {
        let list = self.aws.s3.list_multipart_uploads().bucket(bucket);
        let list = self.rt.block_on(list.prefix(key).send());
        list.expect("ListMultipartUploads").uploads().to_vec()
    }

    /// Multipart uploads still open under `key` in the test bucket.
    pub fn open_uploads(&self, key: &str) -> usize {
        self.uploads_in(bucket(), key).len()
    }

    /// Aborts every multipart upload under `key` (test cleanup).
    pub fn abort_all(&self, key: &str) {
        for u in self.uploads_in(bucket(), key) {
            let abort = self.aws.s3.abort_multipart_upload().bucket(bucket());
            let abort = abort.key(u.key().unwrap_or(key));
            let _ = self
                .rt
                .block_on(abort.upload_id(u.upload_id().unwrap_or_default()).send());
        }
    }

    /// Deletes `key` (moto keeps objects in memory: give the bytes back).
    pub fn delete(&self, key: &str) {
        let delete = self.aws.s3.delete_object().bucket(bucket()).key(key);
        self.rt.block_on(delete.send()).expect("DeleteObject");
    }

    /// A server-side copy of `from` to `to` (a relocated object).
    pub fn copy(&self, from: &str, to: &str) {
        let copy = self.aws.s3.copy_object().bucket(bucket()).key(to);
        let copy = copy.copy_source(format!("{}/{from}", bucket()));
        self.rt.block_on(copy.send()).expect("CopyObject");
    }

    /// Creates `bucket` (if need be) with a policy that lets anyone read its objects: what the
    /// posture check must block.
    pub fn public_bucket(&self, bucket: &str) {
        let _ = self
            .rt
            .block_on(self.aws.s3.create_bucket().bucket(bucket).send());
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": format!("arn:aws:s3:::{bucket}/*")}]
        });
        let put = self.aws.s3.put_bucket_policy().bucket(bucket);
        let put = put.policy(policy.to_string()).send();
        self.rt.block_on(put).expect("PutBucketPolicy");
    }

    /// How many objects `bucket` holds (ListObjectsV2's KeyCount).
    pub fn key_count(&self, bucket: &str) -> Option<i32> {
        let list = self.aws.s3.list_objects_v2().bucket(bucket).send();
        self.rt.block_on(list).expect("ListObjectsV2").key_count()
    }

    /// Unwraps the data key of the raw s3seal object `stored` with KMS (optionally naming the
    /// KMS key), the way anyone with KMS access could.
    pub fn unwrap_data_key(&self, stored: &[u8], key_id: Option<&str>) -> Result<Vec<u8>, String> {
        let header = s3seal::format::ParsedHeader::parse(stored).expect("an s3seal header");
        let blob = aws_sdk_kms::primitives::Blob::new(header.fields.wrapped_key.clone());
        let decrypt = self
            .aws
            .kms
            .decrypt()
            .set_key_id(key_id.map(str::to_string));
        let decrypt = decrypt
            .ciphertext_blob(blob)
            .set_encryption_context(Some(header.fields.context.to_map()));
        let out = self
            .rt
            .block_on(decrypt.send())
            .map_err(|e| format!("{e:?}"))?;
        Ok(out.plaintext().expect("plaintext").as_ref().to_vec())
    }
}

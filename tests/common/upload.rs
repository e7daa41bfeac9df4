//! The library's upload called directly, for what the binary cannot show: a source that fails
//! half-way, and the requests that go over the wire.

use std::sync::Arc;

use s3seal::transfer::upload::{Source, UploadOutcome, UploadRequest};

use super::env;

/// Uploads `source` to `key` in the test bucket under the test KMS alias, no extra context.
pub async fn upload_stream(
    aws: &s3seal::aws::Aws, key: &str, source: Box<dyn std::io::Read + Send>,
    chunk_size: s3seal::format::ChunkSize, part_size: u64,
) -> s3seal::Result<UploadOutcome> {
    let request = UploadRequest {
        settings: Default::default(),
        dest: s3seal::location::ObjectLocation {
            bucket: env().bucket.clone(),
            key: key.to_string(),
        },
        kms_key_id: env().kms_alias.clone(),
        sse_kms_key_id: None,
        context: vec![],
        chunk_size,
        part_size,
        concurrency: 2,
        if_match: None,
        stream_put_max: 0,
    };
    let keyring = s3seal::kms::KmsKeyring::new(aws.kms.clone());
    let store = Arc::new(s3seal::store::SdkStore::new(aws.s3.clone(), None));
    s3seal::transfer::upload::upload(
        store,
        &keyring,
        Source::Stream(source),
        &request,
        Arc::new(s3seal::transfer::NoProgress),
        s3seal::transfer::Cancel::never(),
    )
    .await
}

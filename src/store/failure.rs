//! [`FailureStore`]: wraps any [`ObjectStore`] and fails, or stalls, the Nth call of a kind,
//! so the pipelines' promises ("a failed part aborts the upload and returns the original
//! error", "a broken ranged read is retried", "Ctrl-C aborts") are unit tests without a
//! server. It also counts calls, so a test can assert that an abort was sent.
//! Network-level faults (resets, stalls mid-body, TLS) stay with the proxy tests.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    CopySource, ObjectHead, ObjectPage, ObjectStore, PartInfo, PartReceipt, PutReceipt, RangeMeta,
    StoreError, StoreResult, UploadInfo, WriteOptions,
};
use crate::error::Error;
use crate::location::ObjectLocation;

/// The kinds of object call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    GetRange,
    Head,
    PutObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListMultipartUploads,
    ListParts,
    ListObjects,
    DeleteObject,
    GetObjectTagging,
}

/// What happens to a call that a rule hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails as a transient failure would (no answer, broken body).
    Transient,
    /// Fails as a refusal by the server (HTTP 500 after the SDK's retries).
    Permanent,
    /// Never answers (until the caller gives up or is cancelled).
    Stall,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    call: Call,
    /// 1-based number of the first call of this kind that is hit.
    nth: u32,
    /// How many calls in a row are hit.
    times: u32,
    fault: Fault,
}

/// A store that fails on purpose.
#[derive(Debug)]
pub struct FailureStore<S> {
    inner: S,
    rules: Vec<Rule>,
    calls: Mutex<HashMap<Call, u32>>,
}

impl<S: ObjectStore> FailureStore<S> {
    pub fn new(inner: S) -> Self {
        FailureStore {
            inner,
            rules: Vec::new(),
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// Hits the `nth` call of kind `call` (1-based) and the `times - 1` after it with `fault`.
    pub fn fault(mut self, call: Call, nth: u32, times: u32, fault: Fault) -> Self {
        self.rules.push(Rule {
            call,
            nth,
            times,
            fault,
        });
        self
    }

    /// How many calls of kind `call` were made (hit or not).
    pub fn calls(&self, call: Call) -> u32 {
        *self
            .calls
            .lock()
            .expect("calls lock")
            .get(&call)
            .unwrap_or(&0)
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Counts the call and applies the first rule that hits it.
    async fn before(&self, call: Call) -> StoreResult<()> {
        let n = {
            let mut calls = self.calls.lock().expect("calls lock");
            let n = calls.entry(call).or_insert(0);
            *n += 1;
            *n
        };
        let hit = self
            .rules
            .iter()
            .find(|r| r.call == call && (r.nth..r.nth + r.times).contains(&n));
        match hit.map(|r| r.fault) {
            None => Ok(()),
            Some(Fault::Transient) => Err(StoreError::transient(Error::runtime(format!(
                "injected transient failure of {call:?} #{n}"
            )))),
            Some(Fault::Permanent) => Err(StoreError::answered(
                Error::runtime(format!("injected failure of {call:?} #{n}")),
                500,
                "InternalError",
            )),
            Some(Fault::Stall) => std::future::pending().await,
        }
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for FailureStore<S> {
    async fn get_range(
        &self,
        location: &ObjectLocation,
        range: Range<u64>,
        if_match: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> StoreResult<RangeMeta> {
        self.before(Call::GetRange).await?;
        self.inner.get_range(location, range, if_match, buf).await
    }

    async fn head(&self, location: &ObjectLocation) -> StoreResult<ObjectHead> {
        self.before(Call::Head).await?;
        self.inner.head(location).await
    }

    async fn put_object(
        &self,
        location: &ObjectLocation,
        body: Bytes,
        options: &WriteOptions,
    ) -> StoreResult<PutReceipt> {
        self.before(Call::PutObject).await?;
        self.inner.put_object(location, body, options).await
    }

    async fn create_multipart_upload(
        &self,
        location: &ObjectLocation,
        options: &WriteOptions,
    ) -> StoreResult<String> {
        self.before(Call::CreateMultipartUpload).await?;
        self.inner.create_multipart_upload(location, options).await
    }

    async fn upload_part(
        &self,
        location: &ObjectLocation,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> StoreResult<PartReceipt> {
        self.before(Call::UploadPart).await?;
        self.inner
            .upload_part(location, upload_id, number, body)
            .await
    }

    async fn upload_part_copy(
        &self,
        location: &ObjectLocation,
        upload_id: &str,
        number: u32,
        source: &CopySource,
    ) -> StoreResult<PartReceipt> {
        self.before(Call::UploadPartCopy).await?;
        self.inner
            .upload_part_copy(location, upload_id, number, source)
            .await
    }

    async fn complete_multipart_upload(
        &self,
        location: &ObjectLocation,
        upload_id: &str,
        parts: &[PartReceipt],
        if_match: Option<&str>,
    ) -> StoreResult<PutReceipt> {
        self.before(Call::CompleteMultipartUpload).await?;
        self.inner
            .complete_multipart_upload(location, upload_id, parts, if_match)
            .await
    }

    async fn abort_multipart_upload(
        &self,
        location: &ObjectLocation,
        upload_id: &str,
    ) -> StoreResult<()> {
        self.before(Call::AbortMultipartUpload).await?;
        self.inner.abort_multipart_upload(location, upload_id).await
    }

    async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> StoreResult<Vec<UploadInfo>> {
        self.before(Call::ListMultipartUploads).await?;
        self.inner.list_multipart_uploads(bucket, prefix).await
    }

    async fn list_parts(
        &self,
        location: &ObjectLocation,
        upload_id: &str,
        max_parts: Option<u32>,
    ) -> StoreResult<Vec<PartInfo>> {
        self.before(Call::ListParts).await?;
        self.inner.list_parts(location, upload_id, max_parts).await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
    ) -> StoreResult<ObjectPage> {
        self.before(Call::ListObjects).await?;
        self.inner.list_objects(bucket, prefix, continuation).await
    }

    async fn delete_object(&self, location: &ObjectLocation) -> StoreResult<()> {
        self.before(Call::DeleteObject).await?;
        self.inner.delete_object(location).await
    }

    async fn get_object_tagging(
        &self,
        location: &ObjectLocation,
    ) -> StoreResult<Vec<(String, String)>> {
        self.before(Call::GetObjectTagging).await?;
        self.inner.get_object_tagging(location).await
    }
}

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
    ChannelBody, CopySource, ObjectHead, ObjectPage, ObjectStore, PartInfo, PartReceipt,
    PutReceipt, RangeBody, RangeMeta, StoreError, StoreResult, UploadInfo, WriteOptions,
};
use crate::error::Error;
use crate::location::ObjectLocation;

/// The kinds of object call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    GetRange,
    Head,
    PutObject,
    /// A streamed PutObject; a fault hits it after the first piece of its body was sent (a
    /// connection that broke mid-body); a stalled one keeps its body after the caller gave up.
    PutObjectStream,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListMultipartUploads,
    ListParts,
    ListObjects,
    DeleteObject,
    DeleteObjectVersion,
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

/// Runs before the Nth call of a kind, with the wrapped store (to change it under the caller).
type Hook<S> = Box<dyn Fn(&S) + Send + Sync>;

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
pub struct FailureStore<S> {
    inner: S,
    rules: Vec<Rule>,
    hooks: Vec<(Call, u32, Hook<S>)>,
    calls: Mutex<HashMap<Call, u32>>,
    /// Bodies of streamed PUTs in progress; a stalled one stays here for good, as with an HTTP
    /// connection stuck writing it after its caller gave up.
    held: Mutex<Vec<Option<ChannelBody>>>,
}

impl<S: ObjectStore> FailureStore<S> {
    pub fn new(inner: S) -> Self {
        FailureStore {
            inner,
            rules: Vec::new(),
            hooks: Vec::new(),
            calls: Mutex::new(HashMap::new()),
            held: Mutex::new(Vec::new()),
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

    /// Runs `hook` with the wrapped store just before the `nth` call of kind `call` (for
    /// example, another writer replacing the object between two ranged reads).
    pub fn before_call(
        mut self, call: Call, nth: u32, hook: impl Fn(&S) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.push((call, nth, Box::new(hook)));
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
        for (_, _, hook) in self
            .hooks
            .iter()
            .filter(|(c, nth, _)| *c == call && *nth == n)
        {
            hook(&self.inner);
        }
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

/// Implements [`ObjectStore`] for [`FailureStore`]: each call is counted and checked against
/// the rules, then passed on to the wrapped store unchanged.
/// `@extra` holds the calls that need more than that.
macro_rules! counted_calls {
    (
        $($name:ident($($arg:ident: $ty:ty),*) -> $out:ty = $call:ident;)*
        @extra { $($extra:item)* }
    ) => {
        #[async_trait]
        impl<S: ObjectStore> ObjectStore for FailureStore<S> {
            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$out> {
                    self.before(Call::$call).await?;
                    self.inner.$name($($arg),*).await
                }
            )*
            $($extra)*
        }
    };
}

counted_calls! {
    get_range(
        location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>, buf: &mut Vec<u8>
    ) -> RangeMeta = GetRange;
    head(location: &ObjectLocation) -> ObjectHead = Head;
    put_object(location: &ObjectLocation, body: Bytes, options: &WriteOptions)
        -> PutReceipt = PutObject;
    create_multipart_upload(location: &ObjectLocation, options: &WriteOptions)
        -> String = CreateMultipartUpload;
    upload_part(location: &ObjectLocation, upload_id: &str, number: u32, body: Bytes)
        -> PartReceipt = UploadPart;
    upload_part_copy(
        location: &ObjectLocation, upload_id: &str, number: u32, source: &CopySource
    ) -> PartReceipt = UploadPartCopy;
    complete_multipart_upload(
        location: &ObjectLocation, upload_id: &str, parts: &[PartReceipt], if_match: Option<&str>
    ) -> PutReceipt = CompleteMultipartUpload;
    abort_multipart_upload(location: &ObjectLocation, upload_id: &str)
        -> () = AbortMultipartUpload;
    list_multipart_uploads(bucket: &str, prefix: &str) -> Vec<UploadInfo> = ListMultipartUploads;
    list_parts(location: &ObjectLocation, upload_id: &str, max_parts: Option<u32>)
        -> Vec<PartInfo> = ListParts;
    list_objects(bucket: &str, prefix: &str, continuation: Option<String>)
        -> ObjectPage = ListObjects;
    delete_object(location: &ObjectLocation) -> () = DeleteObject;
    delete_object_version(location: &ObjectLocation, version_id: &str) -> () = DeleteObjectVersion;
    get_object_tagging(location: &ObjectLocation) -> Vec<(String, String)> = GetObjectTagging;
    @extra {
        /// A transient fault breaks the body half-way (a connection reset mid-body); the
        /// others fail the request as `get_range` would.
        async fn get_range_body(
            &self, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
        ) -> StoreResult<(RangeMeta, RangeBody)> {
            let checked = match self.before(Call::GetRange).await {
                Err(e) if !e.transient => return Err(e),
                other => other,
            };
            let mut buf = Vec::new();
            let meta = self.inner.get_range(location, range.clone(), if_match, &mut buf).await?;
            let Err(broken) = checked else {
                return Ok((meta, RangeBody::whole(buf)));
            };
            buf.truncate(buf.len() / 2);
            let frames = futures::stream::iter([Ok(Bytes::from(buf)), Err(broken)]);
            let len = range.end.saturating_sub(range.start);
            Ok((meta, RangeBody::new(futures::StreamExt::boxed(frames), 0, len)))
        }
        async fn put_object_stream(
            &self, location: &ObjectLocation, body: ChannelBody, options: &WriteOptions,
        ) -> StoreResult<PutReceipt> {
            let slot = {
                let mut held = self.held.lock().expect("held lock");
                held.push(Some(body));
                held.len() - 1
            };
            let checked = self.before(Call::PutObjectStream).await;
            let mut body = self.held.lock().expect("held lock")[slot]
                .take()
                .expect("a held body");
            if let Err(e) = checked {
                // The connection breaks once the producer has begun: one piece is taken, the
                // rest of the body is dropped unread.
                let _ = body.next().await;
                return Err(e);
            }
            self.inner.put_object_stream(location, body, options).await
        }
    }
}

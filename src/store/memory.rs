//! [`MemoryStore`]: an object store in memory with S3's semantics for what s3seal relies on
//! (ranges clamped at the end, `If-Match` on reads and writes, multipart uploads that become
//! an object only when completed, aborts that remove them, streamed PUTs stored only once
//! their whole body arrived). It lets the pipelines' unit tests run without any server;
//! wrapped in [`super::failure::FailureStore`] it fails on purpose.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    ChannelBody, CopySource, ObjectEntry, ObjectHead, ObjectPage, ObjectStore, PartInfo,
    PartReceipt, PutReceipt, RangeMeta, StoreError, StoreResult, UploadInfo, WriteOptions,
};
use crate::error::Error;
use crate::location::ObjectLocation;

#[derive(Debug, Clone)]
struct Object {
    data: Bytes,
    etag: String,
    /// User metadata given when it was written (as S3 keeps `x-amz-meta-*`).
    metadata: HashMap<String, String>,
}

#[derive(Debug)]
struct Upload {
    location: ObjectLocation,
    metadata: HashMap<String, String>,
    parts: BTreeMap<u32, Bytes>,
    started: u64,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<(String, String), Object>,
    uploads: HashMap<String, Upload>,
    counter: u64,
}

/// Objects and multipart uploads held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

fn key(location: &ObjectLocation) -> (String, String) {
    (location.bucket.clone(), location.key.clone())
}

fn not_found(location: &ObjectLocation) -> StoreError {
    StoreError::answered(
        Error::runtime(format!("object {location} does not exist")),
        404,
        "NoSuchKey",
    )
}

fn precondition_failed(location: &ObjectLocation) -> StoreError {
    StoreError::answered(
        Error::runtime(format!("{location} changed (PreconditionFailed)")),
        412,
        "PreconditionFailed",
    )
}

fn no_such_upload(location: &ObjectLocation) -> StoreError {
    StoreError::answered(
        Error::runtime(format!("no such multipart upload of {location}")),
        404,
        "NoSuchUpload",
    )
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored bytes of an object.
    pub fn object(&self, location: &ObjectLocation) -> Option<Bytes> {
        let state = self.state.lock().expect("store lock");
        state.objects.get(&key(location)).map(|o| o.data.clone())
    }

    /// Stores `data` as a whole object (for test set-up).
    pub fn insert(&self, location: &ObjectLocation, data: impl Into<Bytes>) {
        let mut state = self.state.lock().expect("store lock");
        state.counter += 1;
        let etag = format!("\"etag-{}\"", state.counter);
        state.objects.insert(
            key(location),
            Object {
                data: data.into(),
                etag,
                metadata: HashMap::new(),
            },
        );
    }

    /// Gives the stored object `etag` (for test set-up: a server that reports one ETag for
    /// two different objects).
    pub fn set_etag(&self, location: &ObjectLocation, etag: &str) {
        let mut state = self.state.lock().expect("store lock");
        if let Some(object) = state.objects.get_mut(&key(location)) {
            object.etag = etag.to_string();
        }
    }

    /// Number of multipart uploads still open.
    pub fn open_uploads(&self) -> usize {
        self.state.lock().expect("store lock").uploads.len()
    }

    fn check_if_match(
        state: &State, location: &ObjectLocation, if_match: Option<&str>,
    ) -> StoreResult<()> {
        if let Some(want) = if_match {
            match state.objects.get(&key(location)) {
                Some(o) if o.etag == want => {}
                _ => return Err(precondition_failed(location)),
            }
        }
        Ok(())
    }

    fn store(
        state: &mut State, location: &ObjectLocation, data: Bytes,
        metadata: HashMap<String, String>,
    ) -> PutReceipt {
        state.counter += 1;
        let etag = format!("\"etag-{}\"", state.counter);
        state.objects.insert(
            key(location),
            Object {
                data,
                etag: etag.clone(),
                metadata,
            },
        );
        PutReceipt {
            etag: Some(etag),
            version_id: None,
        }
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn get_range(
        &self, location: &ObjectLocation, range: Range<u64>, if_match: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> StoreResult<RangeMeta> {
        let state = self.state.lock().expect("store lock");
        let object = state
            .objects
            .get(&key(location))
            .ok_or_else(|| not_found(location))?;
        Self::check_if_match(&state, location, if_match)?;
        let total = object.data.len() as u64;
        if range.start >= total {
            return Err(StoreError::answered(
                Error::runtime(format!("range not satisfiable for {location}")),
                416,
                "InvalidRange",
            ));
        }
        let end = range.end.min(total);
        buf.clear();
        buf.extend_from_slice(&object.data[range.start as usize..end as usize]);
        Ok(RangeMeta {
            total,
            etag: Some(object.etag.clone()),
            metadata: object.metadata.clone(),
        })
    }

    async fn head(&self, location: &ObjectLocation) -> StoreResult<ObjectHead> {
        let state = self.state.lock().expect("store lock");
        let object = state
            .objects
            .get(&key(location))
            .ok_or_else(|| not_found(location))?;
        Ok(ObjectHead {
            len: object.data.len() as u64,
            etag: Some(object.etag.clone()),
            version_id: None,
            metadata: object.metadata.clone(),
            ..Default::default()
        })
    }

    async fn put_object(
        &self, location: &ObjectLocation, body: Bytes, options: &WriteOptions,
    ) -> StoreResult<PutReceipt> {
        let mut state = self.state.lock().expect("store lock");
        Self::check_if_match(&state, location, options.if_match.as_deref())?;
        let metadata = options.settings.metadata.iter().cloned().collect();
        Ok(Self::store(&mut state, location, body, metadata))
    }

    async fn put_object_stream(
        &self, location: &ObjectLocation, body: ChannelBody, options: &WriteOptions,
    ) -> StoreResult<PutReceipt> {
        // As S3: the object exists only once the whole body arrived; a broken body stores
        // nothing (and, like a connection that broke, may be tried again).
        let data = body.collect().await.map_err(|e| {
            StoreError::transient(Error::runtime(format!(
                "the body of PutObject {location} broke: {e}"
            )))
        })?;
        self.put_object(location, Bytes::from(data), options).await
    }

    async fn create_multipart_upload(
        &self, location: &ObjectLocation, options: &WriteOptions,
    ) -> StoreResult<String> {
        let mut state = self.state.lock().expect("store lock");
        state.counter += 1;
        let id = format!("upload-{}", state.counter);
        let started = state.counter;
        state.uploads.insert(
            id.clone(),
            Upload {
                location: location.clone(),
                metadata: options.settings.metadata.iter().cloned().collect(),
                parts: BTreeMap::new(),
                started,
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self, location: &ObjectLocation, upload_id: &str, number: u32, body: Bytes,
    ) -> StoreResult<PartReceipt> {
        let mut state = self.state.lock().expect("store lock");
        let upload = state
            .uploads
            .get_mut(upload_id)
            .ok_or_else(|| no_such_upload(location))?;
        let etag = format!("\"part-{number}-{}\"", body.len());
        upload.parts.insert(number, body);
        Ok(PartReceipt {
            number,
            etag: Some(etag),
            crc32c: None,
        })
    }

    async fn upload_part_copy(
        &self, location: &ObjectLocation, upload_id: &str, number: u32, source: &CopySource,
    ) -> StoreResult<PartReceipt> {
        let mut buf = Vec::new();
        self.get_range(
            &source.location,
            source.range.clone(),
            source.if_match.as_deref(),
            &mut buf,
        )
        .await?;
        self.upload_part(location, upload_id, number, Bytes::from(buf))
            .await
    }

    async fn complete_multipart_upload(
        &self, location: &ObjectLocation, upload_id: &str, parts: &[PartReceipt],
        if_match: Option<&str>,
    ) -> StoreResult<PutReceipt> {
        let mut state = self.state.lock().expect("store lock");
        Self::check_if_match(&state, location, if_match)?;
        let upload = state
            .uploads
            .remove(upload_id)
            .ok_or_else(|| no_such_upload(location))?;
        let mut data = Vec::new();
        for part in parts {
            let bytes = upload.parts.get(&part.number).ok_or_else(|| {
                StoreError::answered(
                    Error::runtime(format!("part {} was never uploaded", part.number)),
                    400,
                    "InvalidPart",
                )
            })?;
            data.extend_from_slice(bytes);
        }
        Ok(Self::store(
            &mut state,
            location,
            Bytes::from(data),
            upload.metadata,
        ))
    }

    async fn abort_multipart_upload(
        &self, location: &ObjectLocation, upload_id: &str,
    ) -> StoreResult<()> {
        let mut state = self.state.lock().expect("store lock");
        state
            .uploads
            .remove(upload_id)
            .map(|_| ())
            .ok_or_else(|| no_such_upload(location))
    }

    async fn list_multipart_uploads(
        &self, bucket: &str, prefix: &str,
    ) -> StoreResult<Vec<UploadInfo>> {
        let state = self.state.lock().expect("store lock");
        Ok(state
            .uploads
            .iter()
            .filter(|(_, u)| u.location.bucket == bucket && u.location.key.starts_with(prefix))
            .map(|(id, u)| UploadInfo {
                key: u.location.key.clone(),
                upload_id: id.clone(),
                initiated: Some(u.started as f64),
            })
            .collect())
    }

    async fn list_parts(
        &self, location: &ObjectLocation, upload_id: &str, max_parts: Option<u32>,
    ) -> StoreResult<Vec<PartInfo>> {
        let state = self.state.lock().expect("store lock");
        let upload = state
            .uploads
            .get(upload_id)
            .ok_or_else(|| no_such_upload(location))?;
        Ok(upload
            .parts
            .iter()
            .take(max_parts.map_or(usize::MAX, |n| n as usize))
            .map(|(n, b)| PartInfo {
                number: *n,
                size: b.len() as u64,
                etag: None,
                crc32c: None,
            })
            .collect())
    }

    async fn list_objects(
        &self, bucket: &str, prefix: &str, _continuation: Option<String>,
    ) -> StoreResult<ObjectPage> {
        let state = self.state.lock().expect("store lock");
        Ok(ObjectPage {
            objects: state
                .objects
                .iter()
                .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
                .map(|((_, k), o)| ObjectEntry {
                    key: k.clone(),
                    size: o.data.len() as u64,
                    etag: Some(o.etag.clone()),
                })
                .collect(),
            next: None,
        })
    }

    async fn delete_object(&self, location: &ObjectLocation) -> StoreResult<()> {
        let mut state = self.state.lock().expect("store lock");
        state.objects.remove(&key(location));
        Ok(())
    }

    async fn delete_object_version(
        &self, location: &ObjectLocation, version_id: &str,
    ) -> StoreResult<()> {
        // Objects here have no versions (HEAD reports none), so no caller has an id to delete.
        Err(StoreError::answered(
            Error::runtime(format!(
                "version {version_id} of {location}: this in-memory store keeps no versions"
            )),
            404,
            "NoSuchVersion",
        ))
    }

    async fn get_object_tagging(
        &self, location: &ObjectLocation,
    ) -> StoreResult<Vec<(String, String)>> {
        let state = self.state.lock().expect("store lock");
        state
            .objects
            .get(&key(location))
            .map(|_| Vec::new())
            .ok_or_else(|| not_found(location))
    }
}

//! Where a download's bytes come from: anything that serves byte ranges of one stored object
//! ([`RangeReader`]): an object behind the [`ObjectStore`] ([`StoreObject`]), a presigned URL
//! (`crate::presign::UrlObject`), or a local file holding an encrypted object ([`LocalFile`]).
//! Every reader fills a caller's buffer and never keeps more than the range asked for,
//! whatever the server sends.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::FormatError;
use crate::location::ObjectLocation;
use crate::store::{
    ObjectStore, RangeBody, RangeMeta, StoreError, get_range_body_retrying, get_range_retrying,
};

/// Something that serves byte ranges of one stored object.
#[allow(async_fn_in_trait)]
pub trait RangeReader {
    /// Reads bytes `range` (end exclusive; a range past the end is clamped) into `buf`,
    /// replacing its contents but reusing its allocation, pinned to `if_match` when given.
    /// An empty object (no byte 0) is [`FormatError::NotS3seal`].
    async fn read_range(
        &self, range: Range<u64>, if_match: Option<&str>, buf: &mut Vec<u8>,
    ) -> Result<RangeMeta>;

    /// The bucket and key the object is read from (checked against the header's binding).
    fn location(&self) -> &ObjectLocation;

    /// Bytes `range` as a body taken piece by piece, pinned to `if_match` when given. By
    /// default the range is read whole first: see [`RangeReader::streams`].
    async fn open_range(&self, range: Range<u64>, if_match: Option<&str>) -> Result<RangeBody> {
        let mut buf = Vec::new();
        self.read_range(range, if_match, &mut buf).await?;
        Ok(RangeBody::whole(buf))
    }

    /// Whether [`RangeReader::open_range`] streams: a long range then holds in memory only
    /// what has been taken of it, and a download reads its object in few long GETs.
    fn streams(&self) -> bool {
        false
    }
}

/// The first bytes of an object and what the response said about it: read once, then used
/// to decide which reader serves the object and to start the download.
#[derive(Debug, Clone)]
pub struct FirstRange {
    pub bytes: Vec<u8>,
    pub meta: RangeMeta,
}

impl FirstRange {
    /// Reads bytes `0..len` of the object behind `reader`.
    pub async fn read(reader: &impl RangeReader, len: u64) -> Result<FirstRange> {
        let mut bytes = Vec::new();
        let meta = reader.read_range(0..len.max(1), None, &mut bytes).await?;
        Ok(FirstRange { bytes, meta })
    }

    pub fn etag(&self) -> Option<&str> {
        self.meta.etag.as_deref()
    }

    pub fn total(&self) -> u64 {
        self.meta.total
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.meta.metadata
    }
}

/// Reads exactly `range` of an object of `total` bytes, pinned to `if_match`. `Ok(None)`: the
/// answer was short or the object's size changed (the caller says what that means to it).
pub async fn read_exact(
    reader: &impl RangeReader, range: Range<u64>, if_match: Option<&str>, total: u64,
) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    let meta = reader
        .read_range(range.clone(), if_match, &mut bytes)
        .await?;
    let whole = bytes.len() as u64 == range.end - range.start && meta.total == total;
    Ok(whole.then_some(bytes))
}

/// An object behind an [`ObjectStore`], read with ranged GETs (broken reads are retried).
pub struct StoreObject {
    pub store: Arc<dyn ObjectStore>,
    pub location: ObjectLocation,
}

impl StoreObject {
    pub fn new(store: Arc<dyn ObjectStore>, location: ObjectLocation) -> Self {
        StoreObject { store, location }
    }
}

impl RangeReader for StoreObject {
    async fn read_range(
        &self, range: Range<u64>, if_match: Option<&str>, buf: &mut Vec<u8>,
    ) -> Result<RangeMeta> {
        get_range_retrying(&*self.store, &self.location, range, if_match, buf)
            .await
            .map_err(empty_is_not_s3seal)
    }

    fn location(&self) -> &ObjectLocation {
        &self.location
    }

    async fn open_range(&self, range: Range<u64>, if_match: Option<&str>) -> Result<RangeBody> {
        get_range_body_retrying(&*self.store, &self.location, range, if_match)
            .await
            .map_err(empty_is_not_s3seal)
    }

    fn streams(&self) -> bool {
        true
    }
}

/// Only an empty object has no byte 0: it cannot be an s3seal object.
fn empty_is_not_s3seal(e: StoreError) -> Error {
    match e.is_unsatisfiable_range() {
        true => FormatError::NotS3seal.into(),
        false => e.into(),
    }
}

/// An encrypted object saved as a local file (for example with `aws s3 cp` of the raw bytes).
/// It has no bucket or key of its own, so the header's location binding cannot be checked
/// against one: readers must allow "relocated" objects.
#[derive(Debug, Clone)]
pub struct LocalFile {
    path: PathBuf,
    location: ObjectLocation,
}

impl LocalFile {
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let meta =
            std::fs::metadata(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        if !meta.is_file() {
            return Err(Error::usage(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "object".into());
        Ok(LocalFile {
            path,
            location: ObjectLocation {
                bucket: String::new(),
                key: name,
            },
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl RangeReader for LocalFile {
    async fn read_range(
        &self, range: Range<u64>, _if_match: Option<&str>, buf: &mut Vec<u8>,
    ) -> Result<RangeMeta> {
        let path = self.path.clone();
        let mut out = std::mem::take(buf);
        let (result, out) = tokio::task::spawn_blocking(move || {
            let io = |e| Error::io(path.display().to_string(), e);
            let read = (|| {
                let mut file = std::fs::File::open(&path).map_err(io)?;
                let total = file.metadata().map_err(io)?.len();
                if total == 0 {
                    return Err(FormatError::NotS3seal.into());
                }
                let start = range.start.min(total);
                let end = range.end.min(total).max(start);
                file.seek(SeekFrom::Start(start)).map_err(io)?;
                out.clear();
                out.resize((end - start) as usize, 0);
                file.read_exact(&mut out).map_err(io)?;
                Ok(RangeMeta {
                    total,
                    ..RangeMeta::default()
                })
            })();
            (read, out)
        })
        .await
        .expect("file reader task panicked");
        *buf = out;
        result
    }

    fn location(&self) -> &ObjectLocation {
        &self.location
    }
}

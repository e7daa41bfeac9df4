//! Where a run's objects come from, as a stream through a bounded channel: a listing of a
//! prefix (`--recursive`, page after page), a manifest (a local file or an S3 object, read on
//! a blocking thread a record at a time), or a fixed list. The producer waits while the
//! channel is full, so memory holds one listing page or one CSV record plus the channel,
//! whatever the number of objects.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ObjectRef;
use super::manifest::{Columns, InventoryManifest, ManifestKind, read_csv, read_keys};
use crate::error::{Error, Result};
use crate::location::ObjectLocation;
use crate::ops::seal::stream as object_stream;
use crate::store::ObjectStore;
use crate::transfer::download::SHARED_RANGE_BYTES;

/// Objects waiting in the channel between the producer and the runner.
const CHANNEL_OBJECTS: usize = 256;
/// Most bytes of an Inventory manifest.json read into memory (real ones are a few KiB per
/// thousand data files).
const MAX_MANIFEST_JSON_BYTES: u64 = 64 << 20;

/// A stream of objects to work on.
pub struct ObjectSource {
    rx: mpsc::Receiver<Result<ObjectRef>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for ObjectSource {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl ObjectSource {
    /// The next object, an error that ends the source, or `None` at its end.
    pub async fn next(&mut self) -> Option<Result<ObjectRef>> {
        self.rx.recv().await
    }

    /// A fixed list (one object, a Batch Operations invocation's tasks).
    pub fn from_refs(objects: Vec<ObjectRef>) -> ObjectSource {
        let (tx, rx) = mpsc::channel(objects.len().max(1));
        for object in objects {
            tx.try_send(Ok(object)).expect("channel sized to the list");
        }
        ObjectSource { rx, task: None }
    }

    /// Every object under `prefix` in `bucket`, listed page by page. Folder markers (empty
    /// objects whose key ends with `/`) are left out.
    pub fn listing(store: Arc<dyn ObjectStore>, bucket: String, prefix: String) -> ObjectSource {
        let (tx, rx) = mpsc::channel(CHANNEL_OBJECTS);
        let task = tokio::spawn(async move {
            let mut continuation = None;
            loop {
                let page = match store.list_objects(&bucket, &prefix, continuation).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(e.error)).await;
                        return;
                    }
                };
                for entry in page.objects {
                    if entry.key.ends_with('/') && entry.size == 0 {
                        continue;
                    }
                    if tx
                        .send(Ok(ObjectRef::new(&bucket, entry.key)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                match page.next {
                    Some(next) => continuation = Some(next),
                    None => return,
                }
            }
        });
        ObjectSource {
            rx,
            task: Some(task),
        }
    }

    /// The objects a manifest names: a local path or `s3://BUCKET/KEY` (format by name, see
    /// [`super::manifest`]). Bare keys of a list belong to `default_bucket`.
    pub async fn manifest(
        store: Arc<dyn ObjectStore>, manifest: &str, default_bucket: Option<String>,
    ) -> Result<ObjectSource> {
        let kind = ManifestKind::of(manifest);
        let (tx, rx) = mpsc::channel(CHANNEL_OBJECTS);
        let origin = if manifest.starts_with("s3://") {
            Origin::S3(ObjectLocation::parse(manifest)?)
        } else {
            let path = Path::new(manifest);
            std::fs::metadata(path).map_err(|e| Error::input_file(path, e))?;
            Origin::File(path.to_path_buf())
        };
        let (files, columns) = match kind {
            ManifestKind::InventoryJson => {
                let bytes = origin.read_all(&store).await?;
                let inventory = InventoryManifest::parse(&bytes, manifest)?;
                let files = inventory.files.into_iter().map(Origin::S3).collect();
                (files, inventory.columns)
            }
            _ => (vec![origin], Columns::default()),
        };
        let what = manifest.to_string();
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            for file in files {
                let gzip = match kind {
                    ManifestKind::Csv { gzip } => gzip,
                    _ => file.name().to_ascii_lowercase().ends_with(".gz"),
                };
                let reader = match file.open(&store, &runtime) {
                    Ok(reader) => reader,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                let going_on = match kind {
                    ManifestKind::Keys => read_keys(reader, default_bucket.as_deref(), &what, &tx),
                    _ => read_csv(reader, gzip, &columns, &tx),
                };
                if !going_on {
                    return;
                }
            }
        });
        Ok(ObjectSource {
            rx,
            task: Some(task),
        })
    }
}

/// Where one manifest file is.
enum Origin {
    File(std::path::PathBuf),
    S3(ObjectLocation),
}

/// A blocking reader of an S3 object that reports the read's own error when it fails.
struct S3Reader {
    inner: object_stream::ObjectStream,
    guard: object_stream::StreamGuard,
}

impl std::io::Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| match self.guard.take_failure() {
                Some(original) => std::io::Error::other(original.to_string()),
                None => e,
            })
    }
}

impl Origin {
    fn name(&self) -> String {
        match self {
            Origin::File(path) => path.display().to_string(),
            Origin::S3(location) => location.key.clone(),
        }
    }

    /// Opens the file for blocking reads (S3 objects: ranged GETs pinned to their ETag).
    fn open(
        &self, store: &Arc<dyn ObjectStore>, runtime: &tokio::runtime::Handle,
    ) -> Result<Box<dyn std::io::Read + Send>> {
        match self {
            Origin::File(path) => Ok(Box::new(
                std::fs::File::open(path).map_err(|e| Error::input_file(path, e))?,
            )),
            Origin::S3(location) => {
                let head = runtime.block_on(store.head(location))?;
                let etag = head.etag;
                let _entered = runtime.enter();
                let (inner, guard) = object_stream::open(
                    Arc::clone(store),
                    location.clone(),
                    etag,
                    head.len,
                    SHARED_RANGE_BYTES,
                    2,
                );
                Ok(Box::new(S3Reader { inner, guard }))
            }
        }
    }

    /// The whole file (a manifest.json), at most [`MAX_MANIFEST_JSON_BYTES`].
    async fn read_all(&self, store: &Arc<dyn ObjectStore>) -> Result<Vec<u8>> {
        let too_big = |what: &str| {
            Error::usage(format!(
                "{what} is larger than {MAX_MANIFEST_JSON_BYTES} bytes: not an Inventory manifest.json"
            ))
        };
        match self {
            Origin::File(path) => {
                let what = path.display().to_string();
                let len = std::fs::metadata(path)
                    .map_err(|e| Error::input_file(path, e))?
                    .len();
                if len > MAX_MANIFEST_JSON_BYTES {
                    return Err(too_big(&what));
                }
                tokio::fs::read(path)
                    .await
                    .map_err(|e| Error::input_file(path, e))
            }
            Origin::S3(location) => {
                let head = store.head(location).await?;
                if head.len > MAX_MANIFEST_JSON_BYTES {
                    return Err(too_big(&location.to_string()));
                }
                let mut buf = Vec::new();
                if head.len > 0 {
                    crate::store::get_range_retrying(
                        &**store,
                        location,
                        0..head.len,
                        head.etag.as_deref(),
                        &mut buf,
                    )
                    .await?;
                }
                Ok(buf)
            }
        }
    }
}

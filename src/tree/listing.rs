//! The objects under a prefix, streamed: one page of `ListObjectsV2` (at most 1,000 keys) in
//! memory at a time, in S3's key order. Keys ending in `/` (the "folder" markers consoles
//! create) hold no file and are left out.

use std::collections::VecDeque;

use crate::error::Result;
use crate::store::{ObjectEntry, ObjectStore};

/// One object of the listing.
#[derive(Debug, Clone)]
pub struct RemoteEntry {
    /// The key below the prefix.
    pub rel: String,
    pub key: String,
    /// Stored (ciphertext) bytes.
    pub stored_size: u64,
}

/// A streamed listing of `bucket` under `prefix`.
pub struct Listing<'a> {
    store: &'a dyn ObjectStore,
    bucket: String,
    prefix: String,
    page: VecDeque<ObjectEntry>,
    next: Option<String>,
    done: bool,
}

impl<'a> Listing<'a> {
    pub fn new(store: &'a dyn ObjectStore, bucket: &str, prefix: &str) -> Self {
        Listing {
            store,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            page: VecDeque::new(),
            next: None,
            done: false,
        }
    }

    /// The next object, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<RemoteEntry>> {
        loop {
            if let Some(entry) = self.page.pop_front() {
                let Some(rel) = entry.key.strip_prefix(&self.prefix) else {
                    continue;
                };
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                return Ok(Some(RemoteEntry {
                    rel: rel.to_string(),
                    stored_size: entry.size,
                    key: entry.key,
                }));
            }
            if self.done {
                return Ok(None);
            }
            let page = self
                .store
                .list_objects(&self.bucket, &self.prefix, self.next.take())
                .await
                .map_err(|e| e.error)?;
            self.page = page.objects.into();
            self.next = page.next;
            self.done = self.next.is_none();
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::location::ObjectLocation;
    use crate::store::WriteOptions;
    use crate::store::memory::MemoryStore;

    /// A memory store whose bucket `b` holds a one-byte object at each of `keys`.
    pub(in crate::tree) async fn store_with(keys: &[String]) -> MemoryStore {
        let store = MemoryStore::default();
        for key in keys {
            let loc = ObjectLocation {
                bucket: "b".into(),
                key: key.clone(),
            };
            let body = bytes::Bytes::from_static(b"x");
            store
                .put_object(&loc, body, &WriteOptions::default())
                .await
                .unwrap();
        }
        store
    }

    #[tokio::test]
    async fn lists_below_the_prefix_without_folder_markers() {
        let keys = ["p/a", "p/b/", "p/b/c", "q/x", "p"].map(String::from);
        let store = store_with(&keys).await;
        let mut listing = Listing::new(&store, "b", "p/");
        let mut rels = Vec::new();
        while let Some(e) = listing.next().await.unwrap() {
            rels.push(e.rel);
        }
        assert_eq!(rels, ["a", "b/c"]);
    }
}

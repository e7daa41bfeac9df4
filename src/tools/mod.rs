//! The object tools: [`inspect`] (what a header claims, without KMS), [`verify`] (authenticate
//! every chunk, write nothing) and [`rewrap`] (move the data key under another KMS key without
//! touching the chunks). Each works on an `s3://` object; inspect and verify also on a presigned
//! URL ([`crate::presign::UrlObject`]) or a local file ([`LocalFile`]).

pub mod inspect;
pub mod rewrap;
pub mod verify;

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::location::ObjectLocation;
use crate::transfer::download::{RangeData, RangeReader};

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
    async fn read_range(&self, range: Range<u64>, _if_match: Option<&str>) -> Result<RangeData> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let io = |e| Error::io(path.display().to_string(), e);
            let mut file = std::fs::File::open(&path).map_err(io)?;
            let total = file.metadata().map_err(io)?.len();
            if total == 0 {
                return Err(crate::format::FormatError::NotS3seal.into());
            }
            let start = range.start.min(total);
            let end = range.end.min(total).max(start);
            file.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut buf = vec![0u8; (end - start) as usize];
            file.read_exact(&mut buf).map_err(io)?;
            Ok(RangeData {
                bytes: Bytes::from(buf),
                total,
                etag: None,
                metadata: Default::default(),
            })
        })
        .await
        .expect("file reader task panicked")
    }

    fn location(&self) -> &ObjectLocation {
        &self.location
    }
}

//! Many objects, one operation: the pieces that let `seal`, `rewrap`, `migrate` and `verify`
//! run over a whole bucket on one machine or on a fleet of identical workers (Kubernetes
//! Indexed Jobs, AWS Batch array jobs), and that the S3 Batch Operations handler shares:
//! - [`source`]: where the objects come from, as a stream that never holds the whole list
//!   (a manifest file or S3 object, or a listing of a prefix);
//! - [`manifest`]: the manifest formats (S3 Inventory, S3 Batch Operations CSV, plain keys);
//! - [`shard`]: which worker owns which object (a stable hash of the key);
//! - [`report`]: one JSON line per object (docs/JSON.md), so a run can be checked and resumed;
//! - [`runner`]: applies one operation to each object of a source, a few at a time, and
//!   counts the outcomes.
//!
//! Memory does not grow with the number of objects: the source is a bounded channel and the
//! runner keeps only the objects in flight.

pub mod manifest;
pub mod report;
pub mod runner;
pub mod shard;
pub mod source;

use crate::error::{Error, Result};
use crate::location::ObjectLocation;
use crate::store::ObjectStore;

/// One object to work on, as a manifest or a listing names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub location: ObjectLocation,
    /// The version a manifest names (S3 Batch Operations, a versioned Inventory).
    pub version_id: Option<String>,
}

impl ObjectRef {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRef {
            location: ObjectLocation {
                bucket: bucket.into(),
                key: key.into(),
            },
            version_id: None,
        }
    }
}

/// With a manifest that names a version, an operation must find that version current: the
/// operations read and write current objects only. (An unversioned object's version is `null`
/// in manifests; HEAD reports none.)
pub async fn require_current(store: &dyn ObjectStore, object: &ObjectRef) -> Result<()> {
    let Some(wanted) = &object.version_id else {
        return Ok(());
    };
    let head = store.head(&object.location).await?;
    if head.version_id.as_deref().unwrap_or("null") != wanted {
        return Err(Error::usage_hint(
            format!(
                "version {wanted} of {} is not its current version",
                object.location
            ),
            "s3seal works on current versions; list the current version in the manifest",
        ));
    }
    Ok(())
}

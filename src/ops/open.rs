//! `open`: read an object to a file, stdout, or nowhere (verify). Which reader serves it is
//! decided once, from the first response (its bytes and user metadata), and returned as a
//! type ([`ObjectKind`]): an s3seal object goes to the download pipeline, an object of the S3
//! Encryption Client to [`crate::s3ec`] (only where S3EC objects can be read: `s3://` objects,
//! whose instruction files can be read, and only when the caller allows them: an S3EC object
//! is not bound to its location, so anyone who can copy objects in the bucket could swap one
//! in for an s3seal object). The first response is reused, so recognising an object costs no
//! extra request.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::MAGIC;
use crate::kms::Keyring;
use crate::s3ec::{self, Envelope, S3ecOutcome, S3ecRequest};
use crate::store::ObjectStore;
use crate::transfer::download::{
    self as download, DownloadOutcome, DownloadRequest, FirstRange, RangeReader, Sink,
};
use crate::transfer::{Cancel, Progress};

/// Which reader serves an object.
#[derive(Debug)]
pub enum ObjectKind {
    /// An s3seal object (or something the s3seal reader will explain is not one).
    S3seal,
    /// An object written by the AWS S3 Encryption Client, with its validated envelope.
    S3ec(Box<Envelope>),
}

/// How to open an object.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    pub download: DownloadRequest,
    /// Read S3 Encryption Client objects (unbound to their location); refused otherwise.
    pub allow_s3ec: bool,
}

/// What was read, by which reader.
#[derive(Debug, Clone)]
pub enum Opened {
    S3seal(DownloadOutcome),
    S3ec(S3ecOutcome),
}

/// Decides which reader serves the object whose first response is `first`. With
/// `s3ec_store`, an object that does not start with the s3seal magic is checked for S3EC
/// metadata (on the object, or in `KEY.instruction` read through that store).
pub async fn classify(
    reader: &impl RangeReader, first: &FirstRange, s3ec_store: Option<&dyn ObjectStore>,
) -> Result<ObjectKind> {
    if first.bytes.starts_with(&MAGIC) {
        return Ok(ObjectKind::S3seal);
    }
    if let Some(store) = s3ec_store
        && let Some(envelope) =
            s3ec::load_envelope(store, reader.location(), first.metadata()).await?
    {
        return Ok(ObjectKind::S3ec(Box::new(envelope)));
    }
    Ok(ObjectKind::S3seal)
}

/// Reads, verifies and decrypts the object behind `reader` into `sink`.
pub async fn open(
    reader: &impl RangeReader, s3ec_store: Option<&dyn ObjectStore>, keyring: &impl Keyring,
    request: &OpenRequest, sink: &Sink, progress: Arc<dyn Progress>, cancel: Cancel,
) -> Result<Opened> {
    let wanted = &request.download;
    let first = FirstRange::read(reader, wanted.first_read_len()).await?;
    match classify(reader, &first, s3ec_store).await? {
        ObjectKind::S3seal => {
            download::download(reader, Some(first), keyring, wanted, sink, progress, cancel)
                .await
                .map(Opened::S3seal)
        }
        ObjectKind::S3ec(envelope) if !request.allow_s3ec => Err(Error::integrity(
            format!(
                "{} is an S3 Encryption Client ({}) object, not an s3seal object; S3EC objects are not bound to their bucket and key, so it may have been copied here from elsewhere",
                reader.location(),
                envelope.format
            ),
            Some(
                "pass --allow-s3ec to read it anyway (it is then authenticated, but not its location), or migrate it with `s3seal migrate`".into(),
            ),
        )),
        ObjectKind::S3ec(envelope) => {
            let s3ec_request = S3ecRequest {
                expected_context: wanted.expected_context.clone(),
                range_requested: wanted.range.is_some(),
                concurrency: wanted.concurrency,
                unit_bytes: wanted.unit_bytes,
                pins: wanted.pins.clone(),
            };
            s3ec::open_envelope(
                keyring,
                reader,
                first,
                &envelope,
                &s3ec_request,
                sink,
                progress,
                cancel,
            )
            .await
            .map(Opened::S3ec)
        }
    }
}

//! `s3seal get --manifest FILE|s3://... DIR` and `get --recursive s3://BUCKET/PREFIX/ DIR
//! --shard I/N`: many objects into a directory through the batch runner (`s3seal::batch`:
//! manifest or listing source, shard, JSON-lines report, exit 0 / 7 / 3), each object
//! verified and decrypted by `transfer::download::download` into DIR/KEY (a manifest: the full
//! key; a listing: the key below the prefix), refusing keys that cannot be local file names.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use s3seal::batch::report::Done;
use s3seal::batch::{ObjectRef, require_current};
use s3seal::kms::KmsKeyring;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::transfer::download::{DownloadRequest, FirstRange, Sink, StoreObject, download};
use s3seal::transfer::{Cancel, NoProgress};
use s3seal::tree::local_name_problem;
use s3seal::tree::stamp::Stamp;
use s3seal::{Error, Result};

use super::GlobalArgs;
use super::batch::{BatchArgs, bucket_and_prefix, run_batch};
use super::pins::PinArgs;

/// What a run of `get` over many objects needs from the command line.
pub(super) struct ManyGet<'a> {
    pub batch: &'a BatchArgs,
    /// The prefix (`--recursive`) or the bucket of a manifest's bare keys.
    pub target: Option<&'a str>,
    pub dir: PathBuf,
    pub context: Vec<(String, String)>,
    pub pins: &'a PinArgs,
    pub concurrency: usize,
    pub part_size: u64,
    pub quiet: bool,
}

/// The file under `dir` that receives `key`: the key below `prefix` (`None`: the whole key),
/// refused when it is no safe relative path (`..`, empty segments, a leading `/`).
pub(super) fn local_path(dir: &Path, prefix: Option<&str>, key: &str) -> Result<PathBuf> {
    let rel = match prefix {
        Some(prefix) => key.strip_prefix(prefix).unwrap_or(key),
        None => key,
    };
    if let Some(problem) = local_name_problem(rel) {
        return Err(Error::usage(format!(
            "{problem}: it cannot be a file name under {}",
            dir.display()
        )));
    }
    Ok(dir.join(rel))
}

/// Downloads one object to `path`: all-or-nothing (the pipeline writes a temporary file that
/// takes the name only once every chunk verified), with the stored mtime and mode restored.
async fn get_one(
    store: Arc<dyn ObjectStore>, keyring: &KmsKeyring, request: &DownloadRequest,
    object: ObjectRef, path: PathBuf, cancel: Cancel,
) -> Result<Done> {
    require_current(&*store, &object).await?;
    if path.is_dir() {
        return Err(Error::usage(format!(
            "{} is a directory; the object cannot be written there",
            path.display()
        )));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display().to_string(), e))?;
    }
    let reader = StoreObject::new(store, object.location);
    let first = FirstRange::read(&reader, request.first_read_len()).await?;
    let stamp = Stamp::from_metadata(first.metadata());
    let outcome = download(
        &reader,
        Some(first),
        keyring,
        request,
        &Sink::File(path.clone()),
        Arc::new(NoProgress),
        cancel,
    )
    .await?;
    if stamp.size.is_none_or(|s| s == outcome.plaintext_len) {
        stamp.apply(&path)?;
    }
    let mut done = Done::new("downloaded", Some(outcome.kms_key_arn));
    done.extra
        .insert("file".into(), path.display().to_string().into());
    done.extra
        .insert("plaintext_bytes".into(), outcome.plaintext_len.into());
    Ok(done)
}

/// Runs the download of every object the batch options name, one report line each.
pub(super) async fn run(global: &GlobalArgs, get: ManyGet<'_>, cancel: Cancel) -> Result<ExitCode> {
    if get.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    // With --recursive, files are named below the prefix; with a manifest, by the whole key.
    let prefix = match (get.batch.recursive, get.target) {
        (true, Some(target)) => Some(bucket_and_prefix(target)?.1),
        _ => None,
    };
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let request = DownloadRequest {
        expected_context: get.context.clone(),
        allow_relocated: false,
        pins: get.pins.resolve(&keyring).await?,
        range: None,
        concurrency: get.concurrency,
        unit_bytes: get.part_size,
        // One GET per range: a GET held open while it waits for the shared budget would
        // hold a connection and its buffers outside the budget.
        read_bytes: 0,
        shared: None,
    };
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
    let (dir, prefix) = (&get.dir, prefix.as_deref());
    let op = |object: ObjectRef| {
        let (store, keyring, request, cancel) =
            (Arc::clone(&store), &keyring, &request, cancel.clone());
        let path = local_path(dir, prefix, &object.location.key);
        async move { get_one(store, keyring, request, object, path?, cancel).await }
    };
    run_batch(
        "get",
        get.batch,
        Arc::clone(&store),
        get.target,
        get.quiet,
        cancel.clone(),
        op,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_relative_paths_or_are_refused() {
        let dir = Path::new("/d");
        assert_eq!(
            local_path(dir, None, "a/b c.txt").unwrap(),
            Path::new("/d/a/b c.txt")
        );
        assert_eq!(
            local_path(dir, Some("p/"), "p/q/r").unwrap(),
            Path::new("/d/q/r")
        );
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "dir/", "p/"] {
            let prefix = (bad == "p/").then_some("p/");
            assert!(local_path(dir, prefix, bad).is_err(), "{bad}");
        }
    }
}

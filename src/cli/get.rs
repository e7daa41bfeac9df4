//! `s3seal get s3://BUCKET/KEY DST`: download, verify and decrypt an object to a file or stdout;
//! with `--recursive`, a prefix into a directory (the tree runner, `sync.rs`); with
//! `--manifest`, or `--recursive` and `--shard`/`--shard-count`/`--report`, many objects
//! through the batch runner (`get_many.rs`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::batch::runner::DEFAULT_JOBS;
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::ops::open::{OpenRequest, Opened, open};
use s3seal::pins::printable;
use s3seal::presign::UrlObject;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::terminal::escape_for_terminal;
use s3seal::transfer::download::{
    DEFAULT_RANGE_BYTES, DownloadRequest, RangeReader, SHARED_RANGE_BYTES, STREAMED_READ_BYTES,
    Sink, StoreObject, resolve_destination,
};
use s3seal::transfer::{Cancel, default_download_concurrency};
use s3seal::{Error, Result};

use super::batch::BatchArgs;
use super::pins::PinArgs;
use super::tree::TreeArgs;
use super::{GlobalArgs, json, parse_pair, parse_size, progress, resumable};

/// Shown at the end of `get --help`: the one way stdout output can be partial.
const AFTER_HELP: &str = "\
Partial output on stdout: with DST `-`, s3seal writes each chunk as soon as it verified, so a
later chunk that fails (tampered, truncated) ends the command with exit 3 AFTER earlier, verified
chunks were written. A pipeline reports only its last command's status unless you set pipefail:

    set -o pipefail
    s3seal get s3://BUCKET/KEY - | consumer || echo 'download failed' >&2

With --buffer-to-temp, stdout receives nothing until the whole object verified (the plaintext
waits in a private temporary file). A file destination is always all-or-nothing.";

#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct GetArgs {
    /// Object to read: s3://BUCKET/KEY, or a presigned https:// URL (`s3seal presign`); with
    /// --recursive the prefix s3://BUCKET/PREFIX/; with --manifest the bucket of bare keys
    /// (optional)
    src: String,
    /// Destination file (written only when every byte verified), a directory, or - for stdout;
    /// with --recursive or --manifest the directory that receives the objects
    dst: Option<String>,
    /// Encryption-context pair the object must carry (repeatable)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Only plaintext bytes START-END (inclusive, like HTTP ranges; END may be omitted)
    #[arg(long, value_name = "START-END", value_parser = parse_range)]
    range: Option<(u64, Option<u64>)>,
    /// Accept an object that was written for another bucket/key (a deliberate copy or move)
    #[arg(long)]
    allow_relocated: bool,
    /// Ranged GETs in flight [built in: 6, sized by memory, not cores]. Peak memory is at most
    /// about 30 MiB + 2 x CONCURRENCY x PART_SIZE (6 x 8 MiB measured 104-122 MiB), to a file or
    /// to stdout: a slow reader slows the download, it does not grow memory
    #[arg(long, default_value_t = default_download_concurrency(), hide_default_value = true)]
    concurrency: usize,
    /// Bytes verified, decrypted and written at a time [built in: 8MiB]. To stdout, and for
    /// each object of --recursive or --manifest, also the bytes per ranged GET; to a file, one
    /// GET of 32 MiB brings several, each written while the next arrives
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    part_size: Option<u64>,
    /// To stdout: decrypt into a private temporary file and stream it only after the whole
    /// object verified (required for S3 Encryption Client objects, whose single GCM tag comes
    /// last). Without it, `get ... -` streams each chunk as soon as it verified: see below
    #[arg(long)]
    buffer_to_temp: bool,
    /// Also read objects of the AWS S3 Encryption Client. They are authenticated, but not
    /// bound to their bucket and key: anyone who can copy objects in the bucket can swap one
    /// S3EC object for another (or for an s3seal object) unnoticed
    #[arg(long)]
    allow_s3ec: bool,
    /// To a file: if interrupted, keep the verified chunks beside the destination
    /// (`.NAME.s3seal-partial`, mode 0600) with a sidecar, so the same command fetches only
    /// what is missing (pinned to the object's ETag; an overwritten object starts over)
    #[arg(long, visible_alias = "resume")]
    resumable: bool,
    #[command(flatten)]
    pins: PinArgs,
    /// With --recursive: copy every file again, even those an earlier run already downloaded
    #[arg(long, requires = "recursive")]
    no_skip: bool,
    #[command(flatten)]
    tree: TreeArgs,
    #[command(flatten)]
    batch: BatchArgs,
    #[command(flatten)]
    pub(super) output: json::OutputArgs,
}

fn parse_range(s: &str) -> Result<(u64, Option<u64>), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not START-END"))?;
    let start: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: START must be a number"))?;
    let end = if b.trim().is_empty() {
        None
    } else {
        let end: u64 = b
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: END must be a number"))?;
        if end < start {
            return Err(format!("{s:?}: END is before START"));
        }
        Some(end)
    };
    Ok((start, end))
}

pub async fn run(global: &GlobalArgs, args: GetArgs, cancel: Cancel) -> Result<ExitCode> {
    let b = &args.batch;
    let batch_only = b.shard.is_some() || b.shard_count.is_some() || b.report.is_some();
    if b.manifest.is_some() || (b.recursive && batch_only) {
        return run_many(global, args, cancel).await;
    }
    if b.jobs != DEFAULT_JOBS {
        return Err(Error::usage_hint(
            "--jobs is for --manifest and sharded runs",
            "get --recursive takes --objects-in-flight",
        ));
    }
    if b.recursive {
        return run_recursive(global, args, cancel).await;
    }
    b.single("get", Some(&args.src), false)?;
    if let Some(flag) = args.tree.given() {
        return Err(Error::usage_hint(
            format!("{flag} is for trees"),
            "add --recursive to download a prefix",
        ));
    }
    run_one(global, args, cancel)
        .await
        .map(|()| ExitCode::SUCCESS)
}

/// The destination, required outside a manifest run.
fn destination(dst: &Option<String>) -> Result<&str> {
    dst.as_deref().ok_or_else(|| {
        Error::usage_hint(
            "get needs a destination",
            "give a file, a directory, or - for stdout after the object",
        )
    })
}

/// `get --manifest FILE [s3://BUCKET] DIR`, `get --recursive s3://BUCKET/PREFIX/ DIR --shard I/N`.
async fn run_many(global: &GlobalArgs, args: GetArgs, cancel: Cancel) -> Result<ExitCode> {
    if let Some(flag) = args.tree.given() {
        return Err(Error::usage_hint(
            format!("{flag} is for get --recursive without --shard, --shard-count or --report"),
            "a manifest or sharded run downloads every object it names; use --jobs N",
        ));
    }
    let single_only = args.range.is_some()
        || args.allow_relocated
        || args.allow_s3ec
        || args.buffer_to_temp
        || args.resumable;
    if single_only || args.output.json {
        return Err(Error::usage_hint(
            "--range, --allow-relocated, --allow-s3ec, --buffer-to-temp, --resumable and --json are for single objects",
            "a run over many objects writes a JSON-lines report (--report FILE)",
        ));
    }
    // `get --manifest FILE DIR` names no bucket: the manifest's lines do.
    let (target, dir) = match (&args.dst, args.batch.manifest.is_some()) {
        (Some(dst), _) => (Some(args.src.as_str()), dst.as_str()),
        (None, true) => (None, args.src.as_str()),
        (None, false) => (None, destination(&args.dst)?),
    };
    if dir == "-" || dir.starts_with("s3://") || s3seal::presign::is_url(dir) {
        return Err(Error::usage_hint(
            format!("{dir:?} is not a local directory"),
            "a run over many objects writes each object to DIR/KEY",
        ));
    }
    let many = super::get_many::ManyGet {
        batch: &args.batch,
        target,
        dir: PathBuf::from(dir),
        context: args.context.clone(),
        pins: &args.pins,
        concurrency: args.concurrency,
        part_size: args.part_size.unwrap_or(SHARED_RANGE_BYTES),
        quiet: args.output.quiet,
    };
    super::get_many::run(global, many, cancel).await
}

/// `get --recursive s3://BUCKET/PREFIX/ DIR`.
async fn run_recursive(global: &GlobalArgs, args: GetArgs, cancel: Cancel) -> Result<ExitCode> {
    use super::sync::{DownOptions, RunSpec, run_down};
    let dst = destination(&args.dst)?;
    if dst == "-" || s3seal::presign::is_url(&args.src) || args.range.is_some() {
        return Err(Error::usage_hint(
            "--recursive downloads s3://BUCKET/PREFIX/ into a directory",
            "stdout, presigned URLs and --range are for single objects",
        ));
    }
    if args.allow_relocated || args.allow_s3ec || args.buffer_to_temp {
        return Err(Error::usage(
            "--allow-relocated, --allow-s3ec and --buffer-to-temp are for single objects",
        ));
    }
    let src = ObjectLocation::parse_prefix(&args.src)?;
    let down = DownOptions {
        context: args.context,
        concurrency: args.concurrency,
        pins: &args.pins,
    };
    let root = PathBuf::from(dst);
    let mode = s3seal::tree::TreeMode::Copy {
        skip_done: !args.no_skip,
    };
    run_down(
        global,
        src,
        root,
        down,
        RunSpec {
            command: "get",
            mode,
            tree: &args.tree,
            output: args.output,
        },
        cancel,
    )
    .await
}

async fn run_one(global: &GlobalArgs, args: GetArgs, cancel: Cancel) -> Result<()> {
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    let dst = destination(&args.dst)?.to_string();
    let settings = global.aws_settings();
    let is_url = s3seal::presign::is_url(&args.src);
    let url_reader = if is_url {
        Some(UrlObject::new(&args.src, &settings)?)
    } else {
        None
    };
    let src = if is_url {
        None
    } else {
        Some(ObjectLocation::parse(&args.src)?)
    };
    // With --buffer-to-temp, stdout receives nothing until the whole object verified (an
    // s3seal object's every chunk, an S3EC object's single tag); a file is that way anyway.
    // Into an existing directory: the key's last segment, decided here once (the library
    // writes exactly the path it is given).
    let dst = if dst == "-" {
        dst
    } else {
        let key = match (&url_reader, &src) {
            (Some(reader), _) => reader.location().key.clone(),
            (None, Some(location)) => location.key.clone(),
            (None, None) => unreachable!("a source is a URL or an s3:// location"),
        };
        resolve_destination(std::path::Path::new(&dst), &key)?
            .to_string_lossy()
            .into_owned()
    };
    let sink = if dst == "-" && args.buffer_to_temp {
        Sink::BufferedStdout
    } else if dst == "-" {
        Sink::Stdout
    } else if args.resumable {
        resumable::refuse_range(args.range.is_some())?;
        Sink::ResumableFile(PathBuf::from(&dst))
    } else {
        Sink::File(PathBuf::from(&dst))
    };
    resumable::refuse_stdout(args.resumable, sink.is_stdout())?;
    let aws = s3seal::aws::connect(&settings).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let pins = args.pins.resolve(&keyring).await?;
    let request = OpenRequest {
        download: DownloadRequest {
            expected_context: args.context,
            allow_relocated: args.allow_relocated,
            pins,
            range: args.range,
            concurrency: args.concurrency,
            unit_bytes: args.part_size.unwrap_or(DEFAULT_RANGE_BYTES),
            read_bytes: STREAMED_READ_BYTES,
            shared: None,
        },
        allow_s3ec: args.allow_s3ec,
    };
    if args.output.json && sink.is_stdout() {
        return Err(Error::usage_hint(
            "--json prints its document on stdout, where `-` sends the plaintext",
            "give a file destination with --json",
        ));
    }
    let started = std::time::Instant::now();
    let progress = progress::reporter(args.output.quiet, "opening");
    let (shown, opened) = match (url_reader, src) {
        // A presigned URL: no S3 credentials needed; the header's bucket/key binding is
        // checked against what the URL addresses.
        (Some(reader), _) => {
            let opened = open(&reader, None, &keyring, &request, &sink, progress, cancel).await?;
            (s3seal::presign::redact_url(&args.src), opened)
        }
        (None, Some(location)) => {
            let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
            let reader = StoreObject::new(Arc::clone(&store), location.clone());
            // Objects written by the AWS S3 Encryption Client are read too, with --allow-s3ec.
            let opened = open(
                &reader,
                Some(&*store),
                &keyring,
                &request,
                &sink,
                progress,
                cancel,
            )
            .await?;
            restore_stamp(&*store, &location, &opened).await;
            (location.to_string(), opened)
        }
        (None, None) => unreachable!("a source is a URL or an s3:// location"),
    };
    if args.output.json {
        json::emit("get", started, json::opened(&shown, &opened));
    }
    if !args.output.quiet && !sink.is_stdout() {
        // Names from a presigned URL and key ids from the header: escaped for the terminal.
        eprintln!("{}", escape_for_terminal(&summary(&shown, &opened)));
    }
    Ok(())
}

/// Gives a downloaded file the mtime and mode its object's stamp records (`put` stores them),
/// when the stamp's size matches what was verified. Best effort: a failure is only logged.
async fn restore_stamp(store: &dyn ObjectStore, location: &ObjectLocation, opened: &Opened) {
    use s3seal::tree::stamp::Stamp;
    let Opened::S3seal(o) = opened else { return };
    let Some(path) = &o.destination else { return };
    let result = async {
        let head = store.head(location).await.map_err(|e| e.error)?;
        let stamp = Stamp::from_metadata(&head.metadata);
        if stamp.size == Some(o.plaintext_len) && o.bytes_written == o.plaintext_len {
            stamp.apply(path)?;
        }
        Ok::<(), Error>(())
    };
    if let Err(e) = result.await {
        tracing::warn!(error = %e, "could not restore the file's modification time and mode");
    }
}

/// The line printed after a download to a file.
fn summary(src: &str, opened: &Opened) -> String {
    let dest = |d: &Option<PathBuf>| {
        d.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    match opened {
        Opened::S3seal(o) => format!(
            "opened {src} -> {} ({} bytes, {} chunks verified; KMS key {})",
            dest(&o.destination),
            o.bytes_written,
            o.chunks_verified,
            printable(&o.kms_key_arn)
        ),
        Opened::S3ec(o) => format!(
            "opened {src} ({} object, NOT bound to its location) -> {} ({} bytes, GCM tag verified; KMS key {})",
            o.format,
            dest(&o.destination),
            o.bytes_written,
            printable(o.kms_key_arn.as_deref().unwrap_or("unknown"))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0-99"), Ok((0, Some(99))));
        assert_eq!(parse_range("100-"), Ok((100, None)));
        assert!(parse_range("5-4").is_err());
        assert!(parse_range("x-4").is_err());
        assert!(parse_range("7").is_err());
    }
}

//! `s3seal sync SRC DST`: make a prefix match a directory (local -> S3) or a directory match a
//! prefix (S3 -> local), transferring only what changed (size and mtime, or `--checksum`), and
//! with `--delete` removing what vanished from the source. Also the two directions' set-up
//! that `put --recursive` and `get --recursive` share with it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::transfer::download::{DEFAULT_RANGE_BYTES, DownloadRequest};
use s3seal::transfer::upload::UploadRequest;
use s3seal::transfer::{Cancel, default_concurrency, default_download_concurrency};
use s3seal::tree::run::DEFAULT_BUDGET_BYTES;
use s3seal::tree::{Direction, TreeMode, TreeRequest, tree_prefix};
use s3seal::{Error, Result};

use super::pins::PinArgs;
use super::posture::{OwnerArgs, PostureMode, gate};
use super::put::chunk_size;
use super::tree::{ObjectSettingsArgs, TreeArgs, check_lock, execute};
use super::{GlobalArgs, json, parse_pair, parse_size};

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Source: a directory, or s3://BUCKET/PREFIX/
    src: String,
    /// Destination: s3://BUCKET/PREFIX/, or a directory
    dst: String,
    /// Delete destination files/objects whose source vanished (never excluded paths)
    #[arg(long)]
    delete: bool,
    /// Compare content with a keyed fingerprint (HMAC under a per-bucket KMS data key) instead
    /// of modification times; catches same-size changes
    #[arg(long)]
    checksum: bool,
    /// KMS key for the envelope of uploads (local -> S3): key id, ARN or alias/NAME
    #[arg(long, env = "S3SEAL_KMS_KEY_ID", value_name = "ID")]
    kms_key_id: Option<String>,
    /// Encryption-context pair bound to uploads, and required of downloads (repeatable)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// KMS key for S3's own SSE-KMS encryption [default: the envelope key]
    #[arg(long, value_name = "ID")]
    sse_kms_key_id: Option<String>,
    /// Parts or ranges in flight for one large object [built in: uploads 2 per core, 4 to 10;
    /// downloads 16]
    #[arg(long)]
    concurrency: Option<usize>,
    /// Plaintext bytes per multipart part of uploads (5MiB..5GiB)
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// Chunk size of uploads, a power of two from 64KiB to 16MiB
    #[arg(long, value_parser = parse_size, default_value = "1MiB", value_name = "SIZE")]
    chunk_size: u64,
    /// Bucket posture check before uploading [built in: enforce]
    #[arg(long, value_enum)]
    posture: Option<PostureMode>,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    pub(super) settings: ObjectSettingsArgs,
    /// Uploads: an interrupted run keeps the multipart upload of each large file in flight and
    /// a journal, and the same command resumes it (docs/SYNC.md)
    #[arg(long, visible_alias = "resume")]
    resumable: bool,
    #[command(flatten)]
    pub(super) tree: TreeArgs,
    #[command(flatten)]
    pins: PinArgs,
    #[command(flatten)]
    pub(super) output: json::OutputArgs,
}

/// Everything an upload of a tree needs besides the tree.
pub(super) struct UpOptions<'a> {
    pub kms_key_id: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub context: Vec<(String, String)>,
    pub chunk_size: u64,
    pub part_size: u64,
    pub concurrency: usize,
    pub posture: Option<PostureMode>,
    pub owner: &'a OwnerArgs,
    pub settings: &'a ObjectSettingsArgs,
    /// `--resumable`: an interrupted run keeps the multipart upload of the large file in
    /// flight (and its journal) so the same command resumes it.
    pub resumable: bool,
}

/// What kind of run, and how it reports.
pub(super) struct RunSpec<'a> {
    pub command: &'static str,
    pub mode: TreeMode,
    pub tree: &'a TreeArgs,
    pub output: json::OutputArgs,
}

/// Everything a download of a tree needs besides the tree.
pub(super) struct DownOptions<'a> {
    pub context: Vec<(String, String)>,
    pub concurrency: usize,
    pub pins: &'a PinArgs,
}

fn base_request(direction: Direction, mode: TreeMode, concurrency: usize) -> TreeRequest {
    TreeRequest {
        direction,
        mode,
        dry_run: false,
        fail_fast: false,
        follow_symlinks: false,
        filters: Default::default(),
        upload: None,
        journals: None,
        download: DownloadRequest {
            expected_context: Vec::new(),
            allow_relocated: false,
            pins: Default::default(),
            range: None,
            concurrency: default_download_concurrency(),
            unit_bytes: DEFAULT_RANGE_BYTES,
            // One GET per range: a GET held open while it waits for the shared budget would
            // hold a connection and its buffers outside the budget.
            read_bytes: 0,
            shared: None,
        },
        concurrency,
        budget_bytes: DEFAULT_BUDGET_BYTES,
        objects_in_flight: 1,
    }
}

/// A local directory into `dest` (`put --recursive`, `sync DIR s3://...`).
pub(super) async fn run_up(
    global: &GlobalArgs, root: PathBuf, dest: ObjectLocation, up: UpOptions<'_>, spec: RunSpec<'_>,
    cancel: Cancel,
) -> Result<ExitCode> {
    let kms_key_id = up.kms_key_id.ok_or_else(|| {
        Error::usage_hint(
            "uploads need --kms-key-id",
            "give --kms-key-id ID, or set S3SEAL_KMS_KEY_ID or kms_key_id in the config file",
        )
    })?;
    if up.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    let chunk_size = chunk_size(up.chunk_size)?;
    let mut request = base_request(
        Direction::Up {
            root,
            prefix: tree_prefix(&dest.key),
            bucket: dest.bucket.clone(),
        },
        spec.mode,
        up.concurrency,
    );
    spec.tree.apply(&mut request)?;
    if up.resumable {
        request.journals = Some(s3seal::transfer::resume::JournalDir::user()?);
    }
    request.upload = Some(UploadRequest {
        dest: dest.clone(),
        kms_key_id,
        sse_kms_key_id: up.sse_kms_key_id,
        context: up.context,
        chunk_size,
        part_size: up.part_size,
        concurrency: up.concurrency,
        if_match: None,
        stream_put_max: 0,
        settings: up.settings.settings(),
    });
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    gate(&aws, &dest.bucket, up.posture.unwrap_or_default(), up.owner).await?;
    check_lock(
        &aws,
        &dest.bucket,
        up.owner.expected_owner.clone(),
        up.settings.wants_lock(),
    )
    .await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(
        aws.s3.clone(),
        up.owner.expected_owner.clone(),
    ));
    execute(spec.command, store, &keyring, &request, spec.output, cancel).await
}

/// `src` into a local directory (`get --recursive`, `sync s3://... DIR`).
pub(super) async fn run_down(
    global: &GlobalArgs, src: ObjectLocation, root: PathBuf, down: DownOptions<'_>,
    spec: RunSpec<'_>, cancel: Cancel,
) -> Result<ExitCode> {
    if down.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    let mut request = base_request(
        Direction::Down {
            bucket: src.bucket.clone(),
            prefix: tree_prefix(&src.key),
            root,
        },
        spec.mode,
        down.concurrency,
    );
    spec.tree.apply(&mut request)?;
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    request.download.expected_context = down.context;
    request.download.pins = down.pins.resolve(&keyring).await?;
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
    execute(spec.command, store, &keyring, &request, spec.output, cancel).await
}

pub async fn run(global: &GlobalArgs, args: SyncArgs, cancel: Cancel) -> Result<ExitCode> {
    let mode = TreeMode::Sync {
        delete: args.delete,
        checksum: args.checksum,
    };
    let spec = RunSpec {
        command: "sync",
        mode,
        tree: &args.tree,
        output: args.output,
    };
    let remote = |s: &str| s.starts_with("s3://");
    match (remote(&args.src), remote(&args.dst)) {
        (false, true) => {
            let dest = ObjectLocation::parse_prefix(&args.dst)?;
            let up = UpOptions {
                kms_key_id: args.kms_key_id,
                sse_kms_key_id: args.sse_kms_key_id,
                context: args.context,
                chunk_size: args.chunk_size,
                part_size: args.part_size,
                concurrency: args.concurrency.unwrap_or_else(default_concurrency),
                posture: args.posture,
                owner: &args.owner,
                settings: &args.settings,
                resumable: args.resumable,
            };
            let root = PathBuf::from(&args.src);
            run_up(global, root, dest, up, spec, cancel).await
        }
        (true, false) => {
            if args.resumable {
                return Err(Error::usage(
                    "--resumable resumes uploads (a directory to s3://...); downloads of a tree are files written whole",
                ));
            }
            let src = ObjectLocation::parse_prefix(&args.src)?;
            let down = DownOptions {
                context: args.context,
                concurrency: args
                    .concurrency
                    .unwrap_or_else(default_download_concurrency),
                pins: &args.pins,
            };
            let root = PathBuf::from(&args.dst);
            run_down(global, src, root, down, spec, cancel).await
        }
        (true, true) => Err(Error::usage_hint(
            "sync between two S3 locations is not supported",
            "sync a directory to s3://BUCKET/PREFIX/ or back",
        )),
        (false, false) => Err(Error::usage_hint(
            "sync needs one side on S3 (s3://BUCKET/PREFIX/)",
            "for two local directories use rsync",
        )),
    }
}

//! `s3seal put SRC s3://BUCKET/KEY`: encrypt a file or stdin and upload it; with
//! `--recursive`, a directory into a prefix (the tree runner, `sync.rs`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::format::ChunkSize;
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::store::SdkStore;
use s3seal::transfer::Source;
use s3seal::transfer::resume::ResumableOutcome;
use s3seal::transfer::upload::{UploadRequest, upload};
use s3seal::transfer::{Cancel, default_concurrency, plan::DEFAULT_PART_BYTES};
use s3seal::{Error, Result};

use super::posture::{OwnerArgs, PostureMode, gate};
use super::tree::{ObjectSettingsArgs, TreeArgs, check_lock};
use super::{GlobalArgs, json, parse_pair, parse_size, progress, resumable};

#[derive(Args, Debug)]
pub struct PutArgs {
    /// File to upload, or - for stdin (a directory with --recursive)
    src: String,
    /// Destination, s3://BUCKET/KEY (s3://BUCKET/PREFIX/ with --recursive)
    dest: String,
    /// Upload the directory SRC: each file to PREFIX/RELATIVE/PATH (docs/SYNC.md)
    #[arg(short, long)]
    recursive: bool,
    /// KMS key for the envelope: key id, ARN or alias/NAME
    #[arg(long, env = "S3SEAL_KMS_KEY_ID", value_name = "ID")]
    kms_key_id: String,
    /// Encryption-context pair bound to the object (repeatable); needed again to read it
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// KMS key for S3's own SSE-KMS encryption [default: the envelope key]
    #[arg(long, value_name = "ID")]
    sse_kms_key_id: Option<String>,
    /// Parts in flight (read, sealed or uploading) [built in: 2 per core, 4 to 10]. Peak memory
    /// is about 24 MiB + CONCURRENCY x PART_SIZE (stdin: one part more), so at most about
    /// 112 MiB at the defaults
    #[arg(long, default_value_t = default_concurrency(), hide_default_value = true)]
    concurrency: usize,
    /// Plaintext bytes per multipart part (5MiB..5GiB; rounded up to whole chunks; grown when
    /// the object would need more than 10,000 parts)
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// For stdin: about how many bytes will come (a hint). Parts are sized up front so that
    /// length fits in 10,000 parts; without it, parts double every 1,000 parts, and a stream
    /// too long for the plan fails as soon as it crosses that length
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    expected_size: Option<u64>,
    /// Chunk size, a power of two from 64KiB to 16MiB
    #[arg(long, value_parser = parse_size, default_value = "1MiB", value_name = "SIZE")]
    chunk_size: u64,
    /// Bucket posture check before uploading [built in: enforce]: enforce refuses a `block`
    /// verdict (and names checks it could not read), strict anything but `ok`. Not with a
    /// presigned URL destination (no bucket is read)
    #[arg(long, value_enum)]
    posture: Option<PostureMode>,
    /// For a file: if the upload is interrupted, keep its multipart upload and a journal (in
    /// $XDG_STATE_HOME/s3seal/, else ~/.local/state/s3seal/), so the same command continues it
    /// after proving the stored parts match the file. Not for stdin: a stream cannot be read
    /// again. A later `put` of the same destination resumes without the flag
    #[arg(long, visible_alias = "resume")]
    resumable: bool,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    settings: ObjectSettingsArgs,
    /// With --recursive: copy every file again, even those an earlier run already uploaded with the same settings
    #[arg(long, requires = "recursive")]
    no_skip: bool,
    #[command(flatten)]
    tree: TreeArgs,
    #[command(flatten)]
    pub(super) output: json::OutputArgs,
}

/// The chunk size of `--chunk-size`, checked.
pub(super) fn chunk_size(bytes: u64) -> Result<ChunkSize> {
    ChunkSize::from_bytes(bytes).ok_or_else(|| {
        Error::usage(format!(
            "--chunk-size {bytes} must be a power of two from 64KiB to 16MiB"
        ))
    })
}

pub async fn run(global: &GlobalArgs, args: PutArgs, cancel: Cancel) -> Result<ExitCode> {
    if args.recursive {
        return run_recursive(global, args, cancel).await;
    }
    if let Some(flag) = args.tree.given() {
        return Err(Error::usage_hint(
            format!("{flag} is for trees"),
            "add --recursive to upload a directory",
        ));
    }
    run_one(global, args, cancel)
        .await
        .map(|()| ExitCode::SUCCESS)
}

/// `put --recursive DIR s3://BUCKET/PREFIX/`.
async fn run_recursive(global: &GlobalArgs, args: PutArgs, cancel: Cancel) -> Result<ExitCode> {
    use super::sync::{RunSpec, UpOptions, run_up};
    if args.src == "-" || s3seal::presign::is_url(&args.dest) || args.expected_size.is_some() {
        return Err(Error::usage_hint(
            "--recursive uploads a directory to s3://BUCKET/PREFIX/",
            "stdin, presigned URLs and --expected-size are for single objects",
        ));
    }
    let dest = ObjectLocation::parse_prefix(&args.dest)?;
    let up = UpOptions {
        kms_key_id: Some(args.kms_key_id),
        sse_kms_key_id: args.sse_kms_key_id,
        context: args.context,
        chunk_size: args.chunk_size,
        part_size: args.part_size,
        concurrency: args.concurrency,
        posture: args.posture,
        owner: &args.owner,
        settings: &args.settings,
        resumable: args.resumable,
    };
    let root = PathBuf::from(&args.src);
    let mode = s3seal::tree::TreeMode::Copy {
        skip_done: !args.no_skip,
    };
    run_up(
        global,
        root,
        dest,
        up,
        RunSpec {
            command: "put",
            mode,
            tree: &args.tree,
            output: args.output,
        },
        cancel,
    )
    .await
}

async fn run_one(global: &GlobalArgs, args: PutArgs, cancel: Cancel) -> Result<()> {
    if s3seal::presign::is_url(&args.dest) {
        return run_url(global, args).await;
    }
    let dest = ObjectLocation::parse(&args.dest)?;
    let chunk_size = chunk_size(args.chunk_size)?;
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    debug_assert_eq!(DEFAULT_PART_BYTES, 8 << 20);
    resumable::refuse_stream(args.resumable, &args.src)?;
    let source = if args.src == "-" {
        match args.expected_size {
            Some(expected_size) => Source::StreamWithHint {
                reader: Box::new(std::io::stdin()),
                expected_size,
            },
            None => Source::Stream(Box::new(std::io::stdin())),
        }
    } else {
        if args.expected_size.is_some() {
            return Err(Error::usage(
                "--expected-size is for stdin (-); a file's size is known",
            ));
        }
        let path = PathBuf::from(&args.src);
        if !path.exists() {
            return Err(Error::usage(format!("{}: no such file", path.display())));
        }
        if path.is_dir() {
            return Err(Error::usage_hint(
                format!("{} is a directory", path.display()),
                "add --recursive to upload a directory",
            ));
        }
        Source::File(path)
    };
    let mut settings = args.settings.settings();
    // A file's size, mtime and mode travel with it, so `get` restores them and sync can tell.
    if let Source::File(path) = &source {
        settings
            .metadata
            .extend(s3seal::tree::stamp::Stamp::read(path)?.to_metadata());
    }
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    gate(
        &aws,
        &dest.bucket,
        args.posture.unwrap_or_default(),
        &args.owner,
    )
    .await?;
    check_lock(
        &aws,
        &dest.bucket,
        args.owner.expected_owner.clone(),
        args.settings.wants_lock(),
    )
    .await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let store = Arc::new(SdkStore::new(
        aws.s3.clone(),
        args.owner.expected_owner.clone(),
    ));
    let request = UploadRequest {
        settings,
        if_match: None,
        stream_put_max: 0,
        dest,
        kms_key_id: args.kms_key_id,
        sse_kms_key_id: args.sse_kms_key_id,
        context: args.context,
        chunk_size,
        part_size: args.part_size,
        concurrency: args.concurrency,
    };
    let started = std::time::Instant::now();
    let progress = progress::reporter(args.output.quiet, "sealing");
    let (outcome, resumed) = match source {
        Source::File(path) if resumable::wanted(args.resumable, &request.dest) => {
            let done = resumable::put(store, &keyring, &path, &request, progress, cancel).await?;
            (done.upload.clone(), Some(done))
        }
        source => (
            upload(store, &keyring, source, &request, progress, cancel).await?,
            None,
        ),
    };
    report(
        &args.src,
        args.output,
        started,
        Sealed {
            destination: request.dest.to_string(),
            via: None,
            plaintext_len: outcome.plaintext_len,
            ciphertext_len: outcome.ciphertext_len,
            parts: outcome.parts,
            kms_key_arn: outcome.kms_key_arn,
            sse_kms_key_id: outcome.sse_kms_key_id,
            etag: outcome.etag,
            resumed,
        },
    );
    Ok(())
}

/// What a `put` stored, however it got there.
struct Sealed {
    destination: String,
    /// The presigned URL it went through (signature redacted).
    via: Option<String>,
    plaintext_len: u64,
    ciphertext_len: u64,
    parts: u32,
    kms_key_arn: String,
    sse_kms_key_id: String,
    etag: Option<String>,
    /// What a resumable upload skipped or why it started afresh.
    resumed: Option<ResumableOutcome>,
}

/// The JSON document and the summary line of a `put`.
fn report(src: &str, output: json::OutputArgs, started: std::time::Instant, done: Sealed) {
    if output.json {
        let mut doc = serde_json::json!({
            "source": src,
            "destination": done.destination,
            "plaintext_bytes": done.plaintext_len,
            "stored_bytes": done.ciphertext_len,
            "parts": done.parts,
            "kms_key_arn": done.kms_key_arn,
            "sse_kms_key_id": done.sse_kms_key_id,
            "etag": done.etag,
        });
        if let Some(via) = &done.via {
            doc["via_presigned_url"] = via.clone().into();
        }
        if let Some(r) = &done.resumed {
            doc["resume"] = resumable::json(r);
        }
        json::emit("put", started, doc);
    }
    if !output.quiet {
        if let Some(r) = &done.resumed {
            resumable::say(r);
        }
        let how = match done.parts {
            0 => "single PUT".to_string(),
            n => format!("{n} parts"),
        };
        let via = done.via.map(|v| format!(" via {v}")).unwrap_or_default();
        eprintln!(
            "sealed {} -> {}{via} ({} bytes plaintext, {} bytes stored, {how}; KMS key {})",
            src, done.destination, done.plaintext_len, done.ciphertext_len, done.kms_key_arn
        );
    }
}

/// `put SRC URL`: seal SRC and upload it with one PUT through a presigned URL from
/// `s3seal presign --put` (at most 5 GiB; no S3 credentials or posture check: the URL's signer
/// decided where it goes). The object is bound to the bucket/key the URL addresses.
async fn run_url(global: &GlobalArgs, args: PutArgs) -> Result<()> {
    use s3seal::presign::redact_url;
    use s3seal::transfer::url_put::{UrlPutRequest, put_to_url};
    let chunk_size = chunk_size(args.chunk_size)?;
    // Refuse plain HTTP, malformed URLs and options that cannot apply before reading anything.
    let parsed = s3seal::presign::ParsedUrl::parse(&args.dest)?;
    parsed.location()?;
    refuse_bucket_options(&args)?;
    if args.resumable {
        return Err(Error::usage(
            "--resumable needs an s3://BUCKET/KEY destination: a presigned URL takes one PUT",
        ));
    }
    s3seal::transfer::url_put::require_signed_sse(&parsed, &redact_url(&args.dest))?;
    let source = if args.src == "-" {
        Source::Stream(Box::new(std::io::stdin()))
    } else {
        let path = PathBuf::from(&args.src);
        if !path.exists() {
            return Err(Error::usage(format!("{}: no such file", path.display())));
        }
        Source::File(path)
    };
    let settings = global.aws_settings();
    let aws = s3seal::aws::connect(&settings).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let request = UrlPutRequest {
        sse_kms_key_id: args
            .sse_kms_key_id
            .clone()
            .unwrap_or_else(|| args.kms_key_id.clone()),
        kms_key_id: args.kms_key_id,
        context: args.context,
        chunk_size,
    };
    let started = std::time::Instant::now();
    let outcome = put_to_url(&args.dest, &settings, &keyring, source, &request).await?;
    report(
        &args.src,
        args.output,
        started,
        Sealed {
            destination: outcome.location.to_string(),
            via: Some(redact_url(&args.dest)),
            plaintext_len: outcome.plaintext_len,
            ciphertext_len: outcome.ciphertext_len,
            parts: 0,
            kms_key_arn: outcome.kms_key_arn,
            sse_kms_key_id: request.sse_kms_key_id,
            etag: None,
            resumed: None,
        },
    );
    Ok(())
}

/// With a presigned URL destination there is no bucket to check or to pin: `--posture`
/// (other than off), `--expected-owner` and `--trusted-account` typed on the command line
/// would be silently ignored, so they are refused. The same settings from the environment or
/// the config file are defaults for bucket destinations, and do not apply here.
fn refuse_bucket_options(args: &PutArgs) -> Result<()> {
    let typed = super::config::on_command_line;
    let mut given = Vec::new();
    if matches!(
        args.posture,
        Some(PostureMode::Enforce | PostureMode::Strict)
    ) && typed("posture")
    {
        given.push("--posture");
    }
    if args.owner.expected_owner.is_some() && typed("expected_owner") {
        given.push("--expected-owner");
    }
    if !args.owner.trusted_accounts.is_empty() && typed("trusted_accounts") {
        given.push("--trusted-account");
    }
    if args.settings.settings() != Default::default() {
        given.push("--storage-class/--tag/--object-lock-*");
    }
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::usage_hint(
        format!(
            "{} cannot apply to a presigned URL destination: s3seal reads no bucket settings through a URL",
            given.join(", ")
        ),
        "check the bucket with `s3seal posture s3://BUCKET` (with credentials) before presigning, or upload to s3://BUCKET/KEY",
    ))
}

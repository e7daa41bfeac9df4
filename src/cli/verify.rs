//! `s3seal verify SRC`: authenticate every chunk of an object (s3://, presigned URL or local
//! file) in parallel and write no plaintext; exit 0 only if it is intact, 3 if not (naming the
//! first bad chunk). With `--manifest` or `--recursive`, every object named there (a report
//! line each; exit 7 when some failed, 3 when any failed its integrity check).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::batch::report::Done;
use s3seal::batch::{ObjectRef, require_current};
use s3seal::kms::KmsKeyring;
use s3seal::ops::open::Opened;
use s3seal::ops::verify::{VerifyRequest, verify};
use s3seal::pins::printable;
use s3seal::presign::UrlObject;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::transfer::download::{LocalFile, StoreObject};
use s3seal::transfer::{Cancel, NoProgress, default_download_concurrency};
use s3seal::{Error, Result};

use super::batch::{BatchArgs, run_batch};
use super::inspect::SrcKind;
use super::pins::PinArgs;
use super::{GlobalArgs, json, parse_pair, parse_size, progress};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// s3://BUCKET/KEY, a presigned https:// URL, or a local file holding an encrypted object;
    /// with --recursive the prefix s3://BUCKET/PREFIX; with --manifest the bucket of bare keys
    src: Option<String>,
    /// Encryption-context pair the object must carry (repeatable)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Accept an object that was written for another bucket/key (implied for a local file)
    #[arg(long)]
    allow_relocated: bool,
    /// Also verify objects of the AWS S3 Encryption Client (authenticated, but not bound to
    /// their bucket and key)
    #[arg(long)]
    allow_s3ec: bool,
    #[command(flatten)]
    pins: PinArgs,
    /// Ranged reads in flight [built in: 6, sized by memory, not cores]
    #[arg(long, default_value_t = default_download_concurrency(), hide_default_value = true)]
    concurrency: usize,
    /// Bytes per ranged read
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    #[command(flatten)]
    batch: BatchArgs,
    #[command(flatten)]
    pub(super) output: json::OutputArgs,
}

/// The KMS key an opened object's data key was wrapped under.
fn key_of(opened: &Opened) -> Option<String> {
    match opened {
        Opened::S3seal(outcome) => Some(outcome.kms_key_arn.clone()),
        Opened::S3ec(done) => done.kms_key_arn.clone(),
    }
}

/// `verify --manifest` / `--recursive`: every object, one report line each.
async fn run_many(global: &GlobalArgs, args: VerifyArgs, cancel: Cancel) -> Result<ExitCode> {
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let request = VerifyRequest {
        pins: args.pins.resolve(&keyring).await?,
        allow_s3ec: args.allow_s3ec,
        expected_context: args.context.clone(),
        allow_relocated: args.allow_relocated,
        concurrency: args.concurrency,
        unit_bytes: args.part_size,
    };
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
    let op = |object: ObjectRef| {
        let (store, keyring, request, cancel) =
            (Arc::clone(&store), &keyring, &request, cancel.clone());
        async move {
            require_current(&*store, &object).await?;
            let reader = StoreObject::new(Arc::clone(&store), object.location);
            let opened = verify(
                &reader,
                Some(&*store),
                keyring,
                request,
                Arc::new(NoProgress),
                cancel,
            )
            .await?;
            Ok(Done::new("verified", key_of(&opened)))
        }
    };
    run_batch(
        "verify",
        &args.batch,
        Arc::clone(&store),
        args.src.as_deref(),
        args.output.quiet,
        cancel.clone(),
        op,
    )
    .await
}

pub async fn run(global: &GlobalArgs, args: VerifyArgs, cancel: Cancel) -> Result<ExitCode> {
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    let Some(src) = args
        .batch
        .single("verify", args.src.as_deref(), args.output.json)?
    else {
        return run_many(global, args, cancel).await;
    };
    let kind = SrcKind::parse(src)?;
    let settings = global.aws_settings();
    let url_reader = match &kind {
        SrcKind::Url(url) => Some(UrlObject::new(url, &settings)?),
        _ => None,
    };
    let file_reader = match &kind {
        SrcKind::File(path) => Some(LocalFile::new(path)?),
        _ => None,
    };
    let aws = s3seal::aws::connect(&settings).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let request = VerifyRequest {
        pins: args.pins.resolve(&keyring).await?,
        allow_s3ec: args.allow_s3ec,
        expected_context: args.context,
        allow_relocated: args.allow_relocated || file_reader.is_some(),
        concurrency: args.concurrency,
        unit_bytes: args.part_size,
    };
    let progress = progress::reporter(args.output.quiet, "verifying");
    let started = std::time::Instant::now();
    let opened = match (&kind, url_reader, file_reader) {
        (SrcKind::S3(location), _, _) => {
            let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
            let reader = StoreObject::new(Arc::clone(&store), location.clone());
            // An S3 Encryption Client object: its one GCM stream is authenticated instead.
            verify(&reader, Some(&*store), &keyring, &request, progress, cancel).await?
        }
        (_, Some(reader), _) => verify(&reader, None, &keyring, &request, progress, cancel).await?,
        (_, _, Some(reader)) => verify(&reader, None, &keyring, &request, progress, cancel).await?,
        _ => unreachable!("every source kind has a reader"),
    };
    if args.output.json {
        let mut doc = json::opened(&kind.display(), &opened);
        doc["intact"] = true.into();
        json::emit("verify", started, doc);
    }
    // The summary goes to stdout, unless stdout carries the JSON document.
    let say = |line: String| {
        if args.output.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    if !args.output.quiet {
        match opened {
            Opened::S3seal(outcome) => say(format!(
                "intact: {} ({} bytes of plaintext, {} chunks authenticated; KMS key {})",
                kind.display(),
                outcome.plaintext_len,
                outcome.chunks_verified,
                printable(&outcome.kms_key_arn)
            )),
            Opened::S3ec(done) => say(format!(
                "intact: {} (S3 Encryption Client {} object, NOT bound to its location; {} bytes of plaintext, tag verified; KMS key {})",
                kind.display(),
                done.format,
                done.plaintext_len,
                printable(done.kms_key_arn.as_deref().unwrap_or("unknown"))
            )),
        }
    }
    Ok(ExitCode::SUCCESS)
}

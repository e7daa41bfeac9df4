//! `s3seal migrate s3://BUCKET/KEY`: re-encrypts an object written by the AWS S3 Encryption
//! Client (v2 or v3) into the s3seal format in place ([`s3seal::ops::migrate`]): the old object
//! is decrypted and verified before anything is written, the new one read back and compared.
//! Here: the arguments, the posture gate before the first write, and the summary. With
//! `--manifest` or `--recursive`, every object named there (a report line each; an object
//! that is an s3seal object already is reported as `already-s3seal` and left alone).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::batch::report::Done;
use s3seal::batch::{ObjectRef, require_current};
use s3seal::format::{MAGIC, ParsedHeader};
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::ops::inspect::INSPECT_BYTES;
use s3seal::ops::migrate::{MigrateRequest, Migration};
use s3seal::pins::printable;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::transfer::download::{FirstRange, SHARED_RANGE_BYTES, StoreObject};
use s3seal::transfer::{Cancel, NoProgress, Progress, default_rewrite_concurrency};
use s3seal::{Error, Result};
use tokio::sync::Mutex;

use super::batch::{BatchArgs, run_batch};
use super::pins::PinArgs;
use super::posture::{OwnerArgs, PostureMode, gate};
use super::{GlobalArgs, json, parse_pair, parse_size, progress};

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// S3 Encryption Client object to re-encrypt in place, s3://BUCKET/KEY; with --recursive
    /// the prefix s3://BUCKET/PREFIX; with --manifest the bucket of bare keys
    src: Option<String>,
    /// KMS key for the new s3seal envelope: key id, ARN or alias/NAME
    #[arg(long, env = "S3SEAL_KMS_KEY_ID", value_name = "ID")]
    kms_key_id: String,
    /// Encryption-context pair the old object must carry (repeatable); the new object keeps
    /// the old object's context pairs
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// KMS key for S3's own SSE-KMS encryption [default: the envelope key]
    #[arg(long, value_name = "ID")]
    sse_kms_key_id: Option<String>,
    /// Chunk size of the new object, a power of two from 64KiB to 16MiB
    #[arg(long, value_parser = parse_size, default_value = "1MiB", value_name = "SIZE")]
    chunk_size: u64,
    /// Plaintext per multipart part of the new object (ranged reads of the old one are 2 MiB)
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// Parts or ranges in flight [built in: 2 per core, 4 to 8]. Peak memory stays under
    /// 128 MiB at the defaults
    #[arg(long, default_value_t = default_rewrite_concurrency(), hide_default_value = true)]
    concurrency: usize,
    /// Directory for the verified plaintext while it is re-encrypted [default: the system's
    /// temporary directory]
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
    /// Leave KEY.instruction in place (by default it is deleted once the new object verified)
    #[arg(long)]
    keep_instruction_file: bool,
    /// Bucket posture check before writing: enforce refuses a `block` verdict, strict
    /// anything but `ok`
    #[arg(long, value_enum, default_value_t = PostureMode::Enforce)]
    posture: PostureMode,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    pub(super) output: json::OutputArgs,
    #[command(flatten)]
    pins: PinArgs,
    #[command(flatten)]
    batch: BatchArgs,
}

/// `migrate --manifest` / `--recursive`: every object, one report line each.
async fn run_many(
    global: &GlobalArgs, args: MigrateArgs, request: MigrateRequest, cancel: Cancel,
) -> Result<ExitCode> {
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let request = MigrateRequest {
        pins: args.pins.resolve(&keyring).await?,
        ..request
    };
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(
        aws.s3.clone(),
        args.owner.expected_owner.clone(),
    ));
    // Each bucket's posture is checked once, before its first write.
    let checked: Mutex<HashSet<String>> = Mutex::default();
    let op = |object: ObjectRef| {
        let (store, keyring, request, aws, checked, cancel) = (
            Arc::clone(&store),
            &keyring,
            &request,
            &aws,
            &checked,
            cancel.clone(),
        );
        let (mode, owner) = (args.posture, &args.owner);
        async move {
            require_current(&*store, &object).await?;
            let location = object.location;
            let reader = StoreObject::new(Arc::clone(&store), location.clone());
            let first = FirstRange::read(&reader, INSPECT_BYTES).await?;
            if first.bytes.starts_with(&MAGIC) {
                // As `seal` reports an object already sealed: the key its header names (not
                // verified here; nothing is written).
                let named = ParsedHeader::parse(&first.bytes)
                    .ok()
                    .map(|h| h.fields.key_id);
                return Ok(Done::new("already-s3seal", named));
            }
            let migration = Migration::start(store, &location, SHARED_RANGE_BYTES).await?;
            let mut passed = checked.lock().await;
            if !passed.contains(&location.bucket) {
                gate(aws, &location.bucket, mode, owner).await?;
                passed.insert(location.bucket.clone());
            }
            drop(passed);
            let quiet = |_: &str| -> Arc<dyn Progress> { Arc::new(NoProgress) };
            let outcome = migration.run(keyring, request, quiet, cancel).await?;
            let mut done = Done::new("migrated", Some(outcome.kms_key_arn));
            done.extra
                .insert("old_format".into(), outcome.old_format.to_string().into());
            done.extra
                .insert("old_kms_key_arn".into(), outcome.old_kms_key_arn.into());
            Ok(done)
        }
    };
    run_batch(
        "migrate",
        &args.batch,
        Arc::clone(&store),
        args.src.as_deref(),
        args.output.quiet,
        cancel.clone(),
        op,
    )
    .await
}

pub async fn run(global: &GlobalArgs, args: MigrateArgs, cancel: Cancel) -> Result<ExitCode> {
    let chunk_size = super::put::chunk_size(args.chunk_size)?;
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    let temp_dir = args.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    if !temp_dir.is_dir() {
        return Err(Error::usage(format!(
            "--temp-dir {}: not a directory",
            temp_dir.display()
        )));
    }
    let Some(src) = args
        .batch
        .single("migrate", args.src.as_deref(), args.output.json)?
    else {
        let request = MigrateRequest {
            kms_key_id: args.kms_key_id.clone(),
            expected_context: args.context.clone(),
            sse_kms_key_id: args.sse_kms_key_id.clone(),
            chunk_size,
            part_size: args.part_size,
            concurrency: args.concurrency,
            temp_dir,
            keep_instruction_file: args.keep_instruction_file,
            pins: s3seal::pins::KeyPins::unpinned(),
        };
        return run_many(global, args, request, cancel).await;
    };
    let location = ObjectLocation::parse(src)?;
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let store = Arc::new(SdkStore::new(
        aws.s3.clone(),
        args.owner.expected_owner.clone(),
    ));
    let migration = Migration::start(store, &location, SHARED_RANGE_BYTES).await?;
    // Nothing is written to a bucket that fails the posture check.
    gate(&aws, &location.bucket, args.posture, &args.owner).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let request = MigrateRequest {
        kms_key_id: args.kms_key_id,
        expected_context: args.context,
        sse_kms_key_id: args.sse_kms_key_id,
        chunk_size,
        part_size: args.part_size,
        concurrency: args.concurrency,
        temp_dir,
        keep_instruction_file: args.keep_instruction_file,
        pins: args.pins.resolve(&keyring).await?,
    };
    let quiet = args.output.quiet;
    let started = std::time::Instant::now();
    let done = migration
        .run(
            &keyring,
            &request,
            |step| progress::reporter(quiet, step),
            cancel,
        )
        .await?;
    if args.output.json {
        json::emit(
            "migrate",
            started,
            serde_json::json!({
                "object": location.to_string(),
                "old_format": done.old_format.to_string(),
                "old_kms_key_arn": done.old_kms_key_arn,
                "plaintext_bytes": done.plaintext_len,
                "stored_bytes": done.ciphertext_len,
                "kms_key_arn": done.kms_key_arn,
                "instruction_file_removed": done.removed_instruction,
            }),
        );
    }
    if !quiet {
        eprintln!(
            "migrated {location} from {} (KMS key {}) to s3seal ({} bytes plaintext, {} bytes stored; KMS key {}; read back and compared{})",
            done.old_format,
            printable(done.old_kms_key_arn.as_deref().unwrap_or("unknown")),
            done.plaintext_len,
            done.ciphertext_len,
            done.kms_key_arn,
            if done.removed_instruction {
                "; instruction file removed"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

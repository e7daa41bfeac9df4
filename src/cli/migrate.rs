//! `s3seal migrate s3://BUCKET/KEY`: re-encrypts an object written by the AWS S3 Encryption
//! Client (v2 or v3) into the s3seal format in place ([`s3seal::ops::migrate`]): the old object
//! is decrypted and verified before anything is written, the new one read back and compared.
//! Here: the arguments, the posture gate before the first write, and the summary.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use s3seal::format::ChunkSize;
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::ops::migrate::{MigrateRequest, Migration};
use s3seal::pins::printable;
use s3seal::store::SdkStore;
use s3seal::transfer::download::DEFAULT_RANGE_BYTES;
use s3seal::transfer::{Cancel, default_download_concurrency};
use s3seal::{Error, Result};

use super::pins::PinArgs;
use super::posture::{OwnerArgs, PostureMode, gate};
use super::{GlobalArgs, json, parse_pair, parse_size, progress};

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// S3 Encryption Client object to re-encrypt in place, s3://BUCKET/KEY
    src: String,
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
    /// Plaintext per multipart part of the new object (ranged reads of the old one are 4 MiB)
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// Parts or ranges in flight [default: 2 per core, 4 to 8]. Peak memory stays under
    /// 128 MiB at the defaults
    #[arg(long, default_value_t = default_download_concurrency(), hide_default_value = true)]
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
}

pub async fn run(global: &GlobalArgs, args: MigrateArgs, cancel: Cancel) -> Result<()> {
    let location = ObjectLocation::parse(&args.src)?;
    let chunk_size = ChunkSize::from_bytes(args.chunk_size).ok_or_else(|| {
        Error::usage(format!(
            "--chunk-size {} must be a power of two from 64KiB to 16MiB",
            args.chunk_size
        ))
    })?;
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
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let store = Arc::new(SdkStore::new(
        aws.s3.clone(),
        args.owner.expected_owner.clone(),
    ));
    let migration = Migration::start(store, &location, DEFAULT_RANGE_BYTES).await?;
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
    Ok(())
}

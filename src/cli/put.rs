//! `s3seal put SRC s3://BUCKET/KEY`: encrypt a file or stdin and upload it.

use std::path::PathBuf;

use clap::Args;
use s3seal::format::ChunkSize;
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::transfer::upload::{Source, UploadRequest, upload};
use s3seal::transfer::{Cancel, DEFAULT_CONCURRENCY, plan::DEFAULT_PART_BYTES};
use s3seal::{Error, Result};

use super::posture::{OwnerArgs, PostureMode, gate};
use super::{GlobalArgs, parse_pair, parse_size, progress};

#[derive(Args, Debug)]
pub struct PutArgs {
    /// File to upload, or - for stdin
    src: String,
    /// Destination, s3://BUCKET/KEY
    dest: String,
    /// KMS key for the envelope: key id, ARN or alias/NAME
    #[arg(long, env = "S3SEAL_KMS_KEY_ID", value_name = "ID")]
    kms_key_id: String,
    /// Encryption-context pair bound to the object (repeatable); needed again to read it
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// KMS key for S3's own SSE-KMS encryption [default: the envelope key]
    #[arg(long, value_name = "ID")]
    sse_kms_key_id: Option<String>,
    /// Parts uploaded at once
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Plaintext bytes per multipart part (5MiB..5GiB; rounded up to whole chunks)
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// Chunk size, a power of two from 64KiB to 16MiB
    #[arg(long, value_parser = parse_size, default_value = "1MiB", value_name = "SIZE")]
    chunk_size: u64,
    /// Bucket posture check before uploading: enforce refuses a `block` verdict, strict
    /// anything but `ok`
    #[arg(long, value_enum, default_value_t = PostureMode::Enforce)]
    posture: PostureMode,
    #[command(flatten)]
    owner: OwnerArgs,
    /// No progress bar or summary
    #[arg(short, long)]
    quiet: bool,
}

pub async fn run(global: &GlobalArgs, args: PutArgs, cancel: Cancel) -> Result<()> {
    let dest = ObjectLocation::parse(&args.dest)?;
    let chunk_size = ChunkSize::from_bytes(args.chunk_size).ok_or_else(|| {
        Error::usage(format!(
            "--chunk-size {} must be a power of two from 64KiB to 16MiB",
            args.chunk_size
        ))
    })?;
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    debug_assert_eq!(DEFAULT_PART_BYTES, 8 << 20);
    let source = if args.src == "-" {
        Source::Stream(Box::new(std::io::stdin()))
    } else {
        let path = PathBuf::from(&args.src);
        if !path.exists() {
            return Err(Error::usage(format!("{}: no such file", path.display())));
        }
        Source::File(path)
    };
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    gate(&aws, &dest.bucket, args.posture, &args.owner).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let request = UploadRequest {
        expected_bucket_owner: args.owner.expected_owner.clone(),
        dest,
        kms_key_id: args.kms_key_id,
        sse_kms_key_id: args.sse_kms_key_id,
        context: args.context,
        chunk_size,
        part_size: args.part_size,
        concurrency: args.concurrency,
    };
    let progress = progress::reporter(args.quiet, "sealing");
    let outcome = upload(&aws, &keyring, source, &request, progress, cancel).await?;
    if !args.quiet {
        eprintln!(
            "sealed {} -> {} ({} bytes plaintext, {} bytes stored, {}; KMS key {})",
            args.src,
            request.dest,
            outcome.plaintext_len,
            outcome.ciphertext_len,
            if outcome.parts == 0 {
                "single PUT".to_string()
            } else {
                format!("{} parts", outcome.parts)
            },
            outcome.kms_key_arn
        );
    }
    Ok(())
}

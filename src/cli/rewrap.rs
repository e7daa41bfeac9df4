//! `s3seal rewrap s3://BUCKET/KEY --kms-key-id NEW [--context K=V ...]`: move an object's data
//! key under another KMS key and rewrite only its header (server-side copies for the body).
//! With `--manifest` or `--recursive`, every object named there (a report line each).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::batch::report::Done;
use s3seal::batch::{ObjectRef, require_current};
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::ops::rewrap::{
    DEFAULT_COPY_CONCURRENCY, DEFAULT_COPY_PART_BYTES, RewrapRequest, Rewrapped, rewrap_or_done,
};
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::terminal::escape_for_terminal;
use s3seal::transfer::Cancel;
use s3seal::{Error, Result};

use super::batch::{BatchArgs, run_batch};
use super::pins::PinArgs;
use super::{GlobalArgs, json, parse_pair, parse_size};

#[derive(Args, Debug)]
pub struct RewrapArgs {
    /// Object to rewrap, s3://BUCKET/KEY; with --recursive the prefix s3://BUCKET/PREFIX; with
    /// --manifest the bucket of bare keys
    target: Option<String>,
    /// The KMS key that will wrap the data key from now on: key id, ARN or alias/NAME
    #[arg(long, value_name = "ID")]
    kms_key_id: String,
    /// New encryption-context pair (repeatable); replaces the object's user pairs, which are
    /// kept when none is given
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Drop the object's user encryption-context pairs
    #[arg(long, conflicts_with = "context")]
    clear_context: bool,
    /// KMS key for S3's own SSE-KMS encryption of the rewritten object [default: the new key]
    #[arg(long, value_name = "ID")]
    sse_kms_key_id: Option<String>,
    /// Bytes per server-side copy part (5MiB..5GiB)
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_COPY_PART_BYTES, value_name = "SIZE")]
    copy_part_size: u64,
    /// Copy requests in flight
    #[arg(long, default_value_t = DEFAULT_COPY_CONCURRENCY)]
    concurrency: usize,
    #[command(flatten)]
    pub(super) output: json::OutputArgs,
    #[command(flatten)]
    pins: PinArgs,
    #[command(flatten)]
    batch: BatchArgs,
}

pub async fn run(global: &GlobalArgs, args: RewrapArgs, cancel: Cancel) -> Result<ExitCode> {
    let location = args
        .batch
        .single("rewrap", args.target.as_deref(), args.output.json)?
        .map(ObjectLocation::parse)
        .transpose()?;
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    let new_context = if args.clear_context {
        Some(Vec::new())
    } else if args.context.is_empty() {
        None
    } else {
        Some(args.context)
    };
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let template = RewrapRequest {
        pins: args.pins.resolve(&keyring).await?,
        location: location.clone().unwrap_or(ObjectLocation {
            bucket: String::new(),
            key: String::new(),
        }),
        new_kms_key_id: args.kms_key_id,
        new_context,
        sse_kms_key_id: args.sse_kms_key_id,
        copy_part_bytes: args.copy_part_size,
        concurrency: args.concurrency,
    };
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
    let Some(location) = location else {
        let op = |object: ObjectRef| {
            let (store, keyring, cancel) = (Arc::clone(&store), &keyring, cancel.clone());
            let request = RewrapRequest {
                location: object.location.clone(),
                ..template.clone()
            };
            async move {
                require_current(&*store, &object).await?;
                Ok(
                    match rewrap_or_done(store, keyring, &request, cancel).await? {
                        Rewrapped::Now(outcome) => {
                            let mut done = Done::new("rewrapped", Some(outcome.new_kms_key_id));
                            done.extra
                                .insert("old_kms_key_arn".into(), outcome.old_kms_key_id.into());
                            done
                        }
                        Rewrapped::Before(arn) => Done::new("already-rewrapped", Some(arn)),
                    },
                )
            }
        };
        return run_batch(
            "rewrap",
            &args.batch,
            Arc::clone(&store),
            args.target.as_deref(),
            args.output.quiet,
            cancel.clone(),
            op,
        )
        .await;
    };
    let request = RewrapRequest {
        location,
        ..template
    };
    let started = std::time::Instant::now();
    let outcome = match rewrap_or_done(store, &keyring, &request, cancel).await? {
        Rewrapped::Now(outcome) => outcome,
        Rewrapped::Before(arn) => {
            if args.output.json {
                json::emit(
                    "rewrap",
                    started,
                    serde_json::json!({
                        "object": request.location.to_string(),
                        "action": "already-rewrapped",
                        "kms_key_arn": arn,
                    }),
                );
            }
            if !args.output.quiet {
                eprintln!(
                    "{} is already under KMS key {arn} (verified): nothing to rewrap",
                    request.location
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    if args.output.json {
        json::emit(
            "rewrap",
            started,
            serde_json::json!({
                "object": request.location.to_string(),
                "action": "rewrapped",
                "old_kms_key_arn": outcome.old_kms_key_id,
                "kms_key_arn": outcome.new_kms_key_id,
                "old_header_bytes": outcome.old_header_len,
                "new_header_bytes": outcome.new_header_len,
                "stored_bytes": outcome.ciphertext_len,
                "parts": outcome.parts,
                "bytes_uploaded": outcome.bytes_uploaded,
                "bytes_copied": outcome.bytes_copied,
            }),
        );
    }
    if !args.output.quiet {
        eprintln!(
            "rewrapped {}: KMS key {} -> {}; header {} -> {} bytes; {}",
            request.location,
            escape_for_terminal(&outcome.old_kms_key_id),
            outcome.new_kms_key_id,
            outcome.old_header_len,
            outcome.new_header_len,
            if outcome.parts == 0 {
                format!("rewritten with one PUT ({} bytes)", outcome.ciphertext_len)
            } else {
                format!(
                    "{} parts: {} bytes uploaded, {} bytes copied inside S3",
                    outcome.parts, outcome.bytes_uploaded, outcome.bytes_copied
                )
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `s3seal seal s3://BUCKET/KEY`: encrypt an existing plaintext object in place
//! ([`s3seal::ops::seal`]), or every object of a manifest or prefix (`--manifest`,
//! `--recursive`, sharded with `--shard`). Here: the arguments, the posture gate before the
//! first write to a bucket, the summary or the report.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::batch::report::Done;
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::ops::seal::{SealAction, SealOutcome, SealRequest, seal, seal_with_progress};
use s3seal::pins::printable;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::transfer::{Cancel, default_rewrite_concurrency};
use s3seal::{Error, Result};
use tokio::sync::Mutex;

use super::batch::{BatchArgs, run_batch};
use super::posture::{OwnerArgs, PostureMode, gate};
use super::{GlobalArgs, json, parse_pair, parse_size, progress};

#[derive(Args, Debug)]
pub struct SealArgs {
    /// Plaintext object to encrypt in place, s3://BUCKET/KEY; with --recursive the prefix
    /// s3://BUCKET/PREFIX; with --manifest the bucket of bare keys (optional)
    target: Option<String>,
    /// KMS key for the envelope: key id, ARN or alias/NAME
    #[arg(long, env = "S3SEAL_KMS_KEY_ID", value_name = "ID")]
    kms_key_id: String,
    /// Encryption-context pair bound to the object (repeatable); needed again to read it
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// KMS key for S3's own SSE-KMS encryption [default: the envelope key]
    #[arg(long, value_name = "ID")]
    sse_kms_key_id: Option<String>,
    /// On a versioned bucket, delete the plaintext version that was read, once the sealed
    /// object verified (S3 refuses under Object Lock: reported as a failure)
    #[arg(long)]
    delete_plaintext_version: bool,
    /// Chunk size, a power of two from 64KiB to 16MiB
    #[arg(long, value_parser = parse_size, default_value = "1MiB", value_name = "SIZE")]
    chunk_size: u64,
    /// Plaintext per multipart part of the sealed object (reads of the plaintext are 2 MiB)
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// Parts or ranges in flight per object [built in: 2 per core, 4 to 8]
    #[arg(long, default_value_t = default_rewrite_concurrency(), hide_default_value = true)]
    concurrency: usize,
    /// Bucket posture check before the first write to a bucket: enforce refuses a `block`
    /// verdict, strict anything but `ok`
    #[arg(long, value_enum, default_value_t = PostureMode::Enforce)]
    posture: PostureMode,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    batch: BatchArgs,
    #[command(flatten)]
    pub(super) output: json::OutputArgs,
}

/// The report fields of a seal outcome.
fn done(outcome: SealOutcome) -> Done {
    let mut done = Done::new(outcome.action.as_str(), Some(outcome.kms_key_arn));
    done.extra
        .insert("previous_version".into(), outcome.previous_version.into());
    done.extra
        .insert("deleted_previous".into(), outcome.deleted_previous.into());
    if let Some(reason) = outcome.delete_failure {
        done.failure = Some(Error::runtime(format!(
            "sealed, but the plaintext version could not be deleted: {reason}"
        )));
    }
    done
}

pub async fn run(global: &GlobalArgs, args: SealArgs, cancel: Cancel) -> Result<ExitCode> {
    let chunk_size = super::put::chunk_size(args.chunk_size)?;
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1"));
    }
    let single = args
        .batch
        .single("seal", args.target.as_deref(), args.output.json)?
        .map(ObjectLocation::parse)
        .transpose()?;
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(
        aws.s3.clone(),
        args.owner.expected_owner.clone(),
    ));
    let request = |location: ObjectLocation, version_id: Option<String>| SealRequest {
        location,
        version_id,
        kms_key_id: args.kms_key_id.clone(),
        sse_kms_key_id: args.sse_kms_key_id.clone(),
        context: args.context.clone(),
        chunk_size,
        part_size: args.part_size,
        concurrency: args.concurrency,
        delete_plaintext_version: args.delete_plaintext_version,
    };

    let Some(location) = single else {
        // Each bucket's posture is checked once, before its first object.
        let checked: Mutex<HashSet<String>> = Mutex::default();
        let op = |object: s3seal::batch::ObjectRef| {
            let request = request(object.location.clone(), object.version_id.clone());
            let (store, keyring, aws, checked, cancel) =
                (Arc::clone(&store), &keyring, &aws, &checked, cancel.clone());
            let (mode, owner) = (args.posture, &args.owner);
            async move {
                let bucket = &request.location.bucket;
                let mut passed = checked.lock().await;
                if !passed.contains(bucket) {
                    gate(aws, bucket, mode, owner).await?;
                    passed.insert(bucket.clone());
                }
                drop(passed);
                seal(store, keyring, &request, cancel).await.map(done)
            }
        };
        return run_batch(
            "seal",
            &args.batch,
            Arc::clone(&store),
            args.target.as_deref(),
            args.output.quiet,
            cancel.clone(),
            op,
        )
        .await;
    };

    gate(&aws, &location.bucket, args.posture, &args.owner).await?;
    let started = std::time::Instant::now();
    let progress = progress::reporter(args.output.quiet, "sealing");
    let outcome = seal_with_progress(
        store,
        &keyring,
        &request(location.clone(), None),
        progress,
        cancel,
    )
    .await?;
    // A refused deletion is a failure: its document is the failure document (main prints it).
    if args.output.json && outcome.delete_failure.is_none() {
        json::emit(
            "seal",
            started,
            serde_json::json!({
                "object": location.to_string(),
                "action": outcome.action.as_str(),
                "kms_key_arn": outcome.kms_key_arn,
                "plaintext_bytes": outcome.plaintext_len,
                "stored_bytes": outcome.ciphertext_len,
                "etag": outcome.etag,
                "previous_version": outcome.previous_version,
                "deleted_previous": outcome.deleted_previous,
            }),
        );
    }
    if !args.output.quiet {
        match outcome.action {
            SealAction::AlreadySealed => eprintln!(
                "{location} is already an s3seal object (KMS key {}, as its header names it); nothing was written",
                printable(&outcome.kms_key_arn)
            ),
            SealAction::Sealed => eprintln!(
                "sealed {location}: {} bytes of plaintext, {} bytes stored, KMS key {}; verified",
                outcome.plaintext_len, outcome.ciphertext_len, outcome.kms_key_arn
            ),
        }
        if let Some(version) = &outcome.previous_version {
            if outcome.deleted_previous {
                eprintln!("deleted the plaintext version {}", printable(version));
            } else if outcome.delete_failure.is_none() {
                eprintln!(
                    "warning: the bucket is versioned: the plaintext version {} still exists and anyone with s3:GetObjectVersion can read it; delete it with --delete-plaintext-version (or `aws s3api delete-object --version-id`)",
                    printable(version)
                );
            }
        }
    }
    if let Some(reason) = outcome.delete_failure {
        let version = outcome.previous_version.unwrap_or_default();
        return Err(Error::runtime_hint(
            format!(
                "{location} was sealed and verified, but its plaintext version {version} could not be deleted: {reason}"
            ),
            "under Object Lock the version stays until its retention ends or its legal hold is lifted",
        ));
    }
    Ok(ExitCode::SUCCESS)
}

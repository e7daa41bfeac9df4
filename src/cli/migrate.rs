//! `s3seal migrate s3://BUCKET/KEY`: re-encrypts an object written by the AWS S3 Encryption
//! Client (v2 or v3) into the s3seal format in place. The old object is decrypted and its GCM
//! tag verified into a private temporary file before anything is written; the new object is
//! uploaded with the usual pipeline and read back and compared before the command succeeds.

use std::path::{Path, PathBuf};

use clap::Args;
use s3seal::format::{ChunkSize, MAGIC};
use s3seal::kms::KmsKeyring;
use s3seal::location::ObjectLocation;
use s3seal::s3ec;
use s3seal::transfer::download::{DownloadRequest, RangeReader, S3Object, Sink, download};
use s3seal::transfer::upload::{Source, UploadRequest, upload};
use s3seal::transfer::{Cancel, DEFAULT_CONCURRENCY, NoProgress};
use s3seal::{Error, Result};
use sha2::{Digest, Sha256};

use super::posture::{OwnerArgs, PostureMode, gate};
use super::{GlobalArgs, parse_pair, parse_size, progress};

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
    /// Bytes per multipart part and per ranged GET
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// Parts or ranges in flight
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
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
    /// No progress bar or summary
    #[arg(short, long)]
    quiet: bool,
}

/// SHA-256 of a file, read in blocks (flat memory).
async fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file =
            std::fs::File::open(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::io(path.display().to_string(), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finalize().into())
    })
    .await
    .map_err(|e| Error::runtime(format!("hashing task failed: {e}")))?
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
    let reader = S3Object {
        aws: &aws,
        location: location.clone(),
    };

    // 1. What is there now.
    let first = reader.read_range(0..args.part_size.max(1), None).await?;
    if first.bytes.starts_with(&MAGIC) {
        return Err(Error::usage(format!(
            "{location} is already an s3seal object"
        )));
    }
    let Some(envelope) = s3ec::load_envelope(&aws, &location, &first.metadata).await? else {
        return Err(Error::usage_hint(
            format!("{location} is not an S3 Encryption Client object"),
            "migrate reads S3EC v2/v3 objects (metadata x-amz-key-v2 or x-amz-c, or KEY.instruction)",
        ));
    };
    let etag = first.etag.clone();
    gate(&aws, &location.bucket, args.posture, &args.owner).await?;

    // 2. Decrypt and verify the old object into a private temporary file.
    let request = s3ec::S3ecRequest {
        expected_context: args.context.clone(),
        range_requested: false,
        buffer_to_temp: true,
        concurrency: args.concurrency,
        unit_bytes: args.part_size,
    };
    let (plain, opened) = s3ec::open_to_temp(
        &aws,
        &reader,
        first,
        &envelope,
        &request,
        &temp_dir,
        progress::reporter(args.quiet, "verifying"),
        cancel.clone(),
    )
    .await?;
    let plain_hash = sha256_file(plain.path()).await?;

    // 3. Refuse to overwrite an object that changed meanwhile.
    let head = aws
        .s3
        .head_object()
        .bucket(&location.bucket)
        .key(&location.key)
        .send()
        .await
        .map_err(|e| Error::runtime(format!("HeadObject {location} failed: {e}")))?;
    if head.e_tag() != etag.as_deref() {
        return Err(Error::runtime_hint(
            format!("{location} changed while it was being migrated; nothing was written"),
            "run the command again",
        ));
    }

    // 4. Re-encrypt in place with the old object's context pairs.
    let context: Vec<(String, String)> = envelope
        .user_context()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let keyring = KmsKeyring::new(aws.kms.clone());
    let upload_request = UploadRequest {
        dest: location.clone(),
        kms_key_id: args.kms_key_id.clone(),
        sse_kms_key_id: args.sse_kms_key_id.clone(),
        context: context.clone(),
        chunk_size,
        part_size: args.part_size.max(5 << 20),
        concurrency: args.concurrency,
        expected_bucket_owner: args.owner.expected_owner.clone(),
    };
    let stored = upload(
        &aws,
        &keyring,
        Source::File(plain.path().to_path_buf()),
        &upload_request,
        progress::reporter(args.quiet, "sealing"),
        cancel.clone(),
    )
    .await?;

    // 5. Read the new object back and compare.
    let check_dir = tempfile::Builder::new()
        .prefix(".s3seal-migrate-check.")
        .tempdir_in(&temp_dir)
        .map_err(|e| Error::io(temp_dir.display().to_string(), e))?;
    let check_path = check_dir.path().join("plain");
    let new_reader = S3Object {
        aws: &aws,
        location: location.clone(),
    };
    let read_back = download(
        &new_reader,
        &keyring,
        &DownloadRequest {
            expected_context: context,
            allow_relocated: false,
            range: None,
            concurrency: args.concurrency,
            unit_bytes: args.part_size,
        },
        &Sink::File(check_path.clone()),
        std::sync::Arc::new(NoProgress),
        cancel,
    )
    .await?;
    if sha256_file(&check_path).await? != plain_hash
        || read_back.plaintext_len != opened.plaintext_len
    {
        return Err(Error::integrity(
            format!(
                "the migrated object at {location} does not read back to the verified plaintext"
            ),
            Some("do not delete other copies; run the migration again".into()),
        ));
    }
    drop(plain);

    // 6. The instruction file belonged to the old object.
    let mut removed_instruction = false;
    if envelope.location == s3ec::MetadataLocation::InstructionFile && !args.keep_instruction_file {
        let key = format!("{}.instruction", location.key);
        aws.s3
            .delete_object()
            .bucket(&location.bucket)
            .key(&key)
            .set_expected_bucket_owner(args.owner.expected_owner.clone())
            .send()
            .await
            .map_err(|e| {
                Error::runtime(format!(
                    "the object was migrated, but deleting s3://{}/{key} failed: {e}",
                    location.bucket
                ))
            })?;
        removed_instruction = true;
    }
    if !args.quiet {
        eprintln!(
            "migrated {location} from {} to s3seal ({} bytes plaintext, {} bytes stored; KMS key {}; read back and compared{})",
            opened.format,
            stored.plaintext_len,
            stored.ciphertext_len,
            stored.kms_key_arn,
            if removed_instruction {
                "; instruction file removed"
            } else {
                ""
            }
        );
    }
    Ok(())
}

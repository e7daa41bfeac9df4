//! `migrate`: re-encrypt an object written by the AWS S3 Encryption Client (v2 or v3) into the
//! s3seal format in place. The steps:
//! 1. [`Migration::start`]: read what is there (it must be an S3EC object, not s3seal already);
//!    the caller may check the bucket's posture before anything is written;
//! 2. decrypt and verify the old object into a private temporary file;
//! 3. refuse to overwrite an object that changed meanwhile (its ETag);
//! 4. re-encrypt in place with the old object's context pairs (the usual upload pipeline),
//!    as a conditional write (`If-Match` the ETag read in step 1), so a writer that replaced
//!    the object meanwhile wins and nothing is overwritten;
//! 5. read the new object back and compare it with the verified plaintext;
//! 6. delete the instruction file, which belonged to the old object (unless asked not to).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::format::{ChunkSize, MAGIC};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::pins::KeyPins;
use crate::s3ec::{self, Envelope, MetadataLocation, S3ecFormat, S3ecRequest};
use crate::store::ObjectStore;
use crate::transfer::download::{
    DownloadRequest, FirstRange, SHARED_RANGE_BYTES, Sink, StoreObject, download,
};
use crate::transfer::upload::{UploadRequest, upload};
use crate::transfer::{Cancel, NoProgress, Progress, Source};

/// How to migrate.
#[derive(Debug, Clone)]
pub struct MigrateRequest {
    /// KMS key for the new s3seal envelope.
    pub kms_key_id: String,
    /// Pairs the old object's context must carry.
    pub expected_context: Vec<(String, String)>,
    pub sse_kms_key_id: Option<String>,
    pub chunk_size: ChunkSize,
    /// Plaintext per multipart part of the new object (reads of the old one use
    /// [`SHARED_RANGE_BYTES`], so memory stays within the download bound).
    pub part_size: u64,
    pub concurrency: usize,
    /// Where the verified plaintext waits while it is re-encrypted.
    pub temp_dir: PathBuf,
    pub keep_instruction_file: bool,
    /// The KMS keys trusted to have wrapped the old object's data key. Required: without
    /// pins, migrate refuses and names the key KMS unwrapped with (it would otherwise
    /// re-encrypt a planted object under the operator's own key).
    pub pins: KeyPins,
}

/// What was done.
#[derive(Debug, Clone)]
pub struct MigrateOutcome {
    pub old_format: S3ecFormat,
    pub plaintext_len: u64,
    pub ciphertext_len: u64,
    pub kms_key_arn: String,
    /// The KMS key that unwrapped the old object's data key, as KMS reported it.
    pub old_kms_key_arn: Option<String>,
    pub removed_instruction: bool,
}

/// A migration whose source was read and recognised (step 1).
pub struct Migration {
    store: Arc<dyn ObjectStore>,
    reader: StoreObject,
    first: FirstRange,
    envelope: Envelope,
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

impl Migration {
    /// Step 1: what is there now. `first_read` bytes are read (at least one range).
    pub async fn start(
        store: Arc<dyn ObjectStore>, location: &ObjectLocation, first_read: u64,
    ) -> Result<Migration> {
        let reader = StoreObject::new(Arc::clone(&store), location.clone());
        let first = FirstRange::read(&reader, first_read).await?;
        if first.bytes.starts_with(&MAGIC) {
            return Err(Error::usage(format!(
                "{location} is already an s3seal object"
            )));
        }
        let Some(envelope) = s3ec::load_envelope(&*store, location, first.metadata()).await? else {
            return Err(Error::usage_hint(
                format!("{location} is not an S3 Encryption Client object"),
                "migrate reads S3EC v2/v3 objects (metadata x-amz-key-v2 or x-amz-c, or KEY.instruction)",
            ));
        };
        Ok(Migration {
            store,
            reader,
            first,
            envelope,
        })
    }

    fn location(&self) -> &ObjectLocation {
        &self.reader.location
    }

    /// Steps 2 to 6. `progress` names a progress display for a step ("verifying", "sealing").
    pub async fn run(
        self, keyring: &impl Keyring, request: &MigrateRequest,
        progress: impl Fn(&str) -> Arc<dyn Progress>, cancel: Cancel,
    ) -> Result<MigrateOutcome> {
        let location = self.location().clone();
        let etag = self.first.meta.etag.clone();
        // 2. Decrypt and verify the old object into a private temporary file.
        let s3ec_request = S3ecRequest {
            expected_context: request.expected_context.clone(),
            range_requested: false,
            concurrency: request.concurrency,
            unit_bytes: SHARED_RANGE_BYTES,
            pins: request.pins.clone().required(),
        };
        let (plain, opened) = s3ec::open_to_temp(
            keyring,
            &self.reader,
            self.first,
            &self.envelope,
            &s3ec_request,
            &request.temp_dir,
            progress("verifying"),
            cancel.clone(),
        )
        .await?;
        let plain_hash = sha256_file(plain.path()).await?;

        // 3. Refuse to overwrite an object that changed meanwhile.
        let head = self.store.head(&location).await?;
        if head.etag != etag {
            return Err(Error::runtime_hint(
                format!("{location} changed while it was being migrated; nothing was written"),
                "run the command again",
            ));
        }

        // 4. Re-encrypt in place with the old object's context pairs.
        let context: Vec<(String, String)> = self
            .envelope
            .user_context()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let upload_request = UploadRequest {
            settings: Default::default(),
            dest: location.clone(),
            kms_key_id: request.kms_key_id.clone(),
            sse_kms_key_id: request.sse_kms_key_id.clone(),
            context: context.clone(),
            chunk_size: request.chunk_size,
            part_size: request.part_size.max(5 << 20),
            concurrency: request.concurrency,
            if_match: etag.clone(),
            stream_put_max: 0,
        };
        let stored = upload(
            Arc::clone(&self.store),
            keyring,
            Source::File(plain.path().to_path_buf()),
            &upload_request,
            progress("sealing"),
            cancel.clone(),
        )
        .await?;

        // 5. Read the new object back and compare.
        let check_dir = tempfile::Builder::new()
            .prefix(".s3seal-migrate-check.")
            .tempdir_in(&request.temp_dir)
            .map_err(|e| Error::io(request.temp_dir.display().to_string(), e))?;
        let check_path = check_dir.path().join("plain");
        let read_back = download(
            &self.reader,
            None,
            keyring,
            &DownloadRequest {
                expected_context: context,
                allow_relocated: false,
                pins: KeyPins::from_arns(vec![stored.kms_key_arn.clone()]),
                range: None,
                concurrency: request.concurrency,
                unit_bytes: SHARED_RANGE_BYTES,
                read_bytes: 0,
                shared: None,
            },
            &Sink::File(check_path.clone()),
            Arc::new(NoProgress),
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
        if self.envelope.location == MetadataLocation::InstructionFile
            && !request.keep_instruction_file
        {
            let instruction = ObjectLocation {
                bucket: location.bucket.clone(),
                key: format!("{}.instruction", location.key),
            };
            self.store.delete_object(&instruction).await.map_err(|e| {
                Error::runtime(format!(
                    "the object was migrated, but deleting {instruction} failed: {}",
                    e.error
                ))
            })?;
            removed_instruction = true;
        }
        Ok(MigrateOutcome {
            old_format: opened.format,
            plaintext_len: stored.plaintext_len,
            ciphertext_len: stored.ciphertext_len,
            kms_key_arn: stored.kms_key_arn,
            old_kms_key_arn: opened.kms_key_arn.clone(),
            removed_instruction,
        })
    }
}

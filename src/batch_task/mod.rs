//! S3 Batch Operations tasks: the handler behind the Lambda function (`lambda/`, binary
//! `bootstrap`) and `s3seal batch-task --event FILE`. It reads an invocation event
//! ([`event`]), the job's user arguments ([`arguments`]: which operation, which pinned keys),
//! runs the operation of [`crate::ops`] on each task's object, and answers with one result
//! per task ([`outcome`]: `TemporaryFailure` when Batch should retry, `PermanentFailure` with
//! the failure's class otherwise). No Lambda runtime here: the library stays free of it, and
//! the same code runs in-process in tests and on a laptop.
//!
//! Before an operation runs, one HEAD tells whether the object is there, whether it is the
//! version the task names, and whether it fits in one invocation ([`Limits`]).

pub mod arguments;
pub mod event;
pub mod outcome;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::format::{ChunkSize, MAGIC};
use crate::kms::Keyring;
use crate::location::ObjectLocation;
use crate::ops::migrate::{MigrateRequest, Migration};
use crate::ops::open::Opened;
use crate::ops::rewrap::{
    DEFAULT_COPY_CONCURRENCY, DEFAULT_COPY_PART_BYTES, RewrapRequest, Rewrapped, rewrap_or_done,
};
use crate::ops::seal::{SealAction, SealRequest, seal};
use crate::ops::verify::{VerifyRequest, verify};
use crate::pins::KeyPins;
use crate::store::{ObjectHead, ObjectStore};
use crate::transfer::download::{DEFAULT_RANGE_BYTES, SHARED_RANGE_BYTES, StoreObject};
use crate::transfer::{
    Cancel, NoProgress, default_download_concurrency, default_rewrite_concurrency,
};

pub use arguments::{Arguments, Operation};
pub use event::{BatchEvent, BatchResponse, ResultCode, Task, TaskResult};
pub use outcome::FailureClass;

const GIB: u64 = 1 << 30;

/// The largest object one invocation takes on, per operation (Lambda stops a function after
/// 15 minutes). Derived in `docs/SCALE.md` from the throughput measured in
/// `docs/PERFORMANCE.md` (about 110 MiB/s reading, 118 MiB/s writing) with half of the 15
/// minutes kept as margin; a larger object is a `PermanentFailure` naming the sharded CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One read pass: 450 s x 110 MiB/s = 48 GiB, rounded down.
    pub verify_bytes: u64,
    /// Read, write, read back: 450 s / (2/110 + 1/118 s/MiB) = 16.5 GiB.
    pub seal_bytes: u64,
    /// As seal, and the plaintext plus its read-back copy wait on local disk: Lambda's
    /// ephemeral storage is at most 10 GiB.
    pub migrate_bytes: u64,
    /// Server-side copies; only the header's part passes through the function. Not measured:
    /// an assumption (8 copies in flight at >= 1 GiB/s together), see `docs/SCALE.md`.
    pub rewrap_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            verify_bytes: 32 * GIB,
            seal_bytes: 16 * GIB,
            migrate_bytes: 4 * GIB,
            rewrap_bytes: 512 * GIB,
        }
    }
}

impl Limits {
    fn for_operation(&self, op: &Operation) -> u64 {
        match op {
            Operation::Verify => self.verify_bytes,
            Operation::Seal { .. } => self.seal_bytes,
            Operation::Migrate { .. } => self.migrate_bytes,
            Operation::Rewrap { .. } => self.rewrap_bytes,
        }
    }
}

/// Stop this long before the invocation's deadline, so that a multipart upload is aborted
/// and a response is sent before Lambda kills the function.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

/// Where the tasks run: the store and keyring of the function (or the CLI), a directory for
/// migrate's temporary plaintext, the invocation's deadline.
pub struct TaskEnv<'a, K: Keyring> {
    pub store: Arc<dyn ObjectStore>,
    pub keyring: &'a K,
    pub temp_dir: PathBuf,
    pub limits: Limits,
    /// Lambda's deadline for this invocation; `None` runs without one.
    pub deadline: Option<Instant>,
    /// The caller's stop (the CLI's Ctrl-C): the running task cleans up, the rest do not
    /// start; all of them answer `TemporaryFailure`.
    pub cancel: Cancel,
}

/// A task's result, and its class when it failed.
#[derive(Debug, Clone)]
pub struct Handled {
    pub response: BatchResponse,
    /// Per task, in order: `None` for success.
    pub failures: Vec<Option<FailureClass>>,
}

impl Handled {
    pub fn all_succeeded(&self) -> bool {
        self.failures.iter().all(Option::is_none)
    }

    pub fn any_integrity_failure(&self) -> bool {
        self.failures.contains(&Some(FailureClass::Integrity))
    }
}

/// A failed task: its class and why.
struct Failed {
    class: FailureClass,
    text: String,
}

impl From<Error> for Failed {
    fn from(err: Error) -> Failed {
        let class = FailureClass::of(&err);
        Failed {
            class,
            text: outcome::failure_string(class, &err.to_string(), err.hint().as_deref()),
        }
    }
}

impl Failed {
    fn new(class: FailureClass, message: &str, hint: Option<&str>) -> Failed {
        Failed {
            class,
            text: outcome::failure_string(class, message, hint),
        }
    }
}

/// Runs every task of `event` and answers with one result per task.
pub async fn handle<K: Keyring>(event: &BatchEvent, env: &TaskEnv<'_, K>) -> Handled {
    let prepared = match Arguments::parse(event.job.user_arguments.as_ref()) {
        Ok(args) => match KeyPins::resolve(env.keyring, &args.expected_kms_key_ids).await {
            Ok(pins) => Ok((args, pins)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let mut results = Vec::with_capacity(event.tasks.len());
    let mut failures = Vec::with_capacity(event.tasks.len());
    for task in &event.tasks {
        let done = match &prepared {
            _ if env.cancel.is_cancelled() => Err(Failed::from(Error::Interrupted)),
            Ok((args, pins)) => run_task(task, args, pins, env).await,
            Err(e) => Err(Failed::from(clone_error(e))),
        };
        let (code, text, failure) = match done {
            Ok(text) => (ResultCode::Succeeded, outcome::short(&text), None),
            Err(f) => (f.class.result_code(), f.text, Some(f.class)),
        };
        tracing::info!(task = %task.task_id, ?code, "{text}");
        results.push(TaskResult {
            task_id: task.task_id.clone(),
            result_code: code,
            result_string: text,
        });
        failures.push(failure);
    }
    Handled {
        response: BatchResponse {
            invocation_schema_version: event.invocation_schema_version.clone(),
            treat_missing_keys_as: ResultCode::PermanentFailure,
            invocation_id: event.invocation_id.clone(),
            results,
        },
        failures,
    }
}

/// The same error again, for every task of an invocation whose arguments failed.
fn clone_error(e: &Error) -> Error {
    let hint = e.hint();
    let message = e.to_string();
    match (e.is_retryable(), e.class()) {
        (true, _) => Error::unavailable(message, hint.unwrap_or_default()),
        (_, crate::ErrorClass::Usage) => Error::Usage { message, hint },
        (_, crate::ErrorClass::Integrity) => Error::Integrity { message, hint },
        _ => Error::Runtime { message, hint },
    }
}

/// One task: find the object, check it, run the operation.
async fn run_task<K: Keyring>(
    task: &Task, args: &Arguments, pins: &KeyPins, env: &TaskEnv<'_, K>,
) -> std::result::Result<String, Failed> {
    let location = task.location()?;
    let head = head(&*env.store, &location).await?;
    check_version(task, &head)?;
    let limit = args
        .max_object_bytes
        .unwrap_or_else(|| env.limits.for_operation(&args.operation));
    if head.len > limit {
        let op = args.operation.name();
        return Err(Failed::new(
            FailureClass::TooLarge,
            &format!(
                "{location} is {} bytes, over the {limit}-byte limit of one Lambda invocation for {op}",
                head.len
            ),
            Some(&format!(
                "process it with the sharded CLI: s3seal {op} --manifest MANIFEST --shard INDEX/COUNT (docs/SCALE.md)"
            )),
        ));
    }
    // The operation stops (cleaning up) at the deadline's margin or on the caller's stop.
    let (trigger, cancel) = Cancel::new();
    let mut outer = env.cancel.clone();
    let stop_at = env
        .deadline
        .map(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(d));
    let watchdog = tokio::spawn(async move {
        let deadline = async {
            match stop_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = outer.cancelled() => {}
            () = deadline => {}
        }
        let _ = trigger.send(true);
    });
    let result = run_operation(&location, args, pins, env, cancel).await;
    watchdog.abort();
    result.map_err(|e| match e {
        Error::Interrupted if !env.cancel.is_cancelled() => Failed::new(
            FailureClass::Interrupted,
            &format!("{location}: stopped before Lambda's time limit; nothing was left half-written"),
            Some("Batch retries the task; if it keeps timing out, lower maxObjectBytes or use the sharded CLI"),
        ),
        other => other.into(),
    })
}

/// HEAD, with S3's answer classified by its status.
async fn head(
    store: &dyn ObjectStore, location: &ObjectLocation,
) -> std::result::Result<ObjectHead, Failed> {
    store.head(location).await.map_err(|e| {
        let class = if e.is_not_found() {
            FailureClass::NotFound
        } else if e.status == Some(403) {
            FailureClass::AccessDenied
        } else if e.transient || e.status.is_some_and(|s| s >= 500) {
            FailureClass::Retryable
        } else {
            FailureClass::of(&e.error)
        };
        Failed::new(class, &e.error.to_string(), e.error.hint().as_deref())
    })
}

/// s3seal works on an object's current version: a task naming another version fails.
fn check_version(task: &Task, head: &ObjectHead) -> std::result::Result<(), Failed> {
    let Some(wanted) = task.s3_version_id.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let current = head.version_id.as_deref().unwrap_or("null");
    if wanted == current {
        return Ok(());
    }
    Err(Failed::new(
        FailureClass::Usage,
        &format!("version {wanted} is not the current version ({current}) of the object"),
        Some("s3seal operates on current versions; build the manifest from current versions only"),
    ))
}

async fn run_operation<K: Keyring>(
    location: &ObjectLocation, args: &Arguments, pins: &KeyPins, env: &TaskEnv<'_, K>,
    cancel: Cancel,
) -> Result<String> {
    let store = Arc::clone(&env.store);
    match &args.operation {
        Operation::Verify => {
            let reader = StoreObject::new(Arc::clone(&store), location.clone());
            let request = VerifyRequest {
                expected_context: args.expected_context.clone(),
                allow_relocated: false,
                concurrency: default_download_concurrency(),
                unit_bytes: DEFAULT_RANGE_BYTES,
                pins: pins.clone(),
                allow_s3ec: args.allow_s3ec,
            };
            let opened = verify(
                &reader,
                Some(&*store),
                env.keyring,
                &request,
                Arc::new(NoProgress),
                cancel,
            )
            .await?;
            Ok(match opened {
                Opened::S3seal(o) => format!(
                    "intact: {} bytes, s3seal, KMS key {}",
                    o.plaintext_len, o.kms_key_arn
                ),
                Opened::S3ec(o) => format!(
                    "intact: {} bytes, {}, KMS key {}",
                    o.plaintext_len,
                    o.format,
                    o.kms_key_arn.as_deref().unwrap_or("unknown")
                ),
            })
        }
        Operation::Rewrap { kms_key_id } => {
            let request = RewrapRequest {
                location: location.clone(),
                new_kms_key_id: kms_key_id.clone(),
                new_context: None,
                sse_kms_key_id: args.sse_kms_key_id.clone(),
                copy_part_bytes: DEFAULT_COPY_PART_BYTES,
                concurrency: DEFAULT_COPY_CONCURRENCY,
                pins: pins.clone(),
            };
            // A retried task whose first attempt finished finds the object under the new
            // key already.
            Ok(
                match rewrap_or_done(store, env.keyring, &request, cancel).await? {
                    Rewrapped::Now(o) => format!(
                        "rewrapped: KMS key {} -> {}",
                        o.old_kms_key_id, o.new_kms_key_id
                    ),
                    Rewrapped::Before(target) => {
                        format!("already under KMS key {target} (verified): nothing to rewrap")
                    }
                },
            )
        }
        Operation::Migrate { kms_key_id } => {
            if is_s3seal(&*store, location).await? {
                // A retried task whose first attempt finished: nothing left to do.
                return Ok("already s3seal: nothing to migrate".into());
            }
            let request = MigrateRequest {
                kms_key_id: kms_key_id.clone(),
                expected_context: args.expected_context.clone(),
                sse_kms_key_id: args.sse_kms_key_id.clone(),
                chunk_size: ChunkSize::DEFAULT,
                part_size: 8 << 20,
                concurrency: default_rewrite_concurrency(),
                temp_dir: env.temp_dir.clone(),
                keep_instruction_file: false,
                pins: pins.clone(),
            };
            let migration = Migration::start(store, location, SHARED_RANGE_BYTES).await?;
            let o = migration
                .run(
                    env.keyring,
                    &request,
                    |_| Arc::new(NoProgress) as Arc<dyn crate::transfer::Progress>,
                    cancel,
                )
                .await?;
            Ok(format!(
                "migrated: {} -> s3seal, {} bytes, KMS key {}",
                o.old_format, o.plaintext_len, o.kms_key_arn
            ))
        }
        Operation::Seal { kms_key_id } => {
            run_seal(store, env.keyring, location, kms_key_id, args, pins, cancel).await
        }
    }
}

/// Whether the object already starts with the s3seal magic (one small ranged GET).
async fn is_s3seal(store: &dyn ObjectStore, location: &ObjectLocation) -> Result<bool> {
    let mut first = Vec::new();
    match store
        .get_range(location, 0..MAGIC.len() as u64, None, &mut first)
        .await
    {
        Ok(_) => Ok(first.starts_with(&MAGIC)),
        Err(e) if e.is_unsatisfiable_range() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The `seal` operation: encrypts the plaintext object in place (`ops::seal`), bound to its
/// bucket/key with the job's `expectedContext` pairs as its context. An object that already
/// is an s3seal object is left alone, so a retried task whose first attempt finished succeeds.
/// The pins play no part: the new object is verified pinned to the key it was sealed under.
async fn run_seal<K: Keyring>(
    store: Arc<dyn ObjectStore>, keyring: &K, location: &ObjectLocation, kms_key_id: &str,
    args: &Arguments, _pins: &KeyPins, cancel: Cancel,
) -> Result<String> {
    let request = SealRequest {
        location: location.clone(),
        version_id: None,
        kms_key_id: kms_key_id.to_string(),
        sse_kms_key_id: args.sse_kms_key_id.clone(),
        context: args.expected_context.clone(),
        chunk_size: ChunkSize::DEFAULT,
        part_size: 8 << 20,
        concurrency: default_rewrite_concurrency(),
        delete_plaintext_version: false,
    };
    let o = seal(store, keyring, &request, cancel).await?;
    let mut line = match o.action {
        SealAction::Sealed => format!(
            "sealed: {} bytes, KMS key {}",
            o.plaintext_len, o.kms_key_arn
        ),
        SealAction::AlreadySealed => "already sealed: nothing to do".to_string(),
    };
    if let Some(version) = &o.previous_version {
        line.push_str(&format!("; plaintext version {version} still exists"));
    }
    Ok(line)
}

//! `s3seal batch-task --event FILE`: runs the S3 Batch Operations handler (the Lambda
//! function's, `s3seal::batch_task`) here, on an invocation event document, and prints the
//! response the function would return. For tests, and for checking a job before it is
//! submitted. Exit 0 when every task succeeded, 3 when any object failed an integrity check,
//! 7 when some tasks failed otherwise.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::batch_task::{BatchEvent, Limits, TaskEnv, handle};
use s3seal::kms::KmsKeyring;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::transfer::Cancel;
use s3seal::{Error, Result};

use super::{GlobalArgs, exit};

#[derive(Args, Debug)]
pub struct BatchTaskArgs {
    /// The invocation event: a JSON document shaped as S3 Batch Operations sends it to a
    /// Lambda function (schema 2.0; the job's userArguments choose the operation)
    #[arg(long, value_name = "FILE")]
    event: PathBuf,
    /// Directory for migrate's temporary plaintext [default: the system's temporary directory]
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
}

/// Runs the event's tasks; on Ctrl-C the running task cleans up, the rest are answered
/// `TemporaryFailure` without running, the response is printed and the run ends as interrupted.
pub async fn run(global: &GlobalArgs, args: BatchTaskArgs, cancel: Cancel) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.event).map_err(|e| Error::input_file(&args.event, e))?;
    let event = BatchEvent::parse(&bytes)?;
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let keyring = KmsKeyring::new(aws.kms.clone());
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
    let env = TaskEnv {
        store,
        keyring: &keyring,
        temp_dir: args.temp_dir.unwrap_or_else(std::env::temp_dir),
        limits: Limits::default(),
        deadline: None,
        cancel: cancel.clone(),
    };
    let handled = handle(&event, &env).await;
    let doc = serde_json::to_string_pretty(&handled.response)
        .map_err(|e| Error::runtime(format!("cannot print the response: {e}")))?;
    println!("{doc}");
    if cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    Ok(ExitCode::from(if handled.all_succeeded() {
        exit::SUCCESS
    } else if handled.any_integrity_failure() {
        exit::INTEGRITY
    } else {
        exit::PARTIAL
    }))
}

//! The options that turn a single-object command (`seal`, `rewrap`, `migrate`, `verify`) into
//! a run over many objects: `--manifest`, `--recursive`, `--shard`, `--shard-count`,
//! `--report`, `--jobs`; and the run itself: the source, the shard, the JSON-lines report, a
//! summary on stderr and the exit code (0 all ok, 7 some objects failed, 3 if any failed its
//! integrity check).

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use s3seal::batch::ObjectRef;
use s3seal::batch::report::{Done, ReportWriter};
use s3seal::batch::runner::{DEFAULT_JOBS, run};
use s3seal::batch::shard::{INDEX_VARIABLES, Shard};
use s3seal::batch::source::ObjectSource;
use s3seal::store::ObjectStore;
use s3seal::transfer::Cancel;
use s3seal::{Error, Result};

use super::exit;

#[derive(Args, Debug, Clone)]
pub struct BatchArgs {
    /// Work on the objects a manifest names: a local file or s3://BUCKET/KEY. S3 Inventory
    /// (manifest.json, *.csv, *.csv.gz), S3 Batch Operations CSV (*.csv: BUCKET,KEY[,VERSION]
    /// with URL-encoded keys), or any other name: one s3://BUCKET/KEY or bare key per line
    #[arg(long, value_name = "FILE|S3URI")]
    pub manifest: Option<String>,
    /// Work on every object under the folder given as s3://BUCKET/PREFIX (listed as it goes;
    /// s3://BUCKET/logs means s3://BUCKET/logs/)
    #[arg(short, long, conflicts_with = "manifest")]
    pub recursive: bool,
    /// Only this worker's share of the objects, INDEX/COUNT from 0 (e.g. 0/3), by a stable
    /// hash of each key
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<String>,
    /// Number of shards, the index taken from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)
    /// or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array jobs)
    #[arg(long, value_name = "COUNT", conflicts_with = "shard")]
    pub shard_count: Option<u64>,
    /// Write the per-object JSON-lines report (docs/JSON.md) to FILE [default: stdout]
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Objects worked on at once, with --manifest or --recursive
    #[arg(long, value_name = "N", default_value_t = DEFAULT_JOBS)]
    pub jobs: usize,
}

impl BatchArgs {
    /// Whether the command runs over many objects.
    pub fn is_batch(&self) -> bool {
        self.manifest.is_some() || self.recursive
    }

    /// Which kind of run the options ask for: `None` for a run over many objects (where
    /// `--json` is refused: the report is JSON lines), or the one object `target` names (which
    /// must be given, and the batch-only options not).
    pub fn single<'a>(
        &self, command: &str, target: Option<&'a str>, json: bool,
    ) -> Result<Option<&'a str>> {
        if self.is_batch() {
            if json {
                return Err(Error::usage_hint(
                    "--json is for one object",
                    "with --manifest or --recursive the report is JSON lines already (--report FILE)",
                ));
            }
            return Ok(None);
        }
        if self.shard.is_some() || self.shard_count.is_some() || self.report.is_some() {
            return Err(Error::usage(
                "--shard, --shard-count and --report need --manifest or --recursive",
            ));
        }
        match target {
            Some(target) => Ok(Some(target)),
            None => Err(Error::usage_hint(
                format!("{command} needs an object, s3://BUCKET/KEY"),
                "or --recursive s3://BUCKET/PREFIX, or --manifest FILE",
            )),
        }
    }

    fn shard(&self) -> Result<Option<Shard>> {
        if let Some(text) = &self.shard {
            return Shard::parse(text).map(Some);
        }
        let Some(count) = self.shard_count else {
            return Ok(None);
        };
        Shard::from_env(count, |name| std::env::var(name).ok())?
            .ok_or_else(|| {
                Error::usage_hint(
                    format!("--shard-count {count} without a shard index"),
                    format!(
                        "set {} (or {}), or pass --shard INDEX/{count}",
                        INDEX_VARIABLES[0], INDEX_VARIABLES[1]
                    ),
                )
            })
            .map(Some)
    }

    /// The objects: a manifest (bare keys in `target`'s bucket) or the listing of `target`.
    async fn source(
        &self, store: Arc<dyn ObjectStore>, target: Option<&str>,
    ) -> Result<ObjectSource> {
        if let Some(manifest) = &self.manifest {
            let bucket = target
                .map(s3seal::location::ObjectLocation::parse_bucket)
                .transpose()?;
            return ObjectSource::manifest(store, manifest, bucket).await;
        }
        let Some(target) = target else {
            return Err(Error::usage_hint(
                "--recursive needs the prefix to list",
                "write it as s3://BUCKET/PREFIX (s3://BUCKET/ for the whole bucket)",
            ));
        };
        let (bucket, prefix) = bucket_and_prefix(target)?;
        Ok(ObjectSource::listing(store, bucket, prefix))
    }
}

/// `s3://BUCKET/PREFIX` (the prefix may be empty). The prefix is a folder: `s3://b/logs`
/// means `s3://b/logs/`, so `logs-old/` is not swept in by accident.
pub fn bucket_and_prefix(uri: &str) -> Result<(String, String)> {
    let rest = uri.strip_prefix("s3://").ok_or_else(|| {
        Error::usage_hint(
            format!("{uri:?} is not an S3 URI"),
            "write the prefix as s3://BUCKET/PREFIX",
        )
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::usage(format!("{uri:?} names no bucket")));
    }
    let mut prefix = prefix.to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok((bucket.to_string(), prefix))
}

/// Runs `op` over the objects the options name (`target`: the prefix, or the bucket of a
/// manifest's bare keys), writes the report, prints a summary and decides the exit code.
pub async fn run_batch<F, Fut>(
    command: &str, args: &BatchArgs, store: Arc<dyn ObjectStore>, target: Option<&str>,
    quiet: bool, cancel: Cancel, op: F,
) -> Result<ExitCode>
where
    F: Fn(ObjectRef) -> Fut,
    Fut: Future<Output = Result<Done>>,
{
    if args.jobs == 0 {
        return Err(Error::usage("--jobs must be at least 1"));
    }
    let shard = args.shard()?;
    let mut report = match &args.report {
        Some(path) => ReportWriter::create(path)?,
        None => ReportWriter::stdout(),
    };
    let mut source = args.source(store, target).await?;
    let summary = run(&mut source, shard, args.jobs, &mut report, cancel, op).await?;
    if !quiet {
        let shard_note = match shard {
            Some(shard) => format!(
                " in shard {shard} ({} more in other shards)",
                summary.other_shards
            ),
            None => String::new(),
        };
        eprintln!(
            "s3seal {command}: {} object{}{shard_note}: {} ok, {} failed{}",
            summary.processed,
            if summary.processed == 1 { "" } else { "s" },
            summary.succeeded,
            summary.failed,
            if summary.integrity_failures > 0 {
                format!(
                    " ({} failed the integrity check)",
                    summary.integrity_failures
                )
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::from(if summary.integrity_failures > 0 {
        exit::INTEGRITY
    } else if summary.failed > 0 {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            bucket_and_prefix("s3://b/p/q/").unwrap(),
            ("b".to_string(), "p/q/".to_string())
        );
        assert_eq!(
            bucket_and_prefix("s3://b").unwrap(),
            ("b".to_string(), String::new())
        );
        assert_eq!(
            bucket_and_prefix("s3://b/logs").unwrap(),
            ("b".to_string(), "logs/".to_string())
        );
        assert!(bucket_and_prefix("b/p").is_err());
        assert!(bucket_and_prefix("s3:///p").is_err());
    }
}

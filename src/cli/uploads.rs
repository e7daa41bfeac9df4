//! `s3seal uploads list|abort`: housekeeping of open multipart uploads. `list` shows the
//! resumable uploads recorded in the journal and the other open multipart uploads of a bucket
//! (with age and stored size); journals whose upload S3 no longer has are removed on the way.
//! `abort` aborts the uploads of a key (or of every key under a prefix) and removes their
//! journals.

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::{Args, Subcommand};
use s3seal::location::ObjectLocation;
use s3seal::store::{ObjectStore, SdkStore, UploadInfo};
use s3seal::terminal::escape_for_terminal;
use s3seal::transfer::resume::{Journal, JournalDir};
use s3seal::{Error, Result};

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct UploadsArgs {
    #[command(subcommand)]
    action: Action,
}

impl UploadsArgs {
    /// `uploads list --json`: a failure is a JSON document too.
    pub fn json(&self) -> bool {
        matches!(&self.action, Action::List(list) if list.json)
    }
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Resumable uploads (from the journal) and other open multipart uploads, with age and
    /// size: s3seal uploads list [s3://BUCKET[/PREFIX]]
    List(ListArgs),
    /// Abort the open multipart uploads of a key, or with --prefix of every key under it, and
    /// remove their journals: s3seal uploads abort s3://BUCKET/KEY
    Abort(AbortArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX [default: only the journal's uploads]
    target: Option<String>,
    /// One JSON document on stdout instead of lines
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct AbortArgs {
    /// s3://BUCKET/KEY (with --prefix: s3://BUCKET/PREFIX)
    target: String,
    /// Only this upload
    #[arg(long, value_name = "ID")]
    upload_id: Option<String>,
    /// Every key that starts with the target's key
    #[arg(long)]
    prefix: bool,
}

/// `s3://BUCKET[/PREFIX]` -> (bucket, prefix).
fn bucket_and_prefix(target: &str) -> Result<(String, String)> {
    let rest = target.strip_prefix("s3://").ok_or_else(|| {
        Error::usage_hint(
            format!("{target:?} is not an S3 URI"),
            "write s3://BUCKET or s3://BUCKET/PREFIX",
        )
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::usage(format!("{target:?} names no bucket")));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `90s`, `12m`, `5h`, `3d`.
fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

pub async fn run(global: &GlobalArgs, args: UploadsArgs) -> Result<()> {
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
    let journals = JournalDir::user()?;
    match args.action {
        Action::List(a) => list(&*store, &journals, a).await,
        Action::Abort(a) => abort(&*store, &journals, a).await,
    }
}

/// One open upload as listed.
struct Row {
    location: ObjectLocation,
    upload_id: String,
    age: Option<f64>,
    parts: Option<(usize, u64)>,
    /// The source file of a resumable upload.
    source: Option<String>,
}

async fn list(store: &dyn ObjectStore, journals: &JournalDir, args: ListArgs) -> Result<()> {
    let target = args.target.as_deref().map(bucket_and_prefix).transpose()?;
    let in_target = |j: &Journal| match &target {
        Some((b, p)) => j.bucket == *b && j.key.starts_with(p.as_str()),
        None => true,
    };
    let mine: Vec<Journal> = journals.all().into_iter().filter(in_target).collect();
    // The buckets to ask: the target's, else those the journal names.
    let mut buckets: BTreeMap<String, String> = BTreeMap::new();
    match &target {
        Some((b, p)) => {
            buckets.insert(b.clone(), p.clone());
        }
        None => {
            for j in &mine {
                buckets.insert(j.bucket.clone(), String::new());
            }
        }
    }
    let mut open: Vec<(String, UploadInfo)> = Vec::new();
    let mut listed_buckets = Vec::new();
    for (bucket, prefix) in &buckets {
        match store.list_multipart_uploads(bucket, prefix).await {
            Ok(uploads) => {
                listed_buckets.push(bucket.clone());
                open.extend(uploads.into_iter().map(|u| (bucket.clone(), u)));
            }
            // With a target, failing to list is the answer; otherwise show the journal.
            Err(e) if target.is_some() => return Err(e.into()),
            Err(e) => tracing::warn!(bucket, error = %e.error, "cannot list open uploads"),
        }
    }
    let mut resumable = Vec::new();
    for j in mine {
        let known = open
            .iter()
            .any(|(b, u)| *b == j.bucket && u.upload_id == j.upload_id);
        if !known && listed_buckets.contains(&j.bucket) {
            // Stale: S3 no longer has the upload (completed, aborted, expired by lifecycle).
            journals.remove(&j.location());
            if !args.json {
                eprintln!(
                    "{}",
                    escape_for_terminal(&format!(
                        "removed a stale journal: s3://{}/{} (upload no longer open)",
                        j.bucket, j.key
                    ))
                );
            }
            continue;
        }
        resumable.push(j);
    }
    let mut rows_resumable = Vec::new();
    for j in &resumable {
        let started = open
            .iter()
            .find(|(_, u)| u.upload_id == j.upload_id)
            .and_then(|(_, u)| u.initiated)
            .unwrap_or(j.created as f64);
        rows_resumable.push(Row {
            location: j.location(),
            upload_id: j.upload_id.clone(),
            age: Some(now() - started),
            parts: stored(store, &j.location(), &j.upload_id).await,
            source: Some(j.source.path.display().to_string()),
        });
    }
    let mut rows_other = Vec::new();
    for (bucket, u) in &open {
        if resumable.iter().any(|j| j.upload_id == u.upload_id) {
            continue;
        }
        let location = ObjectLocation {
            bucket: bucket.clone(),
            key: u.key.clone(),
        };
        rows_other.push(Row {
            parts: stored(store, &location, &u.upload_id).await,
            location,
            upload_id: u.upload_id.clone(),
            age: u.initiated.map(|t| now() - t),
            source: None,
        });
    }
    if args.json {
        let doc = serde_json::json!({
            "resumable": rows_resumable.iter().map(row_json).collect::<Vec<_>>(),
            "other": rows_other.iter().map(row_json).collect::<Vec<_>>(),
        });
        println!("{doc}");
        return Ok(());
    }
    for (kind, rows) in [("resumable", &rows_resumable), ("open", &rows_other)] {
        for r in rows {
            println!("{}", escape_for_terminal(&row_line(kind, r)));
        }
    }
    if rows_resumable.is_empty() && rows_other.is_empty() {
        eprintln!("no open uploads");
    }
    Ok(())
}

/// Parts and bytes S3 holds for an upload (None when it cannot be listed).
async fn stored(
    store: &dyn ObjectStore, location: &ObjectLocation, upload_id: &str,
) -> Option<(usize, u64)> {
    let parts = store.list_parts(location, upload_id, None).await.ok()?;
    Some((parts.len(), parts.iter().map(|p| p.size).sum()))
}

fn row_line(kind: &str, r: &Row) -> String {
    let age = r.age.map_or("?".into(), age);
    let size = r.parts.map_or("size unknown".into(), |(n, b)| {
        format!("{n} parts, {b} bytes")
    });
    let source = r
        .source
        .as_ref()
        .map(|s| format!("  from {s}"))
        .unwrap_or_default();
    format!(
        "{kind:<9}  {}  {age:>4}  {size}  upload {}{source}",
        r.location, r.upload_id
    )
}

fn row_json(r: &Row) -> serde_json::Value {
    serde_json::json!({
        "location": r.location.to_string(),
        "upload_id": r.upload_id,
        "age_seconds": r.age.map(|a| a.max(0.0).round()),
        "parts": r.parts.map(|p| p.0),
        "bytes": r.parts.map(|p| p.1),
        "source": r.source,
    })
}

async fn abort(store: &dyn ObjectStore, journals: &JournalDir, args: AbortArgs) -> Result<()> {
    let (bucket, key) = bucket_and_prefix(&args.target)?;
    if key.is_empty() && !args.prefix {
        return Err(Error::usage_hint(
            format!("{:?} names no key", args.target),
            "name the key (s3://BUCKET/KEY), or pass --prefix to abort every upload under it",
        ));
    }
    let uploads = store.list_multipart_uploads(&bucket, &key).await?;
    let chosen: Vec<UploadInfo> = uploads
        .into_iter()
        .filter(|u| args.prefix || u.key == key)
        .filter(|u| args.upload_id.as_ref().is_none_or(|id| *id == u.upload_id))
        .collect();
    for u in &chosen {
        let location = ObjectLocation {
            bucket: bucket.clone(),
            key: u.key.clone(),
        };
        store
            .abort_multipart_upload(&location, &u.upload_id)
            .await?;
        eprintln!(
            "{}",
            escape_for_terminal(&format!("aborted {location} (upload {})", u.upload_id))
        );
    }
    // Journals of the aborted uploads, and any of these keys whose upload is already gone.
    for j in journals.all() {
        let under = j.bucket == bucket
            && if args.prefix {
                j.key.starts_with(&key)
            } else {
                j.key == key
            };
        if under && args.upload_id.as_ref().is_none_or(|id| *id == j.upload_id) {
            journals.remove(&j.location());
        }
    }
    if chosen.is_empty() {
        eprintln!("no open uploads to abort");
    }
    Ok(())
}

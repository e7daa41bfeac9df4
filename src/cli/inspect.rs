//! `s3seal inspect SRC [--json]`: show an object's header (s3:// object, presigned URL or local
//! file) without KMS, reading at most 64 KiB. Also where SRC kinds are told apart for verify.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use s3seal::Result;
use s3seal::location::ObjectLocation;
use s3seal::ops::inspect::{Inspected, describe, inspect};
use s3seal::presign::{UrlObject, is_url, redact_url};
use s3seal::s3ec;
use s3seal::store::{ObjectStore, SdkStore};
use s3seal::terminal::escape_for_terminal;
use s3seal::transfer::download::{LocalFile, StoreObject};

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// s3://BUCKET/KEY, a presigned https:// URL, or a local file holding an encrypted object
    src: String,
    /// Print JSON
    #[arg(long)]
    pub(super) json: bool,
}

/// Where an object to read is.
pub enum SrcKind {
    S3(ObjectLocation),
    Url(String),
    File(PathBuf),
}

impl SrcKind {
    pub fn parse(src: &str) -> Result<SrcKind> {
        // `s3:/x` or `S3://x` is a mistyped URI, not a file name (a file of that name is still
        // read as `./s3:/x`).
        let scheme = src.get(..3).is_some_and(|s| s.eq_ignore_ascii_case("s3:"));
        Ok(if src.starts_with("s3://") || scheme {
            SrcKind::S3(ObjectLocation::parse(src)?)
        } else if is_url(src) {
            SrcKind::Url(src.to_string())
        } else {
            SrcKind::File(PathBuf::from(src))
        })
    }

    /// How to name it in output (a URL without its signature).
    pub fn display(&self) -> String {
        match self {
            SrcKind::S3(loc) => loc.to_string(),
            SrcKind::Url(url) => redact_url(url),
            SrcKind::File(path) => path.display().to_string(),
        }
    }
}

pub async fn run(global: &GlobalArgs, args: InspectArgs) -> Result<()> {
    let kind = SrcKind::parse(&args.src)?;
    let inspected = match &kind {
        SrcKind::S3(location) => {
            let aws = s3seal::aws::connect(&global.aws_settings()).await?;
            let store: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(aws.s3.clone(), None));
            let reader = StoreObject::new(Arc::clone(&store), location.clone());
            // Objects of the S3 Encryption Client are described as such, not as "not s3seal".
            inspect(&reader, Some(&*store)).await?
        }
        SrcKind::Url(url) => inspect(&UrlObject::new(url, &global.aws_settings())?, None).await?,
        SrcKind::File(path) => inspect(&LocalFile::new(path)?, None).await?,
    };
    let inspection = match inspected {
        Inspected::S3seal(inspection) => inspection,
        Inspected::S3ec(description) => {
            print_s3ec(&kind.display(), &description, args.json);
            return Ok(());
        }
    };
    if args.json {
        let mut value = serde_json::to_value(&inspection).expect("serializable");
        value["source"] = serde_json::Value::String(kind.display());
        let value = super::json::enveloped("inspect", true, value);
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("serializable")
        );
    } else {
        print!("{}", describe(&kind.display(), &inspection));
    }
    Ok(())
}

/// An S3 Encryption Client object: its format, where its metadata lives and its stored context.
fn print_s3ec(source: &str, d: &s3ec::Description, json: bool) {
    if json {
        let value = serde_json::json!({
            "schema": super::json::SCHEMA,
            "command": "inspect",
            "ok": true,
            "source": source,
            "is_s3seal": false,
            "s3ec": {
                "format": d.format.to_string(),
                "metadata_location": format!("{:?}", d.metadata_location),
                "content_cipher": d.content_cipher,
                "key_wrapping": d.key_wrapping,
                "encryption_context": d.context,
                "object_len": d.object_len,
                "plaintext_len": d.plaintext_len,
            },
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("serializable")
        );
        return;
    }
    let esc = |s: &str| escape_for_terminal(s).into_owned();
    println!(
        "{}: S3 Encryption Client object ({}), not s3seal",
        esc(source),
        d.format
    );
    println!("  metadata:       {:?}", d.metadata_location);
    println!("  content cipher: {}", d.content_cipher);
    println!("  key wrapping:   {}", d.key_wrapping);
    println!("  object length:  {} bytes", d.object_len);
    if let Some(len) = d.plaintext_len {
        println!("  plaintext:      {len} bytes");
    }
    println!("  encryption context (passed to KMS as stored):");
    for (k, v) in &d.context {
        println!("    {} = {}", esc(k), esc(v));
    }
    println!("  `s3seal get` reads it; `s3seal migrate` re-encrypts it into the s3seal format");
}

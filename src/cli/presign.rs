//! `s3seal presign s3://BUCKET/KEY [--expires 15m] [--put --kms-key-id ID] [--json]`: print a
//! presigned https URL (first line of stdout) that reaches only ciphertext.

use clap::Args;
use s3seal::location::ObjectLocation;
use s3seal::presign::{Presigned, parse_expiry, presign_get, presign_put};
use s3seal::store::SdkStore;
use s3seal::terminal::escape_for_terminal;
use s3seal::{Error, Result};

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct PresignArgs {
    /// Object the URL addresses, s3://BUCKET/KEY
    target: String,
    /// How long the URL works: 90s, 15m, 12h, 7d (at most 7d, the SigV4 limit)
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    expires: String,
    /// A PUT URL instead, for `s3seal put SRC URL` (SSE-KMS headers signed in)
    #[arg(long)]
    put: bool,
    /// With --put: the KMS key S3 must use for SSE-KMS; the uploader passes the same
    /// --kms-key-id (id, ARN or alias/NAME, exactly as written here)
    #[arg(long, value_name = "ID")]
    kms_key_id: Option<String>,
    /// Print JSON (URL, method, expiry, headers to send) instead of the URL alone
    #[arg(long)]
    pub(super) json: bool,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

fn print(p: &Presigned, json: bool) {
    if json {
        let headers: serde_json::Map<String, serde_json::Value> = p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let value = serde_json::json!({
            "schema": super::json::SCHEMA,
            "command": "presign",
            "ok": true,
            "url": p.url,
            "method": p.method,
            "bucket": p.location.bucket,
            "key": p.location.key,
            "expires_in_seconds": p.expires_in.as_secs(),
            "expires_at": rfc3339(p.expires_at),
            "headers": headers,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON of strings")
        );
        return;
    }
    println!("{}", p.url);
    // The key is whatever the caller typed (or a script passed on): escaped for the terminal.
    eprintln!(
        "presigned {} for {} until {} ({} s)",
        p.method,
        escape_for_terminal(&p.location.to_string()),
        rfc3339(p.expires_at),
        p.expires_in.as_secs()
    );
    if p.method == "PUT" {
        eprintln!("an uploader must send these headers with the PUT (s3seal put does):");
        for (k, v) in &p.headers {
            eprintln!("  {k}: {}", escape_for_terminal(v));
        }
        eprintln!("upload with: s3seal put SRC 'URL' --kms-key-id ID (the same ID)");
    } else {
        eprintln!(
            "the URL reaches only ciphertext; decrypt with: s3seal get 'URL' DST (needs kms:Decrypt on the object's key)"
        );
    }
}

pub async fn run(global: &GlobalArgs, args: PresignArgs) -> Result<()> {
    let location = ObjectLocation::parse(&args.target)?;
    let expires = parse_expiry(&args.expires)?;
    if args.put && args.kms_key_id.is_none() {
        return Err(Error::usage_hint(
            "presign --put needs --kms-key-id: the URL requires SSE-KMS with that key",
            "pass the KMS key the uploader will use, e.g. --kms-key-id alias/NAME",
        ));
    }
    if !args.put && args.kms_key_id.is_some() {
        return Err(Error::usage("--kms-key-id only applies to presign --put"));
    }
    let aws = s3seal::aws::connect(&global.aws_settings()).await?;
    let store = SdkStore::new(aws.s3.clone(), None);
    let presigned = match &args.kms_key_id {
        Some(key) => presign_put(&store, &location, key, expires).await?,
        None => presign_get(&store, &location, expires).await?,
    };
    print(&presigned, args.json);
    Ok(())
}

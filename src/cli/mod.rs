//! The command line: clap definitions, the global AWS options, logging, signal handling
//! ([`signals`]) and the mapping from errors to messages and exit codes. One file per
//! subcommand beside it.

mod batch;
mod batch_task;
mod config;
mod docs;
mod exit;
mod get;
mod get_many;
mod inspect;
mod json;
mod migrate;
mod pins;
mod posture;
mod presign;
mod progress;
mod put;
mod resumable;
mod rewrap;
mod seal;
mod signals;
mod sync;
mod tree;
mod uploads;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use s3seal::Error;
use s3seal::aws::AwsSettings;
use s3seal::terminal::escape_for_terminal;

#[derive(Parser, Debug)]
#[command(
    name = "s3seal",
    version,
    about = "Client-side envelope encryption for Amazon S3: S3 never sees plaintext",
    long_about = "Encrypts files with a fresh KMS data key per object (chunked AES-256-GCM with key \
commitment) before they reach S3, and decrypts and verifies them on the way back. HTTPS only.",
    after_help = exit::HELP
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Endpoint for S3 and KMS (https only), e.g. https://127.0.0.1:9000 [env: AWS_ENDPOINT_URL,
    /// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_KMS]
    #[arg(long, global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    /// PEM file of CA certificates to trust instead of the system roots [env: AWS_CA_BUNDLE]
    #[arg(long, global = true, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// AWS region [env: AWS_REGION]
    #[arg(long, global = true)]
    region: Option<String>,
    /// AWS profile from the shared config files [env: AWS_PROFILE]
    #[arg(long, global = true)]
    profile: Option<String>,
    /// More logging on stderr (-v, -vv, -vvv); RUST_LOG also works
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    progress: progress::ProgressArgs,
}

impl GlobalArgs {
    fn aws_settings(&self) -> AwsSettings {
        AwsSettings {
            endpoint_url: self.endpoint_url.clone(),
            ca_bundle: self.ca_bundle.clone(),
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encrypt a file or stdin and upload it: s3seal put SRC s3://BUCKET/KEY
    Put(put::PutArgs),
    /// Download, verify and decrypt an object: s3seal get s3://BUCKET/KEY DST
    Get(get::GetArgs),
    /// Upload what changed in a directory, or download what changed under a prefix:
    /// s3seal sync DIR s3://BUCKET/PREFIX/ (or back)
    Sync(sync::SyncArgs),
    /// Check a bucket's security posture (exit 0 ok, 4 block, 5 warn, 6 unknown)
    Posture(posture::PostureArgs),
    /// Print a presigned https URL for an object (GET, or PUT with --put): s3seal presign s3://BUCKET/KEY
    Presign(presign::PresignArgs),
    /// Show an object's header without KMS: s3seal inspect s3://BUCKET/KEY | URL | FILE
    Inspect(inspect::InspectArgs),
    /// Authenticate every chunk, write nothing (exit 0 intact, 3 not): s3seal verify SRC
    Verify(verify::VerifyArgs),
    /// Move an object's data key under another KMS key, rewriting only the header
    Rewrap(rewrap::RewrapArgs),
    /// Re-encrypt an S3 Encryption Client (v2/v3) object into the s3seal format in place,
    /// verified before and after: s3seal migrate s3://BUCKET/KEY --kms-key-id ID
    Migrate(migrate::MigrateArgs),
    /// Encrypt an existing plaintext object in place, or every object of a manifest or prefix:
    /// s3seal seal s3://BUCKET/KEY --kms-key-id ID
    Seal(seal::SealArgs),
    /// Run the S3 Batch Operations handler here on an event document and print its response:
    /// s3seal batch-task --event FILE (exit 0 all succeeded, 7 some failed, 3 integrity)
    BatchTask(batch_task::BatchTaskArgs),
    /// Open multipart uploads: `s3seal uploads list [s3://BUCKET[/PREFIX]]`, `s3seal uploads abort s3://BUCKET/KEY`
    Uploads(uploads::UploadsArgs),
    /// The config file of defaults: `s3seal config show` prints each effective value and its origin
    Config(config::ConfigArgs),
    /// Print a shell completion script: s3seal completions bash|zsh|fish|powershell|elvish
    Completions(docs::CompletionsArgs),
    /// Print the man page, or write one per command: s3seal man --dir DIR
    Man(docs::ManArgs),
}

impl Command {
    /// The command's name when it was asked for a JSON document (`--json`).
    fn json_name(&self) -> Option<&'static str> {
        match self {
            Command::Put(a) if a.output.json => Some("put"),
            Command::Get(a) if a.output.json => Some("get"),
            Command::Sync(a) if a.output.json => Some("sync"),
            Command::Verify(a) if a.output.json => Some("verify"),
            Command::Rewrap(a) if a.output.json => Some("rewrap"),
            Command::Migrate(a) if a.output.json => Some("migrate"),
            Command::Seal(a) if a.output.json => Some("seal"),
            Command::Inspect(a) if a.json => Some("inspect"),
            Command::Presign(a) if a.json => Some("presign"),
            Command::Posture(a) if a.json => Some("posture"),
            Command::Uploads(a) if a.json() => Some("uploads"),
            _ => None,
        }
    }
}

/// `K=V`, for --context.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    if k.is_empty() {
        return Err("the key of a KEY=VALUE pair is empty".into());
    }
    Ok((k.to_string(), v.to_string()))
}

/// Byte sizes: `1048576`, `64KiB`, `8MiB`, `8M`, `8MB`, `1GiB` (K/M/G are powers of 1024, as in
/// the AWS CLI's multipart settings).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn init_logging(verbose: u8) {
    // Without -v only s3seal's own warnings: the SDK's (a region not found in IMDS, a
    // credential provider that found nothing) are multi-line dumps about things s3seal
    // reports itself, in one line with a hint, when they matter.
    let default = match verbose {
        0 => "s3seal=warn,error",
        1 => "s3seal=info,warn",
        2 => "s3seal=debug,info",
        _ => "s3seal=trace,aws_smithy_runtime=debug,aws_config=debug,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbose >= 2)
        .init();
}

/// The error on stderr. Messages carry strings from headers and servers (key ids, key names,
/// error texts), so they are escaped for the terminal.
fn report(err: &Error) {
    eprintln!("s3seal: error: {}", escape_for_terminal(&err.to_string()));
    if let Some(hint) = err.hint() {
        eprintln!("  hint: {}", escape_for_terminal(&hint));
    }
}

pub fn main() -> ExitCode {
    let (cli, context) = match config::parse() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    init_logging(cli.global.verbose);
    progress::set_mode(cli.global.progress.progress);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3seal: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let json_command = cli.command.json_name();
    let result = runtime.block_on(async {
        let cancel = signals::install();
        let global = &cli.global;
        let done = |result: s3seal::Result<()>| result.map(|()| ExitCode::SUCCESS);
        match cli.command {
            Command::Put(args) => put::run(global, args, cancel).await,
            Command::Get(args) => get::run(global, args, cancel).await,
            Command::Sync(args) => sync::run(global, args, cancel).await,
            Command::Posture(args) => posture::run(global, args).await,
            Command::Presign(args) => done(presign::run(global, args).await),
            Command::Inspect(args) => done(inspect::run(global, args).await),
            Command::Verify(args) => verify::run(global, args, cancel).await,
            Command::Rewrap(args) => rewrap::run(global, args, cancel).await,
            Command::Migrate(args) => migrate::run(global, args, cancel).await,
            Command::Seal(args) => seal::run(global, args, cancel).await,
            Command::BatchTask(args) => batch_task::run(global, args, cancel).await,
            Command::Uploads(args) => done(uploads::run(global, args).await),
            Command::Config(args) => done(config::run(&context, &args)),
            Command::Completions(args) => done(docs::completions(&args)),
            Command::Man(args) => done(docs::man(&args)),
        }
    });
    // Leave no background work (idle connections, blocking readers on stdin) holding us up.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(Error::Io { path, source })
            if path == "stdout" && source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            // The reader went away (`| head`): not our failure to report.
            ExitCode::from(exit::SUCCESS)
        }
        Err(err) => {
            report(&err);
            let code = match signals::interrupted_exit_code() {
                Some(code) if matches!(err, Error::Interrupted) => code,
                _ => exit::code_for(&err),
            };
            if let Some(command) = json_command {
                println!("{}", json::failure(command, &err, code));
            }
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn pairs() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_pair("a="), Ok(("a".into(), "".into())));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

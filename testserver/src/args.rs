// Command-line options of s3s-tls-server. Parsed by hand (no clap) to keep this
// test-only crate's dependency list short.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: s3s-tls-server --cert PEM --key PEM --access-key K --secret-key S --root DIR
                      [--host 127.0.0.1] [--port 0]

Serves a file-backed S3 API (s3s-fs) over HTTPS with SigV4 authentication.
--port 0 picks a free port. Prints `READY port=<N>` on stdout once listening.";

#[derive(Debug)]
pub struct Args {
    pub host: String,
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub access_key: String,
    pub secret_key: String,
    pub root: PathBuf,
}

/// Parses `--name value` and `--name=value` options; every option except
/// `--host` and `--port` is required.
pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut host = "127.0.0.1".to_owned();
    let mut port: u16 = 0;
    let (mut cert, mut key, mut access_key, mut secret_key, mut root) =
        (None, None, None, None, None);

    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Err(String::new());
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--host" => host = value()?,
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--access-key" => access_key = Some(value()?),
            "--secret-key" => secret_key = Some(value()?),
            "--root" => root = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument: {other}")),
        }
    }

    let missing = |what: &str| format!("{what} is required");
    Ok(Args {
        host,
        port,
        cert: cert.ok_or_else(|| missing("--cert"))?,
        key: key.ok_or_else(|| missing("--key"))?,
        access_key: access_key.ok_or_else(|| missing("--access-key"))?,
        secret_key: secret_key.ok_or_else(|| missing("--secret-key"))?,
        root: root.ok_or_else(|| missing("--root"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> impl Iterator<Item = String> {
        v.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn parses_all_options() {
        let a = parse(strs(&[
            "--host",
            "127.0.0.1",
            "--port=0",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
            "--access-key",
            "AK",
            "--secret-key",
            "SK",
            "--root",
            "/tmp/x",
        ]))
        .unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 0));
        assert_eq!((a.access_key.as_str(), a.secret_key.as_str()), ("AK", "SK"));
        assert_eq!(a.root, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn rejects_missing_and_unknown() {
        assert!(parse(strs(&["--cert", "c"])).unwrap_err().contains("--key"));
        assert!(
            parse(strs(&["--bogus", "1"]))
                .unwrap_err()
                .contains("unknown")
        );
        assert!(parse(strs(&["--port", "x"])).is_err());
    }
}

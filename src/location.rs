//! Where an object lives: parsing `s3://bucket/key` the way the AWS CLI does.

use crate::error::{Error, Result};

/// A bucket and an object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLocation {
    pub bucket: String,
    pub key: String,
}

impl ObjectLocation {
    /// Parses `s3://bucket/key`. The key is taken verbatim (it may contain `/`, spaces, `?`).
    pub fn parse(uri: &str) -> Result<Self> {
        let rest = uri.strip_prefix("s3://").ok_or_else(|| {
            Error::usage_hint(
                format!("{uri:?} is not an S3 URI"),
                "write objects as s3://BUCKET/KEY",
            )
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::usage_hint(
                format!("{uri:?} names no bucket"),
                "write objects as s3://BUCKET/KEY",
            ));
        }
        if key.is_empty() {
            return Err(Error::usage_hint(
                format!("{uri:?} names a bucket but no object key"),
                "write objects as s3://BUCKET/KEY",
            ));
        }
        Ok(ObjectLocation {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// Parses `s3://bucket/prefix` for a tree (`put/get --recursive`, `sync`): the key is a
    /// prefix and may be empty (`s3://bucket` or `s3://bucket/`: the whole bucket).
    pub fn parse_prefix(uri: &str) -> Result<Self> {
        let rest = uri.strip_prefix("s3://").ok_or_else(|| {
            Error::usage_hint(
                format!("{uri:?} is not an S3 URI"),
                "write prefixes as s3://BUCKET/PREFIX/",
            )
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::usage_hint(
                format!("{uri:?} names no bucket"),
                "write prefixes as s3://BUCKET/PREFIX/",
            ));
        }
        Ok(ObjectLocation {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// Parses `s3://bucket` (a trailing `/` is allowed).
    pub fn parse_bucket(uri: &str) -> Result<String> {
        let rest = uri
            .strip_prefix("s3://")
            .unwrap_or(uri)
            .trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(Error::usage_hint(
                format!("{uri:?} is not a bucket"),
                "write buckets as s3://BUCKET",
            ));
        }
        Ok(rest.to_string())
    }
}

impl std::fmt::Display for ObjectLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let loc = ObjectLocation::parse("s3://b/dir/file name?.txt").unwrap();
        assert_eq!(loc.bucket, "b");
        assert_eq!(loc.key, "dir/file name?.txt");
        assert_eq!(loc.to_string(), "s3://b/dir/file name?.txt");
        for bad in [
            "b/k",
            "s3://",
            "s3:///k",
            "s3://b",
            "s3://b/",
            "https://b/k",
        ] {
            assert!(ObjectLocation::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ObjectLocation::parse_bucket("s3://b/").unwrap(), "b");
        assert!(ObjectLocation::parse_bucket("s3://b/k").is_err());
    }
}

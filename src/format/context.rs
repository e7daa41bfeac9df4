//! The KMS encryption context stored in every header: the reserved pairs that bind an object to
//! its format version, bucket and key, plus the user's own pairs. KMS refuses to unwrap the data
//! key unless exactly this context is presented, and the reader checks the location itself.

use std::collections::BTreeMap;

use super::FormatError;

/// Reserved key naming the format version.
pub const FORMAT_KEY: &str = "s3seal:format";
/// Reserved key naming the bucket the object was written to.
pub const BUCKET_KEY: &str = "s3seal:bucket";
/// Reserved key naming the object key it was written to.
pub const OBJECT_KEY: &str = "s3seal:key";
/// User keys may not start with these (compared case-insensitively): `s3seal:` is ours, `aws:`
/// is AWS's.
pub const RESERVED_PREFIXES: [&str; 2] = ["s3seal:", "aws:"];

/// Longest key or value the header can carry.
pub const MAX_FIELD_BYTES: usize = 2048;
/// Most pairs a header can carry.
pub const MAX_PAIRS: usize = 256;

/// Sorted (by key bytes), unique key/value pairs: the canonical order the header stores.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// The context for a new object at `bucket`/`key` with the user's `pairs`. User pairs in the
    /// reserved namespace, duplicates, empty keys and oversized fields are refused.
    pub fn for_object(
        bucket: &str, key: &str, pairs: &[(String, String)],
    ) -> Result<Self, FormatError> {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if k.is_empty() {
                return Err(FormatError::InvalidContext("empty key".into()));
            }
            let lower = k.to_ascii_lowercase();
            if RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
                return Err(FormatError::InvalidContext(format!(
                    "key {k:?} is in a reserved namespace (s3seal:, aws:)"
                )));
            }
            if map.insert(k.clone(), v.clone()).is_some() {
                return Err(FormatError::InvalidContext(format!(
                    "key {k:?} given twice"
                )));
            }
        }
        map.insert(FORMAT_KEY.to_string(), super::FORMAT_VERSION.to_string());
        map.insert(BUCKET_KEY.to_string(), bucket.to_string());
        map.insert(OBJECT_KEY.to_string(), key.to_string());
        let ctx = EncryptionContext(map);
        ctx.check_limits()?;
        Ok(ctx)
    }

    /// Builds a context from pairs read from a header (already checked for order by the parser).
    pub(crate) fn from_map(map: BTreeMap<String, String>) -> Result<Self, FormatError> {
        let ctx = EncryptionContext(map);
        ctx.check_limits()?;
        Ok(ctx)
    }

    fn check_limits(&self) -> Result<(), FormatError> {
        if self.0.len() > MAX_PAIRS {
            return Err(FormatError::InvalidContext(format!(
                "more than {MAX_PAIRS} pairs"
            )));
        }
        for (k, v) in &self.0 {
            if k.is_empty() || k.len() > MAX_FIELD_BYTES || v.len() > MAX_FIELD_BYTES {
                return Err(FormatError::InvalidContext(format!(
                    "key or value length out of range for {:?}",
                    truncate(k)
                )));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The map KMS expects.
    pub fn to_map(&self) -> std::collections::HashMap<String, String> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The pairs the user added (everything outside the reserved namespace).
    pub fn user_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().filter(|(k, _)| !k.starts_with("s3seal:"))
    }

    /// Where the header says the object was written.
    pub fn bound_location(&self) -> Option<(&str, &str)> {
        Some((self.get(BUCKET_KEY)?, self.get(OBJECT_KEY)?))
    }

    /// The reserved pairs a v1 object must carry.
    pub fn check_reserved(&self) -> Result<(), FormatError> {
        if self.get(FORMAT_KEY) != Some("1") {
            return Err(FormatError::InvalidContext(format!(
                "{FORMAT_KEY} is missing or not 1"
            )));
        }
        if self.bound_location().is_none() {
            return Err(FormatError::InvalidContext(format!(
                "{BUCKET_KEY} or {OBJECT_KEY} is missing"
            )));
        }
        Ok(())
    }

    /// Every pair in `expected` must be present with that value. Returns the first missing or
    /// different key.
    pub fn missing_from(&self, expected: &[(String, String)]) -> Option<String> {
        expected
            .iter()
            .find(|(k, v)| self.get(k) != Some(v.as_str()))
            .map(|(k, _)| k.clone())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reserved_pairs_are_added_and_sorted() {
        let ctx = EncryptionContext::for_object("b", "k/x", &pairs(&[("team", "ops")])).unwrap();
        let keys: Vec<_> = ctx.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["s3seal:bucket", "s3seal:format", "s3seal:key", "team"]
        );
        assert_eq!(ctx.bound_location(), Some(("b", "k/x")));
        assert!(ctx.check_reserved().is_ok());
        assert_eq!(ctx.user_pairs().collect::<Vec<_>>(), [("team", "ops")]);
    }

    #[test]
    fn reserved_namespace_refused() {
        for bad in ["s3seal:bucket", "S3SEAL:x", "aws:foo", "AWS:Bar"] {
            assert!(
                EncryptionContext::for_object("b", "k", &pairs(&[(bad, "v")])).is_err(),
                "{bad} accepted"
            );
        }
        assert!(EncryptionContext::for_object("b", "k", &pairs(&[("", "v")])).is_err());
        assert!(
            EncryptionContext::for_object("b", "k", &pairs(&[("a", "1"), ("a", "2")])).is_err()
        );
        assert!(EncryptionContext::for_object("b", "k", &pairs(&[("awsome", "v")])).is_ok());
    }

    #[test]
    fn expected_pairs() {
        let ctx = EncryptionContext::for_object("b", "k", &pairs(&[("team", "ops")])).unwrap();
        assert_eq!(ctx.missing_from(&pairs(&[("team", "ops")])), None);
        assert_eq!(
            ctx.missing_from(&pairs(&[("team", "dev")])),
            Some("team".into())
        );
        assert_eq!(ctx.missing_from(&pairs(&[("x", "1")])), Some("x".into()));
    }
}

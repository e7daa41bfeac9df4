//! Shards: every object belongs to exactly one of `count` workers, decided by its key alone,
//! so N identical workers given the same manifest (or prefix) and indexes 0..N split the work
//! without talking to each other, and a failed worker is re-run with its index.
//!
//! The owner of key K among N shards is `u64::from_be_bytes(SHA-256(K)[0..8]) mod N` (the
//! key's UTF-8 bytes, without the bucket or a version id). It is stable across runs, machines
//! and s3seal versions (docs/SCALE.md relies on it).

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The environment variables that carry a worker's index, in the order they are read:
/// Kubernetes Indexed Jobs, then AWS Batch array jobs.
pub const INDEX_VARIABLES: [&str; 2] = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// This worker's share: the objects whose key hashes to `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Shard> {
        if count == 0 {
            return Err(Error::usage("the shard count must be at least 1"));
        }
        if index >= count {
            return Err(Error::usage_hint(
                format!("shard index {index} is not below the shard count {count}"),
                format!(
                    "shards are numbered from 0: --shard 0/{count} to {}/{count}",
                    count - 1
                ),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `INDEX/COUNT`, e.g. `0/3`.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::usage_hint(
                format!("{text:?} is not a shard"),
                "write shards as INDEX/COUNT, numbered from 0: --shard 0/3",
            )
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index = index.trim().parse().map_err(|_| bad())?;
        let count = count.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count)
    }

    /// The shard of this worker from its environment (`var` looks a variable up): the first
    /// of [`INDEX_VARIABLES`] that is set, out of `count`. `None` when none is set.
    pub fn from_env(count: u64, var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        for name in INDEX_VARIABLES {
            if let Some(value) = var(name) {
                let index = value
                    .trim()
                    .parse()
                    .map_err(|_| Error::usage(format!("{name}={value:?} is not a shard index")))?;
                return Shard::new(index, count).map(Some);
            }
        }
        Ok(None)
    }

    /// Which of `count` shards owns `key`.
    pub fn of_key(key: &str, count: u64) -> u64 {
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % count.max(1)
    }

    /// Whether this shard owns `key`.
    pub fn contains(&self, key: &str) -> bool {
        Shard::of_key(key, self.count) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_shards() {
        assert_eq!(Shard::parse("1/3").unwrap(), Shard { index: 1, count: 3 });
        for bad in ["3/3", "1", "a/3", "1/0", "-1/3", "1/3/4"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hash_is_the_documented_one() {
        // SHA-256("") starts e3b0c44298fc1c14.
        assert_eq!(Shard::of_key("", u64::MAX), 0xe3b0_c442_98fc_1c14);
        assert_eq!(Shard::of_key("", 7), 0xe3b0_c442_98fc_1c14 % 7);
    }

    #[test]
    fn every_key_has_exactly_one_shard() {
        let shards: Vec<Shard> = (0..5).map(|i| Shard::new(i, 5).unwrap()).collect();
        let mut per_shard = [0u32; 5];
        for i in 0..5000 {
            let key = format!("dir/object-{i}");
            let owners: Vec<_> = shards.iter().filter(|s| s.contains(&key)).collect();
            assert_eq!(owners.len(), 1, "{key}");
            per_shard[owners[0].index as usize] += 1;
        }
        // Roughly even: each shard gets 1000 +- 15%.
        assert!(
            per_shard.iter().all(|&n| (850..1150).contains(&n)),
            "{per_shard:?}"
        );
    }

    #[test]
    fn index_comes_from_the_job_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_env(4, env(&[])).unwrap(), None);
        assert_eq!(
            Shard::from_env(4, env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "2")])).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        assert_eq!(
            Shard::from_env(
                4,
                env(&[
                    ("JOB_COMPLETION_INDEX", "1"),
                    ("AWS_BATCH_JOB_ARRAY_INDEX", "3")
                ])
            )
            .unwrap(),
            Some(Shard { index: 1, count: 4 })
        );
        assert!(Shard::from_env(4, env(&[("JOB_COMPLETION_INDEX", "4")])).is_err());
        assert!(Shard::from_env(4, env(&[("JOB_COMPLETION_INDEX", "x")])).is_err());
    }
}

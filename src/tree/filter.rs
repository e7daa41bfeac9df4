//! `--include` / `--exclude` with the AWS CLI's semantics: every path is included to begin
//! with, the filters are applied in the order given, and the last one that matches decides.
//! Patterns are globs (globset) matched against the path relative to the source directory or
//! prefix; as in the AWS CLI, `*` also matches `/` (`--exclude '*.tmp'` excludes `a/b.tmp`).
//! The same filters apply to both sides of a sync, so a filtered-out path is never transferred
//! and never deleted.

use globset::{Glob, GlobBuilder, GlobMatcher};

use crate::error::{Error, Result};

/// Include or exclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Include,
    Exclude,
}

/// The filters of one run, in command-line order.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    rules: Vec<(Rule, String, GlobMatcher)>,
}

impl Filters {
    /// Builds the filters from `(rule, pattern)` pairs in command-line order.
    pub fn new(rules: &[(Rule, String)]) -> Result<Filters> {
        let mut out = Vec::with_capacity(rules.len());
        for (rule, pattern) in rules {
            let glob: Glob = GlobBuilder::new(pattern)
                .literal_separator(false)
                .backslash_escape(true)
                .build()
                .map_err(|e| {
                    Error::usage_hint(
                        format!("bad filter pattern {pattern:?}: {e}"),
                        "patterns are globs: *, ?, [abc], {a,b}; `*` also matches `/`",
                    )
                })?;
            out.push((*rule, pattern.clone(), glob.compile_matcher()));
        }
        Ok(Filters { rules: out })
    }

    /// Whether the relative path `rel` takes part in the run.
    pub fn includes(&self, rel: &str) -> bool {
        let mut included = true;
        for (rule, _, matcher) in &self.rules {
            if matcher.is_match(rel) {
                included = *rule == Rule::Include;
            }
        }
        included
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(rules: &[(Rule, &str)]) -> Filters {
        let owned: Vec<(Rule, String)> = rules.iter().map(|(r, p)| (*r, p.to_string())).collect();
        Filters::new(&owned).unwrap()
    }

    #[test]
    fn everything_is_included_without_filters() {
        assert!(f(&[]).includes("a/b"));
    }

    #[test]
    fn the_last_matching_filter_wins() {
        // aws s3 sync --exclude '*' --include '*.txt': only .txt files.
        let only_txt = f(&[(Rule::Exclude, "*"), (Rule::Include, "*.txt")]);
        assert!(only_txt.includes("a/b.txt"));
        assert!(!only_txt.includes("a/b.jpg"));
        // The other order: the exclude comes last and wins everywhere.
        let nothing = f(&[(Rule::Include, "*.txt"), (Rule::Exclude, "*")]);
        assert!(!nothing.includes("b.txt"));
    }

    #[test]
    fn star_crosses_directories_as_in_the_aws_cli() {
        let no_tmp = f(&[(Rule::Exclude, "*.tmp")]);
        assert!(!no_tmp.includes("deep/dir/x.tmp"));
        assert!(no_tmp.includes("deep/dir/x.tmpl"));
        let no_cache = f(&[(Rule::Exclude, "cache/*")]);
        assert!(!no_cache.includes("cache/a/b"));
        assert!(no_cache.includes("x/cache/a"));
    }

    #[test]
    fn bad_patterns_are_usage_errors() {
        let err = Filters::new(&[(Rule::Include, "a[".into())]).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Usage);
    }
}

//! The ETag index of a bucket and the revision it digests to, as Flux's
//! `internal/index.Digester` computes it: the keys sorted, one
//! `<key> <etag>\n` line each, SHA-256 over the lines, `sha256:<hex>`. The
//! same objects with the same ETags give Flux's revision, whatever the
//! order of the listing.
//!
//! And the ignore rules of a bucket, as Flux's Bucket reconciler applies
//! them while indexing: the bucket's root `.sourceignore` then `spec.ignore`
//! (gitignore syntax, matched against each key's path), and nothing else
//! (no default exclusions, no nested `.sourceignore` files).

use std::collections::BTreeMap;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::{Digest as _, Sha256};

/// The name of the object whose lines extend the ignore rules.
pub const IGNORE_FILE: &str = ".sourceignore";

/// Keys and their ETags, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtagIndex {
    entries: BTreeMap<String, String>,
}

impl EtagIndex {
    /// Adds or replaces the ETag of `key`.
    pub fn add(&mut self, key: impl Into<String>, etag: impl Into<String>) {
        self.entries.insert(key.into(), etag.into());
    }

    /// Forgets `key` (an object that disappeared while downloading).
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index holds no object.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys and ETags, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.entries.iter()
    }

    /// The revision: `sha256:` and the hex SHA-256 of the sorted
    /// `<key> <etag>\n` lines (Flux's `Digester.Digest(sha256)`). Keys sort
    /// bytewise, as Go's `sort.Strings` sorts them.
    pub fn revision(&self) -> String {
        let mut hasher = Sha256::new();
        for (key, etag) in &self.entries {
            hasher.update(key.as_bytes());
            hasher.update(b" ");
            hasher.update(etag.as_bytes());
            hasher.update(b"\n");
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }
}

/// The ignore rules of one bucket.
pub struct Matcher {
    rules: Option<Gitignore>,
}

/// A line of the rules that is no gitignore pattern.
#[derive(Debug, thiserror::Error)]
#[error("invalid ignore pattern {line:?}: {source}")]
pub struct PatternError {
    /// The line.
    pub line: String,
    /// The parser's error.
    #[source]
    pub source: ignore::Error,
}

impl Matcher {
    /// The rules of the root `.sourceignore` (its text, when the bucket has
    /// one) followed by `spec.ignore`, which wins.
    pub fn new(sourceignore: Option<&str>, spec_ignore: Option<&str>) -> Result<Self, PatternError> {
        let lines: Vec<&str> = sourceignore
            .into_iter()
            .chain(spec_ignore)
            .flat_map(str::lines)
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .collect();
        if lines.is_empty() {
            return Ok(Self { rules: None });
        }
        let mut builder = GitignoreBuilder::new("/");
        for line in lines {
            builder.add_line(None, line).map_err(|source| PatternError { line: line.to_string(), source })?;
        }
        let rules = builder.build().map_err(|source| PatternError { line: String::new(), source })?;
        Ok(Self { rules: Some(rules) })
    }

    /// Whether the object `key` is left out: a pattern matches its path or
    /// one of its directories.
    pub fn ignores(&self, key: &str) -> bool {
        let Some(rules) = &self.rules else { return false };
        let path = Path::new("/").join(key);
        rules.matched_path_or_any_parents(&path, false).is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest Flux's `index.Digester` gives for the same index
    /// (`printf 'a.yaml etag1\ndir/b.yaml etag2\n' | sha256sum`).
    #[test]
    fn revision_is_fluxs_digest_of_sorted_lines() {
        let mut index = EtagIndex::default();
        index.add("dir/b.yaml", "etag2");
        index.add("a.yaml", "etag1");
        let mut hasher = Sha256::new();
        hasher.update(b"a.yaml etag1\ndir/b.yaml etag2\n");
        assert_eq!(index.revision(), format!("sha256:{}", hex::encode(hasher.finalize())));
        assert_eq!(
            EtagIndex::default().revision(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut reordered = EtagIndex::default();
        reordered.add("a.yaml", "etag1");
        reordered.add("dir/b.yaml", "etag2");
        assert_eq!(reordered.revision(), index.revision());
        reordered.add("a.yaml", "changed");
        assert_ne!(reordered.revision(), index.revision());
    }

    /// Bytewise order, as Go sorts strings: upper case before lower case,
    /// `-` before `/`.
    #[test]
    fn keys_sort_bytewise() {
        let mut index = EtagIndex::default();
        for key in ["b", "B", "a/x", "a-x"] {
            index.add(key, "e");
        }
        let keys: Vec<&str> = index.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["B", "a-x", "a/x", "b"]);
    }

    #[test]
    fn ignore_rules_apply_to_keys_and_their_directories() {
        let matcher = Matcher::new(Some("# comment\n*.md\nsecret/\n"), Some("!README.md\n/top.yaml")).unwrap();
        assert!(matcher.ignores("docs/guide.md"));
        assert!(!matcher.ignores("README.md"), "spec.ignore comes last and wins");
        assert!(matcher.ignores("secret/key.yaml"));
        assert!(matcher.ignores("deep/secret/key.yaml"));
        assert!(matcher.ignores("top.yaml"));
        assert!(!matcher.ignores("sub/top.yaml"), "a leading slash anchors at the root");
        assert!(!matcher.ignores("app.yaml"));
        let none = Matcher::new(None, None).unwrap();
        assert!(!none.ignores(".git/config"), "no default exclusions for buckets");
        assert!(!none.ignores("image.png"));
    }
}

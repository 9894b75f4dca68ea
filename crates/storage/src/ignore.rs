//! Which files stay out of an artifact: `.sourceignore` files (gitignore
//! syntax, each scoped to its directory), `spec.ignore`, and Flux's defaults.
//!
//! As in Flux, the version-control files (`.git/`, `.gitignore`,
//! `.gitmodules`, `.gitattributes`) are always left out. The other defaults
//! (images, archives, CI configuration, `.sops.yaml`, ...) apply only while
//! the source has no ignore patterns of its own: a `.sourceignore` or a
//! `spec.ignore` replaces them.

use std::fs;
use std::path::Path;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::{Error, Result, io_err};

/// The name of the ignore files looked for in every directory.
pub const IGNORE_FILE: &str = ".sourceignore";

/// Version-control files, always excluded.
pub const EXCLUDE_VCS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Flux's default exclusions when a source has no patterns of its own.
pub const EXCLUDE_DEFAULTS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// A compiled set of ignore rules for one source tree.
#[derive(Debug, Clone)]
pub struct SourceIgnore {
    matcher: Option<Gitignore>,
}

impl SourceIgnore {
    /// Rules that ignore nothing.
    pub fn none() -> Self {
        Self { matcher: None }
    }

    /// The rules for the tree at `root`: `.sourceignore` files found in it
    /// (outside `.git`), then `spec_ignore` (which wins), on top of the
    /// version-control exclusions, and Flux's defaults when neither exists.
    pub fn load(root: &Path, spec_ignore: Option<&str>) -> Result<Self> {
        let mut user: Vec<String> = Vec::new();
        collect_ignore_files(root, "", &mut user)?;
        if let Some(spec) = spec_ignore {
            user.extend(lines(spec).map(str::to_string));
        }
        Self::from_patterns(root, &user)
    }

    /// The rules for `patterns` (root-scoped gitignore lines) on top of the
    /// version-control exclusions, and Flux's defaults when `patterns` is empty.
    pub fn from_patterns(root: &Path, patterns: &[String]) -> Result<Self> {
        let mut builder = GitignoreBuilder::new(root);
        let defaults: &[&str] = if patterns.is_empty() { EXCLUDE_DEFAULTS } else { &[] };
        for line in EXCLUDE_VCS.iter().chain(defaults).copied().chain(patterns.iter().map(String::as_str)) {
            builder.add_line(None, line).map_err(|e| Error::InvalidIgnore(format!("{line:?}: {e}")))?;
        }
        let matcher = builder.build().map_err(|e| Error::InvalidIgnore(e.to_string()))?;
        Ok(Self { matcher: Some(matcher) })
    }

    /// True when `path` (relative to the root) is left out.
    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        self.matcher.as_ref().is_some_and(|m| matches!(m.matched(path, is_dir), Match::Ignore(_)))
    }
}

/// Non-empty lines that are not comments.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty())
}

/// Reads `<dir>/.sourceignore` and those below it, rewriting each pattern so
/// that it applies from the root only inside the directory that holds it.
fn collect_ignore_files(root: &Path, scope: &str, out: &mut Vec<String>) -> Result<()> {
    let dir = root.join(scope);
    let file = dir.join(IGNORE_FILE);
    match fs::read_to_string(&file) {
        Ok(text) => out.extend(lines(&text).map(|line| scoped(line, scope))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_err("reading", &file)(err)),
    }
    let mut subdirs: Vec<String> = fs::read_dir(&dir)
        .map_err(io_err("listing", &dir))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".git")
        .collect();
    subdirs.sort();
    for name in subdirs {
        let child = if scope.is_empty() { name } else { format!("{scope}/{name}") };
        collect_ignore_files(root, &child, out)?;
    }
    Ok(())
}

/// Rewrites a gitignore line found in directory `scope` into one that means
/// the same from the root.
fn scoped(line: &str, scope: &str) -> String {
    if scope.is_empty() {
        return line.to_string();
    }
    let (negation, pattern) = match line.strip_prefix('!') {
        Some(rest) => ("!", rest),
        None => ("", line),
    };
    let body = pattern.strip_suffix('/').unwrap_or(pattern);
    let anchored = body.contains('/');
    let body = body.trim_start_matches('/');
    let trailing = if pattern.ends_with('/') { "/" } else { "" };
    if anchored {
        format!("{negation}/{scope}/{body}{trailing}")
    } else {
        format!("{negation}/{scope}/**/{body}{trailing}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(rules: &SourceIgnore, path: &str, is_dir: bool) -> bool {
        rules.is_ignored(Path::new(path), is_dir)
    }

    #[test]
    fn defaults_apply_without_user_patterns() {
        let root = tempfile::tempdir().unwrap();
        let rules = SourceIgnore::load(root.path(), None).unwrap();
        assert!(ignored(&rules, ".git", true));
        assert!(ignored(&rules, ".gitignore", false));
        assert!(ignored(&rules, "docs/logo.png", false));
        assert!(ignored(&rules, ".github", true));
        assert!(ignored(&rules, "apps/.sops.yaml", false));
        assert!(!ignored(&rules, "apps/deployment.yaml", false));
        assert!(!ignored(&rules, ".sourceignore", false));
    }

    #[test]
    fn user_patterns_replace_the_defaults_but_not_vcs() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join(IGNORE_FILE), "# comment\n\n/secrets/\n*.md\n").unwrap();
        let rules = SourceIgnore::load(root.path(), None).unwrap();
        assert!(ignored(&rules, "secrets", true));
        assert!(!ignored(&rules, "apps/secrets", true), "anchored to the root");
        assert!(ignored(&rules, "apps/README.md", false));
        assert!(!ignored(&rules, "docs/logo.png", false), "defaults are replaced");
        assert!(ignored(&rules, ".git", true), "VCS files are always out");
    }

    #[test]
    fn nested_files_are_scoped_and_spec_ignore_wins() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("apps/web")).unwrap();
        fs::write(root.path().join("apps/.sourceignore"), "*.txt\n/web/tmp/\n").unwrap();
        let rules = SourceIgnore::load(root.path(), Some("!apps/keep.txt\n")).unwrap();
        assert!(ignored(&rules, "apps/notes.txt", false));
        assert!(ignored(&rules, "apps/web/deep/notes.txt", false));
        assert!(!ignored(&rules, "notes.txt", false), "outside the scope");
        assert!(ignored(&rules, "apps/web/tmp", true));
        assert!(!ignored(&rules, "web/tmp", true));
        assert!(!ignored(&rules, "apps/keep.txt", false), "spec.ignore negates");
    }

    #[test]
    fn scoping_rewrites_patterns() {
        assert_eq!(scoped("*.txt", "a/b"), "/a/b/**/*.txt");
        assert_eq!(scoped("/tmp/", "a"), "/a/tmp/");
        assert_eq!(scoped("!x/y", "a"), "!/a/x/y");
        assert_eq!(scoped("cache/", "a"), "/a/**/cache/");
        assert_eq!(scoped("*.txt", ""), "*.txt");
    }
}

//! Reading the files a kustomization names: relative to its directory, within its load
//! restrictions, and never from the network (remote targets are refused here, so a resolver for
//! them can later be put in front of this one place).

use crate::fs::{FileSystem, normalize};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Which files a kustomization may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoadRestrictions {
    /// Only files in or below the kustomization's directory (kustomize's default).
    #[default]
    RootOnly,
    /// Any file.
    None,
}

/// What generators and transformers need from the build: the bytes of a file named relative to
/// the kustomization, so that they never touch the file system themselves.
pub trait Loader {
    /// Reads a file named relative to the kustomization directory.
    fn load(&self, path: &str) -> Result<Vec<u8>>;
}

/// Reads files relative to one kustomization directory, within its load restrictions.
pub(crate) struct DirLoader<'a> {
    pub fs: &'a dyn FileSystem,
    pub dir: PathBuf,
    pub restrictions: LoadRestrictions,
    pub root: &'a Path,
}

impl DirLoader<'_> {
    pub fn resolve(&self, rel: &str) -> PathBuf {
        normalize(&self.dir.join(rel))
    }

    fn display(&self, p: &Path) -> String {
        p.strip_prefix(self.root).map(|r| r.display().to_string()).unwrap_or_else(|_| p.display().to_string())
    }

    pub fn read_text(&self, rel: &str) -> Result<String> {
        let bytes = self.load(rel)?;
        String::from_utf8(bytes).map_err(|_| Error::in_file(self.display(&self.resolve(rel)), "file is not UTF-8"))
    }
}

impl Loader for DirLoader<'_> {
    fn load(&self, rel: &str) -> Result<Vec<u8>> {
        if is_remote(rel) {
            return Err(Error::in_file(rel, "remote files are not supported: the URL cannot be fetched"));
        }
        let path = self.resolve(rel);
        let shown = self.display(&path);
        let real = self.fs.canonicalize(&path).map_err(|e| Error::in_file(&shown, e.to_string()))?;
        if self.restrictions == LoadRestrictions::RootOnly {
            let dir = self.fs.canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
            if !real.starts_with(&dir) {
                return Err(Error::in_file(
                    &shown,
                    format!(
                        "security; file '{}' is not in or below '{}' (use --load-restrictor LoadRestrictionsNone to allow it)",
                        real.display(),
                        dir.display()
                    ),
                ));
            }
        }
        if self.fs.is_dir(&real) {
            return Err(Error::in_file(&shown, "is a directory, expected a file"));
        }
        self.fs.read(&real).map_err(|e| Error::in_file(&shown, e.to_string()))
    }
}

/// Whether a resource entry names a remote target (a URL or a git repository).
pub(crate) fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || s.starts_with("gitlab.com/")
        || s.starts_with("bitbucket.org/")
        || s.contains("?ref=")
        || s.contains(".git//")
}

//! An artifact unpacked in memory: files, directories and links by relative
//! path, read by any number of builds at once.
//!
//! Flux extracts the artifact to disk for every reconcile; with many
//! consumers of one source that is most of the work (file creation in the
//! kernel). A [`Tree`] is unpacked once per revision by the workspace's one
//! extractor, and [`Tree::resolve`] confines every read to the artifact,
//! links included.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ferry_archive::{Limits, Sink};

use super::{ArchiveError, Result};

/// Most links followed while resolving one path.
const MAX_LINK_HOPS: usize = 40;

/// An unpacked artifact: files, directories and links by relative path.
#[derive(Debug, Default)]
pub struct Tree {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
    links: BTreeMap<PathBuf, PathBuf>,
    bytes: u64,
}

impl Tree {
    /// The limits of an in-memory tree: 512 MiB and 200,000 entries.
    pub const LIMITS: Limits = Limits { max_size: 512 << 20, max_files: 200_000 };

    /// Unpacks a gzip-compressed tarball within `limits`. Absolute paths,
    /// `..`, devices and FIFOs are refused; links are kept and resolved
    /// inside the tree only (see [`Tree::resolve`]).
    pub fn from_tar_gz(reader: impl Read, limits: Limits) -> Result<Self> {
        let mut tree = Tree::default();
        ferry_archive::walk(reader, limits, &mut tree)?;
        Ok(tree)
    }

    /// Reads a directory of the local filesystem (tests, tools).
    pub fn from_dir(dir: &Path) -> io::Result<Self> {
        let mut tree = Tree::default();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(dir.join(&rel))?.collect::<Result<_, _>>()?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = rel.join(entry.file_name());
                let kind = entry.file_type()?;
                if kind.is_symlink() {
                    tree.links.insert(path, std::fs::read_link(entry.path())?);
                } else if kind.is_dir() {
                    tree.add_dir(&path);
                    stack.push(path);
                } else if kind.is_file() {
                    tree.add_file(path.clone(), std::fs::read(entry.path())?);
                }
            }
        }
        Ok(tree)
    }

    fn add_dir(&mut self, path: &Path) {
        let mut current = path.to_path_buf();
        while !current.as_os_str().is_empty() && self.dirs.insert(current.clone()) {
            current = current.parent().map(Path::to_path_buf).unwrap_or_default();
        }
    }

    fn add_file(&mut self, path: PathBuf, body: Vec<u8>) {
        if let Some(parent) = path.parent() {
            self.add_dir(parent);
        }
        self.bytes += body.len() as u64;
        self.files.insert(path, body);
    }

    /// The files, by relative path.
    pub fn files(&self) -> impl Iterator<Item = (&PathBuf, &Vec<u8>)> {
        self.files.iter()
    }

    /// The bytes the files hold.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The content of the file at `rel` (links already resolved).
    pub fn file(&self, rel: &Path) -> Option<&[u8]> {
        self.files.get(rel).map(Vec::as_slice)
    }

    /// Whether `rel` (links already resolved) is a directory; the root is.
    pub fn is_dir(&self, rel: &Path) -> bool {
        rel.as_os_str().is_empty() || self.dirs.contains(rel)
    }

    /// The files, directories and links directly in `rel`.
    pub fn children<'a>(&'a self, rel: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        self.files.keys().chain(self.dirs.iter()).chain(self.links.keys()).filter(move |p| p.parent() == Some(rel))
    }

    /// Follows links through the relative `path`, staying inside the tree.
    /// `None` when a link leads outside or loops.
    pub fn resolve(&self, path: &Path) -> Option<PathBuf> {
        let mut pending: Vec<PathBuf> = path.components().map(|c| PathBuf::from(c.as_os_str())).rev().collect();
        let mut out = PathBuf::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.to_str() {
                Some(".") => continue,
                Some("..") => {
                    if !out.pop() {
                        return None;
                    }
                    continue;
                }
                _ => {}
            }
            out.push(&part);
            if let Some(target) = self.links.get(&out) {
                hops += 1;
                if hops > MAX_LINK_HOPS || target.is_absolute() {
                    return None;
                }
                out.pop();
                pending.extend(target.components().map(|c| PathBuf::from(c.as_os_str())).rev());
            }
        }
        Some(out)
    }
}

/// Links stay links, confined when read; hard links become copies.
impl Sink for Tree {
    type Error = ArchiveError;

    fn dir(&mut self, path: &Path, _raw: &str) -> ferry_archive::Result<()> {
        self.add_dir(path);
        Ok(())
    }

    fn file(&mut self, path: &Path, raw: &str, body: &mut dyn Read, _mode: u32) -> ferry_archive::Result<u64> {
        let mut content = Vec::new();
        body.read_to_end(&mut content).map_err(|source| ArchiveError::Io {
            action: "reading archive",
            path: raw.to_string(),
            source,
        })?;
        let size = content.len() as u64;
        self.add_file(path.to_path_buf(), content);
        Ok(size)
    }

    fn symlink(&mut self, path: &Path, _raw: &str, target: &str) -> ferry_archive::Result<()> {
        if let Some(parent) = path.parent() {
            self.add_dir(parent);
        }
        self.links.insert(path.to_path_buf(), PathBuf::from(target));
        Ok(())
    }

    fn linked_size(&mut self, source: &Path, raw: &str, target: &str) -> ferry_archive::Result<u64> {
        let escape = || ArchiveError::LinkEscape { path: raw.to_string(), target: target.to_string() };
        self.files.get(source).map(|body| body.len() as u64).ok_or_else(escape)
    }

    fn hard_link(&mut self, path: &Path, raw: &str, source: &Path) -> ferry_archive::Result<()> {
        let body = self
            .files
            .get(source)
            .cloned()
            .ok_or_else(|| ArchiveError::LinkEscape { path: raw.to_string(), target: source.display().to_string() })?;
        self.add_file(path.to_path_buf(), body);
        Ok(())
    }
}

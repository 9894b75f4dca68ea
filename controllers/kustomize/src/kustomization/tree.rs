//! Artifacts in memory: a tarball unpacked once per revision into a
//! read-only tree that any number of builds read at once, and a cache of
//! them by digest.
//!
//! Flux extracts the artifact to disk for every reconcile; with many
//! Kustomizations on one source that is most of the work (file creation in
//! the kernel). Ferry downloads and unpacks a revision once, and builds read
//! it from memory through [`TreeFs`], which also confines every read to the
//! artifact (links included) and decrypts SOPS files as they are read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferry_kustomize::FileSystem;

/// Most bytes one artifact may unpack to.
pub const MAX_TREE_BYTES: u64 = 512 << 20;
/// Most entries one artifact may have.
pub const MAX_TREE_ENTRIES: usize = 200_000;
/// Most bytes the cache keeps (the newest artifact is kept whatever its size).
pub const MAX_CACHE_BYTES: u64 = 512 << 20;
/// Most links followed while resolving one path.
const MAX_LINK_HOPS: usize = 40;

/// Why an artifact could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The archive could not be read.
    #[error("reading the artifact: {0}")]
    Read(#[from] io::Error),
    /// An entry is hostile or unsupported.
    #[error("artifact entry {path:?}: {message}")]
    Entry {
        /// The entry's path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The artifact is too large.
    #[error("the artifact unpacks to more than {0} bytes")]
    TooLarge(u64),
    /// The artifact has too many entries.
    #[error("the artifact has more than {0} entries")]
    TooManyEntries(usize),
}

/// An unpacked artifact: files, directories and links by relative path.
#[derive(Debug, Default)]
pub struct Tree {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
    links: BTreeMap<PathBuf, PathBuf>,
    bytes: u64,
}

impl Tree {
    /// Unpacks a gzip-compressed tarball. Absolute paths, `..`, devices and
    /// FIFOs are refused; links are kept and resolved inside the tree only.
    pub fn from_tar_gz(reader: impl Read) -> Result<Self, Error> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
        let mut tree = Tree::default();
        let mut entries = 0usize;
        for entry in archive.entries()? {
            let mut entry = entry?;
            entries += 1;
            if entries > MAX_TREE_ENTRIES {
                return Err(Error::TooManyEntries(MAX_TREE_ENTRIES));
            }
            let raw = entry.path()?.to_path_buf();
            let display = raw.display().to_string();
            let bad = |message: &str| Error::Entry { path: display.clone(), message: message.to_string() };
            let path = relative_clean(&raw).ok_or_else(|| bad("absolute or '..' paths are not allowed"))?;
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                tree.add_dir(&path);
            } else if kind.is_file() || kind.is_contiguous() {
                let size = entry.header().size()?;
                if tree.bytes.saturating_add(size) > MAX_TREE_BYTES {
                    return Err(Error::TooLarge(MAX_TREE_BYTES));
                }
                let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
                entry.read_to_end(&mut body)?;
                tree.add_file(path, body);
            } else if kind.is_symlink() {
                let target = entry.link_name()?.ok_or_else(|| bad("a link without target"))?.to_path_buf();
                if target.is_absolute() {
                    return Err(bad("links to absolute paths are not allowed"));
                }
                if let Some(parent) = path.parent() {
                    tree.add_dir(parent);
                }
                tree.links.insert(path, target);
            } else if kind.is_hard_link() {
                let target = entry.link_name()?.ok_or_else(|| bad("a link without target"))?.to_path_buf();
                let target = relative_clean(&target).ok_or_else(|| bad("a hard link out of the archive"))?;
                let body = tree.files.get(&target).cloned().ok_or_else(|| bad("a hard link to an unknown file"))?;
                tree.add_file(path, body);
            } else if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
                continue;
            } else {
                return Err(bad("only files, directories and links are allowed"));
            }
        }
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
                    tree.add_file(path, std::fs::read(entry.path())?);
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

    /// Follows links through `path` (relative), staying inside the tree.
    /// `None` when a link leads outside or loops.
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
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

/// A path without `.`, `..`, root or prefix components, or `None` when it
/// is absolute or climbs out.
fn relative_clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Lexically normalizes an absolute path (`.` and `..` removed).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A [`Tree`] as the kustomize engine sees it: mounted at a virtual absolute
/// `root`, with files written by the controller (the kustomization file)
/// over it, nothing readable outside it, and SOPS files decrypted on read
/// when keys are given.
pub struct TreeFs<'a> {
    root: PathBuf,
    tree: &'a Tree,
    overrides: BTreeMap<PathBuf, Vec<u8>>,
    keys: Option<&'a ferry_sops::KeyRing>,
}

impl<'a> TreeFs<'a> {
    /// `tree` mounted at `root` (an absolute path that exists nowhere).
    pub fn new(root: &Path, tree: &'a Tree, keys: Option<&'a ferry_sops::KeyRing>) -> Self {
        Self { root: root.to_path_buf(), tree, overrides: BTreeMap::new(), keys }
    }

    /// Writes (over) the file at absolute `path` inside the root.
    pub fn write(&mut self, path: &Path, body: Vec<u8>) -> io::Result<()> {
        let rel = self.relative(path)?;
        self.overrides.insert(rel, body);
        Ok(())
    }

    /// The path relative to the root, links resolved.
    fn relative(&self, path: &Path) -> io::Result<PathBuf> {
        let outside = || {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("security; file '{}' is not in or below the artifact", path.display()),
            )
        };
        let normalized = normalize(path);
        let rel = normalized.strip_prefix(&self.root).map_err(|_| outside())?;
        self.tree.resolve(rel).ok_or_else(outside)
    }

    fn file(&self, rel: &Path) -> Option<&[u8]> {
        self.overrides.get(rel).or_else(|| self.tree.files.get(rel)).map(Vec::as_slice)
    }

    fn dir_exists(&self, rel: &Path) -> bool {
        rel.as_os_str().is_empty() || self.tree.dirs.contains(rel)
    }
}

/// A cheap first look before parsing: SOPS files name their metadata.
fn may_be_encrypted(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"sops")
}

impl FileSystem for TreeFs<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let rel = self.relative(path)?;
        let bytes =
            self.file(&rel).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))?;
        let Some(keys) = self.keys else { return Ok(bytes.to_vec()) };
        if !may_be_encrypted(bytes) {
            return Ok(bytes.to_vec());
        }
        let format = ferry_sops::Format::from_path(&rel);
        if !ferry_sops::is_encrypted(bytes, format) {
            return Ok(bytes.to_vec());
        }
        ferry_sops::decrypt(bytes, format, keys)
            .map_err(|e| io::Error::other(format!("decryption failed for '{}': {e}", rel.display())))
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.relative(path).is_ok_and(|rel| self.dir_exists(&rel))
    }

    fn is_file(&self, path: &Path) -> bool {
        self.relative(path).is_ok_and(|rel| self.file(&rel).is_some())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let rel = self.relative(path)?;
        if !self.dir_exists(&rel) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        let children = |keys: &mut dyn Iterator<Item = &PathBuf>| -> Vec<PathBuf> {
            keys.filter(|p| p.parent() == Some(rel.as_path())).cloned().collect()
        };
        let mut names: BTreeSet<PathBuf> = BTreeSet::new();
        names.extend(children(&mut self.tree.files.keys()));
        names.extend(children(&mut self.tree.dirs.iter()));
        names.extend(children(&mut self.tree.links.keys()));
        names.extend(children(&mut self.overrides.keys()));
        Ok(names.into_iter().map(|p| self.root.join(p)).collect())
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let rel = self.relative(path)?;
        if self.file(&rel).is_some() || self.dir_exists(&rel) {
            Ok(self.root.join(rel))
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))
        }
    }
}

/// Unpacked artifacts by digest, each fetched and unpacked once however many
/// reconciles ask for it at the same time.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, Slot>>,
    clock: std::sync::atomic::AtomicU64,
}

struct Slot {
    cell: Arc<tokio::sync::OnceCell<Arc<Tree>>>,
    last_used: u64,
}

impl Cache {
    /// The tree of the artifact with `digest`, from the cache or from `load`.
    pub async fn get_or_load<F, Fut, E>(&self, digest: &str, load: F) -> Result<Arc<Tree>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Tree, E>>,
    {
        let tick = self.clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let slot = entries
                .entry(digest.to_string())
                .or_insert_with(|| Slot { cell: Arc::new(tokio::sync::OnceCell::new()), last_used: tick });
            slot.last_used = tick;
            slot.cell.clone()
        };
        let tree = cell.get_or_try_init(|| async { load().await.map(Arc::new) }).await?.clone();
        self.evict(digest);
        Ok(tree)
    }

    /// Drops the least recently used trees while the cache holds more than
    /// [`MAX_CACHE_BYTES`], never `keep`.
    fn evict(&self, keep: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let total: u64 = entries.values().filter_map(|s| s.cell.get()).map(|t| t.bytes()).sum();
            if total <= MAX_CACHE_BYTES {
                return;
            }
            let oldest = entries
                .iter()
                .filter(|(digest, slot)| digest.as_str() != keep && slot.cell.get().is_some())
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(digest, _)| digest.clone());
            match oldest {
                Some(digest) => {
                    entries.remove(&digest);
                }
                None => return,
            }
        }
    }

    /// How many artifacts are cached.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    fn file(builder: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, body).unwrap();
    }

    fn link(builder: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        builder.append_link(&mut header, path, target).unwrap();
    }

    #[test]
    fn reads_files_dirs_and_links_inside_the_tree() {
        let archive = tar_gz(|b| {
            file(b, "apps/base/cm.yaml", b"a");
            link(b, "apps/prod/cm.yaml", "../base/cm.yaml");
            link(b, "shared", "apps/base");
        });
        let tree = Tree::from_tar_gz(archive.as_slice()).unwrap();
        let fs = TreeFs::new(Path::new("/artifact"), &tree, None);
        assert_eq!(fs.read(Path::new("/artifact/apps/prod/cm.yaml")).unwrap(), b"a");
        assert_eq!(fs.read(Path::new("/artifact/shared/cm.yaml")).unwrap(), b"a");
        assert!(fs.is_dir(Path::new("/artifact/apps")));
        assert!(fs.is_file(Path::new("/artifact/apps/base/../base/cm.yaml")));
        let listed = fs.read_dir(Path::new("/artifact/apps")).unwrap();
        assert_eq!(listed, [PathBuf::from("/artifact/apps/base"), PathBuf::from("/artifact/apps/prod")]);
        assert_eq!(fs.canonicalize(Path::new("/artifact/shared")).unwrap(), PathBuf::from("/artifact/apps/base"));
    }

    #[test]
    fn nothing_outside_the_tree_is_reachable() {
        let archive = tar_gz(|b| {
            file(b, "a.yaml", b"a");
            link(b, "escape", "../../etc/passwd");
            link(b, "loop1", "loop2");
            link(b, "loop2", "loop1");
        });
        let tree = Tree::from_tar_gz(archive.as_slice()).unwrap();
        let fs = TreeFs::new(Path::new("/artifact"), &tree, None);
        for path in ["/artifact/escape", "/artifact/loop1", "/artifact/../etc/passwd", "/etc/passwd"] {
            let err = fs.read(Path::new(path)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{path}: {err}");
            assert!(!fs.is_file(Path::new(path)));
        }
    }

    #[test]
    fn hostile_archives_are_refused() {
        let absolute = tar_gz(|b| {
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_entry_type(tar::EntryType::Regular);
            // `append_data` refuses such paths: write the name by hand.
            header.as_gnu_mut().unwrap().name[..8].copy_from_slice(b"/etc/abc");
            header.set_cksum();
            b.append(&header, &b"x"[..]).unwrap();
        });
        assert!(matches!(Tree::from_tar_gz(absolute.as_slice()), Err(Error::Entry { .. })));
        let device = tar_gz(|b| {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_entry_type(tar::EntryType::Char);
            b.append_data(&mut header, "dev", &b""[..]).unwrap();
        });
        assert!(matches!(Tree::from_tar_gz(device.as_slice()), Err(Error::Entry { .. })));
        assert!(Tree::from_tar_gz(&b"not a tarball"[..]).is_err());
    }

    #[test]
    fn overrides_are_read_and_listed() {
        let tree = Tree::default();
        let mut fs = TreeFs::new(Path::new("/artifact"), &tree, None);
        fs.write(Path::new("/artifact/kustomization.yaml"), b"resources: []".to_vec()).unwrap();
        assert!(fs.write(Path::new("/elsewhere/x"), Vec::new()).is_err());
        assert_eq!(fs.read(Path::new("/artifact/kustomization.yaml")).unwrap(), b"resources: []");
        assert_eq!(fs.read_dir(Path::new("/artifact")).unwrap(), [PathBuf::from("/artifact/kustomization.yaml")]);
    }

    #[tokio::test]
    async fn the_cache_loads_each_digest_once() {
        let cache = Cache::default();
        let loads = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..3 {
            let tree = cache
                .get_or_load("sha256:a", || async {
                    loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok::<_, io::Error>(Tree::default())
                })
                .await
                .unwrap();
            assert_eq!(tree.bytes(), 0);
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
        let failed = cache.get_or_load("sha256:b", || async { Err::<Tree, _>(io::Error::other("boom")) }).await;
        assert!(failed.is_err());
        assert_eq!(cache.len(), 2);
    }
}

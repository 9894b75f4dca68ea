//! The kustomize engine's view of an artifact: a [`Tree`] unpacked in
//! memory by the SDK, mounted at a virtual root, with the controller's own
//! files written over it and SOPS files decrypted as they are read.
//!
//! Every read is confined to the artifact (links included) by
//! [`Tree::resolve`], so a build cannot read the controller's filesystem.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ferry_kustomize::FileSystem;
use ferry_sdk::artifact::Tree;

use super::remote::{MOUNT_ROOT, Mounts};

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
/// over it, remote bases mounted beside it (see [`super::remote`]), nothing
/// readable outside them, and SOPS files decrypted on read when keys are
/// given.
pub struct TreeFs<'a> {
    root: PathBuf,
    tree: &'a Tree,
    overrides: BTreeMap<PathBuf, Vec<u8>>,
    keys: Option<&'a ferry_sops::KeyRing>,
    remotes: Option<Arc<Mounts>>,
}

/// Which tree a path is in, and where in it.
enum Located {
    /// The artifact, with the controller's files over it.
    Artifact(PathBuf),
    /// A remote base: its tree, its mount point and the path in it.
    Remote(Arc<Tree>, PathBuf, PathBuf),
}

impl<'a> TreeFs<'a> {
    /// `tree` mounted at `root` (an absolute path that exists nowhere).
    pub fn new(root: &Path, tree: &'a Tree, keys: Option<&'a ferry_sops::KeyRing>) -> Self {
        Self { root: root.to_path_buf(), tree, overrides: BTreeMap::new(), keys, remotes: None }
    }

    /// Serves the remote bases in `mounts` at `/remote/<n>`.
    pub fn with_remotes(mut self, mounts: Arc<Mounts>) -> Self {
        self.remotes = Some(mounts);
        self
    }

    /// Writes (over) the file at absolute `path` inside the root.
    pub fn write(&mut self, path: &Path, body: Vec<u8>) -> io::Result<()> {
        match self.locate(path)? {
            Located::Artifact(rel) => {
                self.overrides.insert(rel, body);
                Ok(())
            }
            Located::Remote(..) => Err(io::Error::new(io::ErrorKind::PermissionDenied, "remote bases are read-only")),
        }
    }

    /// The tree `path` is in and the path relative to it, links resolved.
    fn locate(&self, path: &Path) -> io::Result<Located> {
        let outside = || {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("security; file '{}' is not in or below the artifact", path.display()),
            )
        };
        let normalized = normalize(path);
        if let Ok(rel) = normalized.strip_prefix(&self.root) {
            return self.tree.resolve(rel).map(Located::Artifact).ok_or_else(outside);
        }
        let remote = normalized.strip_prefix(MOUNT_ROOT).ok().zip(self.remotes.as_ref()).and_then(|(rel, mounts)| {
            let mut parts = rel.components();
            let index: usize = parts.next()?.as_os_str().to_str()?.parse().ok()?;
            Some((mounts.get(index)?, Path::new(MOUNT_ROOT).join(index.to_string()), parts.as_path().to_path_buf()))
        });
        let (tree, mount, rel) = remote.ok_or_else(outside)?;
        let resolved = tree.resolve(&rel).ok_or_else(outside)?;
        Ok(Located::Remote(tree, mount, resolved))
    }

    fn file<'b>(&'b self, located: &'b Located) -> Option<&'b [u8]> {
        match located {
            Located::Artifact(rel) => self.overrides.get(rel).map(Vec::as_slice).or_else(|| self.tree.file(rel)),
            Located::Remote(tree, _, rel) => tree.file(rel),
        }
    }

    fn dir_exists(&self, located: &Located) -> bool {
        match located {
            Located::Artifact(rel) => self.tree.is_dir(rel),
            Located::Remote(tree, _, rel) => tree.is_dir(rel),
        }
    }

    /// The absolute path of a located entry.
    fn absolute(&self, located: &Located) -> PathBuf {
        match located {
            Located::Artifact(rel) => self.root.join(rel),
            Located::Remote(_, mount, rel) => mount.join(rel),
        }
    }
}

/// A cheap first look before parsing: SOPS files name their metadata.
fn may_be_encrypted(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"sops")
}

impl FileSystem for TreeFs<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let located = self.locate(path)?;
        let bytes =
            self.file(&located).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))?;
        let Some(keys) = self.keys else { return Ok(bytes.to_vec()) };
        if !may_be_encrypted(bytes) {
            return Ok(bytes.to_vec());
        }
        let rel = match &located {
            Located::Artifact(rel) | Located::Remote(_, _, rel) => rel,
        };
        let format = ferry_sops::Format::from_path(rel);
        if !ferry_sops::is_encrypted(bytes, format) {
            return Ok(bytes.to_vec());
        }
        ferry_sops::decrypt(bytes, format, keys)
            .map_err(|e| io::Error::other(format!("decryption failed for '{}': {e}", rel.display())))
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.locate(path).is_ok_and(|located| self.dir_exists(&located))
    }

    fn is_file(&self, path: &Path) -> bool {
        self.locate(path).is_ok_and(|located| self.file(&located).is_some())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let located = self.locate(path)?;
        if !self.dir_exists(&located) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        match &located {
            Located::Artifact(rel) => {
                let mut names: BTreeSet<PathBuf> = self.tree.children(rel).cloned().collect();
                names.extend(self.overrides.keys().filter(|p| p.parent() == Some(rel.as_path())).cloned());
                Ok(names.into_iter().map(|p| self.root.join(p)).collect())
            }
            Located::Remote(tree, mount, rel) => {
                let names: BTreeSet<PathBuf> = tree.children(rel).cloned().collect();
                Ok(names.into_iter().map(|p| mount.join(p)).collect())
            }
        }
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let located = self.locate(path)?;
        if self.file(&located).is_some() || self.dir_exists(&located) {
            Ok(self.absolute(&located))
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))
        }
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
        let tree = Tree::from_tar_gz(archive.as_slice(), Tree::LIMITS).unwrap();
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
        let tree = Tree::from_tar_gz(archive.as_slice(), Tree::LIMITS).unwrap();
        let fs = TreeFs::new(Path::new("/artifact"), &tree, None);
        for path in ["/artifact/escape", "/artifact/loop1", "/artifact/../etc/passwd", "/etc/passwd"] {
            let err = fs.read(Path::new(path)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{path}: {err}");
            assert!(!fs.is_file(Path::new(path)));
        }
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
}

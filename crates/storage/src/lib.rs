//! Artifact storage as Flux's source-controller keeps it, and the HTTP server
//! that hands artifacts to the other controllers.
//!
//! - Artifacts live at `<kind>/<namespace>/<name>/<file>` under the storage
//!   root and are advertised as `http://<storage-adv-addr>/<path>`.
//! - Directories are packed into reproducible tar.gz files (uid/gid 0, zero
//!   mtimes, Flux's modes, regular files and directories only), filtered by
//!   `.sourceignore` files, `spec.ignore` and Flux's default exclusions.
//! - Every write is atomic (a temporary file renamed into place), digested on
//!   the fly (`sha256:<hex>` by default), guarded by a per-artifact lock, and
//!   old files are collected by age and by count.
//!
//! Nothing here talks to Kubernetes: controllers copy the returned digest,
//! size and URL into their `status.artifact`.

#![deny(missing_docs)]

mod archive;
mod digest;
mod gc;
pub mod ignore;
pub mod server;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use digest::DigestAlgorithm;
pub use ignore::SourceIgnore;

/// What went wrong in the storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An artifact path part is empty or would leave its directory.
    #[error("invalid artifact path {0:?}")]
    InvalidPath(String),
    /// The directory to archive does not exist or is no directory.
    #[error("invalid directory to archive: {0}")]
    InvalidDir(PathBuf),
    /// The storage root is missing.
    #[error("storage path {0} does not exist or is not a directory")]
    InvalidStoragePath(PathBuf),
    /// The digest algorithm is not one Flux knows.
    #[error("unsupported digest algorithm {0:?} (want sha256, sha384, sha512 or blake3)")]
    UnsupportedDigest(String),
    /// A stored file's content does not match the expected digest.
    #[error("digest mismatch for {path}: expected {expected}, computed {actual}")]
    DigestMismatch {
        /// The artifact's local path.
        path: PathBuf,
        /// The digest the caller expected.
        expected: String,
        /// The digest of the stored bytes.
        actual: String,
    },
    /// A `.sourceignore` file or `spec.ignore` has a bad pattern.
    #[error("invalid ignore pattern: {0}")]
    InvalidIgnore(String),
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { action, path, source }
}

/// The path of an artifact inside the storage: `<kind>/<namespace>/<name>/<file>`
/// (the kind lower-cased), always relative and never escaping the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    /// The path of `file` for an object of `kind` in `namespace`.
    pub fn new(kind: &str, namespace: &str, name: &str, file: &str) -> Result<Self> {
        for part in [kind, namespace, name, file] {
            if part.is_empty() || part == "." || part == ".." || part.contains('/') || part.contains('\0') {
                return Err(Error::InvalidPath(format!("{kind}/{namespace}/{name}/{file}")));
            }
        }
        Ok(Self(format!("{}/{namespace}/{name}/{file}", kind.to_lowercase())))
    }

    /// Checks a path read back from an object's status.
    pub fn parse(path: &str) -> Result<Self> {
        let trimmed = path.trim_start_matches('/');
        let parts: Vec<&str> = trimmed.split('/').collect();
        let clean = Path::new(trimmed).components().all(|c| matches!(c, Component::Normal(_)));
        if parts.len() != 4 || !clean || parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
            return Err(Error::InvalidPath(path.to_string()));
        }
        Ok(Self(trimmed.to_string()))
    }

    /// The path as text, as it appears in `status.artifact.path`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory part, `<kind>/<namespace>/<name>`.
    pub fn dir(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    /// The file name part.
    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, file)| file)
    }

    /// Another file in the same directory.
    pub fn sibling(&self, file: &str) -> Result<Self> {
        let mut parts = self.0.splitn(4, '/');
        let (Some(kind), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::InvalidPath(self.0.clone()));
        };
        Self::new(kind, ns, name, file)
    }
}

/// What a write stored: the digest and size of the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `<algorithm>:<hex>` of the stored bytes.
    pub digest: String,
    /// The number of stored bytes.
    pub size: u64,
}

/// The artifact storage rooted at `--storage-path`.
#[derive(Debug, Clone)]
pub struct Storage {
    base: PathBuf,
    hostname: String,
    retention_ttl: Duration,
    retention_records: usize,
    algorithm: DigestAlgorithm,
}

impl Storage {
    /// A storage at `base` (which must exist), advertising artifacts under
    /// `hostname` (`host:port`, or a URL with a scheme), keeping files for
    /// `retention_ttl` and at most `retention_records` per object.
    pub fn new(
        base: impl Into<PathBuf>,
        hostname: impl Into<String>,
        retention_ttl: Duration,
        retention_records: usize,
        algorithm: DigestAlgorithm,
    ) -> Result<Self> {
        let base = base.into();
        if !base.is_dir() {
            return Err(Error::InvalidStoragePath(base));
        }
        Ok(Self { base, hostname: hostname.into(), retention_ttl, retention_records, algorithm })
    }

    /// The algorithm of the artifacts' digests (`--artifact-digest-algo`).
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The storage root.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The URL other controllers download `path` from.
    pub fn url(&self, path: &ArtifactPath) -> String {
        url_for(&self.hostname, path.as_str())
    }

    /// Where `path` lives on disk.
    pub fn local_path(&self, path: &ArtifactPath) -> PathBuf {
        self.base.join(path.as_str())
    }

    /// True when `path` is stored as a regular file.
    pub fn exists(&self, path: &ArtifactPath) -> bool {
        fs::symlink_metadata(self.local_path(path)).is_ok_and(|m| m.is_file())
    }

    /// Packs `dir` into a reproducible tar.gz at `path`, leaving out what
    /// `ignore` excludes.
    pub fn archive(&self, path: &ArtifactPath, dir: &Path, ignore: &SourceIgnore) -> Result<Stored> {
        if !dir.is_dir() {
            return Err(Error::InvalidDir(dir.to_path_buf()));
        }
        self.atomic_write(path, |out| archive::write_tarball(dir, ignore, out))
    }

    /// Stores the bytes of `reader` at `path`.
    pub fn write(&self, path: &ArtifactPath, mut reader: impl Read) -> Result<Stored> {
        self.atomic_write(path, |out| {
            io::copy(&mut reader, out).map(|_| ()).map_err(io_err("copying into", Path::new(path.as_str())))
        })
    }

    fn atomic_write<F>(&self, path: &ArtifactPath, fill: F) -> Result<Stored>
    where
        F: FnOnce(&mut dyn Write) -> Result<()>,
    {
        let local = self.local_path(path);
        let dir = local.parent().unwrap_or(&self.base).to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let temp = dir.join(format!("{}{:016x}", gc::TEMP_PREFIX, rand_suffix()));
        let file = File::create(&temp).map_err(io_err("creating", &temp))?;
        let mut writer = digest::DigestWriter::new(self.algorithm, file);
        let result = fill(&mut writer).and_then(|()| {
            let (digest, size, file) = writer.finish();
            file.sync_all().map_err(io_err("syncing", &temp))?;
            drop(file);
            fs::rename(&temp, &local).map_err(io_err("renaming into", &local))?;
            Ok(Stored { digest, size })
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Checks that the stored bytes of `path` have `digest` (any algorithm
    /// Flux knows, named by the digest's prefix).
    pub fn verify(&self, path: &ArtifactPath, expected: &str) -> Result<()> {
        let algorithm = DigestAlgorithm::of_digest(expected)?;
        let local = self.local_path(path);
        let mut file = File::open(&local).map_err(io_err("opening", &local))?;
        let mut writer = digest::DigestWriter::new(algorithm, io::sink());
        io::copy(&mut file, &mut writer).map_err(io_err("reading", &local))?;
        let (actual, _, _) = writer.finish();
        if actual != expected {
            return Err(Error::DigestMismatch { path: local, expected: expected.to_string(), actual });
        }
        Ok(())
    }

    /// Takes the artifact's exclusive lock (`<file>.lock`), waiting for any
    /// other holder; released when the guard drops.
    pub fn lock(&self, path: &ArtifactPath) -> Result<Lock> {
        let local = self.local_path(path);
        let dir = local.parent().unwrap_or(&self.base);
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let lock_path = PathBuf::from(format!("{}.lock", local.display()));
        let file = File::create(&lock_path).map_err(io_err("creating", &lock_path))?;
        file.lock().map_err(io_err("locking", &lock_path))?;
        Ok(Lock { _file: file })
    }

    /// Points `<dir>/<link_name>` (for example `latest.tar.gz`) at `path`,
    /// atomically, and returns the link's URL.
    pub fn symlink(&self, path: &ArtifactPath, link_name: &str) -> Result<String> {
        let link = path.sibling(link_name)?;
        let local_link = self.local_path(&link);
        let temp = PathBuf::from(format!("{}.tmp", local_link.display()));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(self.local_path(path), &temp).map_err(io_err("linking", &temp))?;
        fs::rename(&temp, &local_link).map_err(io_err("renaming into", &local_link))?;
        Ok(self.url(&link))
    }

    /// Removes old files of `current`'s object: any older than the retention
    /// TTL, then the oldest until at most the retention count remain. The
    /// current file is always kept. Returns what was removed.
    pub fn garbage_collect(&self, current: &ArtifactPath) -> Result<Vec<PathBuf>> {
        gc::collect(&self.local_path(current), self.retention_ttl, self.retention_records)
    }

    /// Removes every file of an object (on deletion). Returns the directory
    /// if it existed.
    pub fn remove_all(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<PathBuf>> {
        let dir = ArtifactPath::new(kind, namespace, name, "x")?;
        let dir = self.base.join(dir.dir());
        if !dir.exists() {
            return Ok(None);
        }
        fs::remove_dir_all(&dir).map_err(io_err("removing", &dir))?;
        Ok(Some(dir))
    }
}

/// An artifact's exclusive lock, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn url_for(hostname: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    if hostname.starts_with("http://") || hostname.starts_with("https://") {
        format!("{}/{path}", hostname.trim_end_matches('/'))
    } else {
        format!("http://{hostname}/{path}")
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_stay_inside_their_directory() {
        let path = ArtifactPath::new("GitRepository", "flux-system", "podinfo", "abc.tar.gz").unwrap();
        assert_eq!(path.as_str(), "gitrepository/flux-system/podinfo/abc.tar.gz");
        assert_eq!(path.dir(), "gitrepository/flux-system/podinfo");
        assert_eq!(path.file_name(), "abc.tar.gz");
        assert_eq!(path.sibling("latest.tar.gz").unwrap().as_str(), "gitrepository/flux-system/podinfo/latest.tar.gz");
        for bad in [("", "ns", "n", "f"), ("k", "..", "n", "f"), ("k", "ns", "a/b", "f"), ("k", "ns", "n", "")] {
            assert!(ArtifactPath::new(bad.0, bad.1, bad.2, bad.3).is_err(), "{bad:?}");
        }
        assert_eq!(ArtifactPath::parse("/gitrepository/a/b/c.tar.gz").unwrap().as_str(), "gitrepository/a/b/c.tar.gz");
        for bad in ["gitrepository/a/../c.tar.gz", "a/b/c", "a/b/c/d/e", "a//c/d", "a/./c/d"] {
            assert!(ArtifactPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_follow_the_advertised_address() {
        assert_eq!(
            url_for("source-controller.flux-system.svc.cluster.local.", "a/b/c/d"),
            "http://source-controller.flux-system.svc.cluster.local./a/b/c/d"
        );
        assert_eq!(url_for("https://files.example.com/", "/a/b"), "https://files.example.com/a/b");
    }

    #[test]
    fn archives_verify_lock_link_and_remove() {
        let base = tempfile::tempdir().unwrap();
        let source = tempfile::tempdir().unwrap();
        fs::write(source.path().join("app.yaml"), "kind: ConfigMap\n").unwrap();
        fs::write(source.path().join("logo.png"), "png").unwrap();
        let storage =
            Storage::new(base.path(), "localhost:9090", Duration::from_secs(60), 2, DigestAlgorithm::Sha256).unwrap();
        let path = ArtifactPath::new("GitRepository", "default", "app", "1234.tar.gz").unwrap();
        let ignore = SourceIgnore::load(source.path(), None).unwrap();
        let stored = storage.archive(&path, source.path(), &ignore).unwrap();
        assert!(stored.digest.starts_with("sha256:") && stored.size > 0);
        assert!(storage.exists(&path));
        assert_eq!(fs::metadata(storage.local_path(&path)).unwrap().len(), stored.size);
        storage.verify(&path, &stored.digest).unwrap();
        let wrong = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(storage.verify(&path, &wrong), Err(Error::DigestMismatch { .. })));
        // The same tree archives to the same digest.
        assert_eq!(storage.archive(&path, source.path(), &ignore).unwrap(), stored);

        let url = storage.symlink(&path, "latest.tar.gz").unwrap();
        assert_eq!(url, "http://localhost:9090/gitrepository/default/app/latest.tar.gz");
        assert_eq!(storage.url(&path), "http://localhost:9090/gitrepository/default/app/1234.tar.gz");

        let lock = storage.lock(&path).unwrap();
        let lock_file = File::open(format!("{}.lock", storage.local_path(&path).display())).unwrap();
        assert!(lock_file.try_lock().is_err(), "the lock is exclusive");
        drop(lock);
        assert!(lock_file.try_lock().is_ok());

        let written = storage.write(&path.sibling("other.tar.gz").unwrap(), &b"bytes"[..]).unwrap();
        assert_eq!(written.size, 5);
        assert!(storage.archive(&path, &source.path().join("missing"), &ignore).is_err());
        let removed = storage.remove_all("GitRepository", "default", "app").unwrap();
        assert_eq!(removed, Some(base.path().join("gitrepository/default/app")));
        assert!(!storage.exists(&path));
        assert_eq!(storage.remove_all("GitRepository", "default", "app").unwrap(), None);
    }
}

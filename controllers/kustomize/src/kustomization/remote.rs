//! Remote bases (`resources: [https://host/org/repo//deploy?ref=v1]`),
//! fetched as Flux's kustomize-controller fetches them unless
//! `--no-remote-bases=true`: with git, anonymously, within the
//! Kustomization's timeout (and the base's own `?timeout=`).
//!
//! The engine asks [`GitRemotes`] for each remote entry; the base is cloned
//! shallow into a scratch directory, read into an in-memory [`Tree`] and
//! mounted at a virtual root of its own (`/remote/<n>`), so the build reads
//! it like the artifact: through [`TreeFs`](super::tree::TreeFs), confined to
//! the base, never to the controller's disk. A base named twice in one build
//! is fetched once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ferry_kustomize::RemoteResolver;
use ferry_sdk::artifact::Tree;

/// Where remote base `n` is mounted: `/remote/<n>`.
pub const MOUNT_ROOT: &str = "/remote";

/// The remote bases of one build, mounted by index.
#[derive(Debug, Default)]
pub struct Mounts {
    trees: Mutex<Vec<Arc<Tree>>>,
}

impl Mounts {
    /// The tree mounted at `/remote/<index>`.
    pub fn get(&self, index: usize) -> Option<Arc<Tree>> {
        self.trees.lock().unwrap_or_else(PoisonError::into_inner).get(index).cloned()
    }

    fn mount(&self, tree: Tree) -> usize {
        let mut trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        trees.push(Arc::new(tree));
        trees.len() - 1
    }
}

/// Fetches remote bases with git until `deadline`.
pub struct GitRemotes {
    deadline: Instant,
    mounts: Arc<Mounts>,
    scratch: tempfile::TempDir,
    /// URL → the mounted kustomization root, for bases named twice.
    fetched: Mutex<BTreeMap<String, PathBuf>>,
}

impl GitRemotes {
    /// Fetches into a fresh scratch directory and mounts into `mounts`.
    pub fn new(deadline: Instant, mounts: Arc<Mounts>) -> std::io::Result<Self> {
        Ok(Self { deadline, mounts, scratch: tempfile::tempdir()?, fetched: Mutex::default() })
    }

    fn fetch(&self, url: &str) -> Result<PathBuf, String> {
        let spec = ferry_git::parse_repo_spec(url).map_err(|e| e.to_string())?;
        let dir =
            self.scratch.path().join(self.fetched.lock().unwrap_or_else(PoisonError::into_inner).len().to_string());
        let fetched = ferry_git::fetch_remote_base(&spec, &ferry_git::Auth::default(), &dir, Some(self.deadline))
            .map_err(|e| e.to_string())?;
        tracing::debug!(url, commit = %fetched.commit, "fetched remote base");
        // The build reads files only; the clone's own metadata stays out.
        let _ = std::fs::remove_dir_all(dir.join(".git"));
        let tree = Tree::from_dir(&dir).map_err(|e| format!("reading the fetched base: {e}"))?;
        let _ = std::fs::remove_dir_all(&dir);
        let index = self.mounts.mount(tree);
        Ok(Path::new(MOUNT_ROOT).join(index.to_string()).join(&spec.path))
    }
}

impl RemoteResolver for GitRemotes {
    fn resolve(&self, url: &str) -> Result<PathBuf, String> {
        if let Some(root) = self.fetched.lock().unwrap_or_else(PoisonError::into_inner).get(url) {
            return Ok(root.clone());
        }
        let root = self.fetch(url)?;
        self.fetched.lock().unwrap_or_else(PoisonError::into_inner).insert(url.to_string(), root.clone());
        Ok(root)
    }
}

/// Refuses remote bases with the reason Flux's `--no-remote-bases=true` gives.
pub struct Refused;

impl RemoteResolver for Refused {
    fn resolve(&self, _url: &str) -> Result<PathBuf, String> {
        Err("remote bases are disabled by the controller's --no-remote-bases flag".to_string())
    }
}

//! Unpacked artifacts by digest, shared by every reconcile of a consumer:
//! each revision is downloaded, checked against its digest and unpacked into
//! a [`Tree`] once, however many objects build from it at the same time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferry_api_meta::Artifact;

use super::extract::Limits;
use super::{Error, Fetcher, Result, Tree, io_error};

/// Most bytes a cache keeps by default (the newest artifact is kept
/// whatever its size).
pub const MAX_CACHE_BYTES: u64 = 512 << 20;

/// Fetches artifacts into in-memory [`Tree`]s, keyed and checked by digest.
pub struct Cache {
    fetcher: Fetcher,
    limits: Limits,
    max_bytes: u64,
    entries: Mutex<HashMap<String, Slot>>,
    clock: AtomicU64,
}

struct Slot {
    cell: Arc<tokio::sync::OnceCell<Arc<Tree>>>,
    last_used: u64,
}

impl Cache {
    /// A cache downloading with `fetcher`, unpacking within
    /// [`Tree::LIMITS`] and keeping [`MAX_CACHE_BYTES`].
    pub fn new(fetcher: Fetcher) -> Self {
        Self {
            fetcher,
            limits: Tree::LIMITS,
            max_bytes: MAX_CACHE_BYTES,
            entries: Mutex::default(),
            clock: AtomicU64::new(0),
        }
    }

    /// Sets the extraction limits of each artifact.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the most bytes the cache keeps.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The tree of `artifact`: downloaded from its URL, checked against its
    /// digest while streaming and unpacked, or taken from the cache.
    /// [`Error::NotFound`] means the source has not stored it (yet).
    pub async fn tree(&self, artifact: &Artifact) -> Result<Arc<Tree>> {
        self.get_or_load(&artifact.digest, || self.fetch(&artifact.url, &artifact.digest)).await
    }

    async fn fetch(&self, url: &str, digest: &str) -> Result<Tree> {
        let scratch =
            tempfile::Builder::new().prefix("ferry-artifact-").tempdir().map_err(|source| Error::TempDir { source })?;
        let archive = scratch.path().join("artifact.tar.gz");
        self.fetcher.fetch(url, digest, &archive).await?;
        let limits = self.limits;
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&archive).map_err(io_error("opening", &archive))?;
            let tree = Tree::from_tar_gz(std::io::BufReader::new(file), limits);
            drop(scratch);
            tree
        })
        .await
        .map_err(|source| Error::TaskFailed { source })?
    }

    /// The tree stored under `digest`, from the cache or from `load`; one
    /// load runs per digest, concurrent callers wait for it.
    pub async fn get_or_load<F, Fut, E>(&self, digest: &str, load: F) -> Result<Arc<Tree>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Tree, E>>,
    {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
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
    /// its most bytes, never `keep`.
    fn evict(&self, keep: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let total: u64 = entries.values().filter_map(|s| s.cell.get()).map(|t| t.bytes()).sum();
            if total <= self.max_bytes {
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

    /// How many artifacts are cached (or being loaded).
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
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_cache_loads_each_digest_once() {
        let cache = Cache::new(Fetcher::new(Duration::from_secs(1)).unwrap());
        let loads = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..3 {
            let tree = cache
                .get_or_load("sha256:a", || async {
                    loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok::<_, std::io::Error>(Tree::default())
                })
                .await
                .unwrap();
            assert_eq!(tree.bytes(), 0);
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
        let failed = cache.get_or_load("sha256:b", || async { Err::<Tree, _>(std::io::Error::other("boom")) }).await;
        assert!(failed.is_err());
        assert_eq!(cache.len(), 2);
    }
}

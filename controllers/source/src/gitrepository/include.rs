//! `spec.include`: other GitRepositories' artifacts copied into this one's
//! tree before it is packed, as Flux does it.
//!
//! - `fromPath` (default: the artifact's root) is the part of the included
//!   artifact to copy, `toPath` (default: the included repository's name)
//!   where it goes; both stay inside their trees whatever `..` they hold.
//! - The artifact's revision stays the Git revision; its digest covers the
//!   whole tarball, includes and all.
//! - An includer is re-reconciled when an included artifact changes
//!   ([`IncludeGraph`]), except along an include cycle, which stays
//!   interval-driven.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use ferry_api_meta::Artifact;
use ferry_api_source::{GitRepository, GitRepositoryInclude};
use ferry_storage::{ArtifactPath, Storage};
use kube::ResourceExt;

/// Why an include could not be copied in.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `toPath` cannot be placed inside the tree.
    #[error("path calculation for include '{name}' failed: {source}")]
    IllegalPath {
        /// The included repository.
        name: String,
        /// Why the path does not resolve inside the tree.
        source: std::io::Error,
    },
    /// Unpacking or moving the included artifact failed.
    #[error("failed to copy '{name}' include from {from} to {to}: {source}")]
    CopyFailed {
        /// The included repository.
        name: String,
        /// `fromPath`.
        from: String,
        /// `toPath`.
        to: String,
        /// The failed operation's error (storage, extraction or filesystem).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The blocking copy task died.
    #[error("copying the includes failed: {source}")]
    Task {
        /// The cause.
        source: tokio::task::JoinError,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where an include goes: `toPath`, or the included repository's name.
pub fn to_path(include: &GitRepositoryInclude) -> String {
    include.to_path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| include.repository.name.clone())
}

/// What part of the included artifact is copied: `fromPath`, or the root.
pub fn from_path(include: &GitRepositoryInclude) -> String {
    include.from_path.clone().unwrap_or_default()
}

/// Joins `rel` to `root` so that the result stays under `root`: `..` stops
/// at the root, and symbolic links met on the way are followed as if `root`
/// were `/` (the semantics of Go's `securejoin`, which Flux uses).
pub fn secure_join(root: &Path, rel: &str) -> std::io::Result<PathBuf> {
    const MAX_LINKS: usize = 255;
    let mut pending: Vec<String> = components(rel);
    pending.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = root.join(resolved.iter().collect::<PathBuf>()).join(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(std::io::Error::other(format!("too many symbolic links resolving {rel:?}")));
                }
                let target = fs::read_link(&candidate)?;
                let target = target.to_string_lossy().to_string();
                if target.starts_with('/') {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => resolved.push(part),
        }
    }
    Ok(root.join(resolved.iter().collect::<PathBuf>()))
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().to_string()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

/// Copies each include's artifact (its `fromPath` part) to its `toPath` in
/// `dir`. `artifacts` are the included artifacts, in `spec.include` order.
pub fn copy_all(
    storage: &Storage,
    includes: &[GitRepositoryInclude],
    artifacts: &[Artifact],
    dir: &Path,
) -> Result<()> {
    for (include, artifact) in includes.iter().zip(artifacts) {
        let name = include.repository.name.clone();
        let (from, to) = (from_path(include), to_path(include));
        let target = secure_join(dir, &to).map_err(|source| Error::IllegalPath { name: name.clone(), source })?;
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::CopyFailed {
            name: name.clone(),
            from: from.clone(),
            to: to.clone(),
            source,
        };
        if target == dir {
            let source =
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "the include would replace the whole tree");
            return Err(Error::IllegalPath { name: name.clone(), source });
        }
        let path = ArtifactPath::parse(&artifact.path).map_err(|e| failed(e.into()))?;
        let scratch = tempfile::Builder::new().prefix("ferry-include-").tempdir().map_err(|e| failed(e.into()))?;
        let unpacked = scratch.path().join("unpack");
        let local = storage.local_path(&path);
        let file = fs::File::open(&local).map_err(|e| failed(e.into()))?;
        // Flux unpacks includes without a size limit: they are its own
        // artifacts.
        let limits = ferry_sdk::artifact::Limits { max_size: u64::MAX, max_files: usize::MAX };
        ferry_sdk::artifact::extract_tar_gz(std::io::BufReader::new(file), &unpacked, limits)
            .map_err(|e| failed(e.into()))?;
        let source = secure_join(&unpacked, &from).map_err(|e| failed(e.into()))?;
        if !source.exists() {
            return Err(failed(format!("'{from}' does not exist in the artifact").into()));
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| failed(e.into()))?;
        }
        // As a rename does: an empty directory may be replaced, nothing else.
        if let Ok(meta) = fs::symlink_metadata(&target) {
            let empty_dir = meta.is_dir() && fs::read_dir(&target).is_ok_and(|mut d| d.next().is_none());
            if !empty_dir {
                return Err(failed(format!("'{to}' already exists in the repository").into()));
            }
            fs::remove_dir(&target).map_err(|e| failed(e.into()))?;
        }
        fs::rename(&source, &target).map_err(|e| failed(e.into()))?;
    }
    Ok(())
}

/// True when the included artifacts differ from the ones recorded, by
/// revision or digest (Flux's `Artifacts.Diff`).
pub fn artifacts_differ(current: &[Artifact], recorded: Option<&[Artifact]>) -> bool {
    let recorded = recorded.unwrap_or_default();
    current.len() != recorded.len()
        || current.iter().zip(recorded).any(|(a, b)| a.revision != b.revision || a.digest != b.digest)
}

/// The include edges between GitRepositories, learned from the watch of
/// GitRepositories, to tell which includers to wake when an artifact
/// changes without looping along include cycles.
#[derive(Debug, Default)]
pub struct IncludeGraph {
    /// `namespace/name` → the names it includes (same namespace).
    edges: Mutex<BTreeMap<String, Vec<String>>>,
    /// The repositories reachable from the one whose artifact just changed.
    ancestors: Mutex<BTreeSet<String>>,
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl IncludeGraph {
    /// Records `repo`'s includes and returns what its artifact is (revision
    /// and digest), the value whose change wakes its includers. Also
    /// remembers every repository `repo` reaches through includes, itself
    /// included, for [`IncludeGraph::wakes`].
    pub fn observe(&self, repo: &GitRepository) -> Option<String> {
        let namespace = repo.namespace().unwrap_or_default();
        let includes: Vec<String> =
            repo.spec.include.iter().flatten().map(|include| include.repository.name.clone()).collect();
        let mut edges = self.edges.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        edges.insert(key(&namespace, &repo.name_any()), includes);
        let mut seen = BTreeSet::new();
        let mut pending = vec![repo.name_any()];
        while let Some(name) = pending.pop() {
            if seen.insert(name.clone()) {
                pending.extend(edges.get(&key(&namespace, &name)).into_iter().flatten().cloned());
            }
        }
        drop(edges);
        *self.ancestors.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            seen.into_iter().map(|name| key(&namespace, &name)).collect();
        repo.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| format!("{}|{}", a.revision, a.digest))
    }

    /// Whether `includer` should be reconciled for the change last observed:
    /// it is live, not suspended, and not reachable from the changed
    /// repository (a cycle).
    pub fn wakes(&self, includer: &GitRepository) -> bool {
        let ancestors = self.ancestors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let name = key(&includer.namespace().unwrap_or_default(), &includer.name_any());
        includer.metadata.deletion_timestamp.is_none()
            && !includer.spec.suspend.unwrap_or(false)
            && !ancestors.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use ferry_api_meta::LocalObjectReference;
    use ferry_api_source::GitRepositorySpec;

    use super::*;

    fn include(name: &str, from: Option<&str>, to: Option<&str>) -> GitRepositoryInclude {
        GitRepositoryInclude {
            repository: LocalObjectReference { name: name.into() },
            from_path: from.map(Into::into),
            to_path: to.map(Into::into),
        }
    }

    #[test]
    fn paths_default_as_flux_does() {
        assert_eq!(to_path(&include("lib", None, None)), "lib");
        assert_eq!(to_path(&include("lib", None, Some("vendor/lib"))), "vendor/lib");
        assert_eq!(from_path(&include("lib", None, None)), "");
        assert_eq!(from_path(&include("lib", Some("deploy"), None)), "deploy");
    }

    #[test]
    fn secure_join_stays_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(secure_join(r, "a/b").unwrap(), r.join("a/b"));
        assert_eq!(secure_join(r, "../../etc/passwd").unwrap(), r.join("etc/passwd"));
        assert_eq!(secure_join(r, "/abs/x").unwrap(), r.join("abs/x"));
        assert_eq!(secure_join(r, "a/../../b").unwrap(), r.join("b"));
        assert_eq!(secure_join(r, "").unwrap(), r.to_path_buf());
        // Links resolve as if the root were `/`.
        std::os::unix::fs::symlink("/etc", r.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../..", r.join("up")).unwrap();
        assert_eq!(secure_join(r, "escape/passwd").unwrap(), r.join("etc/passwd"));
        assert_eq!(secure_join(r, "up/x").unwrap(), r.join("x"));
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert!(secure_join(r, "loop/x").is_err());
    }

    fn artifact(revision: &str, digest: &str) -> Artifact {
        Artifact {
            path: "gitrepository/ns/lib/x.tar.gz".into(),
            url: "http://x".into(),
            revision: revision.into(),
            digest: digest.into(),
            last_update_time: ferry_api_meta::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            size: None,
            metadata: None,
        }
    }

    #[test]
    fn included_artifacts_differ_by_revision_or_digest() {
        let a = artifact("main@sha1:a", "sha256:1");
        assert!(!artifacts_differ(&[], None));
        assert!(artifacts_differ(std::slice::from_ref(&a), None));
        assert!(!artifacts_differ(std::slice::from_ref(&a), Some(std::slice::from_ref(&a))));
        assert!(artifacts_differ(&[artifact("main@sha1:a", "sha256:2")], Some(std::slice::from_ref(&a))));
        assert!(artifacts_differ(&[artifact("main@sha1:b", "sha256:1")], Some(std::slice::from_ref(&a))));
    }

    fn repo(name: &str, includes: &[&str]) -> GitRepository {
        let mut repo = GitRepository::new(
            name,
            GitRepositorySpec {
                include: Some(includes.iter().map(|n| include(n, None, None)).collect()),
                ..GitRepositorySpec::default()
            },
        );
        repo.metadata.namespace = Some("ns".into());
        repo
    }

    #[test]
    fn the_graph_wakes_includers_but_not_along_cycles() {
        let graph = IncludeGraph::default();
        let (app, lib, base) = (repo("app", &["lib"]), repo("lib", &["base"]), repo("base", &[]));
        for r in [&app, &lib, &base] {
            assert_eq!(graph.observe(r), None);
        }
        graph.observe(&base);
        assert!(graph.wakes(&lib));
        graph.observe(&lib);
        assert!(graph.wakes(&app));
        // A cycle: base now includes app, which includes lib, which includes base.
        let cyclic = repo("base", &["app"]);
        graph.observe(&cyclic);
        assert!(!graph.wakes(&lib), "lib reaches base: waking it would loop");
        let mut suspended = repo("other", &["base"]);
        suspended.spec.suspend = Some(true);
        assert!(!graph.wakes(&suspended));
    }
}

//! Remote bases: a `resources` entry naming a git repository
//! (`https://github.com/org/repo//deploy?ref=v1`). The engine fetches nothing
//! itself: a [`RemoteResolver`] given by the caller turns the entry into a
//! directory the build reads like a local one (Flux's kustomize-controller
//! fetches them unless `--no-remote-bases=true`). Without one, remote bases
//! are refused, as an offline build must.

use std::path::PathBuf;

/// Turns a remote base into a local directory, for a build.
pub trait RemoteResolver: Send + Sync {
    /// The directory holding the kustomization root that `url` names, readable
    /// through the build's [`FileSystem`](crate::FileSystem); or why it
    /// cannot be had (refused, not found, timed out).
    fn resolve(&self, url: &str) -> Result<PathBuf, String>;
}

/// Refuses every remote base: the default, for offline builds and for
/// `--no-remote-bases=true`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRemoteBases;

impl RemoteResolver for NoRemoteBases {
    fn resolve(&self, _url: &str) -> Result<PathBuf, String> {
        Err("Ferry builds offline and does not clone or download remote bases".to_string())
    }
}

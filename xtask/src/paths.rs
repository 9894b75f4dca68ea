//! Where things live: the checkout, the cache outside it, the cluster state.

use std::path::PathBuf;

/// The root of the workspace checkout.
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The build cache outside the checkout: `$FERRY_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/ferry`, else `~/.cache/ferry`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("ferry");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("ferry")
}

/// The local control plane's state, logs and kubeconfig (git-ignored).
pub fn cluster_dir() -> PathBuf {
    root().join(".ferry").join("cluster")
}

/// The admin kubeconfig of the local control plane.
pub fn kubeconfig() -> PathBuf {
    cluster_dir().join("kubeconfig")
}

/// The environment variable through which tests find the control plane.
pub const KUBECONFIG_ENV: &str = "FERRY_KUBECONFIG";

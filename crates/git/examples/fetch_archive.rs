//! What source-controller does for a GitRepository, as one command (for
//! `cargo xtask bench git`): list the remote's refs, resolve a branch, fetch
//! its commit at depth 1, write the tree, and pack it as a Flux artifact.
//!
//! Usage: `fetch_archive URL BRANCH STORAGE_DIR`

use std::time::Duration;

use ferry_git::{Auth, CheckoutOptions, GitRef, checkout, list_refs, resolve};
use ferry_storage::{ArtifactPath, DigestAlgorithm, SourceIgnore, Storage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, branch, storage_dir] = args.as_slice() else {
        return Err("usage: fetch_archive URL BRANCH STORAGE_DIR".into());
    };
    let refs = list_refs(url, &Auth::default())?;
    let resolved = resolve(&refs, &GitRef { branch: Some(branch.clone()), ..GitRef::default() })?;
    let work = tempfile::tempdir()?;
    checkout(url, &Auth::default(), &resolved, work.path(), &CheckoutOptions::default())?;
    std::fs::create_dir_all(storage_dir)?;
    let storage = Storage::new(storage_dir, "localhost", Duration::from_secs(60), 2, DigestAlgorithm::Sha256)?;
    let path = ArtifactPath::new("GitRepository", "default", "bench", &format!("{}.tar.gz", resolved.commit))?;
    let ignore = SourceIgnore::load(work.path(), None)?;
    let stored = storage.archive(&path, work.path(), &ignore)?;
    println!("{} {} {}", resolved.revision, stored.digest, stored.size);
    Ok(())
}

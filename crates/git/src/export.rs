//! Writing a fetched commit's tree into a directory.

use std::path::Path;

use gix::objs::tree::EntryKind;

use crate::{Commit, Error, Result};

/// A submodule entry (gitlink) met while writing a tree: where it goes,
/// relative to the checkout's root, and the commit it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gitlink {
    /// The path in the tree, `/`-separated.
    pub path: String,
    /// The recorded commit, in hex.
    pub commit: String,
}

/// Writes the tree of `commit` into `dir`, limited to the `sparse`
/// directories when any are given, and returns the commit's details and the
/// submodule entries it met (their directories are created, empty).
pub(crate) fn commit_to_dir(
    repo: &gix::Repository,
    commit: &str,
    dir: &Path,
    sparse: &[String],
) -> Result<(Commit, Vec<Gitlink>)> {
    let failed = |message: String| Error::CheckoutFailed { commit: commit.to_string(), message };
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| failed(e.to_string()))?;
    let object = repo.find_commit(id).map_err(|e| failed(format!("the commit was not fetched: {e}")))?;
    let tree = object.tree().map_err(|e| failed(e.to_string()))?;
    std::fs::create_dir_all(dir)?;
    let sparse: Vec<Vec<&str>> = sparse
        .iter()
        .map(|s| s.trim_matches('/').split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>())
        .collect();
    let mut gitlinks = Vec::new();
    let sparse = (!(sparse.is_empty() || sparse.iter().any(|parts| parts.is_empty()))).then_some(sparse.as_slice());
    write_tree(repo, &tree, dir, &[], sparse, &mut gitlinks).map_err(|e| failed(e.to_string()))?;
    let decoded = object.decode().map_err(|e| failed(e.to_string()))?;
    let author = format!(
        "{} <{}>",
        decoded.author().map(|a| a.name.to_string()).unwrap_or_default(),
        decoded.author().map(|a| a.email.to_string()).unwrap_or_default()
    );
    let message = decoded.message.to_string();
    let (signature, payload) = match object.signature().map_err(|e| failed(e.to_string()))? {
        Some((signature, signed)) => (Some(signature.to_string()), signed.to_bstring().to_vec()),
        None => (None, object.data.clone()),
    };
    Ok((Commit { hash: commit.to_string(), message, author, signature, payload, tag: None }, gitlinks))
}

/// Reads the `.gitmodules` file at the root of `commit`'s tree, if any.
pub(crate) fn gitmodules(repo: &gix::Repository, commit: &str) -> Result<Option<Vec<u8>>> {
    let failed = |message: String| Error::CheckoutFailed { commit: commit.to_string(), message };
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| failed(e.to_string()))?;
    let object = repo.find_commit(id).map_err(|e| failed(e.to_string()))?;
    let tree = object.tree().map_err(|e| failed(e.to_string()))?;
    let decoded = tree.decode().map_err(|e| failed(e.to_string()))?;
    let Some(entry) = decoded.entries.iter().find(|e| e.filename == ".gitmodules") else { return Ok(None) };
    if !entry.mode.is_blob() {
        return Ok(None);
    }
    let blob = repo.find_blob(entry.oid.to_owned()).map_err(|e| failed(e.to_string()))?;
    Ok(Some(blob.data.clone()))
}

/// Reads an annotated tag object and splits off its signature.
pub(crate) fn read_tag(repo: &gix::Repository, id: &str) -> Result<crate::Tag> {
    let failed = |message: String| Error::CheckoutFailed { commit: id.to_string(), message };
    let oid = gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| failed(e.to_string()))?;
    let object = repo.find_object(oid).map_err(|e| failed(format!("the tag was not fetched: {e}")))?;
    let data = object.data.clone();
    let tag = gix::objs::TagRef::from_bytes(&data, oid.kind()).map_err(|e| failed(e.to_string()))?;
    let signature = tag.signature.map(|s| s.to_string());
    // The signature closes the object: the payload is everything before it.
    let payload = match tag.signature {
        Some(sig) => {
            let sig: &[u8] = sig.as_ref();
            let start = data.windows(sig.len()).rposition(|w| w == sig).unwrap_or(data.len());
            data[..start].to_vec()
        }
        None => data.clone(),
    };
    Ok(crate::Tag { name: tag.name.to_string(), signature, payload })
}

/// True for names that must never be written: they would escape the
/// directory or plant git metadata.
fn unsafe_name(name: &str) -> bool {
    name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.eq_ignore_ascii_case(".git")
}

fn write_tree(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    dir: &Path,
    prefix: &[&str],
    sparse: Option<&[Vec<&str>]>,
    gitlinks: &mut Vec<Gitlink>,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let decoded = tree.decode()?;
    for entry in &decoded.entries {
        let name = entry.filename.to_string();
        if unsafe_name(&name) {
            return Err(format!("refusing tree entry {name:?} under {:?}", prefix.join("/")).into());
        }
        let mut path: Vec<&str> = prefix.to_vec();
        path.push(&name);
        // With sparse directories, keep an entry when it is one of them, lies
        // inside one, or leads to one.
        let wanted = sparse.is_none_or(|dirs| {
            dirs.iter().any(|d| {
                path.len() >= d.len() && path[..d.len()] == d[..] || d.len() > path.len() && d[..path.len()] == path[..]
            })
        });
        if !wanted {
            continue;
        }
        let target = dir.join(&name);
        match entry.mode.kind() {
            EntryKind::Tree => {
                std::fs::create_dir_all(&target)?;
                let subtree = repo.find_tree(entry.oid.to_owned())?;
                write_tree(repo, &subtree, &target, &path, sparse, gitlinks)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                // Files inside a sparse directory only, not on the way to one.
                if sparse.is_some_and(|dirs| !dirs.iter().any(|d| path.len() > d.len() && path[..d.len()] == d[..])) {
                    continue;
                }
                let blob = repo.find_blob(entry.oid.to_owned())?;
                std::fs::write(&target, &blob.data)?;
                if entry.mode.kind() == EntryKind::BlobExecutable {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
                }
            }
            EntryKind::Link => {
                let blob = repo.find_blob(entry.oid.to_owned())?;
                let link_target = String::from_utf8_lossy(&blob.data).to_string();
                std::os::unix::fs::symlink(link_target, &target)?;
            }
            // Submodules: an empty directory now, filled by the caller when
            // it recurses into them.
            EntryKind::Commit => {
                std::fs::create_dir_all(&target)?;
                gitlinks.push(Gitlink { path: path.join("/"), commit: entry.oid.to_hex().to_string() });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        for name in ["", ".", "..", "a/b", ".git", ".GIT", "a\\b", "a\0b"] {
            assert!(unsafe_name(name), "{name:?}");
        }
        for name in ["app.yaml", ".github", "..hidden", ".gitignore"] {
            assert!(!unsafe_name(name), "{name:?}");
        }
    }
}
